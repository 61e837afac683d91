"""Long inputs: catastrophic regular expressions, long texts, targets and words, many hits, many columns."""

from __future__ import annotations

import re, time  # noqa: E401

import common as C
from common import cli, guard, last_json, record, user_error, write

CAT = "long inputs"
SLOW = re.compile(r"too slow|took longer than|time limit", re.I)


def _cli_backtracking() -> None:
    _rc, _o, _e, base = cli(["embed", C.W / "nope.csv", "--target", "x"])
    rc, _o, err, secs = cli(["embed", C.W / "evil_long.csv", "--target", "(a+)+$", "--regex"], timeout=60)
    ok, detail = user_error(rc, err)
    record(CAT, "CLI: (a+)+$ on 50,000 a + b says 'too slow' within 5 s",
           ok and SLOW.search(err) is not None and secs - base < 5, f"{secs:.1f} s (start-up {base:.1f} s) {detail}")


def _timed_search(docs, target, regex=True, limit=5.0):
    from analysis import corpus
    from analysis.errors import SenseScopeError

    def run():
        t0 = time.perf_counter()
        try:
            n = len(corpus.find_occurrences(docs, target, regex=regex))
            what = f"{n} hits"
        except SenseScopeError as exc:
            what = f"{type(exc).__name__}: {str(exc)[:160]}"
        secs = time.perf_counter() - t0
        return secs < limit, f"{secs:.1f} s, {what}"
    return run


def _library_searches() -> None:
    from analysis import corpus

    docs = corpus.load_corpus(C.W / "evil_long.csv")
    slow = _timed_search(docs, "(a+)+$")
    guard(CAT, "find_occurrences: (a+)+$ gives an error within 5 s",
          lambda: (lambda r: (r[0] and "Error" in r[1] and SLOW.search(r[1]) is not None, r[1]))(slow()))
    guard(CAT, "find_occurrences: (a|aa)*c on 50,000 a within 5 s", _timed_search(docs, "(a|aa)*c"))
    many = corpus.load_corpus(write("many_hits.csv", "text\n" + "the plane " * 10_000 + "\n"))
    guard(CAT, "find_occurrences: 10,000 hits in one text", lambda: (lambda n: (n == 10_000, f"{n} hits"))(
        len(corpus.find_occurrences(many, "plane"))))
    guard(CAT, "find_occurrences: 5,000-way alternation", _timed_search(
        many, "|".join(f"word{i}" for i in range(5000))))


def _cli_cases(m: dict) -> list[tuple[str, list, int | None]]:
    """(name, CLI arguments, occurrences expected; None: a user error is expected)."""
    W, T = C.W, m["tiny"]
    write("long_text.csv", "text\n" + " ".join(("lorem ipsum dolor plane" if i % 500 == 0 else "lorem ipsum dolor")
                                              for i in range(100_000)) + "\n")
    wide = write("wide.csv", ",".join(["text"] + [f"c{i}" for i in range(2000)]) + "\n"
                 + ",".join(["the plane"] + ["1"] * 2000) + "\n")
    longword = write("longword.csv", "text\n" + "x" * 50_000 + "plane" + "y" * 50_000 + "\n")
    return [("CLI: a 1.8-million-character text with 200 hits",
             ["embed", W / "long_text.csv", "--target", "plane", "--model", T], 200),
            ("CLI: a 10,000-character target", ["embed", W / "good.csv", "--target", "plane" * 2000, "--model", T],
             None),
            ("CLI: 2,000 columns", ["embed", wide, "--target", "plane", "--model", T], 1),
            ("CLI: a 100,000-character word with --substring",
             ["embed", longword, "--target", "plane", "--substring", "--model", T], 1)]


def probe_long(m: dict) -> None:
    _cli_backtracking()
    _library_searches()
    for name, args, n in _cli_cases(m):
        rc, out, err, secs = cli(args, timeout=240)
        got = (last_json(out) or {}).get("occurrences") if rc == 0 else None
        ok = (rc == 0 and got == n) if n is not None else user_error(rc, err)[0]
        record(CAT, name, ok, f"rc={rc} occurrences={got} {secs:.1f} s {err.strip()[-300:]}")

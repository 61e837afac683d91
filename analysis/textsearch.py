"""Finding a target in texts with a time limit, so that no pattern can hang a session.

Target searches run through the ``regex`` module (a superset of ``re``; installed with transformers and pinned in
requirements.txt) because it can stop a match after a timeout, which ``re`` cannot: a pattern with nested repetition
such as ``(a+)+$`` backtracks exponentially (50,000 ``a`` + ``b`` ran for more than 90 s before it was killed) and would
block the process, and with it every dashboard session, for hours. The semantics are those of ``re``: whole words via
lookarounds on Unicode word characters, case-insensitive unless asked otherwise.
"""

from __future__ import annotations

import os
import threading

import regex as rx

from analysis.errors import CorpusError

#: Seconds (wall clock) a search may take over the whole corpus, plus :data:`REGEX_S_PER_MB` per million characters.
#: A plain whole-word search of 15 MB takes about 0.6 s on a quiet 2-core machine, far below this.
REGEX_DEADLINE_S = 2.0
#: Extra seconds per million characters (about a megabyte) of text, so that a large corpus on a busy machine is not
#: refused (six times the cost of a plain search on a quiet machine); for a few megabytes the limit stays about 2 s.
REGEX_S_PER_MB = 0.25


def target_pattern(target: str, *, regex: bool = False, whole_word: bool = True) -> str:
    """Regular expression (for the ``regex`` module) for a target given as surface forms (``plane|planes``) or as a
    regular expression; forms are matched as whole words unless ``whole_word`` is False."""
    target = (target or "").strip()
    if not target:
        raise CorpusError("give a target term (one or more forms separated by |, or a regular expression)")
    if regex:
        compile_pattern(target, case_sensitive=True)
        return target
    forms = sorted({f.strip() for f in target.split("|") if f.strip()}, key=len, reverse=True)
    body = "|".join(rx.escape(f) for f in forms)
    return rf"(?<!\w)(?:{body})(?!\w)" if whole_word else f"(?:{body})"


def compile_pattern(pattern: str, *, case_sensitive: bool = False):
    """The compiled pattern; CorpusError with the engine's reason when it is not a valid regular expression."""
    try:
        return rx.compile(pattern, 0 if case_sensitive else rx.IGNORECASE)
    except (rx.error, OverflowError, RecursionError) as exc:
        raise CorpusError(f"the target {pattern!r} is not a valid regular expression: {exc}") from exc


def time_limit(texts) -> float:
    """Seconds allowed for ``texts``: :data:`REGEX_DEADLINE_S` + :data:`REGEX_S_PER_MB` per million characters,
    rounded to a tenth (so a small corpus reads "2 s" in the message)."""
    return round(REGEX_DEADLINE_S + REGEX_S_PER_MB * sum(map(len, texts)) / 1e6, 1)


def search(pattern, texts, target: str, limit_s: float | None = None) -> tuple[list, list, list, list]:
    """(text index, start, end, form) lists of the non-empty matches of ``pattern`` in ``texts``.

    The time limit (default :func:`time_limit`) is wall-clock time for all texts together, so many texts that are
    each quick cannot add up to an endless search either; past it, CorpusError says the pattern is too slow.

    Why a thread: the ``regex`` module's own ``timeout`` counts the *process's* CPU time, which runs slower than the
    clock on a loaded machine (a 2 s timeout took 4.4 s) and faster when other threads work. So the scan runs in a
    worker thread that releases the GIL while matching (``concurrent=True``) and the caller waits on the clock. The
    regex timeout stays as the worker's brake: at ``limit_s`` x the number of cores of process CPU time it cannot
    fire before the wall-clock limit, and it ends an abandoned scan within about that; a flag stops it between texts.
    """
    limit_s = time_limit(texts) if limit_s is None else limit_s
    brake = limit_s * (os.cpu_count() or 1) + 1.0
    stop = threading.Event()
    out: dict = {}

    def scan():
        try:
            out["hits"] = _scan(pattern, texts, brake, stop)
        except TimeoutError:
            out["slow"] = True
        except BaseException as exc:  # handed to the caller's thread below
            out["error"] = exc

    worker = threading.Thread(target=scan, name="sensescope-search", daemon=True)
    worker.start()
    worker.join(limit_s)
    if worker.is_alive() or out.get("slow"):
        stop.set()
        raise CorpusError(f"searching for {target!r} took longer than {limit_s:g} s, so it was stopped; "
                          f"simplify the pattern, e.g. avoid nested repetition like (a+)+")
    if "error" in out:
        raise out["error"]
    return out["hits"]


def _scan(pattern, texts, brake: float, stop: threading.Event) -> tuple[list, list, list, list]:
    rows, starts, ends, forms = [], [], [], []
    for i, text in enumerate(texts):
        if stop.is_set():
            break
        for m in pattern.finditer(text, timeout=brake, concurrent=True):
            if m.end() > m.start():
                rows.append(i)
                starts.append(m.start())
                ends.append(m.end())
                forms.append(m.group(0))
    return rows, starts, ends, forms

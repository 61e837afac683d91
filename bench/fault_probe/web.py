"""Web safety: allowed roots, escaping in figures and Markdown, CSV formulas, manifests, bind address, file modes."""

from __future__ import annotations

import io, json, os, re  # noqa: E401
from pathlib import Path

import common as C
from common import ROOT, guard, write

CAT = "web"
EVIL = '<a href="https://evil.example/">x</a><script>alert(1)</script>'


def _live_html(fig) -> list[str]:
    """Every string (keys too) in the figure's JSON that holds an opening <a or <script tag."""
    text = json.dumps(json.loads(fig.to_json()), ensure_ascii=False)  # decoded: a \u003c is a plain < again
    return [s for s in re.findall(r'"((?:[^"\\]|\\.)*)"', text) if re.search(r"<\s*(a|script)\b", s, re.I)]


def _ensure_entry(m: dict) -> None:
    """A finished cache entry in W/cc_ref (the cache category makes it; alone, the web category makes its own)."""
    if not list((C.W / "cc_ref" / "embeddings").glob("*/manifest.json")):
        from analysis import corpus, store

        os.environ["SENSESCOPE_CACHE"] = str(C.W / "cc_ref")
        store.get_or_compute(corpus.find_occurrences(corpus.load_corpus(C.W / "good.csv"), "plane"), m["tiny"],
                             chunk_size=8)


def _root() -> Path:
    """An allowed root with a file, a subfolder, and links out of it."""
    root = C.W / "root"
    (root / "sub").mkdir(parents=True)
    write("root/ok.csv", "text\nplane\n")
    os.symlink("/etc/passwd", root / "link")
    os.symlink("/etc", root / "dirlink")
    return root


def _refused(path, roots=None, what="path"):
    from analysis import paths

    def run():
        try:
            got = paths.check_allowed(path, roots=roots, what=what)
            return False, f"accepted as {got}"
        except paths.PathNotAllowedError as exc:
            msg = str(exc)
            leak = [s for s in ("passwd", "environ", "exist", "No such", str(path)) if s and s in msg]
            return not leak and len(msg.splitlines()) == 1, f"message: {msg[:200]} leaks={leak}"
    return run


def _same_message():
    from analysis import paths

    msgs = set()
    for p in ("/etc/passwd", "/etc/no_such_file_xyz", "/root", "/nonexistent/dir/"):
        try:
            paths.check_allowed(p)
        except paths.PathNotAllowedError as exc:
            msgs.add(str(exc))
    return len(msgs) == 1, f"{len(msgs)} distinct messages"


def _paths(root: Path) -> None:
    from analysis import paths

    for name, p, roots in [("/etc/passwd", "/etc/passwd", None), ("/proc/self/environ", "/proc/self/environ", None),
                           ("~", "~", None), ("~/.bashrc", "~/.bashrc", None), ("NUL byte", "data/a\x00b", None),
                           ("symlink to /etc/passwd inside a root", root / "link", [root]),
                           ("symlinked folder to /etc inside a root", root / "dirlink" / "hostname", [root]),
                           ("../ out of data/", str(ROOT / "data" / ".." / ".." / "etc" / "passwd"), None),
                           ("sibling with the root's name as prefix", str(root) + "_evil/x.csv", [root]),
                           ("model box: /", "/", None)]:
        guard(CAT, f"check_allowed refuses {name}", _refused(p, roots, "model" if "model" in name else "path"))
    guard(CAT, "refusal is the same for existing and missing paths", _same_message)
    guard(CAT, "a path inside a root is accepted", lambda: (paths.check_allowed(root / "ok.csv", roots=[root])
                                                            == (root / "ok.csv").resolve(), ""))


def _figures() -> dict:
    """Figure makers fed user text holding a link and a script."""
    import pandas as pd
    from analysis.corpus import kwic_html
    from analysis.plots import bias as PB, corpus as PC, senses as PS, shift as PSH

    return {
        "senses.plot_projection": lambda: PS.plot_projection(pd.DataFrame(
            {"occurrence_id": range(4), "x": [0, 1, 2, 3], "y": [1, 0, 1, 0],
             "kwic": [kwic_html(f"the {EVIL} plane", 67, 72)] * 4,
             "label": [f"a{EVIL}", "b", "a", None], "cluster_name": [f"c0{EVIL}", "c1", f"c0{EVIL}", "noise"]}),
            color="cluster_name", title=EVIL),
        "shift.plot_period_counts": lambda: PSH.plot_period_counts(pd.DataFrame(
            {"period": [f"p1{EVIL}", "p2"], "count": [10, 5]}), title=EVIL),
        "bias.plot_effect_sizes": lambda: PB.plot_effect_sizes(pd.DataFrame(
            [dict(test=f"t{EVIL}", level="word", model=f"m{EVIL}", layer=3, effect_size=0.5, ci_low=0.1,
                  ci_high=0.9, p_value=0.01, p_holm=0.02)]), title=EVIL),
        "corpus.plot_counts": lambda: PC.plot_counts(PC.count_table(pd.DataFrame(
            {"label": pd.Series([f"s{EVIL}", "s2"], dtype="string")}), "label"), column="label", title=EVIL),
    }


def _escaping() -> None:
    from analysis.corpus import kwic_html

    for name, make in _figures().items():
        guard(CAT, f"no live HTML in {name}", lambda make=make: (lambda live: (not live, f"live: {live[:2]}"))(
            _live_html(make())))
    guard(CAT, "kwic_html escapes the text", lambda: ("<script" not in kwic_html(f"x {EVIL} plane", 38 + 2, 45),
                                                      kwic_html(f"x {EVIL} plane", 40, 45)[:120]))


def _formulas():
    import pandas as pd
    from analysis import export

    cells = ['=HYPERLINK("https://evil.example","x")', "+1+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\tx", "-1",
             "3.5", "plain"]
    out = pd.read_csv(io.BytesIO(export.table_csv(pd.DataFrame({"c": cells}))), dtype=str)["c"]
    want = ["'" + c for c in cells[:5]] + cells[5:]
    return list(out) == want, f"got {list(out)}"


def _export_manifest(m: dict):
    from analysis import export

    text = json.dumps(export.manifest({"corpus": str(C.W / "good.csv"), "model": m["tiny"], "home": "~/x.csv",
                                       "list": [str(ROOT / "data" / "demo")]}, kind="probe"))
    bad = re.findall(r'"(/[^"]*|~[^"]*)"', text)
    return not bad, f"absolute paths: {bad[:3]}"


def _cache_manifest():
    entries = list((C.W / "cc_ref" / "embeddings").glob("*/manifest.json"))
    found = {k: v for p in entries for k, v in json.loads(p.read_text()).items()
             if isinstance(v, str) and (v.startswith("/") or v.startswith("~"))}
    return bool(entries) and not found, f"absolute paths by field: {found} (manifests read: {len(entries)})"


def _bind():
    import tomllib

    conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    return conf.get("server", {}).get("address") == "127.0.0.1", f"server = {conf.get('server')}"


def _modes():
    files = [p for p in (C.W / "cc_ref" / "embeddings").rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    got = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
    return len(set(got.values())) == 1 and bool(got), f"modes {got}"


def _markdown():
    from ui.widgets import md_escape

    out = md_escape("[click](https://evil.example) $x$ **b**")
    return "](" not in out.replace("\\]", "") and "\\[" in out and "\\$" in out, out


def probe_web(m: dict) -> None:
    _ensure_entry(m)
    _paths(_root())
    _escaping()
    guard(CAT, "table_csv neutralises formula cells, keeps numbers", _formulas)
    guard(CAT, "export manifests hold no absolute paths", lambda: _export_manifest(m))
    guard(CAT, "cache manifests hold no absolute paths (model given as a folder path)", _cache_manifest)
    guard(CAT, ".streamlit/config.toml binds to 127.0.0.1", _bind)
    guard(CAT, "one file mode for every cache file", _modes)
    guard(CAT, "md_escape makes a Markdown link literal", _markdown)

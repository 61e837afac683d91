"""What every probe category shares: the work folder, the results, running the CLI, and reading cache entries."""

from __future__ import annotations

import os, re, subprocess, sys, time  # noqa: E401
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(1, str(ROOT))  # after this folder (sys.path[0]), before site-packages
for _k, _v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_k, _v)
PY = str(ROOT / ".venv" / "bin" / "python")
W: Path = Path()  # the work folder, set by __main__ (read it as common.W, never copy it at import time)
RESULTS: dict[str, list[dict]] = {}

AIR = ["The plane landed on the runway at {y}.", "Our plane took off late from the airfield.",
       "The pilot flew the plane over the hills.", "A plane crashed near the coast in {y}."]
GEO = ["A plane is a flat surface in geometry.", "Project the cube onto the horizontal plane.",
       "The plane through three points is unique.", "Two lines span a plane in space."]


def record(cat: str, name: str, ok: bool, detail: str = "") -> None:
    RESULTS.setdefault(cat, []).append({"case": name, "right": bool(ok), "detail": detail.strip()[-600:]})
    print(f"  [{'ok ' if ok else 'BAD'}] {cat}: {name}" + ("" if ok else f"\n        {detail.strip()[-300:]}"),
          flush=True)


def guard(cat: str, name: str, fn) -> None:
    """Run one library case; an unexpected exception makes it wrong (with its type and message)."""
    try:
        ok, detail = fn()
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not stop
        ok, detail = False, f"unexpected {type(exc).__name__}: {exc}"
    record(cat, name, ok, detail)


def env(cache: Path | None = None) -> dict:
    return {**os.environ, "SENSESCOPE_CACHE": str(cache or W / "cache_bad")}


def cli(args: list[str], cache: Path | None = None, timeout: float = 120) -> tuple[int, str, str, float]:
    t0 = time.perf_counter()
    try:
        p = subprocess.run([PY, "-m", "analysis", *map(str, args)], cwd=ROOT, env=env(cache), capture_output=True,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0
    except subprocess.TimeoutExpired as exc:
        return -9, str(exc.stdout or ""), f"TIMEOUT after {timeout} s", time.perf_counter() - t0


def popen(args: list, cache: Path, **kw) -> subprocess.Popen:
    """Start ``python -m analysis ARGS`` with its own cache and return at once."""
    return subprocess.Popen([PY, "-m", "analysis", *map(str, args)], cwd=ROOT, env=env(cache), **kw)


def last_json(out: str) -> dict | None:
    """The JSON summary a successful CLI command prints as its last line (None when it printed nothing)."""
    import json

    return json.loads(out.strip().splitlines()[-1]) if out.strip() else None


def user_error(rc: int, err: str) -> tuple[bool, str]:
    lines = [ln for ln in err.splitlines() if re.match(r"^(error: \S|python -m analysis[\w -]*: error: \S)", ln)]
    ok = rc == 2 and "Traceback" not in err and len(lines) == 1
    return ok, f"rc={rc} stderr: {err.strip()[-500:]}"


def write(name: str, data) -> Path:
    path = W / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def in_cache(cache: Path, fn):
    """Call ``fn()`` with SENSESCOPE_CACHE pointing at ``cache`` (left there afterwards, as the cases expect)."""
    os.environ["SENSESCOPE_CACHE"] = str(cache)
    return fn()


def entry_vectors(cache: Path, key: str):
    import numpy as np
    from analysis import store

    old = os.environ.get("SENSESCOPE_CACHE")
    os.environ["SENSESCOPE_CACHE"] = str(cache)
    try:
        es = store.open_entry(key)
        return None if es is None else np.array(es.vectors)
    finally:
        os.environ["SENSESCOPE_CACHE"] = old or ""


def leftovers(cache: Path) -> list[str]:
    emb = cache / "embeddings"
    return sorted(p.name for p in emb.iterdir() if p.name.split(".", 1)[-1] in {"partial", "staging"}
                  or ".tmp-" in p.name) if emb.exists() else []


def sidecars(chunks: Path) -> list[Path]:
    """Finished chunks' checksum files (``NNNNNN.json``; a ``.tmp-*.json`` being written does not count)."""
    return [p for p in chunks.glob("*.json") if re.fullmatch(r"\d{6}\.json", p.name)] if chunks.exists() else []

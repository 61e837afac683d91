"""Kill-resume: SIGKILL a CLI embed run at several points, resume, and compare with an undisturbed run."""

from __future__ import annotations

import os, signal, subprocess, time  # noqa: E401
from pathlib import Path

import common as C
from common import cli, entry_vectors, leftovers, popen, record, sidecars


def run_until(args: list, cache: Path, key: str, done_chunks: int | None, final: bool = False,
              wait_s: float = 0.0) -> str:
    """Start an embed run and SIGKILL it after ``done_chunks`` chunks (or when the final entry appears)."""
    proc = popen(args, cache, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = cache / "embeddings" / f"{key}.partial" / "chunks"
    t0, seen = time.time(), 0
    while proc.poll() is None and time.time() - t0 < 120:
        if wait_s and time.time() - t0 >= wait_s:
            break
        seen = len(sidecars(chunks))
        if done_chunks is not None and seen >= done_chunks and not wait_s:
            break
        if final and (cache / "embeddings" / key).exists():
            break
        time.sleep(0.005)
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return "run had already finished" if finished else f"killed with {seen} chunk sidecars written"


def _plans(total: int) -> list[tuple[str, list[dict]]]:
    return [("kill during start-up (0.8 s)", [dict(done_chunks=None, wait_s=0.8)]),
            *[(f"kill after {k} chunks", [dict(done_chunks=k)]) for k in (1, 2, 5, 9, 14, 20, total - 2)],
            ("kill as the final entry appears", [dict(done_chunks=None, final=True)]),
            ("kill twice (3 then 12 chunks), then resume through the CLI", [dict(done_chunks=3),
                                                                            dict(done_chunks=12)])]


def _resume(ref: dict, name: str, cache: Path, expect: int) -> tuple[int, str, int | None, int]:
    """Resume the killed run (through the CLI when ``name`` says so); (rc, what, expected, chunks recomputed)."""
    from analysis import encoder, store

    calls, orig = [], encoder.embed_spans
    encoder.embed_spans = lambda *a, **k: (calls.append(1), orig(*a, **k))[1]
    try:
        if "CLI" in name:
            rc, _o, err, _s = cli(ref["args"], cache=cache)
            expect, what = None, f"CLI resume rc={rc} {err[-200:] if rc else ''}"
        else:
            os.environ["SENSESCOPE_CACHE"] = str(cache)
            store.get_or_compute(ref["occ"], ref["model"], **ref["kw"])
            rc, what = 0, f"recomputed {len(calls)} of {ref['total']} chunks (expected {expect})"
    except Exception as exc:  # noqa: BLE001
        rc, what = 1, f"resume raised {type(exc).__name__}: {exc}"
    finally:
        encoder.embed_spans = orig
    return rc, what, expect, len(calls)


def _reference(m: dict) -> dict:
    """The undisturbed run (in this process) that every resumed one must equal."""
    import numpy as np
    from analysis import corpus, encoder, store

    args = ["embed", C.W / "big.csv", "--target", "plane", "--model", m["tiny"], "--chunk-size", "40",
            "--batch-size", "8"]
    occ = corpus.find_occurrences(corpus.load_corpus(C.W / "big.csv"), "plane")
    kw = dict(loaded=encoder.load_model(m["tiny"]), chunk_size=40, batch_size=8)
    os.environ["SENSESCOPE_CACHE"] = str(C.W / "kr_ref")
    t0 = time.perf_counter()
    es = store.get_or_compute(occ, m["tiny"], **kw)
    ref = dict(args=args, occ=occ, kw=kw, model=m["tiny"], key=es.key, vectors=np.asarray(es.vectors),
               total=-(-len(occ) // 40))
    print(f"  (reference: {len(occ)} occurrences, {ref['total']} chunks, {time.perf_counter() - t0:.1f} s)",
          flush=True)
    return ref


def probe_kill_resume(m: dict) -> None:
    """SIGKILL a CLI embed run at several points; resume (in this process, one case through the CLI again) and
    compare with an undisturbed run: equal vectors, no leftovers, and only the chunks without a sidecar recomputed."""
    ref = _reference(m)
    key, total = ref["key"], ref["total"]
    for i, (name, kills) in enumerate(_plans(total)):
        cache = C.W / f"kr_{i}"
        notes = [run_until(ref["args"], cache, key, **kw_) for kw_ in kills]
        emb = cache / "embeddings"
        finished = (emb / key / "manifest.json").exists()
        expect = 0 if finished else total - len(sidecars(emb / f"{key}.partial" / "chunks"))
        rc, what, expect, calls = _resume(ref, name, cache, expect)
        got = entry_vectors(cache, key)
        equal = got is not None and got.shape == ref["vectors"].shape and bool((got == ref["vectors"]).all())
        ok = rc == 0 and equal and not leftovers(cache) and (expect is None or calls == expect)
        record("kill-resume", name, ok, f"{'; '.join(notes)}; {what}; equal={equal} leftovers={leftovers(cache)}")

"""Concurrency: threads on one shared model (shallow layers first), and threads and processes on one cache key."""

from __future__ import annotations

import json, os, re, subprocess, threading, time  # noqa: E401
from pathlib import Path

import common as C
from common import AIR, GEO, cli, entry_vectors, guard, leftovers, popen

CAT = "concurrency"
LAYER_SETS = [[1], [0, 3], [2], [0], [1, 2], [3], [0, 1, 2, 3]]


def _run_threads(work, n: int) -> None:
    ts = [threading.Thread(target=work, args=(t,)) for t in range(n)]
    [t.start() for t in ts]
    [t.join() for t in ts]


def _encoded(m: dict) -> dict:
    """Texts with several 'plane' spans, and their span and sentence vectors for every layer (one thread)."""
    from analysis import encoder

    texts = [t.format(y=1900) + " the plane, the plane!" for t in AIR + GEO]
    spans = [(i, j.start(), j.end()) for i, t in enumerate(texts) for j in re.finditer("plane", t)]
    full = encoder.embed_spans(encoder.load_model(m["tiny"]), texts, spans, batch_size=4)
    sents = encoder.embed_sentences(encoder.load_model(m["tiny"]), texts, pooling="mean")
    return dict(model=m["tiny"], texts=texts, spans=spans, full=full, sents=sents)


def _threads(d: dict, first, with_sentences=False, calls=25):
    """4 threads on one model: thread 0 asks for ``first`` alone, then all call with changing layer sets."""
    import numpy as np
    from analysis import encoder

    texts, spans = d["texts"], d["spans"]

    def run():
        lm = encoder.load_model(d["model"])
        before = {k: v.detach().clone() for k, v in lm.model.state_dict().items()}
        problems, started, go = [], threading.Event(), threading.Barrier(4)

        def check(t, layers):
            if with_sentences and t % 2:
                got, want = encoder.embed_sentences(lm, texts, layers=layers, pooling="mean"), d["sents"][:, layers]
            else:
                got, want = encoder.embed_spans(lm, texts, spans, layers=layers, batch_size=4), d["full"][:, layers]
            if not np.array_equal(got, want):
                problems.append(f"thread {t}: layers {layers} differ")

        def work(t):
            try:
                if t == 0:
                    check(t, first)
                    started.set()
                else:
                    started.wait(120)
                go.wait(120)
                for i in range(calls):
                    check(t, LAYER_SETS[(t * 3 + i) % len(LAYER_SETS)])
            except Exception as exc:  # noqa: BLE001
                problems.append(f"thread {t}: {type(exc).__name__}: {exc}")
        _run_threads(work, 4)
        after = lm.model.state_dict()
        intact = len(lm.model.encoder.layer) == 3 and all((after[k] == v).all() for k, v in before.items())
        return not problems and intact, f"intact={intact} {problems[:3]}"
    return run


def _sequence(d: dict):
    import numpy as np
    from analysis import encoder

    lm = encoder.load_model(d["model"])
    bad = [ls for ls in ([1], [3], [1], [0], [0, 3]) if not np.array_equal(
        encoder.embed_spans(lm, d["texts"], d["spans"], layers=ls, batch_size=4), d["full"][:, ls])]
    return not bad, f"differing: {bad}"


def _store_ref(m: dict) -> dict:
    """The medium corpus's entry computed alone, the reference for the store cases."""
    import numpy as np
    from analysis import corpus, encoder, store

    occ = corpus.find_occurrences(corpus.load_corpus(C.W / "medium.csv"), "plane")
    lm = encoder.load_model(m["tiny"])
    os.environ["SENSESCOPE_CACHE"] = str(C.W / "co_ref")
    ref = np.array(store.get_or_compute(occ, m["tiny"], loaded=lm, chunk_size=25).vectors)
    return dict(model=m["tiny"], occ=occ, lm=lm, ref=ref)


def _threads_store(s: dict, layer_sets, cache: str):
    """One thread per layer set, all through store.get_or_compute on one shared model and one cache."""
    import numpy as np
    from analysis import store

    def run():
        os.environ["SENSESCOPE_CACHE"] = str(C.W / cache)
        got, errs = {}, []

        def work(i):
            try:
                got[i] = np.array(store.get_or_compute(s["occ"], s["model"], loaded=s["lm"], layers=layer_sets[i],
                                                       chunk_size=25).vectors)
            except Exception as exc:  # noqa: BLE001
                errs.append(f"{type(exc).__name__}: {exc}")
        _run_threads(work, len(layer_sets))
        ref = s["ref"]
        same = all(np.array_equal(got.get(i), ref if ls is None else ref[:, ls]) for i, ls in enumerate(layer_sets))
        entries = len([p for p in (C.W / cache / "embeddings").iterdir() if p.is_dir()])
        ok = not errs and same and entries == len({str(ls) for ls in layer_sets}) and not leftovers(C.W / cache)
        return ok, f"errors={errs[:2]} equal={same} entries={entries} left={leftovers(C.W / cache)}"
    return run


def _processes(s: dict, n: int, extra=None):
    """``n`` CLI processes computing the same key in one cache (``extra(cache)`` runs while they are live)."""
    import numpy as np

    def run():
        cache = C.W / f"co_p{n}{'x' if extra else ''}"
        args = ["embed", C.W / "medium.csv", "--target", "plane", "--model", s["model"], "--chunk-size", "25"]
        procs = [popen(args, cache, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
        side = extra(cache) if extra else (True, "")
        outs = [p.communicate(timeout=180) for p in procs]
        keys = {json.loads(o.strip().splitlines()[-1])["key"] for o, _ in outs if o.strip()}
        rcs = [p.returncode for p in procs]
        got = entry_vectors(cache, next(iter(keys))) if len(keys) == 1 else None
        equal = got is not None and np.array_equal(got, s["ref"])
        ok = rcs == [0] * n and equal and not leftovers(cache) and side[0]
        return ok, f"rc={rcs} keys={len(keys)} equal={equal} " \
                   f"left={leftovers(cache)} {side[1]} {[e[-200:] for _, e in outs if 'Traceback' in e]}"
    return run


def _meddle(cache: Path):
    """While runs are live: cache ls and the leftover clean-up must not disturb them."""
    from analysis.cache_files import clean_leftovers

    time.sleep(3.0)
    rcs = [cli(["cache", "ls"], cache=cache)[0]]
    for _ in range(20):
        clean_leftovers(cache / "embeddings")
        time.sleep(0.05)
    return rcs == [0], f"cache ls rc={rcs}"


def probe_concurrency(m: dict) -> None:
    d = _encoded(m)
    for first in ([1], [0], [2], [3]):
        guard(CAT, f"4 threads x 25 calls, first request layers {first}", _threads(d, first))
    guard(CAT, "4 threads mixing span and sentence encoding", _threads(d, [1], with_sentences=True))
    guard(CAT, "shallow, deep, shallow on one model (one thread)", lambda: _sequence(d))
    s = _store_ref(m)
    guard(CAT, "2 threads, same key, one shared model", _threads_store(s, [None, None], "co_t1"))
    guard(CAT, "3 threads, different layers, one shared model", _threads_store(s, [[1], [3], [0, 2]], "co_t2"))
    guard(CAT, "2 processes computing the same key", _processes(s, 2))
    guard(CAT, "3 processes computing the same key", _processes(s, 3))
    guard(CAT, "cache ls and leftover clean-up during 2 live runs", _processes(s, 2, _meddle))

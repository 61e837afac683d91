"""``embed --engine ray``: the chunks of :func:`analysis.store.get_or_compute` encoded by a Ray Data job.

Ray is optional (``pip install -r requirements-ray.txt``); nothing here imports it before :func:`require_ray`.

The job
    One row per occurrence to encode (its chunk, row number, text, text id, start, end) in a ``ray.data`` dataset
    with one block per store chunk that is still missing (:func:`occurrence_dataset`; the one place that says where
    occurrences come from). ``map_batches`` hands each block, whole, to an actor pool of :class:`ChunkEncoder`: one
    actor per GPU (``num_gpus=1``), or per CPU slot on a CPU cluster, each loading the model once. An actor encodes
    a chunk exactly as the single-process path does (one :func:`analysis.encoder.embed_spans` call over the chunk's
    spans, texts numbered in the same order), so the vectors are the same. The driver collects the rows of each
    chunk and hands the chunks back to the store in chunk order; the store checks and writes them as its usual
    checksummed chunk files and finishes the entry, so the cache key, files, resume-after-kill and corruption checks
    are those of the local engine.

Faults
    Ray Data's actor pool restarts a dead actor and retries its tasks (its defaults: unlimited restarts and retries
    on system failures), so a killed worker costs only the chunks it had in flight. A killed driver leaves the chunk
    files written so far; the next run resumes from them. Errors inside the encoding (a model a worker cannot load,
    different weights on a worker) are not retried: they end the job with one line (:class:`RayEngineError`).

Cluster
    ``address`` connects to an existing cluster (``ray start --head`` on one node, ``ray start --address ...`` on
    the others); every node needs this package and the model folder at the same path (the workers check the
    weights' fingerprint against the driver's). Without an address a local cluster is started (and stopped after
    the job) with ``workers`` CPU slots. A process that has already called ``ray.init`` keeps its connection.
"""

from __future__ import annotations

import os

import numpy as np

from analysis.errors import SenseScopeError

INSTALL_HINT = "pip install -r requirements-ray.txt"


class RayEngineError(SenseScopeError):
    """Ray is missing, the cluster cannot run the job, or the job failed (one line)."""


class WorkerError(Exception):
    """Raised inside an actor when it cannot encode (its model did not load or differs from the driver's)."""


def require_ray():
    """The ``ray`` module with ``ray.data``, or RayEngineError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise RayEngineError(f"--engine ray needs Ray, which is not installed here: {INSTALL_HINT}") from exc
    return ray


class ChunkEncoder:
    """The callable class of the actor pool: the model is loaded once per actor, each batch is whole chunks.

    A load error is kept and raised by the first batch (an exception in the constructor would make Ray restart
    the actor again and again). Subclasses may override :meth:`encode` (the tests do, to kill a worker mid-chunk).
    """

    def __init__(self, model_path: str, fingerprint: str, device: str | None, settings: dict):
        from analysis import encoder

        self.settings, self.error, self.lm = settings, None, None
        try:
            self.lm = encoder.load_model(model_path, device=device)
        except Exception as exc:  # noqa: BLE001 - reported by the first batch, with its message
            self.error = f"a Ray worker could not load the model {model_path!r}: {str(exc).splitlines()[0][:300]}"
            return
        if self.lm.fingerprint != fingerprint:
            self.error = (f"the model at {model_path!r} on a Ray worker has other weights than on the driver "
                          f"(fingerprint {self.lm.fingerprint[:12]} != {fingerprint[:12]}); give every node the "
                          f"same model folder")

    def __call__(self, batch: dict) -> dict:
        if self.error:
            raise WorkerError(self.error)
        chunk = np.asarray(batch["chunk"])
        order = np.lexsort((np.asarray(batch["row"]), chunk))
        parts = [self.encode(batch, order[chunk[order] == ci]) for ci in np.unique(chunk)]
        vectors = np.concatenate(parts, axis=0)
        return {"chunk": chunk[order], "row": np.asarray(batch["row"])[order], "vectors": vectors,
                "pid": np.full(len(order), os.getpid()), "device": np.array([self.lm.device] * len(order))}

    def encode(self, batch: dict, rows: np.ndarray) -> np.ndarray:
        """float32 vectors of one chunk's rows (in row order), numbering texts as the driver does."""
        from analysis import encoder

        index: dict[int, int] = {}
        texts, spans = [], []
        for i in rows:
            tid = int(batch["tid"][i])
            if tid not in index:
                index[tid] = len(texts)
                texts.append(str(batch["text"][i]))
            spans.append((index[tid], int(batch["start"][i]), int(batch["end"][i])))
        s = self.settings
        return encoder.embed_spans(self.lm, texts, spans, layers=s["layers"], pooling=s["pooling"],
                                   window=s["window"], batch_size=s["batch_size"])


def occurrence_dataset(ray, plan, missing: list[int]):
    """A ``ray.data`` dataset of the occurrences of the ``missing`` chunks, one block per chunk."""
    import pandas as pd

    frames = []
    for ci in missing:
        lo, hi = plan.bounds(ci)
        spans = plan.spans[lo:hi]
        frames.append(pd.DataFrame({"chunk": np.full(hi - lo, ci, dtype=np.int64),
                                    "row": np.arange(lo, hi, dtype=np.int64),
                                    "tid": np.array([s[0] for s in spans], dtype=np.int64),
                                    "text": [plan.texts[s[0]] for s in spans],
                                    "start": np.array([s[1] for s in spans], dtype=np.int64),
                                    "end": np.array([s[2] for s in spans], dtype=np.int64)}))
    return ray.data.from_pandas(frames)


class RayEngine:
    """Encode the missing chunks of an entry on a Ray cluster (see the module docstring).

    Parameters
    ----------
    address : an existing cluster ("auto", "ray://host:10001", "host:6379"); None = start a local one
    workers : actors (None = one per GPU of the cluster, else one per CPU)
    device : the workers' device ("cuda", "cpu", ...; None = a GPU when the cluster has one)
    encoder_cls : the callable class of the actor pool (a :class:`ChunkEncoder`)
    """

    def __init__(self, address: str | None = None, workers: int | None = None, device: str | None = None,
                 encoder_cls=ChunkEncoder):
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise RayEngineError(f"the number of Ray workers must be a whole number of at least 1, not {workers!r}")
        self.address, self.workers, self.device, self.encoder_cls = address, workers, device, encoder_cls
        self.device_label = None
        self.chunk_pids: dict[int, set[int]] = {}  # which worker processes returned each chunk (last job)

    def run(self, plan, missing: list[int], progress=None):
        """Yield ``(ci, vectors)`` for the missing chunks, in chunk order (the store's engine protocol)."""
        ray = require_ray()
        started = self._connect(ray)
        try:
            yield from self._job(ray, plan, missing, progress)
        finally:
            if started:
                ray.shutdown()

    def _connect(self, ray) -> bool:
        """Connect (or start a local cluster); True when this engine started the connection and must end it."""
        if ray.is_initialized():
            return False
        options = dict(include_dashboard=False, log_to_driver=False, logging_level="warning")
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:
                # Ray starts its workers at nice 15 (its worker_niceness default) to keep the driver responsive;
                # here the workers do the job's work, and on a busy machine nice-15 workers get next to no CPU
                # (kill-resume test under four busy loops: minutes per chunk). Passed as this cluster's config, not
                # through the environment; a user's own RAY_worker_niceness wins.
                if "RAY_worker_niceness" not in os.environ:
                    options["_system_config"] = {"worker_niceness": 0}
                ray.init(address="local", num_cpus=self.workers or os.cpu_count() or 1, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
            raise RayEngineError(f"cannot connect to {where}: {str(exc).splitlines()[0][:200]}") from exc
        return True

    def _actors(self, ray) -> tuple[int, dict]:
        """How many actors, and the resources of each, from what the cluster has."""
        have = ray.cluster_resources()
        gpus, cpus = int(have.get("GPU", 0)), int(have.get("CPU", 0))
        use_gpu = gpus > 0 and self.device in (None, "cuda")
        if self.device == "cuda" and not gpus:
            raise RayEngineError("--device cuda was asked for, but the Ray cluster has no GPU")
        slots, what = (gpus, "GPU") if use_gpu else (cpus, "CPU")
        n = self.workers or slots
        if n < 1 or n > slots:
            raise RayEngineError(f"{n} Ray workers were asked for, but the cluster has {slots} {what} slot"
                                 f"{'s' if slots != 1 else ''}")
        return n, ({"num_gpus": 1} if use_gpu else {"num_cpus": 1})

    def _job(self, ray, plan, missing: list[int], progress):
        n_actors, resources = self._actors(ray)
        self.chunk_pids = {}
        device = self.device or ("cuda" if "num_gpus" in resources else "cpu")
        settings = {"layers": list(plan.layers), "pooling": plan.pooling, "window": plan.window,
                    "batch_size": plan.batch_size}
        encoded = occurrence_dataset(ray, plan, missing).map_batches(
            self.encoder_cls, batch_size=None, batch_format="numpy", zero_copy_batch=False,
            compute=ray.data.ActorPoolStrategy(size=n_actors),
            fn_constructor_kwargs={"model_path": plan.model_path, "fingerprint": plan.fingerprint,
                                   "device": device, "settings": settings}, **resources)
        gather = _ChunkGatherer(plan, missing)
        restore = _quiet_ray_data(ray)
        try:
            for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
                for ci, pid in zip(batch["chunk"], batch["pid"]):
                    self.chunk_pids.setdefault(int(ci), set()).add(int(pid))
                self.device_label = f"ray ({n_actors} worker{'s' if n_actors != 1 else ''}, {batch['device'][0]})"
                for ci, arr in gather.add(batch):
                    yield ci, arr
                    if progress:
                        progress(gather.rows_done)
        except WorkerError as exc:
            raise RayEngineError(str(exc)) from exc
        except ray.exceptions.RayError as exc:
            cause = _worker_error(exc)
            raise RayEngineError(cause or f"the Ray job failed: {str(exc).strip().splitlines()[-1][:300]}") from exc
        finally:
            restore()
        gather.check_done()


def _quiet_ray_data(ray):
    """Silence Ray Data's progress bars and INFO lines (the CLI has its own progress line); returns the undo."""
    import logging

    ctx = ray.data.DataContext.get_current()
    logger = logging.getLogger("ray.data")
    before = (ctx.enable_progress_bars, logger.level)
    ctx.enable_progress_bars = False
    logger.setLevel(logging.WARNING)

    def restore():
        ctx.enable_progress_bars = before[0]
        logger.setLevel(before[1])
    return restore


def _worker_error(exc: BaseException) -> str | None:
    """The message of a WorkerError somewhere in a Ray exception (its cause chain or its text), else None."""
    seen = exc
    while seen is not None:
        if isinstance(seen, WorkerError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    marker = "WorkerError: "
    if marker in text:
        return text[text.rindex(marker) + len(marker):].strip().splitlines()[0]
    return None


class _ChunkGatherer:
    """Rows of encoded chunks as Ray hands them over (blocks may be split or merged); whole chunks out, in order."""

    def __init__(self, plan, missing: list[int]):
        self.plan, self.missing, self.next = plan, list(missing), 0
        self.buffers: dict[int, np.ndarray] = {}
        self.filled: dict[int, int] = {}
        self.rows_done = 0

    def add(self, batch: dict):
        for ci in np.unique(batch["chunk"]):
            ci = int(ci)
            if ci not in self.missing:
                raise RayEngineError(f"the Ray job returned chunk {ci}, which was not asked for")
            sel = batch["chunk"] == ci
            lo, _ = self.plan.bounds(ci)
            if ci not in self.buffers:
                self.buffers[ci] = np.zeros(self.plan.shape(ci), dtype=np.float32)
                self.filled[ci] = 0
            self.buffers[ci][batch["row"][sel] - lo] = batch["vectors"][sel]
            self.filled[ci] += int(sel.sum())
        while self.next < len(self.missing):
            ci = self.missing[self.next]
            if self.filled.get(ci, 0) < self.plan.shape(ci)[0]:
                break
            if self.filled[ci] > self.plan.shape(ci)[0]:
                raise RayEngineError(f"the Ray job returned some rows of chunk {ci} twice")
            self.next += 1
            self.rows_done += self.plan.shape(ci)[0]
            del self.filled[ci]
            yield ci, self.buffers.pop(ci)

    def check_done(self) -> None:
        if self.next < len(self.missing):
            raise RayEngineError(f"the Ray job ended without chunk {self.missing[self.next]}")

"""``embed --engine ray`` (analysis/ray_engine.py): same vectors, key and cache files as the single-process path, on
a local Ray cluster started here (and once on a two-node cluster of ``ray start`` processes on this machine), through
a killed worker and a killed driver. Tiny models and ~100 occurrences keep it fast; states are waited for, never
timed."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import store
from analysis.cli import main
from tests.conftest import ROOT, TRAIN_TEXTS
from tests.killing import blocking_cli

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is optional and not installed here "
                                                    "(pip install -r requirements-ray.txt)")
WAIT = 600  # seconds: only a broken run takes this long; states are waited for, not timed
CHUNK = 20


def write_corpus(path: Path, n: int = 60) -> Path:
    """A CSV whose rows give ~100 occurrences of plane|planes (some rows have two)."""
    texts = [TRAIN_TEXTS[i % len(TRAIN_TEXTS)] + f" Row {i}, plane {i % 5}." for i in range(n)]
    pd.DataFrame({"id": range(n), "text": texts}).to_csv(path, index=False)
    return path


def occurrences(corpus: Path) -> pd.DataFrame:
    from analysis.corpus import ColumnSpec, find_occurrences, load_corpus

    return find_occurrences(load_corpus(str(corpus), ColumnSpec()), "plane|planes")


def assert_same_vectors(a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-30)
    assert cos.min() >= 0.99999, f"lowest cosine {cos.min()} at row {np.unravel_index(cos.argmin(), cos.shape)}"


@pytest.fixture()
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus.csv")


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray cluster with 2 CPU slots for this module's in-process tests (never someone else's cluster)."""
    if not HAVE_RAY:
        pytest.skip("Ray is optional and not installed here (pip install -r requirements-ray.txt)")
    import ray
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test's encoder subclass reaches the workers
    # as RayEngine does: nice-15 workers starve on a busy machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning",
             _system_config={"worker_niceness": 0})
    yield ray
    ray.shutdown()


def local_and_ray(occ, model, tmp_path, monkeypatch, **engine_options):
    """The single-process entry and the Ray entry of ``occ`` (separate caches), and the Ray engine."""
    from analysis.ray_engine import RayEngine

    monkeypatch.setenv("SENSESCOPE_CACHE", str(tmp_path / "local"))
    local = store.get_or_compute(occ, model, chunk_size=CHUNK, batch_size=8)
    monkeypatch.setenv("SENSESCOPE_CACHE", str(tmp_path / "ray"))
    engine = RayEngine(workers=2, **engine_options)
    remote = store.get_or_compute(occ, model, chunk_size=CHUNK, batch_size=8, engine=engine)
    return local, remote, engine


def test_without_ray_the_engine_says_how_to_install(tmp_path, cache_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as where it is not installed
    monkeypatch.setitem(sys.modules, "ray.data", None)
    rc = main(["embed", str(tmp_path / "absent.csv"), "--target", "plane", "--engine", "ray"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "pip install -r requirements-ray.txt" in err, err
    assert "Traceback" not in err and not cache_dir.exists()  # said before the corpus was read; nothing cached


def test_ray_options_need_the_ray_engine(corpus, cache_dir, capsys):
    rc = main(["embed", str(corpus), "--target", "plane", "--workers", "2"])
    assert rc == 2 and "--engine ray" in capsys.readouterr().err
    assert not cache_dir.exists()


@needs_ray
@pytest.mark.parametrize("model_fixture", ["tiny_bert", "tiny_gpt2"])
def test_ray_equals_single_process_and_reruns_hit(model_fixture, request, ray_local, corpus, tmp_path, monkeypatch):
    model = request.getfixturevalue(model_fixture)
    occ = occurrences(corpus)
    assert len(occ) > 3 * CHUNK  # several chunks, so several actors' results are put together
    local, remote, engine = local_and_ray(occ, model, tmp_path, monkeypatch)
    assert not remote.cache_hit and remote.key == local.key
    assert_same_vectors(local.vectors, remote.vectors)
    assert remote.occurrences[["doc_id", "start", "end"]].equals(local.occurrences[["doc_id", "start", "end"]])
    assert sorted(engine.chunk_pids) == list(range(-(-len(occ) // CHUNK)))  # every chunk came from the Ray job
    assert os.getpid() not in set().union(*engine.chunk_pids.values())  # ... encoded in worker processes
    skip = {"seconds", "created", "device", "sha256"}  # sha256: float rounding may differ in the last bit
    lm, rm = ({k: v for k, v in e.manifest.items() if k not in skip} for e in (local, remote))
    assert lm == rm and remote.manifest["device"].startswith("ray (2 workers")
    again_engine = type(engine)(workers=2)
    again = store.get_or_compute(occ, model, chunk_size=CHUNK, batch_size=8, engine=again_engine)
    assert again.cache_hit and again.key == local.key and again_engine.chunk_pids == {}  # no job ran
    assert_same_vectors(again.vectors, remote.vectors)


@needs_ray
def test_shift_rank_on_ray_ranks_as_the_local_run(ray_local, tiny_bert, tmp_path, monkeypatch, capsys):
    """shift-rank embeds many targets: with --engine ray the embedding runs as the Ray job and the ranking is the
    local one (same cache key, so the local run afterwards is a cache hit)."""
    from tests.conftest import DEMO

    monkeypatch.setenv("SENSESCOPE_CACHE", str(tmp_path / "cache"))
    fast = ["--permutations", "19", "--boot", "10", "--formats", "html", "--k", "2"]
    dwug = str(DEMO / "dwug_en")
    assert main(["shift-rank", dwug, "--model", tiny_bert, "--engine", "ray", "--workers", "2", "--out",
                 str(tmp_path / "ray"), *fast]) == 0
    assert main(["shift-rank", dwug, "--model", tiny_bert, "--out", str(tmp_path / "local"), *fast]) == 0
    ray_rank = pd.read_csv(tmp_path / "ray" / "ranking.csv")
    local_rank = pd.read_csv(tmp_path / "local" / "ranking.csv")
    pd.testing.assert_frame_equal(ray_rank, local_rank, check_exact=False, rtol=1e-5)
    manifest = json.loads((tmp_path / "ray" / "ranking.manifest.json").read_text())
    assert manifest["parameters"]["engine"] == "ray"
    entries = [p for p in (tmp_path / "cache" / "embeddings").iterdir() if p.is_dir()]
    assert len(entries) == 1  # one entry: the local run found the Ray run's vectors


@needs_ray
@pytest.mark.slow
def test_ray_equals_single_process_for_the_packaged_minilm(ray_local, corpus, tmp_path, monkeypatch):
    occ = occurrences(corpus)
    local, remote, _ = local_and_ray(occ, None, tmp_path, monkeypatch)
    assert remote.key == local.key and not remote.cache_hit
    assert_same_vectors(local.vectors, remote.vectors)


if HAVE_RAY:
    from analysis.ray_engine import ChunkEncoder

    class BlockOnce(ChunkEncoder):
        """Blocks forever in chunk 2 (after writing its pid to ``folder/blocked``) until ``folder/killed`` exists:
        the test kills that worker while it holds the chunk, and the retried chunk then goes through."""

        folder = ""

        def encode(self, batch, rows):
            folder = Path(self.folder)
            if int(batch["chunk"][rows[0]]) == 2 and not (folder / "killed").exists():
                (folder / "blocked.tmp").write_text(str(os.getpid()))
                os.replace(folder / "blocked.tmp", folder / "blocked")
                while True:
                    time.sleep(0.5)
            return super().encode(batch, rows)


def _kill_when_blocked(folder: Path, killed: list) -> None:
    deadline = time.monotonic() + WAIT
    while not (folder / "blocked").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if (folder / "blocked").exists():
        pid = int((folder / "blocked").read_text())
        (folder / "killed").write_text("")  # first, so the retried chunk is not held again
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)


@needs_ray
def test_killed_worker_is_replaced_and_the_result_equals_an_undisturbed_run(ray_local, tiny_bert, corpus, tmp_path,
                                                                            monkeypatch):
    occ = occurrences(corpus)
    folder = tmp_path / "hold"
    folder.mkdir()
    blocking = type("BlockHere", (BlockOnce,), {"folder": str(folder)})
    killed: list = []
    killer = threading.Thread(target=_kill_when_blocked, args=(folder, killed), daemon=True)
    killer.start()
    local, remote, engine = local_and_ray(occ, tiny_bert, tmp_path, monkeypatch, encoder_cls=blocking)
    killer.join(timeout=WAIT)
    assert killed, "no worker reached chunk 2"
    assert killed[0] not in engine.chunk_pids[2]  # chunk 2 came from another (restarted) worker process
    assert remote.key == local.key
    assert_same_vectors(local.vectors, remote.vectors)


# The real CLI with --engine ray; the driver blocks (forever) when it is about to save chunk number BLOCK_AT + 1,
# after writing a marker file, so the test kills it in a known state (BLOCK_AT chunks saved) however busy the machine.
_BLOCKING_DRIVER = blocking_cli("analysis.store", "save_chunk")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process started with start_new_session and whatever it started in its group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=WAIT)


def _verified_chunks(cache: Path) -> list:
    return [p for p in cache.glob("embeddings/*.partial/chunks/[0-9]*.npy") if p.with_suffix(".json").exists()]


@needs_ray
def test_killed_driver_resumes_from_its_finished_chunks(ray_local, tiny_bert, corpus, tmp_path, monkeypatch):
    cache, marker = tmp_path / "cache", tmp_path / "blocked"
    env = {**os.environ, "SENSESCOPE_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    args = ["embed", str(corpus), "--target", "plane|planes", "--model", tiny_bert, "--chunk-size", str(CHUNK),
            "--batch-size", "8", "--engine", "ray", "--workers", "2"]
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKING_DRIVER, str(marker), "2", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)  # the driver only; its local cluster goes with it (Ray's fate sharing)
        err = proc.communicate(timeout=WAIT)[1].decode(errors="replace")
    finally:
        _kill_group(proc)
    assert alive and marker.exists(), f"the driver did not reach its third chunk: {err[-2000:]}"
    occ = occurrences(corpus)
    n_chunks = -(-len(occ) // CHUNK)
    assert len(_verified_chunks(cache)) == 2 < n_chunks  # the two chunks saved before the kill
    from analysis.ray_engine import RayEngine

    saved = []
    real = store.save_chunk
    monkeypatch.setattr(store, "save_chunk", lambda *a, **k: saved.append(a[0].name) or real(*a, **k))
    monkeypatch.setenv("SENSESCOPE_CACHE", str(cache))
    engine = RayEngine(workers=2)
    resumed = store.get_or_compute(occ, tiny_bert, chunk_size=CHUNK, batch_size=8, engine=engine)
    assert sorted(engine.chunk_pids) == list(range(2, n_chunks))  # only the missing chunks went to Ray
    assert len(saved) == n_chunks - 2
    monkeypatch.setattr(store, "save_chunk", real)
    monkeypatch.setenv("SENSESCOPE_CACHE", str(tmp_path / "fresh"))
    fresh = store.get_or_compute(occ, tiny_bert, chunk_size=CHUNK, batch_size=8)
    assert resumed.key == fresh.key
    assert_same_vectors(resumed.vectors, fresh.vectors)
    assert not list(cache.glob("embeddings/*.partial")) and not list(cache.glob("embeddings/*.lock"))


def _ray_cli() -> str:
    path = Path(sys.executable).with_name("ray")
    if not path.exists():
        pytest.skip(f"no `ray` command beside {sys.executable}")
    return str(path)


def _free_port() -> int:
    from tests.browser import free_port

    return free_port()


def _wait_for_cpus(ray_cli: str, address: str, cpus: int, env: dict) -> str:
    """`ray status` once the cluster shows ``cpus`` CPUs (both nodes joined); the last output if it never does."""
    deadline, out = time.monotonic() + WAIT, ""
    while time.monotonic() < deadline:
        done = subprocess.run([ray_cli, "status", "--address", address], env=env, capture_output=True, text=True,
                              timeout=WAIT)
        out = done.stdout + done.stderr
        if f"/{cpus}.0 CPU" in out:
            return out
        time.sleep(1)
    return out


@needs_ray
def test_cli_on_a_two_node_cluster_of_ray_start_processes(tiny_bert, corpus, tmp_path, monkeypatch):
    """`ray start --head` plus a second `ray start --address` node on this machine; the CLI joins with --address.

    Each `ray start` runs with --block in its own process group, which the test ends by its id afterwards (not
    `ray stop --force`, which would end every Ray process on the machine, other people's included).
    """
    ray_cli = _ray_cli()
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_niceness": "0"}
    env.pop("RAY_ADDRESS", None)
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--block", "--disable-usage-stats"]
    nodes = []
    try:
        nodes.append(subprocess.Popen([ray_cli, "start", "--head", "--port", str(port), "--include-dashboard",
                                       "false", *common], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        nodes.append(subprocess.Popen([ray_cli, "start", "--address", address, *common], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        status = _wait_for_cpus(ray_cli, address, 2, env)
        assert "/2.0 CPU" in status, f"the second node did not join: {status[-2000:]}"
        run_env = {**env, "SENSESCOPE_CACHE": str(tmp_path / "ray")}
        done = subprocess.run([sys.executable, "-m", "analysis", "embed", str(corpus), "--target", "plane|planes",
                               "--model", tiny_bert, "--chunk-size", str(CHUNK), "--batch-size", "8", "--engine",
                               "ray", "--address", address, "--workers", "2"], cwd=ROOT, env=run_env,
                              capture_output=True, text=True, timeout=WAIT)
    finally:
        for node in reversed(nodes):
            try:
                os.killpg(node.pid, signal.SIGTERM)  # --block: ray start ends the node's processes on SIGTERM
                node.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            _kill_group(node)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["cache"] == "computed" and summary["engine"] == "ray"
    monkeypatch.setenv("SENSESCOPE_CACHE", str(tmp_path / "ray"))
    remote = store.open_entry(summary["key"])
    assert remote is not None and remote.manifest["device"].startswith("ray (2 workers")
    monkeypatch.setenv("SENSESCOPE_CACHE", str(tmp_path / "local"))
    local = store.get_or_compute(occurrences(corpus), tiny_bert, chunk_size=CHUNK, batch_size=8)
    assert local.key == summary["key"]
    assert_same_vectors(local.vectors, remote.vectors)
    shutil.rmtree(tmp_path / "ray", ignore_errors=True)


def _broken_init(self, **kwargs):
    self.error, self.lm = "a Ray worker could not load the model 'x': made up for the test", None


@needs_ray
def test_a_worker_that_cannot_encode_ends_the_job_with_one_line(ray_local, tiny_bert, corpus, cache_dir):
    from analysis.errors import SenseScopeError
    from analysis.ray_engine import ChunkEncoder, RayEngine

    broken = type("Broken", (ChunkEncoder,), {"__init__": _broken_init})
    with pytest.raises(SenseScopeError) as info:
        store.get_or_compute(occurrences(corpus), tiny_bert, chunk_size=CHUNK, batch_size=8,
                             engine=RayEngine(workers=1, encoder_cls=broken))
    assert str(info.value) == "a Ray worker could not load the model 'x': made up for the test"
    assert store.list_entries().query("state == 'done'").empty  # nothing finished, nothing half-written kept as done


def test_a_local_cluster_runs_its_workers_at_normal_priority(monkeypatch):
    """Ray's default nice 15 starves the workers on a busy machine; RayEngine asks for 0 (through the cluster's
    config, not the environment), unless the user set RAY_worker_niceness."""
    from analysis.ray_engine import RayEngine

    class FakeRay:
        def __init__(self):
            self.calls = []

        def is_initialized(self):
            return False

        def init(self, **kwargs):
            self.calls.append(kwargs)

    monkeypatch.delenv("RAY_worker_niceness", raising=False)
    fake = FakeRay()
    assert RayEngine(workers=2)._connect(fake)
    assert fake.calls[0]["_system_config"] == {"worker_niceness": 0} and "RAY_worker_niceness" not in os.environ
    monkeypatch.setenv("RAY_worker_niceness", "10")
    fake = FakeRay()
    RayEngine(workers=2)._connect(fake)
    assert "_system_config" not in fake.calls[0]  # the user's own setting wins
    fake = FakeRay()
    RayEngine(address="ray://elsewhere:10001")._connect(fake)
    assert "_system_config" not in fake.calls[0]  # an existing cluster keeps its own config

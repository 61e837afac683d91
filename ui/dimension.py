"""Fine-tuning runs as background processes, and the LID computation as a background job, for the Dimension page.

A run is ``python -m analysis finetune`` started as a subprocess (so the Streamlit session stays responsive and the run
survives a page reload) writing into ``<cache>/finetune/<name>/``: the page polls the run's ``progress.json`` and
``log.jsonl``. Its checkpoints ``<cache>/finetune/<name>/checkpoint-<step>/`` are what ``ui.state.known_models()``
offers as models on every page.

Whether a run is alive is read from its lock file (``analysis.finetune`` holds an exclusive ``flock`` on
``<run>/.lock`` while it trains, and the OS releases it when the process dies), so this works across page reloads and
server restarts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from analysis.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CORPUS_FILE = "corpus.jsonl"     # the texts a page-started run trains on (the held-out share is read back from it)
JOB_FILE = "job.json"
JOB_LOG = "job.log"

_PROCS: dict[str, subprocess.Popen] = {}   # runs started by this server process (polled so they do not linger)


def runs_root() -> Path:
    from analysis.store import cache_root

    return cache_root() / "finetune"


def list_runs() -> list[Path]:
    """Run folders under the cache, newest first."""
    root = runs_root()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and ((p / "progress.json").exists() or (p / JOB_FILE).exists()
                                                          or any(p.glob("checkpoint-*")))]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def safe_name(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.")
    if not slug:
        raise ConfigError("give the run a name (letters, digits, - and _)")
    return slug


def is_running(run_dir: str | Path) -> bool:
    """True while a fine-tuning process holds the run's lock."""
    run_dir = Path(run_dir)
    proc = _PROCS.get(str(run_dir))
    if proc is not None and proc.poll() is not None:
        _PROCS.pop(str(run_dir), None)  # reaped
    lock = run_dir / ".lock"
    if not lock.exists():
        return proc is not None and proc.poll() is None
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: fall back to our own handle
        return proc is not None and proc.poll() is None
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    # not yet locked: the process may still be importing torch
    return proc is not None and proc.poll() is None


def start_finetune(texts: list[str], name: str, *, model: str | None, steps: int, save_every: int, seed: int = 0,
                   batch_size: int = 16, whole_word_mask: bool = False, lr: float = 5e-5) -> Path:
    """Write the texts to ``<run>/corpus.jsonl`` and start the fine-tuning CLI on them in the background.

    Starting a stopped run again with the same name and settings resumes it from its latest checkpoint.
    """
    run_dir = runs_root() / safe_name(name)
    if is_running(run_dir):
        raise ConfigError(f"run {run_dir.name!r} is already training")
    run_dir.mkdir(parents=True, exist_ok=True)
    corpus = run_dir / CORPUS_FILE
    payload = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
    if corpus.exists() and corpus.read_text(encoding="utf-8") != payload and (run_dir / "run_config.json").exists():
        raise ConfigError(f"run {run_dir.name!r} was trained on other texts; choose another name")
    corpus.write_text(payload, encoding="utf-8")
    cmd = [sys.executable, "-m", "analysis", "finetune", str(corpus), "--text-column", "text", "--steps", str(steps),
           "--save-every", str(save_every), "--seed", str(seed), "--batch-size", str(batch_size), "--lr", str(lr),
           "--out", str(run_dir)]
    if model:
        cmd += ["--model", model]
    if whole_word_mask:
        cmd.append("--whole-word-mask")
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "PYTHONUNBUFFERED": "1"}
    log = open(run_dir / JOB_LOG, "a")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    _PROCS[str(run_dir)] = proc
    (run_dir / JOB_FILE).write_text(json.dumps({"pid": proc.pid, "started": time.time(), "command": cmd,
                                                "model": model or "", "steps": steps}))
    return run_dir


def stop_finetune(run_dir: str | Path) -> bool:
    """Ask the run's process to stop (SIGINT: it finishes the step, keeps its checkpoints and can be resumed)."""
    run_dir = Path(run_dir)
    proc = _PROCS.get(str(run_dir))
    pid = proc.pid if proc is not None and proc.poll() is None else None
    if pid is None and is_running(run_dir):
        for source in ("progress.json", JOB_FILE):
            try:
                pid = int(json.loads((run_dir / source).read_text()).get("pid"))
                break
            except (OSError, ValueError, TypeError):
                continue
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return False
    return True


def status(run_dir: str | Path) -> dict:
    """The run's progress (``progress.json``), its log as a DataFrame and whether its process is alive."""
    from analysis.finetune import list_checkpoints, read_log, read_progress

    run_dir = Path(run_dir)
    prog = read_progress(run_dir) or {}
    running = is_running(run_dir)
    state = prog.get("status", "starting" if running else "not started")
    if state == "running" and not running:
        state = "interrupted"  # the process died without writing its final status
    try:
        log = pd.DataFrame(read_log(run_dir))
    except ValueError:
        log = pd.DataFrame()
    tail = ""
    if (run_dir / JOB_LOG).exists():
        tail = "\n".join((run_dir / JOB_LOG).read_text(errors="replace").splitlines()[-6:])
    return {"status": state, "running": running, "progress": prog, "log": log, "job_log": tail,
            "checkpoints": list_checkpoints(run_dir)}


def heldout_texts(run_dir: str | Path) -> list[str]:
    """The held-out texts of a run started from this page (its ``corpus.jsonl`` and ``split.json``)."""
    from analysis.finetune import prepare_texts

    run_dir = Path(run_dir)
    split_path, corpus = run_dir / "split.json", run_dir / CORPUS_FILE
    if not (split_path.exists() and corpus.exists()):
        raise ConfigError(f"run {run_dir.name!r} has no held-out split of page texts (started from the CLI?); "
                          f"choose other evaluation texts")
    texts = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts, _ = prepare_texts(texts)
    split = json.loads(split_path.read_text())
    if split.get("n_texts") != len(texts):
        raise ConfigError(f"the held-out split of run {run_dir.name!r} does not match its corpus.jsonl")
    return [texts[i] for i in split["heldout"]]


def lid_work(report, checkpoints: list, texts: list[str], layers: list[int], n_sample: int, n_neighbors: int,
             estimator: str, seed: int, eval_label: str):
    """LID of one token sample across checkpoints and layers, as a background job (ui/jobs.py); never calls
    Streamlit. Returns the analysis.dimension run with the evaluation texts named in its parameters."""
    from analysis import dimension as D

    result = D.dimension_across_checkpoints(checkpoints, texts, layers=layers, n_sample=n_sample,
                                            n_neighbors=n_neighbors, estimator=estimator, seed=seed,
                                            progress=lambda f, m: report(f, m))
    result.params.update(evaluation=eval_label)
    return result


# --------------------------------------------------------------------------------------------- the run's monitor
MONITOR_POLL_S = 2.0


def monitor(run_dir: Path, live: bool) -> None:
    """A fine-tuning run's progress, messages, loss curve and checkpoints; followed live while it trains.

    The Stop button and the loss-curve checkbox are drawn in the page's run. While the run trains, one fragment run
    redraws the rest every :data:`MONITOR_POLL_S` seconds until the run ends and then reruns the page once: a fragment
    run that ended every two seconds would drop the files of the page's download buttons (see ui/jobs.py).
    """
    import streamlit as st

    from ui.jobs import _in_fragment_rerun

    if live and st.button("Stop", key=f"ft_stop_{run_dir.name}",
                          help="Stops after the current step; start again with the same name and settings to "
                               "resume from the latest checkpoint."):
        stop_finetune(run_dir)
    show_log = live or st.checkbox("Show the loss curve", key=f"ft_show_log_{run_dir.name}")

    @st.fragment(run_every=MONITOR_POLL_S if live else None)
    def follow() -> None:
        slot = st.empty()
        for tick in range(10**9):
            info = status(run_dir)
            with slot.container():
                _draw_status(run_dir, info, show_log, tick)
            if live and not info["running"]:
                st.rerun(scope="app")  # the run just ended: refresh the page (checkpoint lists, model choices)
            if not (live and _in_fragment_rerun()):
                return  # drawn in the page's run; the first timer tick follows the run from here on
            time.sleep(MONITOR_POLL_S)

    follow()


def _draw_status(run_dir: Path, info: dict, show_log: bool, tick: int) -> None:
    import streamlit as st

    from analysis.plots import dimension as P
    from ui.widgets import md_escape

    prog = info["progress"]
    total = int(prog.get("total_steps") or 0)
    step = int(prog.get("step") or 0)
    text = f"{info['status']}: step {step} of {total or '?'}"
    if prog.get("eta_s") and info["running"]:
        text += f" · about {int(prog['eta_s'])} s left"
    st.progress(min(1.0, step / total) if total else 0.0, text=text)
    for msg in prog.get("messages", []):
        st.caption(f"ⓘ {md_escape(msg)}")
    if info["status"] in ("failed", "interrupted"):
        st.error(f"The run {info['status']}: {md_escape(prog.get('message') or '')}\n\n"
                 f"{md_escape(info['job_log'])}")
    log = info["log"]
    # drawn while the run trains, else on request (a finished run's losses are also in the LID trajectory below);
    # each redraw gets its own key, as it replaces the last one within the same fragment run
    if len(log) and "step" in log and show_log:
        st.plotly_chart(P.plot_training_log(log, total_steps=total or None), key=f"ft_log_{run_dir.name}_{tick}",
                        config={"displaylogo": False})
    if info["checkpoints"]:
        st.caption("Checkpoints: " + ", ".join(
            f"{c.step}" + (f" (held-out loss {c.eval_loss:.3f})" if c.eval_loss is not None else "")
            for c in info["checkpoints"]))

"""The Dimension page over checkpoints made in the test by the fine-tuning module: AppTest, the background job, and a
real headless Chromium."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import open_page
from tests.conftest import ROOT
from tests.jobwait import settle

APP = str(ROOT / "app.py")
PAGE = "views/dimension.py"
WORDS = ["pilot", "student", "carpenter", "baker", "sailor", "farmer"]
VERBS = ["repaired", "painted", "carried", "measured", "cleaned", "watched"]
THINGS = ["plane", "boat", "table", "bridge", "engine", "fence", "clock", "roof"]
PLACES = ["near the river", "in the garden", "at the airfield", "before dawn", "by the harbour"]


def make_texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"The {rng.choice(WORDS)} {rng.choice(VERBS)} the {rng.choice(THINGS)} {rng.choice(PLACES)}."
            for _ in range(n)]


TEXTS = list(dict.fromkeys(make_texts(400, 0)))[:150]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, minilm_path) -> str:
    """A 2-layer random BERT with a WordPiece vocabulary trained on the texts (fast MLM steps, see STACK.md)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(minilm_path).train_new_from_iterator(TEXTS, vocab_size=300)
    tok.model_max_length = 64
    folder = tmp_path_factory.mktemp("dim_small_bert")
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=64)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def page_cache(tmp_path_factory, small_model) -> Path:
    """A cache holding one fine-tuning run made by analysis.finetune, as the page would have started it."""
    import torch

    from analysis.finetune import finetune

    cache = tmp_path_factory.mktemp("dim_cache")
    run = cache / "finetune" / "tiny-run"
    run.mkdir(parents=True)
    (run / "corpus.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        finetune(TEXTS, run, model=small_model, steps=6, save_every=3, seed=0, batch_size=8, lr=3e-3, max_length=32,
                 eval_fraction=0.2)
    finally:
        torch.set_num_threads(threads)
    return cache


def _app(cache: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("SENSESCOPE_CACHE", str(cache))
    return open_page(PAGE, timeout=180)


def _run_box(at):
    return next(s for s in at.selectbox if s.label == "Run")


def test_page_computes_lid_over_finetuned_checkpoints(page_cache, monkeypatch):
    at = _app(page_cache, monkeypatch)
    assert _run_box(at).value == "tiny-run"
    assert at.multiselect(key=f"lid_cks_{page_cache / 'finetune' / 'tiny-run'}").value == [
        "checkpoint-0", "checkpoint-3", "checkpoint-6"]
    assert at.radio(key="lid_eval").value == "heldout"  # a page-made run offers its held-out texts first
    at.number_input(key="lid_sample").set_value(200).run()
    at.number_input(key="lid_L").set_value(12).run()
    settle(at.button(key="lid_compute").click())
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Checkpoints"] == "3" and metrics["Layers"] == "3"
    n_tokens = int(metrics["Tokens sampled"])
    assert 50 < n_tokens <= 200
    charts = at.get("plotly_chart")
    assert len(charts) >= 3
    records, ext = (d.value for d in at.dataframe)  # the records table, then the extremes
    assert records["checkpoint"].tolist()[:3] == ["checkpoint-0", "checkpoint-0", "checkpoint-0"]
    assert len(records) == 9 and records["mean"].gt(0).all() and np.isfinite(records["mean"]).all()
    assert records["eval_loss"].notna().all()
    # held-out loss falls with training (the losses come from trainer_state.json)
    losses = records.drop_duplicates("checkpoint")["eval_loss"].tolist()
    assert losses[-1] < losses[0]
    assert ext["rank"].tolist().count("highest") == 10 and ext["context"].str.contains(r"\[").all()
    # changing a setting keeps the results but says they are stale
    at.number_input(key="lid_L").set_value(13).run()
    assert any("other settings" in w.value for w in at.warning)


def test_page_models_mode_and_errors(page_cache, monkeypatch, small_model):
    monkeypatch.setenv("SENSESCOPE_DATA_ROOTS", str(Path(small_model).parent))  # a typed model folder must be allowed
    at = _app(page_cache, monkeypatch)
    # fine-tuned checkpoints are offered as models (the sidebar's list is ui.state.known_models)
    at.radio(key="lid_source").set_value("models").run()
    options = at.multiselect(key="lid_models").options
    assert any(o.endswith("tiny-run/checkpoint-6") for o in options)
    ck6 = str(page_cache / "finetune" / "tiny-run" / "checkpoint-6")
    at.multiselect(key="lid_models").set_value([ck6]).run()
    at.text_input(key="lid_extra").set_value(small_model).run()
    at.number_input(key="lid_sample").set_value(100).run()
    at.number_input(key="lid_L").set_value(500).run()
    settle(at.button(key="lid_compute").click())
    assert not at.exception
    assert any("L = 500" in e.value for e in at.error), [e.value for e in at.error]
    at.radio(key="lid_source").set_value("run").run()
    _run_box(at).set_value("Another folder…").run()
    at.text_input(key="lid_folder").set_value(str(page_cache / "nowhere")).run()
    assert any("does not exist" in e.value for e in at.error)


def test_page_lid_sample_smaller_than_L_says_to_sample_more(page_cache, monkeypatch):
    at = _app(page_cache, monkeypatch)
    at.number_input(key="lid_sample").set_value(50).run()  # the texts hold far more tokens than L + 1 = 129
    settle(at.button(key="lid_compute").click())
    assert not at.exception, at.exception
    # regression: the limit is the sample size the user chose, not the texts ("add text" was wrong advice)
    assert any("sample of 50 tokens" in e.value and "sample more tokens" in e.value for e in at.error), \
        [e.value for e in at.error]


def test_page_lid_run_choice_follows_a_run_that_appears(page_cache, tmp_path, monkeypatch):
    """Regression: with no run yet the Run box holds "Another folder…"; a run started on the page must replace it."""
    import shutil

    cache = tmp_path / "cache"
    cache.mkdir()
    at = _app(cache, monkeypatch)
    assert _run_box(at).value == "Another folder…"
    shutil.copytree(page_cache / "finetune" / "tiny-run", cache / "finetune" / "new-run")
    at.session_state["ft_watch"] = str(cache / "finetune" / "new-run")
    at.run()
    assert not at.exception, at.exception
    assert _run_box(at).value == "new-run"
    assert at.multiselect(key=f"lid_cks_{cache / 'finetune' / 'new-run'}").value == [
        "checkpoint-0", "checkpoint-3", "checkpoint-6"]


def test_page_starts_monitors_and_stops_a_background_run(tmp_path, monkeypatch, small_model):
    from ui import dimension as ud

    cache = tmp_path / "cache"
    corpus = tmp_path / "texts.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(corpus, index=False)
    monkeypatch.setenv("SENSESCOPE_CACHE", str(cache))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # inherited by the job: tiny models train faster on one thread
    monkeypatch.setenv("SENSESCOPE_DATA_ROOTS", str(tmp_path))  # the page reads server paths only under allowed roots
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["model"] = small_model
    at.session_state["corpus_kind"] = "path"
    at.session_state["corpus_path"] = str(corpus)
    at.session_state["target"] = ""
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    at.text_input(key="ft_name").set_value("job run").run()
    at.number_input(key="ft_steps").set_value(5000).run()
    at.number_input(key="ft_save_every").set_value(1000).run()
    at.button(key="ft_start").click().run()
    assert not at.exception, at.exception
    run = cache / "finetune" / "job-run"
    assert (run / "corpus.jsonl").exists() and (run / "job.json").exists()
    try:
        deadline = time.time() + 600  # states are waited for, generously (busy machines), never timed
        while time.time() < deadline:
            prog = ud.status(run)["progress"]
            if prog.get("status") == "running" and prog.get("step", 0) >= 2:
                break
            assert ud.status(run)["status"] not in ("failed", "interrupted"), ud.status(run)["job_log"]
            time.sleep(0.5)
        else:
            pytest.fail(f"the background run did not start training: {ud.status(run)['job_log']}")
        assert ud.is_running(run)
        at.run()  # the monitor shows progress and a Stop button while the job runs
        assert not at.exception, at.exception
        assert any("running: step" in (p.proto.text or "") for p in at.get("progress"))
        at.button(key="ft_stop_job-run").click().run()
        deadline = time.time() + 600
        while time.time() < deadline and ud.is_running(run):
            time.sleep(0.3)
        assert not ud.is_running(run), f"still running 10 min after Stop: {ud.status(run)['progress']}"
        assert ud.status(run)["status"] == "stopped"
        assert (run / "checkpoint-0" / "config.json").exists()
    finally:
        ud.stop_finetune(run)


@pytest.mark.browser
def test_dimension_page_in_chromium(page_cache, browser):
    from tests.browser import Server, free_port, screenshot

    env = {**os.environ, "SENSESCOPE_CACHE": str(page_cache), "HF_HUB_OFFLINE": "1"}
    server = Server(env, free_port())
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    try:
        # open the app at its root (app.py runs: navigation and the shared sidebar), then go to the page
        screenshot(page, server, "", wait_text="Keyword in context", name="dimension_start", wait_plot=False)
        page.get_by_role("link", name="Dimension").first.click()
        screenshot(page, server, None, wait_text="Local intrinsic dimension across checkpoints",
                   name="dimension_before", wait_plot=False)
        for label, value in (("Tokens", "200"), ("Neighbours L", "12")):
            box = page.get_by_label(label, exact=True)
            box.fill(value)
            box.press("Enter")
            time.sleep(1.0)
        page.get_by_role("button", name="Compute LID").click()
        shot = screenshot(page, server, None, wait_text="Tokens with the highest and lowest LID", name="dimension",
                          timeout_ms=600_000)
        assert shot.stat().st_size > 50_000
        body = page.inner_text("body")
        assert "checkpoint-6" in body and "Duplicates (last layer)" in body and "Current analysis" in body
        assert page.locator(".js-plotly-plot").count() >= 3
    finally:
        context.close()
        server.stop()


def test_page_run_without_checkpoint_yet_is_an_info_not_an_error(page_cache, tmp_path, monkeypatch):
    """Regression (issue 9): a fine-tuning run that has just started has no checkpoint folder yet; the page said so
    with a red "no checkpoint-<step> model folders" error. It is the normal state: an info line."""
    cache = tmp_path / "cache"
    run = cache / "finetune" / "just-started"
    run.mkdir(parents=True)
    (run / "progress.json").write_text(json.dumps({"status": "starting", "step": 0, "total_steps": 10}))
    at = _app(cache, monkeypatch)
    assert not at.exception, at.exception
    assert _run_box(at).value == "just-started"
    assert not at.error, [e.value for e in at.error]
    assert any("has no checkpoint yet" in i.value for i in at.info), [i.value for i in at.info]


def test_page_refuses_a_checkpoint_folder_outside_the_allowed_roots(page_cache, monkeypatch):
    at = _app(page_cache, monkeypatch)
    _run_box(at).set_value("Another folder…").run()
    at.text_input(key="lid_folder").set_value("/etc").run()
    assert not at.exception, at.exception
    assert any("only under its allowed folders" in e.value for e in at.error), [e.value for e in at.error]

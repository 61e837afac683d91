"""Masked-LM fine-tuning: checkpoints that load, held-out loss that falls, exact resume, new heads, bad inputs.

The fast tests use a 2-layer BERT with a small WordPiece vocabulary trained here on a templated corpus: with
MiniLM's 30,522-word vocabulary the output projection would make every step ~15x slower (STACK.md). They run torch on
one thread: for such tiny matrices two OpenMP threads are slower, and ~100x slower when other processes load the cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import ConfigError, CorpusError, ModelLoadError

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]

SUBJECTS = ["the pilot", "a student", "the carpenter", "my neighbour", "the engineer", "a fencer", "the baker",
            "our teacher", "the farmer", "a sailor"]
VERBS = ["repaired", "painted", "carried", "measured", "cleaned", "sold", "watched", "described"]
OBJECTS = ["plane", "boat", "table", "bridge", "engine", "window", "wagon", "roof", "fence", "clock"]
PLACES = ["near the river", "in the garden", "at the airfield", "before dawn", "after the storm", "by the harbour"]


def make_corpus(n: int = 160, seed: int = 0) -> list[str]:
    """Templated sentences: their regularities (``the``, ``.``, verb after subject) are learnable in a few steps."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s, v, o, p = (rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(PLACES))
        out.append(f"{s} {v} the {o} {p}.".capitalize())
    return out


CORPUS = make_corpus()
FAST = dict(batch_size=8, lr=3e-3, max_length=32, warmup_ratio=0.1, eval_fraction=0.15)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models train faster on one thread, and much faster when other processes share the two cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _small_bert_config(vocab_size: int):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=64)


@pytest.fixture(scope="module")
def small_vocab_models(tmp_path_factory, minilm_path):
    """(with_head, without_head): random BERTs with a WordPiece tokenizer trained on the test corpus.

    ``train_new_from_iterator(vocab_size=700)`` stops at ~200 entries here: the templated corpus has few words."""
    from transformers import AutoTokenizer, BertForMaskedLM, BertModel

    base = AutoTokenizer.from_pretrained(minilm_path)
    tok = base.train_new_from_iterator(CORPUS + make_corpus(200, seed=1), vocab_size=700)
    tok.model_max_length = 64
    with_head = tmp_path_factory.mktemp("small_mlm")
    without_head = tmp_path_factory.mktemp("small_body")
    torch.manual_seed(0)
    BertForMaskedLM(_small_bert_config(len(tok))).save_pretrained(with_head)
    tok.save_pretrained(with_head)
    torch.manual_seed(1)
    BertModel(_small_bert_config(len(tok))).save_pretrained(without_head)
    tok.save_pretrained(without_head)
    return str(with_head), str(without_head)


def _weights(folder) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / "model.safetensors"))


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


# ------------------------------------------------------------------------------------------------------ masking
def test_mask_batch_follows_the_80_10_10_rule_and_never_touches_specials():
    from analysis.finetune import mask_batch

    b, t = 64, 100
    ids = torch.randint(10, 500, (b, t))
    words = torch.arange(t).repeat(b, 1)
    words[:, 0] = -1            # [CLS]
    words[:, -5:] = -1          # padding
    g = torch.Generator().manual_seed(0)
    masked, labels = mask_batch(ids, words, mask_token_id=3, replace_ids=torch.arange(10, 500), probability=0.15,
                                generator=g)
    sel = labels != -100
    n_cand = int((words >= 0).sum())
    assert abs(sel.sum().item() / n_cand - 0.15) < 0.02
    assert not sel[words < 0].any()
    assert torch.equal(labels[sel], ids[sel])
    as_mask = (masked == 3) & sel
    unchanged = (masked == ids) & sel
    assert abs(as_mask.sum().item() / sel.sum().item() - 0.8) < 0.04
    # random replacements: 10 % drawn, a few of which happen to equal the original token
    assert abs(unchanged.sum().item() / sel.sum().item() - 0.1) < 0.04
    assert torch.equal(masked[~sel], ids[~sel])
    g2 = torch.Generator().manual_seed(0)
    again, _ = mask_batch(ids, words, mask_token_id=3, replace_ids=torch.arange(10, 500), generator=g2)
    assert torch.equal(again, masked)


def test_whole_word_masking_selects_all_pieces_of_a_word_and_every_row_gets_one():
    from analysis.finetune import mask_batch

    b, t = 200, 12
    ids = torch.randint(10, 500, (b, t))
    words = torch.tensor([-1, 0, 0, 0, 1, 2, 2, 3, 3, 3, 3, -1]).repeat(b, 1)
    g = torch.Generator().manual_seed(1)
    _, labels = mask_batch(ids, words, mask_token_id=3, replace_ids=torch.arange(10, 500), probability=0.15,
                           whole_word=True, generator=g)
    sel = labels != -100
    for w in range(4):
        cols = (words[0] == w).nonzero().flatten()
        block = sel[:, cols]
        assert torch.equal(block.all(dim=1), block.any(dim=1)), f"word {w} partly selected"
    assert sel.any(dim=1).all(), "a row with candidates got no selection"


# ------------------------------------------------------------------------------------------------------ training
def _global_random_state() -> tuple:
    """Python's, numpy's and torch's process-wide random state, comparable with ==."""
    import random

    np_state = np.random.get_state()
    numpy_state = (np_state[0], np_state[1].tobytes(), *np_state[2:])
    return random.getstate(), numpy_state, torch.get_rng_state().numpy().tobytes()


def test_finetune_writes_loadable_checkpoints_and_heldout_loss_falls(small_vocab_models, tmp_path):
    from transformers import AutoModel, AutoModelForMaskedLM

    from analysis.finetune import finetune, list_checkpoints, read_log, read_progress

    model, _ = small_vocab_models
    seen = []
    before = _global_random_state()
    res = finetune(CORPUS, tmp_path / "run", model=model, steps=30, save_every=10, seed=3, log_every=5,
                   on_progress=seen.append, **FAST)
    assert _global_random_state() == before  # the run's randomness is its own
    assert res.status == "done" and res.step == 30 and not res.head_created
    assert [c.step for c in res.checkpoints] == [0, 10, 20, 30]
    assert [c.resumable for c in res.checkpoints] == [False, False, False, True]
    losses = [c.eval_loss for c in res.checkpoints]
    assert all(np.isfinite(losses))
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < losses[0] - 0.8, losses
    assert res.checkpoints[0].train_loss is None and res.checkpoints[-1].train_loss is not None
    for c in res.checkpoints:
        assert (c.path / "model.safetensors").is_file() and (c.path / "tokenizer.json").is_file()
        state = json.loads((c.path / "trainer_state.json").read_text())
        assert state["step"] == c.step and state["eval_loss"] == c.eval_loss
    last = res.checkpoints[-1].path
    mlm, info = AutoModelForMaskedLM.from_pretrained(last, output_loading_info=True)
    assert not info["missing_keys"]
    enc = AutoModel.from_pretrained(last, add_pooling_layer=False)
    assert enc.config.hidden_size == 32
    # checkpoint-0 is the base model, unchanged
    _assert_same_weights(res.checkpoints[0].path, model)
    log = read_log(tmp_path / "run")
    assert [r["step"] for r in log] == [0, 5, 10, 15, 20, 25, 30]
    assert [r.get("checkpoint") for r in log if "checkpoint" in r] == ["checkpoint-0", "checkpoint-10",
                                                                       "checkpoint-20", "checkpoint-30"]
    assert [r["eval_loss"] for r in log if "eval_loss" in r] == losses
    prog = read_progress(tmp_path / "run")
    assert prog["status"] == "done" and prog["step"] == 30 and prog["total_steps"] == 30
    assert seen and seen[-1]["status"] == "done"
    assert list_checkpoints(tmp_path / "run") == list(res.checkpoints)
    assert [c.name for c in res.checkpoints] == ["checkpoint-0", "checkpoint-10", "checkpoint-20", "checkpoint-30"]
    assert res.checkpoints[-1].model == str(last)
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert len(split["heldout"]) == res.n_eval_texts == round(0.15 * len(set(CORPUS)))
    assert not set(split["heldout"]) & set(split["train"])
    # running again with the same folder finds the run complete and trains nothing
    before = _global_random_state()
    again = finetune(CORPUS, tmp_path / "run", model=model, steps=30, save_every=10, seed=3, log_every=5, **FAST)
    assert _global_random_state() == before
    assert again.status == "done" and again.resumed_from == 30
    _assert_same_weights(again.checkpoints[-1].path, last)


def test_stop_event_then_resume_gives_the_weights_of_an_uninterrupted_run(small_vocab_models, tmp_path):
    from analysis.finetune import finetune, read_log, read_progress

    model, _ = small_vocab_models
    kw = dict(model=model, steps=12, save_every=5, seed=7, whole_word_mask=True, **FAST)
    full = finetune(CORPUS, tmp_path / "full", **kw)

    stop = threading.Event()

    def stop_after_7(p):
        if p["step"] >= 7:
            stop.set()

    part = finetune(CORPUS, tmp_path / "part", stop_event=stop, on_progress=stop_after_7, **kw)
    assert part.status == "stopped" and 7 <= part.step < 12
    assert read_progress(tmp_path / "part")["status"] == "stopped"
    assert part.step in [c.step for c in part.checkpoints]  # the stop point is saved
    # a half-written checkpoint and a stray folder are ignored on resume
    (tmp_path / "part" / ".checkpoint-11.partial").mkdir()
    (tmp_path / "part" / "checkpoint-99").mkdir()
    resumed = finetune(CORPUS, tmp_path / "part", **kw)
    assert resumed.status == "done" and resumed.resumed_from == part.step
    assert not (tmp_path / "part" / ".checkpoint-11.partial").exists()
    _assert_same_weights(resumed.checkpoints[-1].path, full.checkpoints[-1].path)
    steps = [r["step"] for r in read_log(tmp_path / "part")]
    assert steps == sorted(steps) and steps[-1] == 12
    assert [c.eval_loss for c in full.checkpoints if c.step in (0, 5, 10, 12)] == \
           [c.eval_loss for c in resumed.checkpoints if c.step in (0, 5, 10, 12)]


_KILL_SCRIPT = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {root!r})
    import torch
    torch.set_num_threads(1)  # as in the parent, so both runs do the same arithmetic
    from analysis import finetune as ft
    original = ft._Run.train_step
    def slow_step(self, step):
        time.sleep(0.15)  # slow enough that the parent can kill us between checkpoints
        return original(self, step)
    ft._Run.train_step = slow_step
    args = json.loads(sys.argv[1])
    ft.finetune(args.pop("texts"), args.pop("out"), **args)
""")


def test_sigkill_then_resume_gives_the_weights_of_an_uninterrupted_run(small_vocab_models, tmp_path):
    from analysis.finetune import finetune, list_checkpoints

    model, _ = small_vocab_models
    kw = dict(model=model, steps=16, save_every=4, seed=11, **FAST)
    script = tmp_path / "run_finetune.py"
    script.write_text(_KILL_SCRIPT.format(root=str(ROOT)))
    out = tmp_path / "killed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([sys.executable, str(script), json.dumps({"texts": CORPUS, "out": str(out), **kw})],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 600  # generous: a state is waited for, never a time (busy machines)
        while time.monotonic() < deadline and proc.poll() is None:
            if any(c.step >= 4 for c in list_checkpoints(out)):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert any(c.step >= 4 for c in list_checkpoints(out)), "no checkpoint-4 after 10 min"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = list_checkpoints(out)
    assert before[-1].step < 16
    progress = json.loads((out / "progress.json").read_text())
    assert progress["status"] == "running"  # killed: nobody could say otherwise

    resumed = finetune(CORPUS, out, **kw)
    assert resumed.resumed_from == before[-1].step and resumed.status == "done"
    full = finetune(CORPUS, tmp_path / "full", **kw)
    _assert_same_weights(resumed.checkpoints[-1].path, full.checkpoints[-1].path)
    assert [c.step for c in resumed.checkpoints] == [0, 4, 8, 12, 16]


_SIGINT_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    import torch
    torch.set_num_threads(1)
    from analysis import finetune as ft
    from analysis.cli import main
    original = ft._Run.train_step
    def slow_step(self, step):
        time.sleep(0.2)
        return original(self, step)
    ft._Run.train_step = slow_step
    sys.exit(main(sys.argv[1:]))
""")


def test_cli_stops_cleanly_on_sigint_and_resumes(small_vocab_models, tmp_path):
    from analysis.cli import main
    from analysis.finetune import list_checkpoints, read_progress

    model, _ = small_vocab_models
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS))
    out = tmp_path / "run"
    argv = [str(corpus), "--model", model, "--steps", "40", "--save-every", "20", "--seed", "2", "--batch-size",
            "8", "--lr", "3e-3", "--max-length", "32", "--out", str(out)]
    script = tmp_path / "cli_run.py"
    script.write_text(_SIGINT_SCRIPT.format(root=str(ROOT)))
    proc = subprocess.Popen([sys.executable, str(script), "finetune", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.monotonic() + 600  # generous: a state is waited for, never a time (busy machines)
        reached = False
        while time.monotonic() < deadline and proc.poll() is None and not reached:
            p = read_progress(out)
            reached = bool(p and p["status"] == "running" and p["step"] >= 2)
            time.sleep(0.05)
        assert reached, f"the run did not reach step 2 within 10 min: {read_progress(out)}"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr.decode()[-2000:]
    assert "stopping after the current step" in stdout.decode()
    prog = read_progress(out)
    assert prog["status"] == "stopped" and 2 <= prog["step"] < 20
    last = list_checkpoints(out)[-1]
    assert last.step == prog["step"] and last.resumable  # the stop point was saved and can be resumed from
    assert main(["finetune", *argv]) == 0
    assert read_progress(out)["status"] == "done"
    assert [c.step for c in list_checkpoints(out)] == [0, last.step, 20, 40]


def test_model_without_mlm_head_gets_a_tied_head_and_the_user_is_told(small_vocab_models, tmp_path):
    from transformers import AutoModelForMaskedLM

    from analysis.finetune import finetune, read_progress

    _, body = small_vocab_models
    res = finetune(CORPUS, tmp_path / "run", model=body, steps=3, save_every=3, seed=0, **FAST)
    assert res.head_created
    notice = [m for m in res.messages if "no masked-LM head" in m]
    assert len(notice) == 1 and "tied" in notice[0]
    assert any("no masked-LM head" in m for m in read_progress(tmp_path / "run")["messages"])
    m = AutoModelForMaskedLM.from_pretrained(res.checkpoints[-1].path)
    assert m.get_output_embeddings().weight.data_ptr() == m.get_input_embeddings().weight.data_ptr()
    # the encoder of checkpoint-0 is the given model's; the head is seeded (same seed, same head)
    w0 = _weights(res.checkpoints[0].path)
    wb = _weights(body)
    assert torch.equal(w0["bert.embeddings.word_embeddings.weight"], wb["embeddings.word_embeddings.weight"])
    other = finetune(CORPUS, tmp_path / "again", model=body, steps=1, save_every=1, seed=0, **FAST)
    assert torch.equal(_weights(other.checkpoints[0].path)["cls.predictions.transform.dense.weight"],
                       w0["cls.predictions.transform.dense.weight"])


def test_cli_finetune(small_vocab_models, tmp_path, capsys):
    from analysis.cli import main

    _, body = small_vocab_models
    corpus = tmp_path / "corpus.csv"
    import pandas as pd

    pd.DataFrame({"id": range(len(CORPUS)), "sentence": CORPUS}).to_csv(corpus, index=False)
    out = tmp_path / "cli"
    rc = main(["finetune", str(corpus), "--model", body, "--steps", "4", "--save-every", "2", "--seed", "1",
               "--batch-size", "8", "--lr", "1e-3", "--max-length", "32", "--text-column", "sentence",
               "--whole-word-mask", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "no masked-LM head" in captured.out
    assert "step 4/4" in captured.out
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-0", "checkpoint-2", "checkpoint-4"]
    assert json.loads((out / "run_config.json").read_text())["settings"]["whole_word_mask"] is True

    rc = main(["finetune", str(corpus), "--model", body, "--steps", "0", "--save-every", "2", "--out",
               str(tmp_path / "bad")])
    assert rc == 2 and "steps" in capsys.readouterr().err
    rc = main(["finetune", str(corpus), "--model", body, "--steps", "2", "--save-every", "1", "--text-column",
               "nope", "--out", str(tmp_path / "bad2")])
    assert rc == 2 and "nope" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize("texts, match", [
    ([], "no non-empty texts"),
    (["   ", "\n", None], "no non-empty texts"),
    (["only one text", "only one text"], "at least 2"),
    ("a single string", "list of texts"),
])
def test_bad_corpora_are_refused(small_vocab_models, tmp_path, texts, match):
    from analysis.finetune import finetune

    with pytest.raises(CorpusError, match=match):
        finetune(texts, tmp_path / "x", model=small_vocab_models[0], steps=2, save_every=1)


@pytest.mark.parametrize("settings, match", [
    (dict(steps=0, save_every=1), "steps"),
    (dict(steps=2.5, save_every=1), "steps"),
    (dict(steps=2, save_every=0), "save_every"),
    (dict(steps=2, save_every=1, lr=-1), "lr"),
    (dict(steps=2, save_every=1, eval_fraction=0), "eval_fraction"),
    (dict(steps=2, save_every=1, precision="fp8"), "precision"),
    (dict(steps=2, save_every=1, stepz=3), "unknown"),
    (dict(steps=2, save_every=1, max_length=4096), "max_length 4096"),
    (dict(steps=2, save_every=1, precision="bf16", device="cpu"), "fp32"),
])
def test_bad_settings_are_refused(small_vocab_models, tmp_path, settings, match):
    from analysis.finetune import finetune

    with pytest.raises(ConfigError, match=match):
        finetune(CORPUS, tmp_path / "x", model=small_vocab_models[0], **settings)


def test_models_that_cannot_be_trained_are_refused(tmp_path, tiny_gpt2, minilm_path):
    from transformers.models.bert import BertTokenizerLegacy

    from analysis.finetune import finetune

    with pytest.raises(ModelLoadError, match="mask token|masked-LM"):
        finetune(CORPUS, tmp_path / "a", model=tiny_gpt2, steps=2, save_every=1)
    with pytest.raises(ModelLoadError, match="does not exist"):
        finetune(CORPUS, tmp_path / "b", model=str(tmp_path / "missing"), steps=2, save_every=1)
    slow = tmp_path / "slow_tok"
    slow.mkdir()
    (slow / "config.json").write_text(_small_bert_config(30522).to_json_string())
    BertTokenizerLegacy(vocab_file=str(Path(minilm_path) / "vocab.txt")).save_pretrained(slow)
    with pytest.raises(ModelLoadError, match="fast tokenizer"):
        finetune(CORPUS, tmp_path / "c", model=str(slow), steps=2, save_every=1)


def test_resume_with_other_settings_or_corpus_is_refused(small_vocab_models, tmp_path):
    from analysis.finetune import finetune, read_progress

    model = small_vocab_models[0]
    finetune(CORPUS, tmp_path / "run", model=model, steps=2, save_every=1, **FAST)
    with pytest.raises(ConfigError, match="seed"):
        finetune(CORPUS, tmp_path / "run", model=model, steps=2, save_every=1, seed=5, **FAST)
    with pytest.raises(ConfigError, match="corpus"):
        finetune(CORPUS[:-10], tmp_path / "run", model=model, steps=2, save_every=1, **FAST)
    assert read_progress(tmp_path / "run")["status"] == "done"  # the refused rerun does not mark the run failed
    # how often to save is not part of the weights: changing it resumes fine
    assert finetune(CORPUS, tmp_path / "run", model=model, steps=2, save_every=2, **FAST).status == "done"


@pytest.mark.slow
def test_packaged_minilm_gets_a_head_and_trains_two_steps(tmp_path):
    from transformers import AutoModel

    from analysis.finetune import finetune

    res = finetune(CORPUS[:40], tmp_path / "minilm", model=None, steps=2, save_every=1, batch_size=4, max_length=32)
    assert res.head_created and any("no masked-LM head" in m for m in res.messages)
    assert [c.step for c in res.checkpoints] == [0, 1, 2]
    assert all(np.isfinite(c.eval_loss) for c in res.checkpoints)
    enc = AutoModel.from_pretrained(res.checkpoints[-1].path, add_pooling_layer=False)
    assert enc.config.hidden_size == 384 and enc.config.num_hidden_layers == 6

"""Token sampling, checkpoint discovery, the run across checkpoints x layers, the CLI and the figures (tiny models)."""

from __future__ import annotations

import base64
import json
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.dimension import (RECORD_KEYS, checkpoints_from_models, dimension_across_checkpoints,
                                find_checkpoints, read_losses, sample_tokens)
from analysis.errors import ConfigError, TooFewPointsError
from tests.conftest import TRAIN_TEXTS

EVAL_TEXTS = list(dict.fromkeys(TRAIN_TEXTS)) + [
    "The committee chairman opened the meeting and read the minutes aloud.",
    "Natural gas prices rose sharply during the cold winter months.",
    "She painted the fence white while the neighbours watched from the porch.",
    "Rivers carry sediment to the sea, building deltas over thousands of years.",
    "A small boat drifted past the lighthouse as the fog rolled in.",
    "Students argued about the proof until the teacher drew a diagram.",
]


def _write_state(folder: Path, step: int, train, evl) -> None:
    (folder / "trainer_state.json").write_text(json.dumps({"step": step, "train_loss": train, "eval_loss": evl}))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_bert) -> Path:
    """checkpoint-0 = tiny BERT, checkpoint-5 = a byte copy, checkpoint-10 = its weights with noise added."""
    from safetensors.numpy import load_file, save_file

    root = tmp_path_factory.mktemp("lid_run")
    for step, train, evl in ((0, None, 10.4), (5, 10.2, 10.1), (10, 9.8, 9.9)):
        dst = root / f"checkpoint-{step}"
        shutil.copytree(tiny_bert, dst)
        _write_state(dst, step, train, evl)
    weights = load_file(str(root / "checkpoint-10" / "model.safetensors"))
    rng = np.random.default_rng(0)
    noisy = {k: (v + rng.normal(scale=0.5, size=v.shape).astype(v.dtype)) if v.dtype.kind == "f" and v.ndim == 2
             else v for k, v in weights.items()}
    save_file(noisy, str(root / "checkpoint-10" / "model.safetensors"), metadata={"format": "pt"})
    (root / ".checkpoint-15.partial").mkdir()     # half-written: never listed
    (root / "notes").mkdir()
    return root


def test_sample_tokens_are_real_tokens_and_reproducible(tiny_bert):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    a = sample_tokens(tok, EVAL_TEXTS, 60, max_tokens=126, seed=3)
    b = sample_tokens(tok, EVAL_TEXTS, 60, max_tokens=126, seed=3)
    c = sample_tokens(tok, EVAL_TEXTS, 60, max_tokens=126, seed=4)
    pd.testing.assert_frame_equal(a.tokens, b.tokens)
    assert not a.tokens.equals(c.tokens)
    assert len(a.tokens) == 60 and a.n_candidates > 60
    assert not a.tokens.duplicated(["text_index", "start", "end"]).any()
    for ti, s, e, token, piece in a.tokens[["text_index", "start", "end", "token", "piece"]].itertuples(index=False):
        assert a.texts[ti][s:e] == token and token.strip() == token and token
        assert piece not in tok.all_special_tokens
        plain = "".join(ch for ch in unicodedata.normalize("NFD", token.lower()) if not unicodedata.combining(ch))
        assert piece.lstrip("#") == plain or piece == "[UNK]"  # the uncased tokenizer strips accents
    ctx = a.contexts()
    assert all(f"[{t}]" in c for t, c in zip(a.tokens.token, ctx))
    everything = sample_tokens(tok, EVAL_TEXTS[:2], 10_000, max_tokens=126)
    assert len(everything.tokens) == everything.n_candidates


def test_long_texts_are_cut_at_a_word_boundary(tiny_bert):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    long = " ".join(["unbelievably"] * 40)  # several pieces per word, so a cut at 25 tokens falls inside a word
    s = sample_tokens(tok, [long, "short text here"], 1000, max_tokens=25)
    cut = s.texts[0]
    assert long.startswith(cut) and len(cut) < len(long) and not cut.endswith(" ")
    assert len(tok(cut, add_special_tokens=False)["input_ids"]) <= 25
    assert s.tokens[s.tokens.text_index == 0]["end"].max() <= len(cut)
    assert s.texts[1] == "short text here"


def test_find_checkpoints_orders_by_step_and_reads_losses(run_dir, tmp_path):
    cks = find_checkpoints(run_dir)
    assert [c.step for c in cks] == [0, 5, 10]
    assert [c.name for c in cks] == ["checkpoint-0", "checkpoint-5", "checkpoint-10"]
    assert cks[0].train_loss is None and cks[0].eval_loss == 10.4 and cks[2].train_loss == 9.8
    # the Hugging Face Trainer's trainer_state.json, and a log.jsonl when the checkpoint has no state file
    hf = tmp_path / "checkpoint-7"
    hf.mkdir()
    (hf / "trainer_state.json").write_text(json.dumps({"global_step": 7, "log_history": [
        {"loss": 3.0, "step": 5}, {"eval_loss": 2.5, "step": 7}, {"loss": 2.8, "step": 7}]}))
    assert read_losses(hf) == (7, 2.8, 2.5)
    bare = tmp_path / "checkpoint-9"
    bare.mkdir()
    (tmp_path / "log.jsonl").write_text('{"step": 9, "train_loss": 1.5}\n{"step": 9, "eval_loss": 1.25}\n')
    assert read_losses(bare, 9) == (9, 1.5, 1.25)
    with pytest.raises(ConfigError, match="no checkpoint"):
        find_checkpoints(tmp_path)  # checkpoint folders without config.json are not models
    with pytest.raises(ConfigError, match="does not exist"):
        find_checkpoints(tmp_path / "nope")
    single = find_checkpoints(run_dir / "checkpoint-5")
    assert len(single) == 1 and single[0].step == 5 and single[0].eval_loss == 10.1


def test_models_as_checkpoints(run_dir, tiny_bert):
    from analysis.finetune import Checkpoint, list_checkpoints

    cks = checkpoints_from_models([tiny_bert, str(run_dir / "checkpoint-10")])
    assert cks[1].name == "checkpoint-10" and cks[1].step == 10 and cks[0].step is None
    # one checkpoint type for runs and models; "default" is the packaged model
    default = checkpoints_from_models([None, "default"])
    assert all(type(c) is Checkpoint and c.model is None for c in default)
    assert [c.name for c in default] == ["default", "default"]  # the clash is resolved by path
    assert cks[1].model == str(run_dir / "checkpoint-10") and type(cks[1]) is Checkpoint
    listed = list_checkpoints(run_dir)
    assert [(c.name, c.step, c.eval_loss) for c in listed] == [(c.name, c.step, c.eval_loss)
                                                               for c in find_checkpoints(run_dir)]
    with pytest.raises(ConfigError):
        checkpoints_from_models([])


@pytest.fixture(scope="module")
def result(run_dir):
    return dimension_across_checkpoints(find_checkpoints(run_dir), EVAL_TEXTS, layers=[0, -1], n_sample=150,
                                        n_neighbors=20, seed=0)


def test_run_gives_one_record_per_checkpoint_and_layer(result):
    rec = result.records
    assert list(rec.columns[: len(RECORD_KEYS)]) == list(RECORD_KEYS)
    assert rec[["checkpoint", "layer"]].values.tolist() == [
        ["checkpoint-0", 0], ["checkpoint-0", 3], ["checkpoint-5", 0], ["checkpoint-5", 3],
        ["checkpoint-10", 0], ["checkpoint-10", 3]]
    assert rec["loss"].tolist() == [10.4, 10.4, 10.1, 10.1, 9.9, 9.9]
    n = len(result.sample.tokens)
    assert (rec["n_tokens"] == n).all() and n == 150
    for col in ("mean", "median", "std", "global"):
        assert np.isfinite(rec[col]).all() and (rec[col] > 0).all()
    # the embedding layer repeats vectors (same word piece at the same position) and says how many
    assert (rec.loc[rec.layer == 0, "n_duplicates"] > 0).all()
    assert (rec["n_unique"] + rec["n_duplicates"] == n).all()
    # a byte copy of a checkpoint gives identical figures; changed weights give different ones
    by = rec.set_index(["checkpoint", "layer"])
    assert by.loc[("checkpoint-0", 3), "mean"] == by.loc[("checkpoint-5", 3), "mean"]
    assert by.loc[("checkpoint-0", 3), "mean"] != by.loc[("checkpoint-10", 3), "mean"]
    assert len(result.token_lid) == 6 * n and np.isfinite(result.token_lid["lid"]).all()


def test_extremes_table_and_records_json(result):
    ext = result.extremes("checkpoint-10", 3, n=5)
    assert ext["rank"].tolist() == ["highest"] * 5 + ["lowest"] * 5
    hi, lo = ext[ext["rank"] == "highest"]["lid"], ext[ext["rank"] == "lowest"]["lid"]
    assert hi.min() >= lo.max() and hi.is_monotonic_decreasing and lo.is_monotonic_increasing
    assert all(f"[{t}]" in c for t, c in zip(ext.token, ext.context))
    recs = result.to_records()
    json.dumps(recs, allow_nan=False)
    assert set(RECORD_KEYS) <= set(recs[0]) and recs[0]["step"] == 0


def test_layer_spec_text_and_seed_alias_give_the_same_records(run_dir, result):
    """A layer spec as text ("-1" = the last) and the old keyword random_state= give what layers=[..], seed= give."""
    again = dimension_across_checkpoints(find_checkpoints(run_dir)[:1], EVAL_TEXTS, layers="-1", n_sample=150,
                                         n_neighbors=20, random_state=0)
    want = [r for r in result.to_records() if r["checkpoint"] == "checkpoint-0" and r["layer"] == 3]
    assert again.to_records() == want and len(want) == 1
    assert again.params["layers"] == "-1" and result.params["layers"] == [0, -1]
    with pytest.raises(ConfigError, match="unknown LID setting"):
        dimension_across_checkpoints(find_checkpoints(run_dir), EVAL_TEXTS, n_neighbours=20)
    with pytest.raises(ConfigError, match="not both"):
        dimension_across_checkpoints(find_checkpoints(run_dir), EVAL_TEXTS, seed=1, random_state=1)
    with pytest.raises(ConfigError, match="layer"):
        dimension_across_checkpoints(find_checkpoints(run_dir), EVAL_TEXTS, layers="last two")


def test_too_few_tokens_for_l(run_dir):
    with pytest.raises(TooFewPointsError, match="L = 128"):
        dimension_across_checkpoints(find_checkpoints(run_dir)[:1], EVAL_TEXTS[:3], layers=[-1], n_sample=500,
                                     n_neighbors=128)


def test_cli_writes_dimension_json_and_figures(run_dir, tmp_path, capsys):
    from analysis.cli import main

    corpus = tmp_path / "eval.csv"
    pd.DataFrame({"text": EVAL_TEXTS}).to_csv(corpus, index=False)
    out = tmp_path / "out"
    rc = main(["dimension", "--checkpoints", str(run_dir), "--corpus", str(corpus), "--layers", "-1", "--sample",
               "120", "--neighbors", "15", "--estimator", "mle", "--formats", "html", "--out", str(out)])
    assert rc == 0
    recs = json.loads((out / "dimension.json").read_text())
    assert [r["checkpoint"] for r in recs] == ["checkpoint-0", "checkpoint-5", "checkpoint-10"]
    assert all(set(RECORD_KEYS) <= set(r) and r["layer"] == 3 and r["estimator"] == "mle" for r in recs)
    assert recs[2]["loss"] == 9.9 and recs[0]["step"] == 0
    for stem in ("lid_trajectory", "lid_violins", "lid_heatmap"):
        assert (out / f"{stem}.html").stat().st_size > 10_000 and (out / f"{stem}.manifest.json").exists()
    assert pd.read_csv(out / "tokens.csv").shape[0] == 120
    assert json.loads((out / "manifest.json").read_text())["parameters"]["n_neighbors"] == 15
    assert "checkpoint-10" in capsys.readouterr().out
    # a user error is one line and exit status 2
    rc = main(["dimension", "--checkpoints", str(tmp_path / "missing"), "--corpus", str(corpus), "--out", str(out)])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def arr(v):
    """A trace array from fig.to_dict(): plotly 7 stores numeric arrays as {"dtype", "bdata"[, "shape"]}."""
    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return out.reshape([int(x) for x in str(v["shape"]).split(",")]) if "shape" in v else out
    return np.asarray(v)


def test_plots(result):
    from analysis.plots.dimension import plot_lid_heatmap, plot_lid_trajectory, plot_lid_violins, plot_training_log

    fig = plot_lid_trajectory(result.records).to_dict()
    names = [t["name"] for t in fig["data"]]
    assert names == ["mean LID (layer 3)", "global TwoNN", "training loss", "held-out loss"]
    lid = fig["data"][0]
    assert arr(lid["x"]).tolist() == [0, 5, 10]
    np.testing.assert_allclose(arr(lid["y"]), result.records.query("layer == 3")["mean"])
    np.testing.assert_allclose(arr(lid["error_y"]["array"]), result.records.query("layer == 3")["std"])
    assert fig["data"][3]["yaxis"] == "y2" and arr(fig["data"][3]["y"]).tolist() == [10.4, 10.1, 9.9]
    assert plot_lid_trajectory(result.records, layer=0).to_dict()["data"][0]["name"] == "mean LID (layer 0)"
    # models without steps: categories in run order
    nostep = result.records.assign(step=None)
    assert list(plot_lid_trajectory(nostep).to_dict()["data"][0]["x"]) == ["checkpoint-0", "checkpoint-5",
                                                                            "checkpoint-10"]
    vio = plot_lid_violins(result.token_lid, layer=3).to_dict()["data"]
    assert [v["name"] for v in vio] == ["checkpoint-0", "checkpoint-5", "checkpoint-10"]
    assert len(arr(vio[0]["y"])) == len(result.sample.tokens)
    heat = plot_lid_heatmap(result.records).to_dict()["data"][0]
    assert list(heat["x"]) == ["checkpoint-0", "checkpoint-5", "checkpoint-10"] and list(heat["y"]) == ["0", "3"]
    assert arr(heat["z"]).shape == (2, 3)
    assert arr(heat["z"])[1, 2] == pytest.approx(result.records.query("layer == 3")["mean"].iloc[2])
    log = pd.DataFrame({"step": [1, 2, 3, 4], "train_loss": [3.0, 2.5, 2.2, 2.0], "eval_loss": [None, 2.6, None, 2.1]})
    tl = plot_training_log(log, total_steps=10).to_dict()
    assert [t["name"] for t in tl["data"]] == ["training loss", "held-out loss"]
    assert arr(tl["data"][1]["x"]).tolist() == [2, 4] and list(tl["layout"]["xaxis"]["range"]) == [0, 10]


def test_cli_takes_several_models_either_way():
    from analysis.cli import build_parser

    p = build_parser()
    a = p.parse_args(["dimension", "--model", "m1", "m2", "--corpus", "c.csv", "--out", "o"])
    b = p.parse_args(["dimension", "--model", "m1", "--model", "m2", "--corpus", "c.csv", "--out", "o"])
    assert a.model == b.model == ["m1", "m2"] and a.checkpoints is None
    with pytest.raises(SystemExit):  # a run folder or models, not both
        p.parse_args(["dimension", "--model", "m1", "--checkpoints", "d", "--corpus", "c.csv", "--out", "o"])

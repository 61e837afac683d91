"""``python -m analysis senses`` through analysis.cli.main, with a tiny random model (fast) on planted corpora."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.cli import main
from analysis.model_files import display_model_path
from tests.conftest import DEMO

KEYS = {"model", "layer", "k", "purity", "inverse_purity", "ari", "nmi", "v_measure", "centroid_accuracy",
        "logreg_accuracy", "macro_f1"}


def _bank_corpus(path):
    money = ["She paid the cheque into the bank on Monday.", "The bank raised its interest rates again.",
             "He works as a clerk at the bank downtown.", "The central bank printed more money.",
             "They robbed the bank and took the cash.", "My bank charges a fee for transfers."]
    river = ["We sat on the bank of the river.", "The boat drifted towards the muddy bank.",
             "Reeds grew thick along the bank of the stream.", "The river overflowed its bank in spring.",
             "Fishermen lined the grassy bank at dawn.", "The otter slid down the steep bank."]
    rows = []
    for i in range(3):
        for j, t in enumerate(money):
            rows.append({"text": t, "sense": "money", "part": "test" if (i + j) % 3 == 0 else "train"})
        for j, t in enumerate(river):
            rows.append({"text": t, "sense": "river", "part": "test" if (i + j) % 3 == 0 else "train"})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_cli_demo_all_layers(cache_dir, tiny_bert, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["senses", str(DEMO / "dwug_en"), "--target", "plane_nn", "--model", tiny_bert, "--all-layers",
               "--k", "gold", "--projection", "pca", "--formats", "html", "--names", "0=first", "--out", str(out)])
    assert rc == 0
    records = json.loads((out / "metrics.json").read_text())
    assert [r["layer"] for r in records] == [0, 1, 2, 3]
    for r in records:
        assert KEYS <= set(r)
        assert r["model"] == display_model_path(tiny_bert) and r["mode"] == "cv"  # manifests show no absolute path
        assert 0 <= r["purity"] <= 1 and 0 <= r["inverse_purity"] <= 1 and -1 <= r["ari"] <= 1
    a = pd.read_csv(out / "assignments.csv")
    assert len(a) == 4 * 200
    assert {"occurrence_id", "model", "layer", "cluster", "cluster_name", "x", "y", "label"} <= set(a.columns)
    assert (a.loc[a.cluster == 0, "cluster_name"] == "first").all()
    assert a[["x", "y"]].notna().all().all()
    for stem in ("projection", "contingency"):
        assert (out / f"{stem}_tiny_bert0_layer3.html").exists() or any(out.glob(f"{stem}_*_layer3.html"))
    assert (out / "comparison_ari.html").exists()
    manifest = json.loads((out / "metrics.manifest.json").read_text())
    assert manifest["parameters"]["k"] == "gold" and "versions" in manifest


def test_cli_default_layer_split_column_and_two_models(cache_dir, tiny_bert, tiny_roberta, tmp_path):
    corpus = _bank_corpus(tmp_path / "bank.csv")
    out = tmp_path / "out"
    rc = main(["senses", str(corpus), "--target", "bank", "--model", tiny_bert, "--model", tiny_roberta,
               "--label-column", "sense", "--split-column", "part", "--k", "2", "--method", "agglomerative",
               "--projection", "none", "--formats", "html", "--out", str(out)])
    assert rc == 0
    records = json.loads((out / "metrics.json").read_text())
    assert [r["model"] for r in records] == [display_model_path(tiny_bert), display_model_path(tiny_roberta)]
    # One record per model at the documented default layer (a mix of the last layers for these 2-3 layer models).
    from analysis import senses

    for r, n_hidden in zip(records, (4, 3)):
        assert str(r["layer"]) == senses.layer_label(list(range(n_hidden)), senses.DEFAULT_LAYER)
        assert r["mode"] == "split" and r["k"] == 2
        # clusters are scored on the test rows only
        assert r["n_scored"] == sum(1 for i in range(3) for j in range(6) if (i + j) % 3 == 0) * 2
    a = pd.read_csv(out / "assignments.csv")
    assert set(a["split"]) == {"train", "test"} and a["x"].isna().all()


@pytest.mark.parametrize("argv,message", [
    (["--k", "gold"], "--k gold needs gold labels"),
    (["--split-column", "nope"], "no column 'nope'"),
    (["--layer", "9"], "layer 9 is not in the embedding set"),
])
def test_cli_errors_exit_2(cache_dir, tiny_bert, tmp_path, capsys, argv, message):
    corpus = tmp_path / "c.csv"
    pd.DataFrame({"text": ["the bank of the river", "the bank lent money", "a bank again"]}).to_csv(corpus,
                                                                                                    index=False)
    rc = main(["senses", str(corpus), "--target", "bank", "--model", tiny_bert, "--projection", "pca",
               "--formats", "html", "--out", str(tmp_path / "o"), *argv])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_cli_layer_specs_go_through_analysis_layers(cache_dir, tiny_bert, tmp_path):
    """--layers takes a list as well as a range (each scored alone); --layer a list (averaged) gets its label."""
    corpus = _bank_corpus(tmp_path / "bank.csv")
    base = ["senses", str(corpus), "--target", "bank", "--model", tiny_bert, "--label-column", "sense", "--k", "2",
            "--projection", "none", "--formats", "html"]
    assert main([*base, "--layers", "3,1", "--out", str(tmp_path / "a")]) == 0
    assert [r["layer"] for r in json.loads((tmp_path / "a" / "metrics.json").read_text())] == [3, 1]
    assert main([*base, "--layer", "1,3", "--out", str(tmp_path / "b")]) == 0
    (rec,) = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert rec["layer"] == "1,3" and rec["purity"] is not None
    assert list(rec)[3:14] == ["purity", "inverse_purity", "purity_f", "ari", "nmi", "v_measure", "centroid_accuracy",
                               "centroid_macro_f1", "logreg_accuracy", "logreg_macro_f1", "macro_f1"]


@pytest.mark.parametrize("argv,message", [
    (["--layers", "top"], "cannot read the layers 'top'"),
    (["--layer", "1-x"], "cannot read the layers '1-x'"),
    (["--k-range", "2to5"], "cannot read the range '2to5'"),
])
def test_cli_unreadable_specs_stop_before_any_model_is_loaded(tmp_path, capsys, argv, message):
    corpus = tmp_path / "c.csv"
    pd.DataFrame({"text": ["the bank of the river", "the bank lent money"]}).to_csv(corpus, index=False)
    # The model folder does not exist: reading the spec must fail first, and nothing is written.
    rc = main(["senses", str(corpus), "--target", "bank", "--model", str(tmp_path / "no_model"),
               "--out", str(tmp_path / "o"), *argv])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

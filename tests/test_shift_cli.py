"""``python -m analysis shift`` and ``shift-rank`` on the bundled demo with a tiny random model."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.cli import main
from tests.conftest import DEMO

DWUG = str(DEMO / "dwug_en")
STATS = str(DEMO / "dwug_en" / "stats" / "opt" / "stats_groupings.csv")
FAST = ["--permutations", "99", "--boot", "50", "--formats", "html", "--k", "2"]


def test_shift_writes_json_tables_and_figures(tmp_path, tiny_bert, cache_dir, capsys):
    out = tmp_path / "out"
    rc = main(["shift", DWUG, "--target", "plane_nn", "--model", tiny_bert, "--out", str(out), *FAST])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "shift.json").read_text())
    assert doc["target"] == "plane_nn" and doc["periods"]["names"] == ["1", "2"]
    assert doc["periods"]["counts"] == [100, 100]
    pair = doc["pairs"][0]
    for m in ("apd", "prt", "jsd"):
        assert isinstance(pair[m], float) and 0 < pair[f"{m}_p"] <= 1 and len(pair[f"{m}_ci"]) == 2
    assert doc["params"]["n_permutations"] == 99
    assert doc["layer"] == "2-3"  # the default, the upper half of the tiny model's 3 layers
    shares = doc["shares"]["by_period"]
    assert set(shares) == {"1", "2"} and sum(v["count"] for v in shares["1"].values()) == 100
    assert len(doc["typical"]) == 10 and "[plane" in doc["typical"][0]["kwic"].lower()
    for stem in ("counts", "shares", "metrics", "trajectory"):
        assert (out / f"{stem}.html").exists() and (out / f"{stem}.manifest.json").exists()
    manifest = json.loads((out / "pairs.manifest.json").read_text())
    assert manifest["parameters"]["target"] == "plane_nn" and manifest["parameters"]["n_bootstrap"] == 50
    assert len(pd.read_csv(out / "pairs.csv")) == 3


def test_shift_takes_a_layer_rule_relative_to_the_depth(tmp_path, tiny_bert, cache_dir, capsys):
    out = tmp_path / "out"
    rc = main(["shift", DWUG, "--target", "plane_nn", "--model", tiny_bert, "--layer", "Middle-third", "--out",
               str(out), *FAST])
    assert rc == 0, capsys.readouterr().err
    assert json.loads((out / "shift.json").read_text())["layer"] == "2"
    assert main(["shift", DWUG, "--target", "plane_nn", "--layer", "upper-quarter", "--out", str(tmp_path / "x")]) == 2
    assert "middle third" in capsys.readouterr().err


def test_shift_rank_writes_ranking_and_spearman(tmp_path, tiny_bert, cache_dir, capsys):
    semeval = tmp_path / "graded.txt"
    semeval.write_text("plane\t0.88\nchairman\t0\ngas\t0.16\n")
    out = tmp_path / "rank"
    rc = main(["shift-rank", DWUG, "--model", tiny_bert, "--gold", STATS, "--out", str(out), *FAST])
    assert rc == 0, capsys.readouterr().err
    ranking = pd.read_csv(out / "ranking.csv")
    assert list(ranking.columns[:4]) == ["target", "apd", "prt", "jsd"]
    assert sorted(ranking["target"]) == ["chairman_nn", "gas_nn", "plane_nn"]
    sp = json.loads((out / "spearman.json").read_text())
    assert set(sp) == {"apd", "prt", "jsd", "n"} and sp["n"] == 3
    assert all(v is None or -1 <= v <= 1 for k, v in sp.items() if k != "n")
    ev = json.loads((out / "evaluation.json").read_text())
    assert ev["n_binary"] == 3 and ev["binary_rule"] == "mean"
    for m in ("apd", "prt", "jsd"):  # rho's bootstrap interval over targets and its permutation p
        if sp[m] is not None:
            lo, hi = ev["spearman_ci"][m]
            assert -1 <= lo <= sp[m] + 1e-9 and sp[m] - 1e-9 <= hi <= 1
            assert 1 / (ev["spearman_n_permutations"] + 1) <= ev["spearman_permutation_p"][m] <= 1
    assert (out / "apd_vs_gold.html").exists() and (out / "ranking_apd.html").exists()
    # POS-less SemEval names match the DWUG lemmas; DWUG's own clusters as senses give JSD that ranks plane first
    out2 = tmp_path / "rank2"
    rc = main(["shift-rank", DWUG, "--model", tiny_bert, "--gold", str(semeval), "--senses", "column",
               "--out", str(out2), *FAST])
    assert rc == 0
    r2 = pd.read_csv(out2 / "ranking.csv").sort_values("jsd", ascending=False)
    assert r2["target"].iloc[0] == "plane_nn"
    assert json.loads((out2 / "spearman.json").read_text())["jsd"] == pytest.approx(1.0)


@pytest.mark.parametrize("argv, words", [
    (["shift", DWUG, "--out", "X"], "holds 3 targets"),
    (["shift", DWUG, "--target", "plane_nn", "--period-column", "grouping", "--bins", "3", "--out", "X"],
     "--bins applies to a year column"),
    (["shift-rank", DWUG, "--gold", "/nonexistent/gold.tsv", "--out", "X"], "does not exist"),
    (["shift", DWUG, "--target", "plane_nn", "--year-column", "date", "--bins", "1700,1800", "--out", "X"],
     "no period has occurrences; shift needs at least two; 200 row(s) without a period were left out"),
])
def test_cli_errors_are_one_line_with_status_2(argv, words, tmp_path, cache_dir, capsys):
    argv = [a if a != "X" else str(tmp_path / "o") for a in argv]
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("error:") and words in lines[-1]
    assert all(line.startswith("warning:") for line in lines[:-1])  # no traceback


def test_one_period_csv_corpus(tmp_path, cache_dir, capsys):
    corpus = tmp_path / "c.csv"
    corpus.write_text("text,year\nThe plane flew.,1950\nA plane landed.,1950\nno year plane here,\n")
    assert main(["shift", str(corpus), "--target", "plane", "--year-column", "year", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "same year (1950)" in err and "1 row(s) without a (parsable) year" in err


def _thin_csv(tmp_path):
    """Two targets over years 1900 / 1950 / 1990; with 3 equal-width bins the middle bin holds one usage each."""
    rows = ["text,year"]
    for word in ("plane", "bank"):
        rows += [f"The {word} number {i} was here,1900" for i in range(6)]
        rows += [f"A new {word} called {i} came,1990" for i in range(6)]
        rows += [f"Only one {word} in the middle,1950"]
    path = tmp_path / "thin.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_shift_thin_year_bin_needs_the_flag_and_is_left_out_with_it(tmp_path, tiny_bert, cache_dir, capsys):
    corpus = _thin_csv(tmp_path)
    base = ["shift", corpus, "--target", "plane", "--year-column", "year", "--bins", "3", "--model", tiny_bert, *FAST]
    assert main([*base, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error:") and "fewer than 2 occurrences" in err and "--drop-thin-periods" in err
    out = tmp_path / "b"
    assert main([*base, "--drop-thin-periods", "--out", str(out)]) == 0, capsys.readouterr().err
    doc = json.loads((out / "shift.json").read_text())
    assert doc["periods"]["names"] == ["1900–1929", "1960–1990"] and doc["periods"]["counts"] == [6, 6]
    assert doc["periods"]["n_dropped"] == 1 and len(doc["pairs"]) == 1
    # a stricter threshold leaves out more: with 7, no period is left to compare
    assert main([*base, "--drop-thin-periods", "--min-period-count", "7", "--out", str(tmp_path / "c")]) == 2
    assert "shift needs at least two" in capsys.readouterr().err
    assert main([*base, "--min-period-count", "3", "--out", str(tmp_path / "d")]) == 2
    assert "applies with --drop-thin-periods" in capsys.readouterr().err


def test_shift_rank_thin_year_bins_with_and_without_the_flag(tmp_path, tiny_bert, cache_dir, capsys):
    corpus = _thin_csv(tmp_path)
    base = ["shift-rank", corpus, "--targets", "plane,bank", "--year-column", "year", "--bins", "3",
            "--model", tiny_bert, *FAST]
    assert main([*base, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error:") and "no target could be compared" in err and "--drop-thin-periods" in err
    out = tmp_path / "b"
    assert main([*base, "--drop-thin-periods", "--out", str(out)]) == 0, capsys.readouterr().err
    ranking = pd.read_csv(out / "ranking.csv")
    assert sorted(ranking["target"]) == ["bank", "plane"]
    assert set(ranking["n_first"]) == {6} and set(ranking["n_last"]) == {6}
    manifest = json.loads((out / "ranking.manifest.json").read_text())
    assert manifest["parameters"]["drop_thin_periods"] is True


@pytest.mark.parametrize("command, target", [("shift", ["--target", "plane"]),
                                             ("shift-rank", ["--targets", "plane,bank"])])
def test_out_naming_a_file_is_a_clear_error_before_any_embedding(command, target, tmp_path, cache_dir, capsys):
    corpus = _thin_csv(tmp_path)
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    argv = [command, corpus, *target, "--year-column", "year", "--bins", "3", "--drop-thin-periods",
            "--out", str(blocker)]
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("error:") and "taken" in lines[-1] and "is a file" in lines[-1]
    assert blocker.read_text() == "x"
    assert not cache_dir.exists() or not any(cache_dir.rglob("manifest.json"))  # nothing was embedded


def test_shift_paper_preset_writes_vector_and_300_dpi_figures(tmp_path, tiny_bert, cache_dir, capsys):
    from analysis import export
    from tests.test_paper_export import _png_dpi, _png_size

    fast = [a for a in FAST if a not in ("--formats", "html")]
    bad = main(["shift", DWUG, "--target", "plane_nn", "--model", tiny_bert, "--out", str(tmp_path / "bad"),
                "--preset", "paper", "--width-cm", "0.5", *fast])
    assert bad != 0 and "width" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    out = tmp_path / "paper"
    rc = main(["shift", DWUG, "--target", "plane_nn", "--model", tiny_bert, "--out", str(out), "--preset", "paper",
               "--width-cm", "17.4", *fast])
    assert rc == 0, capsys.readouterr().err
    manifest = json.loads((out / "shares.manifest.json").read_text())
    assert manifest["parameters"]["export"]["preset"] == "paper"
    assert manifest["parameters"]["export"]["width_cm"] == 17.4
    ok, reason = export.static_export_available()
    if not ok:
        pytest.skip(reason)
    assert not (out / "shares.html").exists()  # the paper default is svg, pdf, png
    assert (out / "shares.svg").read_text().lstrip().startswith(("<svg", "<?xml"))
    assert (out / "shares.pdf").read_bytes()[:5] == b"%PDF-"
    png = (out / "shares.png").read_bytes()
    assert _png_size(png)[0] == round(17.4 / 2.54 * 300) and _png_dpi(png) == pytest.approx(300, abs=0.01)


def test_shift_rank_all_layers_scores_every_layer(tmp_path, tiny_bert, cache_dir, capsys):
    out = tmp_path / "layers"
    rc = main(["shift-rank", DWUG, "--model", tiny_bert, "--gold", STATS, "--all-layers", "--out", str(out), *FAST])
    assert rc == 0, capsys.readouterr().err
    per_target = pd.read_csv(out / "layers.csv")
    by_layer = pd.read_csv(out / "rho_by_layer.csv")
    layers = sorted(per_target["layer"].unique())
    assert len(layers) == 4 and len(per_target) == 3 * 4  # the tiny model's 4 hidden states x 3 targets
    assert set(by_layer["metric"]) == {"apd", "prt", "jsd"} and len(by_layer) == 12
    # each layer's row is the mean over targets of that layer's ranking; the main ranking (default layer mix) has the
    # same targets
    for (layer, metric), row in by_layer.set_index(["layer", "metric"]).iterrows():
        assert row["mean"] == pytest.approx(per_target.loc[per_target["layer"] == layer, metric].mean())
    main_rank = pd.read_csv(out / "ranking.csv").set_index("target")
    last = per_target[per_target["layer"] == per_target["layer"].max()].set_index("target")
    assert "rho" in by_layer.columns and (out / "by_layer.html").exists()
    assert not last.empty and set(last.index) == set(main_rank.index)
    assert "per layer (Spearman rho vs gold)" in capsys.readouterr().out
    assert main(["shift-rank", DWUG, "--model", tiny_bert, "--all-layers", "--layer", "2", "--out",
                 str(tmp_path / "x"), *FAST]) == 2


def test_shift_rank_samples_each_target_on_its_own(tmp_path, tiny_bert, cache_dir, capsys):
    out = tmp_path / "sampled"
    rc = main(["shift-rank", DWUG, "--model", tiny_bert, "--sample", "20", "--per-period", "--seed", "4",
               "--out", str(out), *FAST])
    assert rc == 0, capsys.readouterr().err
    ranking = pd.read_csv(out / "ranking.csv")
    # 20 per period (two DWUG groupings) of each of the three targets, whatever each target's own size
    assert sorted(ranking["target"]) == ["chairman_nn", "gas_nn", "plane_nn"]
    assert set(ranking["n_first"]) == {20} and set(ranking["n_last"]) == {20}
    assert main(["shift-rank", DWUG, "--model", tiny_bert, "--per-period", "--out", str(tmp_path / "x"),
                 *FAST]) == 2
    assert "--per-period needs --sample" in capsys.readouterr().err


def test_shift_records_the_one_sense_test_and_refuses_a_bad_threshold(tmp_path, tiny_bert, cache_dir, capsys):
    """Issue 14: --min-silhouette (default analysis.senses.DEFAULT_MIN_SILHOUETTE; 'none' = the old behaviour) reaches
    the clustering and shift.json says which was used; a value that is not a number is refused by name."""
    from analysis.senses import DEFAULT_MIN_SILHOUETTE

    auto = [a for a in FAST if a not in ("--k", "2")]
    docs = {}
    for name, extra in (("default", []), ("never", ["--min-silhouette", "none"]), ("always", ["--min-silhouette",
                                                                                           "0.99"])):
        out = tmp_path / name
        rc = main(["shift", DWUG, "--target", "plane_nn", "--model", tiny_bert, "--out", str(out), *auto, *extra])
        assert rc == 0, capsys.readouterr().err
        docs[name] = json.loads((out / "shift.json").read_text())["senses"]
    assert docs["default"]["min_silhouette"] == DEFAULT_MIN_SILHOUETTE and docs["never"]["min_silhouette"] is None
    assert docs["never"]["k"] >= 2  # never one cluster
    assert docs["always"]["k"] == 1 and "one-sense threshold" in docs["always"]["notice"]  # no silhouette is 0.99
    with pytest.raises(SystemExit) as exc:
        main(["shift", DWUG, "--target", "plane_nn", "--min-silhouette", "high", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and "cannot read --min-silhouette 'high'" in capsys.readouterr().err

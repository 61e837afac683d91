"""``python -m analysis bias`` through analysis.cli.main, with a tiny random BERT."""

from __future__ import annotations

import json

from analysis.bias import RECORD_KEYS
from analysis.cli import main


def test_cli_writes_bias_json_and_figures(tiny_bert, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["bias", "--test", "weat6", "weat+i1", "--level", "word", "--level", "contextual", "--model", tiny_bert,
               "--all-layers", "--permutations", "500", "--bootstrap", "50", "--seed", "3", "--word-figures",
               "--out", str(out)])
    assert rc == 0
    records = json.loads((out / "bias.json").read_text())
    assert len(records) == 2 * 2 * 4  # tests x levels x layers (3-layer model + embeddings)
    assert all(list(r)[:len(RECORD_KEYS)] == list(RECORD_KEYS) for r in records)
    assert {(r["test"], r["level"]) for r in records} == {(t, l) for t in ("weat6", "weat+i1")
                                                          for l in ("word", "contextual")}
    assert {r["layer"] for r in records} == {0, 1, 2, 3}
    assert all(r["n_permutations"] == 500 or r["n_permutations"] == 12870 for r in records)
    for stem in ("effect_sizes_word", "layers_contextual", "results", "items"):
        assert list(out.glob(f"{stem}.*")), stem
    assert list(out.glob("words_weat6_contextual_*_L3.html"))
    printed = capsys.readouterr().out
    assert "weat+i1" in printed and "contextual" in printed
    # same seed, same numbers
    out2 = tmp_path / "again"
    main(["bias", "--test", "weat6", "weat+i1", "--level", "word", "--model", tiny_bert, "--all-layers",
          "--permutations", "500", "--bootstrap", "50", "--seed", "3", "--out", str(out2)])
    again = json.loads((out2 / "bias.json").read_text())
    assert [r["p_value"] for r in again] == [r["p_value"] for r in records if r["level"] == "word"]


def test_cli_user_file_and_single_layer(tiny_bert, tmp_path):
    f = tmp_path / "mine.json"
    f.write_text(json.dumps({"name": "mine", "X": ["john", "paul"], "Y": ["amy", "joan"], "A": ["office", "salary"],
                             "B": ["home", "family"], "templates": ["This is {}.", "{} is here."]}))
    rc = main(["bias", "--test-file", str(f), "--level", "all", "--model", tiny_bert, "--layer", "-1",
               "--permutations", "100", "--bootstrap", "0", "--out", str(tmp_path / "o")])
    assert rc == 0
    records = json.loads((tmp_path / "o" / "bias.json").read_text())
    assert [(r["level"], r["layer"]) for r in records] == [("word", 3), ("sentence", 3), ("contextual", 3)]
    assert records[2]["n_x"] == 4 and records[0]["ci_low"] is None


def test_cli_errors_are_one_line(tiny_bert, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"X": ["a", "b"], "Y": ["c", "d"], "A": ["e", "f"], "B": ["g", "h"],
                               "templates": ["no slot"]}))
    assert main(["bias", "--test-file", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "no {}" in capsys.readouterr().err
    assert main(["bias", "--test", "weat66", "--out", str(tmp_path / "x")]) == 2
    assert "no bundled bias test 'weat66'" in capsys.readouterr().err
    assert main(["bias", "--test", "project_implicit_native", "--level", "sentence", "--model", tiny_bert,
                 "--out", str(tmp_path / "x")]) == 2
    assert "cannot run at the sentence level" in capsys.readouterr().err


def test_cli_list(capsys):
    assert main(["bias", "--list"]) == 0
    out = capsys.readouterr().out
    assert "contextual (38):" in out and "sent-weat+i1" in out


def test_cli_layer_ranges_and_bad_layers(tiny_bert, tmp_path, capsys):
    rc = main(["bias", "--test", "weat6", "--model", tiny_bert, "--layer", "1-2", "--permutations", "50",
               "--bootstrap", "0", "--out", str(tmp_path / "o")])
    assert rc == 0
    assert [r["layer"] for r in json.loads((tmp_path / "o" / "bias.json").read_text())] == [1, 2]
    assert main(["bias", "--test", "weat6", "--layer", "top", "--out", str(tmp_path / "x")]) == 2
    assert "cannot read the layers 'top'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

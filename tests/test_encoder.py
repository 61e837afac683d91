"""Encoding exactness: every path gives the vector of running the text alone and averaging the word's pieces by hand."""

import numpy as np
import pytest
import torch

from analysis.encoder import embed_sentences, embed_spans, load_model, plan_windows
from analysis.errors import ConfigError, ModelLoadError

SENTENCES = [
    "The plane flew over the planes; a third plane landed.",      # several hits
    "plane at the very start",                                      # hit at text start
    "and at the very end a plane",                                  # hit at text end
    "Unbelievably, the aeroplanes zigzagged over Zürich's café.",  # multi-piece words, non-ASCII
    "Ein Flugzeug über München: the plane, the plane!",
]


def find_spans(texts, word):
    spans = []
    for i, t in enumerate(texts):
        start = 0
        while (j := t.find(word, start)) >= 0:
            spans.append((i, j, j + len(word)))
            start = j + 1
    return spans


def manual(lm, text, start, end, pooling="mean"):
    """Run ``text`` alone through the model and average the target's pieces by hand."""
    enc = lm.tokenizer(text, return_offsets_mapping=True, return_tensors="pt")
    offs = enc.pop("offset_mapping")[0].tolist()
    enc.pop("token_type_ids", None) if lm.model_type != "bert" else None
    with torch.no_grad():
        hs = lm.model(**enc, output_hidden_states=True).hidden_states
    idx = [i for i, (a, b) in enumerate(offs) if a < end and b > start and b > a]
    if pooling == "first":
        idx = idx[:1]
    return torch.stack([h[0, idx].float().mean(0) for h in hs]).numpy(), idx


def cosines(a, b):
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_roberta", "tiny_gpt2"])
@pytest.mark.parametrize("pooling", ["mean", "first"])
def test_spans_match_manual(request, fixture, pooling):
    lm = load_model(request.getfixturevalue(fixture))
    spans = find_spans(SENTENCES, "plane") + find_spans(SENTENCES, "aeroplanes") + find_spans(SENTENCES, "café") \
        + find_spans(SENTENCES, "Zürich")
    vecs = embed_spans(lm, SENTENCES, spans, pooling=pooling, batch_size=3)
    assert vecs.shape == (len(spans), lm.n_layers, lm.dim)
    multi = 0
    for (ti, s, e), v in zip(spans, vecs):
        ref, idx = manual(lm, SENTENCES[ti], s, e, pooling)
        multi += len(idx) > 1
        assert cosines(ref, v).min() > 0.99999, (fixture, SENTENCES[ti][s:e])
    if pooling == "mean":
        assert multi > 0  # the test really covers words split into several pieces
    # one at a time (no batching or sorting) gives the same vectors
    single = np.concatenate([embed_spans(lm, SENTENCES, [sp], pooling=pooling) for sp in spans])
    assert cosines(single, vecs).min() > 0.99999


def test_layer_subset_equals_full_run(tiny_bert, tiny_roberta):
    for path in (tiny_bert, tiny_roberta):
        lm = load_model(path)
        spans = find_spans(SENTENCES, "plane")
        full = embed_spans(lm, SENTENCES, spans)
        part = embed_spans(lm, SENTENCES, spans, layers=[0, 1])  # runs only the first layer of the stack
        np.testing.assert_allclose(part, full[:, [0, 1]], atol=1e-5)
        assert np.abs(full[:, 1] - full[:, 2]).max() > 1e-3  # the layers really differ


def test_long_text_is_windowed_around_the_occurrence(tiny_bert):
    lm = load_model(tiny_bert)  # max length 128
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    long_text = " ".join(words[i % 5] for i in range(2600)) + " plane " + " ".join(words[i % 5] for i in range(2600))
    long_text = "plane " + long_text + " plane"
    spans = find_spans([long_text], "plane")
    assert len(spans) == 3
    n_tokens = len(lm.tokenizer(long_text, add_special_tokens=False)["input_ids"])
    assert n_tokens > 5000
    window = 32
    vecs = embed_spans(lm, [long_text], spans, window=window)
    # reference: cut the centred window by hand and run it alone
    enc = lm.tokenizer(long_text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offs = enc["input_ids"], enc["offset_mapping"]
    content = window - 2
    for (_, s, e), v in zip(spans, vecs):
        hit = [i for i, (a, b) in enumerate(offs) if a < e and b > s and b > a]
        a = max(0, min(hit[0] - (content - len(hit)) // 2, len(ids) - content))
        win = [lm.tokenizer.cls_token_id] + ids[a:a + content] + [lm.tokenizer.sep_token_id]
        with torch.no_grad():
            hs = lm.model(input_ids=torch.tensor([win]), output_hidden_states=True).hidden_states
        pos = [h - a + 1 for h in hit]
        ref = torch.stack([h[0, pos].mean(0) for h in hs]).numpy()
        assert cosines(ref, v).min() > 0.99999
    # the default window is the model's maximum
    default = embed_spans(lm, [long_text], spans)
    assert default.shape == vecs.shape and cosines(default, vecs).min() < 0.9999


def test_identical_windows_are_encoded_once(tiny_bert):
    lm = load_model(tiny_bert)
    texts = ["the plane and the plane and the plane", "another plane"]
    spans = find_spans(texts, "plane")
    windows = plan_windows(lm, texts, spans)
    assert len(windows) == 2 and sorted(len(w.members) for w in windows) == [1, 3]


@pytest.mark.slow
def test_minilm_default_exact():
    lm = load_model(None)
    assert lm.n_layers == 7 and lm.dim == 384 and lm.name == "all-MiniLM-L6-v2"
    spans = find_spans(SENTENCES, "plane") + find_spans(SENTENCES, "aeroplanes")
    vecs = embed_spans(lm, SENTENCES, spans)
    for (ti, s, e), v in zip(spans, vecs):
        ref, _ = manual(lm, SENTENCES[ti], s, e)
        assert cosines(ref, v).min() > 0.99999


def test_sentence_level(tiny_bert, tiny_gpt2):
    for path in (tiny_bert, tiny_gpt2):
        lm = load_model(path)
        sents = ["This is a plane.", "A much longer sentence about planes and trains."]
        cls = embed_sentences(lm, sents, pooling="cls")
        mean = embed_sentences(lm, sents, pooling="mean")
        for i, s in enumerate(sents):
            enc = lm.tokenizer(s, return_tensors="pt")
            with torch.no_grad():
                hs = lm.model(**enc, output_hidden_states=True).hidden_states
            pos = -1 if lm.is_decoder else 0
            ref = torch.stack([h[0, pos] for h in hs]).numpy()
            assert cosines(ref, cls[i]).min() > 0.99999
        assert cosines(cls, mean).min() < 0.9999


def test_bad_inputs(tiny_bert, tmp_path):
    lm = load_model(tiny_bert)
    with pytest.raises(ConfigError, match="is not in"):
        embed_spans(lm, ["a plane"], [(0, 2, 7)], layers=[9])
    with pytest.raises(ConfigError, match="outside its text"):
        embed_spans(lm, ["a plane"], [(0, 2, 70)])
    with pytest.raises(ConfigError, match="covers no token"):
        embed_spans(lm, ["a  plane"], [(0, 1, 2)])
    with pytest.raises(ConfigError, match="longer than"):
        embed_spans(lm, ["a plane"], [(0, 2, 7)], window=10_000)
    with pytest.raises(ModelLoadError, match="offline"):
        load_model("no-such-org/no-such-model")
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "missing" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="config.json"):
        load_model(str(tmp_path / "empty"))


def test_loading_a_model_leaves_transformers_logging_as_it_was(tiny_bert):
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_info()
    try:
        load_model(tiny_bert)
        assert hf_logging.get_verbosity() == hf_logging.INFO  # the caller's setting, not ERROR for good
    finally:
        hf_logging.set_verbosity(before)

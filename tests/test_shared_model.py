"""One loaded model shared by every session and thread: no request can break another, and the model stays intact.

The dashboard keeps one LoadedModel per model name (ui/cached.py) and runs requests from several sessions in threads.
A request for shallow layers runs only as deep as needed, through a per-depth view of the model; the shared model
itself is never mutated.
"""

import threading

import numpy as np
import pytest
import torch

from analysis import encoder
from analysis.encoder import embed_spans, load_model
from tests.test_encoder import SENTENCES, find_spans

SPANS = find_spans(SENTENCES, "plane") + find_spans(SENTENCES, "café")
# layer sets with different deepest layers (tiny_bert: hidden states 0..3)
LAYER_SETS = [[1], [0, 3], [2], [0], [1, 2], [3], [0, 1, 2, 3]]


def _snapshot(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_intact(lm, before: dict) -> None:
    assert len(lm.model.encoder.layer) == 3
    after = lm.model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before)


@pytest.fixture(scope="module")
def reference(tiny_bert):
    """Single-threaded results of every layer set: the full model's hidden states, sliced (no view involved)."""
    full = embed_spans(load_model(tiny_bert), SENTENCES, SPANS, batch_size=4)
    return {tuple(layers): full[:, layers] for layers in LAYER_SETS}


def test_shallow_then_deep_then_shallow(tiny_bert, reference):
    """Layer 1, then 3, then 1 on one model (IndexError before: the first request cut the model for good)."""
    lm = load_model(tiny_bert)
    before = _snapshot(lm.model)
    for layers in ([1], [3], [1], [0], [0, 3]):
        got = embed_spans(lm, SENTENCES, SPANS, layers=layers, batch_size=4)
        np.testing.assert_array_equal(got, reference[tuple(layers)])
    _assert_intact(lm, before)


def test_views_share_the_weights_and_are_built_once(tiny_bert):
    lm = load_model(tiny_bert)
    view = encoder.depth_view(lm, 1)
    assert view is not lm.model and encoder.depth_view(lm, 1) is view
    assert len(view.encoder.layer) == 1 and len(lm.model.encoder.layer) == 3
    assert view.encoder.layer[0] is lm.model.encoder.layer[0]  # the same module: no weight is copied
    assert view.embeddings is lm.model.embeddings
    assert encoder.depth_view(lm, 3) is lm.model  # the deepest layer needs the whole model


@pytest.mark.parametrize("first", [[1], [0], [3], [2]])
def test_four_threads_on_one_model(tiny_bert, reference, first):
    """4 threads x 100 calls with different deepest layers; ``first`` is the very first request on a fresh model."""
    lm = load_model(tiny_bert)
    before = _snapshot(lm.model)
    errors, mismatches = [], []
    started = threading.Event()
    go = threading.Barrier(4)

    def work(t: int) -> None:
        try:
            if t == 0:
                check(first)  # the first request of all, before the others start
                started.set()
            else:
                started.wait(timeout=300)
            go.wait(timeout=300)
            for i in range(100):
                check(LAYER_SETS[(t * 3 + i) % len(LAYER_SETS)])
        except Exception as exc:  # reported below with its type
            errors.append(f"thread {t}: {type(exc).__name__}: {exc}")
            go.abort()

    def check(layers) -> None:
        got = embed_spans(lm, SENTENCES, SPANS, layers=layers, batch_size=4)
        if not np.array_equal(got, reference[tuple(layers)]):
            mismatches.append(tuple(layers))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=600)
    assert not any(th.is_alive() for th in threads), "a thread did not finish"
    assert not errors, errors[:3]
    assert not mismatches, f"{len(mismatches)} results differ from the single-threaded ones, e.g. {mismatches[:3]}"
    _assert_intact(lm, before)
    # and the model still gives every result after the threads are done
    for layers in LAYER_SETS:
        np.testing.assert_array_equal(embed_spans(lm, SENTENCES, SPANS, layers=layers, batch_size=4),
                                      reference[tuple(layers)])

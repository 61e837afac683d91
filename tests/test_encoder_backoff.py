"""Batch-size back-off on out-of-memory (simulated on the CPU: the real check runs on a GPU, bench/gpu_check.py)."""

import numpy as np
import torch

from analysis import encoder


def test_out_of_memory_halves_the_batch_and_gives_the_same_vectors(tiny_bert, monkeypatch):
    lm = encoder.load_model(tiny_bert)
    texts = [f"plane number {i} " + "word " * (i % 13) for i in range(40)]
    spans = [(i, 0, 5) for i in range(40)]
    ref = encoder.embed_spans(lm, texts, spans, batch_size=40)
    sizes = []
    real = encoder._forward_batch

    def limited(lm_, batch, layers, out):
        sizes.append(len(batch))
        if len(batch) > 10:
            raise torch.OutOfMemoryError("simulated")
        return real(lm_, batch, layers, out)

    monkeypatch.setattr(encoder, "_forward_batch", limited)
    got = encoder.embed_spans(lm, texts, spans, batch_size=40)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert sizes[:3] == [40, 20, 10] and max(sizes[3:]) <= 10  # later batches start at the reduced size

"""GPU check of the encoding path (run on a machine with CUDA; prints its figures).

1. the CUDA path (float16 weights) agrees with the CPU float32 path on real occurrences (min cosine);
2. occurrences/s on the GPU beside the CPU of the same machine;
3. batch-size back-off: with the GPU's memory capped so that a big batch cannot fit, the run still finishes (by
   splitting batches) and gives the same vectors as an uncapped run.

Usage:  python bench/gpu_check.py MODEL_FOLDER [--n 600]
(the model folder may hold float16 weights; the CPU reference then runs them in float32).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from analysis import encoder  # noqa: E402
from analysis.corpus import find_occurrences, load_corpus, texts_and_spans  # noqa: E402


def cos(a, b):
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device here")
    print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__)
    occ = find_occurrences(load_corpus(ROOT / "data" / "demo" / "dwug_en"))
    texts, spans = texts_and_spans(occ)
    print(f"{len(occ)} occurrences (bundled DWUG demo, 3 targets)")

    gpu = encoder.load_model(args.model)
    assert gpu.device == "cuda", gpu.device
    assert next(gpu.model.parameters()).dtype == torch.float16
    cpu = encoder.load_model(args.model, device="cpu")
    encoder.embed_spans(gpu, texts, spans[:64])  # warm-up
    torch.cuda.synchronize()
    t = time.perf_counter()
    v_gpu = encoder.embed_spans(gpu, texts, spans, batch_size=256, max_tokens=1 << 16)
    torch.cuda.synchronize()
    t_gpu = time.perf_counter() - t
    t = time.perf_counter()
    v_cpu = encoder.embed_spans(cpu, texts, spans)
    t_cpu = time.perf_counter() - t
    c = cos(v_gpu, v_cpu)
    print(f"GPU fp16 vs CPU fp32: min cosine {c.min():.6f}, mean {c.mean():.6f} (all layers)")
    print(f"GPU {len(occ) / t_gpu:.0f} occ/s ({t_gpu:.2f} s); CPU ({torch.get_num_threads()} threads) "
          f"{len(occ) / t_cpu:.0f} occ/s ({t_cpu:.2f} s)")

    # Back-off: long windows in one huge batch, with the usable GPU memory capped.
    long_texts = [(" ".join([t] * 20))[:6000] for t in texts[:96]]
    long_spans = [(i, s, e) for i, (_, s, e) in enumerate(spans[:96]) if e <= len(long_texts[i])]
    ref = encoder.embed_spans(gpu, long_texts, long_spans, batch_size=96, max_tokens=1 << 30)
    calls = []
    real = encoder._forward_batch

    def counting(lm, batch, layers, out):
        calls.append(len(batch))
        return real(lm, batch, layers, out)

    encoder._forward_batch = counting
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info()
    used = torch.cuda.memory_allocated()
    cap = (used + 300 * 2 ** 20) / total
    torch.cuda.set_per_process_memory_fraction(cap)
    capped = encoder.embed_spans(gpu, long_texts, long_spans, batch_size=96, max_tokens=1 << 30)
    torch.cuda.set_per_process_memory_fraction(1.0)
    encoder._forward_batch = real
    print(f"back-off: memory capped at {cap * total / 2 ** 20:.0f} MiB; batch sizes tried: {calls}; "
          f"finished: {capped.shape}; max |diff| vs uncapped {np.abs(capped - ref).max():.2e}, "
          f"min cosine {cos(capped, ref).min():.6f}")
    assert len(calls) > 1, "the cap did not force a back-off"


if __name__ == "__main__":
    main()

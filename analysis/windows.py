"""How occurrences become model inputs: token windows around char spans, and length-sorted batches.

Pure Python and numpy (no torch), so that planning can be tested and reused without a model; :mod:`analysis.encoder`
runs the windows through the model. Only the tokenizer and a few attributes of the loaded model are used here
(``tokenizer``, ``max_length``, ``prefix_ids``, ``suffix_ids``, ``n_special``, ``name``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from analysis import layers as layer_specs
from analysis.errors import ConfigError


def check_layers(lm, layers: Sequence[int] | None) -> list[int]:
    """Validate layer indices (0 = embedding layer; negative counts from the top)."""
    return normalize_layers(lm.n_layers, lm.name, layers)


def normalize_layers(n_layers: int, name: str, layers) -> list[int]:
    """Absolute hidden-state indices of a layer spec (see :mod:`analysis.layers`) for a model of ``n_layers``.

    None means every layer; ConfigError names the valid range otherwise.
    """
    return layer_specs.resolve(layers, int(n_layers), name=f"model {name}")


@dataclass
class _Window:
    ids: list[int]           # token ids incl. special tokens
    # per occurrence in this window: (row index in output, token positions in ids)
    members: list[tuple[int, list[int]]] = field(default_factory=list)


def _tokenize_texts(lm, texts: Sequence[str]) -> list[tuple[list[int], np.ndarray]]:
    """Token ids and offsets (n_tokens, 2) of each text, without special tokens and without truncation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = lm.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False,
                           verbose=False)
    return [(ids, np.asarray(offs, dtype=np.int64).reshape(-1, 2))
            for ids, offs in zip(enc["input_ids"], enc["offset_mapping"])]


def plan_windows(lm, texts: Sequence[str], spans: Sequence[tuple[int, int, int]],
                 window: int | None = None, pooling: str = "mean") -> list[_Window]:
    """Group occurrences into model inputs: one input per distinct (text, token window).

    ``spans`` holds (text index, char start, char end). Raises ConfigError for spans that fall outside their text or
    cover no token.
    """
    if pooling not in {"mean", "first"}:
        raise ConfigError(f"pooling must be 'mean' or 'first', not {pooling!r}")
    limit = lm.max_length if window is None else int(window)
    if limit > lm.max_length:
        raise ConfigError(f"window {limit} is longer than {lm.name} takes ({lm.max_length} tokens)")
    content = limit - lm.n_special
    if content < 1:
        raise ConfigError(f"window {limit} leaves no room for text after the model's special tokens")
    needed = sorted({s[0] for s in spans})
    tokenized = dict(zip(needed, _tokenize_texts(lm, [texts[i] for i in needed])))
    windows: dict[tuple[int, int, int], _Window] = {}
    for row, (ti, start, end) in enumerate(spans):
        text = texts[ti]
        if not (0 <= start < end <= len(text)):
            raise ConfigError(f"occurrence {row}: span {start}:{end} lies outside its text of {len(text)} characters")
        ids, offs = tokenized[ti]
        hit = np.flatnonzero((offs[:, 0] < end) & (offs[:, 1] > start) & (offs[:, 1] > offs[:, 0]))
        if hit.size == 0:
            raise ConfigError(f"occurrence {row}: span {start}:{end} ({text[start:end]!r}) covers no token")
        if pooling == "first":
            hit = hit[:1]
        n = len(ids)
        if n <= content:
            a, b = 0, n
        else:
            lo, hi = int(hit[0]), int(hit[-1]) + 1
            if hi - lo > content:
                raise ConfigError(f"occurrence {row} is longer than the window of {limit} tokens")
            a = max(0, min(lo - (content - (hi - lo)) // 2, n - content))
            b = a + content
        key = (ti, a, b)
        w = windows.get(key)
        if w is None:
            w = windows[key] = _Window(ids=lm.prefix_ids + list(ids[a:b]) + lm.suffix_ids)
        w.members.append((row, [int(h) - a + len(lm.prefix_ids) for h in hit]))
    return list(windows.values())


def _batches(windows: list[_Window], batch_size: int, max_tokens: int) -> list[list[_Window]]:
    """Length-sorted batches bounded by count and by padded tokens (long windows go in smaller batches)."""
    order = sorted(windows, key=lambda w: len(w.ids))
    batches, cur = [], []
    for w in order:
        if cur and (len(cur) >= batch_size or len(w.ids) * (len(cur) + 1) > max_tokens):
            batches.append(cur)
            cur = []
        cur.append(w)
    if cur:
        batches.append(cur)
    return batches


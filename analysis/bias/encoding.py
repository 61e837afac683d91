"""Encoding the items of a test at one level, with a cache shared between the tests of a battery."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from analysis.bias.query import WeatQuery
from analysis.errors import ConfigError

#: Vector bytes an :class:`EncodingCache` holds by default (512 MiB) and tokenizer checks it remembers.
DEFAULT_MAX_BYTES = 512 * 2 ** 20
DEFAULT_MAX_STRINGS = 200_000


@dataclass(frozen=True)
class _Item:
    key: tuple          # what is encoded: ("word", w) / ("sentence", s) / ("span", text, start, end)
    word: str           # the word the item stands for ("" if unknown)
    text: str           # what a person reads (the word, the sentence)


def _level_items(query: WeatQuery, level: str) -> list[list[_Item]]:
    """The items of each of the four sets at ``level``."""
    out = []
    for s in query.sets():
        if level == "word":
            out.append([_Item(("word", w), w, w) for w in s.words])
        elif level == "sentence":
            owners = s.sentence_words or ("",) * len(s.sentences)
            out.append([_Item(("sentence", t), o, t) for t, o in zip(s.sentences, owners)])
        else:
            out.append([_Item(("span", c.text, c.start, c.end), c.word, c.text) for c in s.contexts])
    return out


class _LRU:
    """A mapping that forgets its least recently used entries once their total size passes ``limit``.

    ``size(value)`` measures an entry (1 by default, so ``limit`` counts entries). Reads and writes take a lock: one
    cache may serve several sessions of the page at once.
    """

    def __init__(self, limit: float, size: Callable[[object], float] = lambda value: 1):
        self.limit = limit
        self.used = 0.0
        self._size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data

    def get(self, key, default=None):
        """The value of ``key`` (now the most recently used entry), or ``default``."""
        with self._lock:
            if key not in self._data:
                return default
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key, value) -> None:
        """Store ``value`` as the most recently used entry, then forget the oldest ones until the total fits."""
        with self._lock:
            if key in self._data:
                self.used -= self._size(self._data.pop(key))
            self._data[key] = value
            self.used += self._size(value)
            while self.used > self.limit and self._data:
                self.used -= self._size(self._data.popitem(last=False)[1])


class EncodingCache:
    """Vectors already computed, per model, level and pooling, so a battery encodes each distinct input once.

    Keys are (model name, weights fingerprint, level, pooling, layer, item key); values are float32 vectors (dim,).
    One instance can be kept for a whole server (the page) or a CLI run, so it is bounded: beyond ``max_bytes`` of
    vectors (and ``max_strings`` tokenizer checks) the least recently used are forgotten and, if asked for again,
    encoded again. The default holds the whole bundled battery (10,787 distinct inputs over the three levels) at every
    layer of a base-size model (13 hidden states of 768 floats: about 410 MiB).
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_strings: int = DEFAULT_MAX_STRINGS):
        if max_bytes <= 0 or max_strings <= 0:
            raise ConfigError("the encoding cache needs room for at least one vector and one string")
        self._store = _LRU(max_bytes, size=lambda vec: vec.nbytes)
        self._unk = _LRU(max_strings)
        self.encoded = 0       # how many inputs were sent to the model (for tests and benchmarks)

    def __len__(self) -> int:
        return len(self._store)

    @property
    def max_bytes(self) -> int:
        return int(self._store.limit)

    @property
    def nbytes(self) -> int:
        """Bytes of the vectors held now (at most :attr:`max_bytes`)."""
        return int(self._store.used)

    @staticmethod
    def _model_id(lm) -> tuple:
        return (lm.name, getattr(lm, "fingerprint", ""))

    def unknown(self, lm, strings: Sequence[str]) -> set[str]:
        """Strings the tokenizer can only spell with its unknown token (so they carry no information of their own)."""
        mid = self._model_id(lm)
        known = {s: self._unk.get((mid, s)) for s in dict.fromkeys(strings)}
        todo = [s for s, flag in known.items() if flag is None]
        if todo:
            unk = getattr(lm.tokenizer, "unk_token_id", None)
            ids = lm.tokenizer(list(todo), add_special_tokens=False)["input_ids"]
            for s, seq in zip(todo, ids):
                known[s] = (not seq) or (unk is not None and all(i == unk for i in seq))
                self._unk.put((mid, s), known[s])
        return {s for s in strings if known[s]}

    def vectors(self, lm, level: str, pooling: str, items: Sequence[_Item], layers: Sequence[int],
                batch_size: int = 64) -> np.ndarray:
        """Vectors of ``items`` at ``layers``: ndarray (n_items, n_layers, dim), encoding only what is not cached."""
        mid, layers = self._model_id(lm), list(layers)
        found: dict[tuple, np.ndarray] = {}     # (layer, item key) -> vector, for this call
        todo = []
        for k in dict.fromkeys(it.key for it in items):
            got = [self._store.get((mid, level, pooling, l, k)) for l in layers]
            if any(vec is None for vec in got):
                todo.append(k)
            else:
                found.update(((l, k), vec) for l, vec in zip(layers, got))
        if todo:
            arr = _encode(lm, level, pooling, todo, layers, batch_size)
            self.encoded += len(todo)
            for row, k in enumerate(todo):
                for j, l in enumerate(layers):
                    vec = arr[row, j].copy()    # a copy: a view would keep the whole batch alive after eviction
                    found[(l, k)] = vec
                    self._store.put((mid, level, pooling, l, k), vec)
        out = np.empty((len(items), len(layers), lm.dim), dtype=np.float32)
        for i, it in enumerate(items):
            for j, l in enumerate(layers):
                out[i, j] = found[(l, it.key)]
        return out


def _encode(lm, level: str, pooling: str, keys: Sequence[tuple], layers: Sequence[int], batch_size: int) -> np.ndarray:
    """Encode item keys of one level with ``lm``: ndarray (len(keys), len(layers), dim)."""
    from analysis import encoder

    if level == "word":
        texts = [k[1] for k in keys]
        return encoder.embed_spans(lm, texts, [(i, 0, len(t)) for i, t in enumerate(texts)], layers=layers,
                                   pooling=pooling, batch_size=batch_size)
    if level == "sentence":
        return encoder.embed_sentences(lm, [k[1] for k in keys], layers=layers, pooling=pooling,
                                       batch_size=batch_size)
    index: dict[str, int] = {}
    spans = [(index.setdefault(k[1], len(index)), k[2], k[3]) for k in keys]
    return encoder.embed_spans(lm, list(index), spans, layers=layers, pooling=pooling, batch_size=batch_size)


def _probe(it: _Item, level: str) -> str:
    return it.key[1][it.key[2]:it.key[3]] if level == "contextual" else it.text

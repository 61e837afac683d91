"""Encoding the items of a test at one level, with a cache shared between the tests of a battery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analysis.bias.query import WeatQuery


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


class EncodingCache:
    """Vectors already computed, per model, level and pooling, so a battery encodes each distinct input once.

    Keys are (model name, weights fingerprint, level, pooling, layer, item key); values are float32 vectors (dim,).
    One instance can be kept for a whole session (the page) or a CLI run.
    """

    def __init__(self):
        self._store: dict[tuple, np.ndarray] = {}
        self._unk: dict[tuple, bool] = {}
        self.encoded = 0       # how many inputs were sent to the model (for tests and benchmarks)

    def __len__(self) -> int:
        return len(self._store)

    @staticmethod
    def _model_id(lm) -> tuple:
        return (lm.name, getattr(lm, "fingerprint", ""))

    def unknown(self, lm, strings: Sequence[str]) -> set[str]:
        """Strings the tokenizer can only spell with its unknown token (so they carry no information of their own)."""
        tok = lm.tokenizer
        unk = getattr(tok, "unk_token_id", None)
        todo = [s for s in dict.fromkeys(strings) if (self._model_id(lm), s) not in self._unk]
        if todo:
            ids = tok(list(todo), add_special_tokens=False)["input_ids"]
            for s, seq in zip(todo, ids):
                self._unk[(self._model_id(lm), s)] = (not seq) or (unk is not None and all(i == unk for i in seq))
        return {s for s in strings if self._unk[(self._model_id(lm), s)]}

    def vectors(self, lm, level: str, pooling: str, items: Sequence[_Item], layers: Sequence[int],
                batch_size: int = 64) -> np.ndarray:
        """Vectors of ``items`` at ``layers``: ndarray (n_items, n_layers, dim), encoding only what is not cached."""
        from analysis import encoder

        mid = self._model_id(lm)
        keys = list(dict.fromkeys(it.key for it in items))
        todo = [k for k in keys if any((mid, level, pooling, l, k) not in self._store for l in layers)]
        if todo:
            if level == "word":
                texts = [k[1] for k in todo]
                arr = encoder.embed_spans(lm, texts, [(i, 0, len(t)) for i, t in enumerate(texts)], layers=layers,
                                          pooling=pooling, batch_size=batch_size)
            elif level == "sentence":
                arr = encoder.embed_sentences(lm, [k[1] for k in todo], layers=layers, pooling=pooling,
                                              batch_size=batch_size)
            else:
                index: dict[str, int] = {}
                spans = [(index.setdefault(k[1], len(index)), k[2], k[3]) for k in todo]
                arr = encoder.embed_spans(lm, list(index), spans, layers=layers, pooling=pooling,
                                          batch_size=batch_size)
            self.encoded += len(todo)
            for row, k in enumerate(todo):
                for j, l in enumerate(layers):
                    self._store[(mid, level, pooling, l, k)] = arr[row, j]
        out = np.empty((len(items), len(layers), lm.dim), dtype=np.float32)
        for i, it in enumerate(items):
            for j, l in enumerate(layers):
                out[i, j] = self._store[(mid, level, pooling, l, it.key)]
        return out



def _probe(it: _Item, level: str) -> str:
    return it.key[1][it.key[2]:it.key[3]] if level == "contextual" else it.text

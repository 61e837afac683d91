"""The corpus side of a run: texts cleaned, split and tokenized into pieces, and BERT's masking of a batch."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from analysis._util import is_missing
from analysis.errors import CorpusError

# ------------------------------------------------------------------------------------------------------ small helpers
def _derive_seed(seed: int, *keys) -> int:
    """A 63-bit seed for one purpose ("mask", step) derived from the user's seed, so streams never overlap."""
    digest = hashlib.sha256(json.dumps([int(seed), *map(str, keys)]).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)



def corpus_hash(texts: Sequence[str]) -> str:
    """sha256 of the texts in order (length-prefixed, so ["ab", "c"] and ["a", "bc"] differ)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def prepare_texts(texts: Sequence[str]) -> tuple[list[str], int]:
    """Strip texts, drop empty ones and exact duplicates (first kept, order kept). Returns (texts, n_dropped).

    Duplicates are dropped so that a held-out text never also appears in the training share.
    """
    if isinstance(texts, (str, bytes)):
        raise CorpusError("give the corpus as a list of texts, not one string")
    seen, out = set(), []
    n_in = 0
    for t in texts:
        n_in += 1
        if is_missing(t):
            continue
        if not isinstance(t, str):
            raise CorpusError(f"text {n_in - 1} is a {type(t).__name__}, not a string")
        t = t.strip()
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    if not out:
        raise CorpusError("the corpus has no non-empty texts to train on")
    return out, n_in - len(out)


def split_texts(texts: Sequence[str], eval_fraction: float = 0.1, seed: int = 0) -> tuple[list[int], list[int]]:
    """Seeded split of text indices into (train, held-out); the held-out share is at least one text.

    Use it with the texts returned by :func:`prepare_texts` (the indices refer to them); ``<out>/split.json`` of a run
    holds the same indices, so the held-out texts can be embedded later (e.g. for local intrinsic dimension).
    """
    n = len(texts)
    if n < 2:
        raise CorpusError(f"the corpus has {n} distinct text(s); at least 2 are needed so that one can be held out "
                          f"for the held-out loss")
    n_eval = min(n - 1, max(1, int(round(eval_fraction * n))))
    order = np.random.default_rng(_derive_seed(seed, "split")).permutation(n)
    return sorted(map(int, order[n_eval:])), sorted(map(int, order[:n_eval]))


# ---------------------------------------------------------------------------------------------------------- masking
def mask_batch(input_ids, word_ids, *, mask_token_id: int, replace_ids, probability: float = 0.15,
               whole_word: bool = False, generator=None):
    """BERT's masking of a padded batch: select, then 80 % mask token / 10 % random token / 10 % unchanged.

    Parameters
    ----------
    input_ids : LongTensor of shape (batch, seq)
    word_ids : LongTensor of shape (batch, seq); the word index of each token, -1 for special tokens and padding
        (those are never selected)
    mask_token_id : id that replaces 80 % of the selected tokens
    replace_ids : LongTensor of shape (n,); the ids a random replacement is drawn from (the non-special vocabulary)
    probability : chance that a token (or, with ``whole_word``, a word) is selected
    whole_word : select words; all pieces of a selected word are predicted
    generator : torch.Generator for reproducible masking

    Returns
    -------
    (masked_ids, labels) : LongTensors of shape (batch, seq); labels hold the original id at selected positions and
        -100 elsewhere. Every row with at least one candidate has at least one selected token.
    """
    import torch

    cand = word_ids >= 0
    b, t = input_ids.shape
    if whole_word:
        n_words = int(word_ids.max().item()) + 1 if cand.any() else 1
        word_pick = torch.rand((b, n_words), generator=generator) < probability
        selected = torch.gather(word_pick, 1, word_ids.clamp_min(0)) & cand
    else:
        selected = (torch.rand((b, t), generator=generator) < probability) & cand
    # Rows where nothing was selected (short sequences): select one candidate (or its whole word) at random.
    score = torch.rand((b, t), generator=generator).masked_fill(~cand, -1.0)
    empty = (~selected.any(dim=1)) & cand.any(dim=1)
    if empty.any():
        pick = score.argmax(dim=1)
        if whole_word:
            chosen_word = torch.gather(word_ids, 1, pick[:, None])
            forced = (word_ids == chosen_word) & cand
        else:
            forced = torch.zeros_like(selected)
            forced[torch.arange(b), pick] = True
        selected = selected | (forced & empty[:, None])
    r = torch.rand((b, t), generator=generator)
    to_mask = selected & (r < 0.8)
    to_random = selected & (r >= 0.8) & (r < 0.9)
    random_ids = replace_ids[torch.randint(len(replace_ids), (b, t), generator=generator)]
    masked = input_ids.clone()
    masked[to_mask] = mask_token_id
    masked[to_random] = random_ids[to_random]
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, -100))
    return masked, labels



# ----------------------------------------------------------------------------------------------------------- data
@dataclass
class _Data:
    train: list[tuple[list[int], list[int]]]   # (input ids incl. specials, word ids with -1 for specials)
    eval: list[tuple[list[int], list[int]]]
    n_train_texts: int
    n_eval_texts: int


def _encode(tokenizer, texts: list[str], max_length: int) -> list[tuple[list[int], list[int]]]:
    """Pieces of at most ``max_length`` tokens (special tokens included), with word ids; nothing is cut away."""
    if not texts:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = tokenizer(texts, truncation=True, max_length=max_length, return_overflowing_tokens=True,
                        add_special_tokens=True, verbose=False)
    out = []
    for i, ids in enumerate(enc["input_ids"]):
        words = [-1 if w is None else int(w) for w in enc.word_ids(i)]
        if any(w >= 0 for w in words):
            out.append((list(ids), words))
    return out


def _pad(examples, pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    words = torch.full((len(examples), width), -1, dtype=torch.long)
    attn = torch.zeros((len(examples), width), dtype=torch.long)
    for i, (x, w) in enumerate(examples):
        ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        words[i, : len(w)] = torch.tensor(w, dtype=torch.long)
        attn[i, : len(x)] = 1
    return ids, words, attn



"""The token sample: token positions drawn once, as (text, char span), so that every checkpoint embeds the same."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, TooFewPointsError

# --------------------------------------------------------------------------------------------------------------------
# Token sample
# --------------------------------------------------------------------------------------------------------------------

@dataclass
class TokenSample:
    """A fixed sample of token positions, defined by (text index, char span) so any checkpoint can embed it.

    Attributes
    ----------
    texts : the evaluation texts, each truncated at a word boundary so that it fits the model in one pass
    tokens : DataFrame with one row per sampled token: ``text_index``, ``start``, ``end``, ``token`` (the text
        ``texts[text_index][start:end]``), ``piece`` (the tokenizer's token string)
    n_candidates : number of eligible token positions the sample was drawn from
    """

    texts: list[str]
    tokens: pd.DataFrame
    n_candidates: int

    @property
    def spans(self) -> list[tuple[int, int, int]]:
        return list(zip(self.tokens["text_index"].astype(int), self.tokens["start"].astype(int),
                        self.tokens["end"].astype(int)))

    def contexts(self, width: int = 50) -> list[str]:
        """Each sampled token in its context (keyword in context), the token in [brackets]."""
        from analysis.corpus import kwic

        out = []
        for ti, s, e in self.spans:
            left, match, right = kwic(self.texts[ti], s, e, width)
            out.append(f"{left}[{match}]{right}")
        return out


def sample_tokens(tokenizer, texts: Sequence[str], n: int, *, max_tokens: int, seed=0) -> TokenSample:
    """Draw ``n`` token positions uniformly without replacement from the texts.

    Only real text tokens count: no special tokens and no tokens with empty character offsets. Each text is first cut
    at the last word boundary that keeps it within ``max_tokens`` tokens (the model's length minus its special
    tokens), so every checkpoint sees each sampled token in the same, whole context.

    Parameters
    ----------
    tokenizer : a fast Hugging Face tokenizer (offset mapping and ``word_ids`` are needed)
    texts : sequence of str
    n : int
        Sample size; all eligible tokens when there are fewer.
    max_tokens : int
        Most text tokens per text (special tokens excluded).
    seed : int or numpy Generator (``np.random.default_rng(seed)`` draws the sample)
    """
    if n < 1:
        raise ConfigError(f"the sample size must be at least 1, not {n}")
    cut_texts, cand = _candidates(tokenizer, [str(t) for t in texts], max_tokens)
    if len(cand) == 0:
        raise TooFewPointsError("the evaluation texts contain no tokens to sample")
    rng = np.random.default_rng(seed)
    pick = cand[np.sort(rng.choice(len(cand), size=min(n, len(cand)), replace=False))]
    tokens = pd.DataFrame({"text_index": pick[:, 0], "start": pick[:, 1], "end": pick[:, 2]})
    tokens["token"] = [cut_texts[t][a:b] for t, a, b in pick[:, :3]]
    tokens["piece"] = tokenizer.convert_ids_to_tokens(pick[:, 3].tolist())
    return TokenSample(texts=cut_texts, tokens=tokens, n_candidates=len(cand))


def _candidates(tokenizer, texts: list[str], max_tokens: int) -> tuple[list[str], np.ndarray]:
    """The texts cut to fit (see :func:`_cut_point`) and every token that can be sampled from them.

    Returns (cut texts, array of shape (n_candidates, 4): text index, start, end, token id), one row per distinct
    character span: byte-level tokenizers can split one character into several tokens with the same span, and only
    the first of those is kept.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    special_ids = np.fromiter(special, dtype=np.int64) if special else np.zeros(0, dtype=np.int64)
    cut_texts, parts = [], []
    for ti, text in enumerate(texts):
        ids = np.asarray(enc["input_ids"][ti], dtype=np.int64)
        offs = np.asarray(enc["offset_mapping"][ti], dtype=np.int64).reshape(-1, 2)
        limit = len(ids)
        if len(ids) > max_tokens:
            limit = _cut_point(enc.word_ids(ti), max_tokens)
            text = text[: int(offs[limit][0])].rstrip()
        cut_texts.append(text)
        ids, offs = ids[:limit], offs[:limit]
        ok = (offs[:, 1] > offs[:, 0]) & ~np.isin(ids, special_ids) & (offs[:, 1] <= len(text))
        parts.append(np.column_stack([np.full(ok.sum(), ti), offs[ok], ids[ok]]))
    cand = np.concatenate(parts) if parts else np.zeros((0, 4), dtype=np.int64)
    _, first = np.unique(cand[:, :3], axis=0, return_index=True)
    return cut_texts, cand[np.sort(first)]


def _cut_point(words: Sequence[int | None], max_tokens: int) -> int:
    """How many of a text's tokens to keep: at most ``max_tokens``, ending at a word boundary.

    The pieces of the word that straddles the cut are dropped, so re-tokenising the cut text gives the same tokens;
    a single "word" longer than the model takes is cut inside after all.
    """
    limit = max_tokens
    w = words[limit]
    while w is not None and limit > 0 and words[limit - 1] == w:
        limit -= 1
    return max_tokens if limit == 0 else limit

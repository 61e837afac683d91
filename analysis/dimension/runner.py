"""One token sample through every checkpoint and layer: :func:`dimension_across_checkpoints` and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from analysis.dimension.checkpoints import Checkpoint
from analysis.dimension.estimator import DEFAULT_NEIGHBORS, LocalDimension
from analysis.dimension.tokens import TokenSample, sample_tokens
from analysis.dimension.twonn import DISCARD_FRACTION
from analysis.errors import ConfigError, TooFewPointsError

DEFAULT_SAMPLE = 2000            # tokens; the paper used 150,000 (-> 60,000 after dedup) on a GPU
RECORD_KEYS = ("checkpoint", "step", "layer", "mean", "median", "std", "global", "n_tokens", "n_duplicates", "loss")

ProgressFn = Callable[[float, str], None]


# --------------------------------------------------------------------------------------------------------------------
# Across checkpoints and layers
# --------------------------------------------------------------------------------------------------------------------

@dataclass
class DimensionRun:
    """Result of :func:`dimension_across_checkpoints`.

    Attributes
    ----------
    records : DataFrame, one row per checkpoint x layer, columns ``RECORD_KEYS`` plus ``train_loss``, ``eval_loss``,
        ``n_unique``, ``n_zero_distances``, ``n_undefined``, ``estimator``, ``n_neighbors``, ``order`` (checkpoint
        position). ``loss`` is the held-out masked-LM loss (``eval_loss``).
    token_lid : DataFrame, one row per checkpoint x layer x sampled token: ``checkpoint``, ``step``, ``order``,
        ``layer``, ``token_index`` (row of ``sample.tokens``), ``lid`` (duplicates carry their representative's value)
    sample : the token sample
    params : the parameters, for manifests
    """

    records: pd.DataFrame
    token_lid: pd.DataFrame
    sample: TokenSample
    params: dict = field(default_factory=dict)

    def to_records(self) -> list[dict]:
        """``records`` as a list of JSON-ready dicts (NaN -> None), the content of ``dimension.json``."""
        out = []
        for rec in self.records.to_dict(orient="records"):
            clean = {}
            for k, v in rec.items():
                if isinstance(v, (float, np.floating)):
                    v = float(v) if np.isfinite(v) else None
                    if k in ("step", "layer", "order") and v is not None:
                        v = int(v)
                elif isinstance(v, np.integer):
                    v = int(v)
                elif v is pd.NA:
                    v = None
                clean[k] = v
            out.append(clean)
        return out

    def extremes(self, checkpoint: str, layer: int, n: int = 10, width: int = 50) -> pd.DataFrame:
        """The ``n`` tokens with the highest and the ``n`` with the lowest LID at one checkpoint and layer.

        Duplicates share their representative's value, so a token repeated many times appears once per position.
        """
        sel = self.token_lid[(self.token_lid.checkpoint == checkpoint) & (self.token_lid.layer == layer)]
        sel = sel.dropna(subset=["lid"]).sort_values("lid", kind="stable")
        ctx = self.sample.contexts(width)
        parts = []
        for which, rows in (("highest", sel.iloc[::-1][:n]), ("lowest", sel[:n])):
            t = self.sample.tokens.loc[rows.token_index.to_numpy()]
            parts.append(pd.DataFrame({"rank": which, "lid": rows.lid.to_numpy(), "token": t.token.to_numpy(),
                                       "context": [ctx[i] for i in rows.token_index], "text_index": t.text_index.to_numpy()}))
        return pd.concat(parts, ignore_index=True)


def dimension_across_checkpoints(checkpoints: Sequence[Checkpoint], texts: Sequence[str], *,
                                 layers: Sequence[int] | None = None, n_sample: int = DEFAULT_SAMPLE,
                                 n_neighbors: int = DEFAULT_NEIGHBORS, estimator: str = "twonn", random_state=0,
                                 batch_size: int = 64, progress: ProgressFn | None = None,
                                 load_model: Callable | None = None) -> DimensionRun:
    """Run one token sample through every checkpoint and layer and estimate its local dimension.

    The sample is drawn once, with the first checkpoint's tokenizer and the smallest maximum length among the
    checkpoints, and is defined by (text index, char span); every checkpoint embeds the same spans (pooling "first":
    for a span that is one token of the sampling tokenizer, that token's vector). Checkpoints of one fine-tuning run
    share the tokenizer, so they see exactly the same tokens.

    Parameters
    ----------
    checkpoints : from :func:`find_checkpoints` or :func:`checkpoints_from_models`
    texts : evaluation texts
    layers : hidden-state indices (0 = embeddings, negative from the top); None = all
    n_sample : tokens to sample
    n_neighbors : L
    estimator : "twonn", "mle" or "lpca"
    random_state : seed of the token sample
    progress : called as progress(fraction_done, message)
    load_model : the model loader (default :func:`analysis.encoder.load_model`); tests and the page may pass a cached one

    Raises
    ------
    TooFewPointsError
        When a layer has fewer than L + 1 distinct vectors; the message names the checkpoint and layer.
    """
    from analysis import encoder

    if not checkpoints:
        raise ConfigError("choose at least one checkpoint")
    LocalDimension(n_neighbors=n_neighbors, estimator=estimator)._check_params()
    load = load_model or encoder.load_model
    texts = [str(t) for t in texts if str(t).strip()]
    if not texts:
        raise TooFewPointsError("the evaluation corpus has no text")
    say = progress or (lambda f, m: None)
    for c in checkpoints:  # fail before the first long forward pass if a later checkpoint cannot be loaded
        encoder.model_info(None if c.path == "default" else c.path)
    records, token_frames = [], []
    sample = None
    n_ck = len(checkpoints)
    for ci, ck in enumerate(checkpoints):
        say(ci / n_ck, f"loading {ck.name} ({ci + 1}/{n_ck})")
        lm = load(None if ck.path == "default" else ck.path)
        if sample is None:
            # Texts are cut to what the first model takes in one pass; a later model with a shorter limit would see
            # windows instead (checkpoints of one run share the limit).
            max_tokens = int(lm.max_length) - int(lm.n_special)
            sample = sample_tokens(lm.tokenizer, texts, n_sample, max_tokens=max_tokens, random_state=random_state)
            if len(sample.tokens) < int(n_neighbors) + 1:
                # say which limit bites: the sample size the user chose, or the texts themselves
                if len(sample.tokens) >= int(n_sample):
                    raise TooFewPointsError(
                        f"a sample of {len(sample.tokens)} tokens is too small for L = {n_neighbors} neighbours, which "
                        f"needs at least {int(n_neighbors) + 1} tokens (sample more tokens or lower L)")
                raise TooFewPointsError(
                    f"the evaluation texts have only {len(sample.tokens)} tokens; L = {n_neighbors} neighbours needs "
                    f"at least {int(n_neighbors) + 1} (add text or lower L)")
        layer_idx = encoder.check_layers(lm, layers)
        say((ci + 0.2) / n_ck, f"embedding {len(sample.tokens)} tokens with {ck.name}")
        vecs = encoder.embed_spans(lm, sample.texts, sample.spans, layers=layer_idx, pooling="first",
                                   batch_size=batch_size)
        del lm
        for li, layer in enumerate(layer_idx):
            say((ci + 0.5 + 0.5 * li / len(layer_idx)) / n_ck, f"LID of {ck.name}, layer {layer}")
            try:
                est = LocalDimension(n_neighbors=n_neighbors, estimator=estimator).fit(vecs[:, li])
            except TooFewPointsError as exc:
                raise TooFewPointsError(f"{ck.name}, layer {layer}: {exc}") from None
            rec = {"checkpoint": ck.name, "step": ck.step, "layer": int(layer), **est.summary(),
                   "loss": ck.eval_loss, "train_loss": ck.train_loss, "eval_loss": ck.eval_loss,
                   "estimator": estimator, "n_neighbors": int(n_neighbors), "order": ci, "path": ck.path}
            records.append(rec)
            token_frames.append(pd.DataFrame({"checkpoint": ck.name, "step": ck.step, "order": ci, "layer": int(layer),
                                              "token_index": np.arange(len(sample.tokens)),
                                              "lid": est.dimension_per_sample_}))
    say(1.0, "done")
    cols = list(RECORD_KEYS) + ["train_loss", "eval_loss", "n_unique", "n_zero_distances", "n_undefined",
                                "estimator", "n_neighbors", "order", "path"]
    rec_df = pd.DataFrame(records)[cols]
    params = {"checkpoints": [c.path for c in checkpoints], "layers": None if layers is None else list(layers),
              "n_sample": int(n_sample), "n_tokens": len(sample.tokens), "n_candidates": sample.n_candidates,
              "n_texts": len(texts), "n_neighbors": int(n_neighbors), "estimator": estimator,
              "discard_fraction": DISCARD_FRACTION, "seed": random_state, "pooling": "first",
              "statistics": "over distinct vectors (exact duplicates removed and counted)"}
    return DimensionRun(records=rec_df, token_lid=pd.concat(token_frames, ignore_index=True), sample=sample,
                        params=params)

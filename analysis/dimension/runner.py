"""One token sample through every checkpoint and layer: :func:`dimension_across_checkpoints` and its result."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from analysis import layers as layer_specs
from analysis._util import json_clean, renamed_options
from analysis.dimension.estimator import DEFAULT_NEIGHBORS, LocalDimension
from analysis.dimension.tokens import TokenSample, sample_tokens
from analysis.dimension.twonn import DISCARD_FRACTION
from analysis.errors import ConfigError, TooFewPointsError
from analysis.finetune.runs import Checkpoint

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
        """``records`` as a list of JSON-ready dicts (NaN -> None; step, layer and order whole numbers), the content
        of ``dimension.json``."""
        out = []
        for rec in self.records.to_dict(orient="records"):
            clean = json_clean({k: None if v is pd.NA else v for k, v in rec.items()})
            for k in ("step", "layer", "order"):
                if isinstance(clean.get(k), float):
                    clean[k] = int(clean[k])
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
                                       "context": [ctx[i] for i in rows.token_index],
                                       "text_index": t.text_index.to_numpy()}))
        return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class LidSettings:
    """Settings of :func:`dimension_across_checkpoints` (checked on construction).

    layers : a layer spec (see :mod:`analysis.layers`): hidden-state indices, 0 = embeddings, negative from the top;
        None or "all" = every layer
    n_sample : tokens to sample
    n_neighbors : L, the neighbours of each pointwise estimate
    estimator : "twonn", "mle" or "lpca" (see :class:`LocalDimension`)
    seed : seed of the token sample (an int or a numpy Generator)
    batch_size : texts per forward pass
    """

    layers: Any = None
    n_sample: int = DEFAULT_SAMPLE
    n_neighbors: int = DEFAULT_NEIGHBORS
    estimator: str = "twonn"
    seed: Any = 0
    batch_size: int = 64

    def __post_init__(self):
        layer_specs.parse(self.layers)
        LocalDimension(n_neighbors=self.n_neighbors, estimator=self.estimator)._check_params()

    @classmethod
    def of(cls, settings: LidSettings | None, options: dict) -> LidSettings:
        """``settings``, or settings made of keyword options (``random_state`` is accepted for ``seed``)."""
        if settings is not None:
            if options:
                raise ConfigError("give either LidSettings or keyword settings, not both")
            return settings
        options = renamed_options(options, "LidSettings")
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown LID setting(s): {', '.join(unknown)}")
        return cls(**options)

    def layers_param(self):
        """The layer spec as manifests show it: None (every layer), a number, the text given, a list of numbers, or
        ``"a-b"`` for a range given as a tuple (a, b)."""
        spec = self.layers
        if spec is None or isinstance(spec, str):
            return spec
        if isinstance(spec, (int, np.integer)):
            return int(spec)
        if isinstance(spec, tuple):
            return f"{int(spec[0])}-{int(spec[1])}"
        return [int(x) for x in spec]


def dimension_across_checkpoints(checkpoints: Sequence[Checkpoint], texts: Sequence[str],
                                 settings: LidSettings | None = None, *, progress: ProgressFn | None = None,
                                 load_model: Callable | None = None, **options) -> DimensionRun:
    """Run one token sample through every checkpoint and layer and estimate its local dimension.

    The sample is drawn once, with the first checkpoint's tokenizer and maximum length, and is defined by
    (text index, char span); every checkpoint embeds the same spans (pooling "first": for a span that is one token of
    the sampling tokenizer, that token's vector). Checkpoints of one fine-tuning run share the tokenizer, so they see
    exactly the same tokens. Each checkpoint x layer gets one record: the mean, median and standard deviation of the
    pointwise LID over the distinct vectors, the global TwoNN, the counts, and the checkpoint's losses.

    Parameters
    ----------
    checkpoints : from :func:`find_checkpoints`, :func:`checkpoints_from_models` or
        :func:`analysis.finetune.list_checkpoints`
    texts : evaluation texts (empty ones are left out)
    settings : :class:`LidSettings`; or give its fields as keyword arguments (``layers=``, ``n_sample=``,
        ``n_neighbors=``, ``estimator=``, ``seed=`` (also ``random_state=``), ``batch_size=``)
    progress : called as progress(fraction_done, message)
    load_model : the model loader (default :func:`analysis.encoder.load_model`); tests and the page may pass a
        cached one

    Raises
    ------
    TooFewPointsError
        When a layer has fewer than L + 1 distinct vectors; the message names the checkpoint and layer.
    """
    from analysis import encoder

    cfg = LidSettings.of(settings, options)
    if not checkpoints:
        raise ConfigError("choose at least one checkpoint")
    texts = [str(t) for t in texts if str(t).strip()]
    if not texts:
        raise TooFewPointsError("the evaluation corpus has no text")
    say = progress or (lambda f, m: None)
    for c in checkpoints:  # fail before the first long forward pass if a later checkpoint cannot be loaded
        encoder.model_info(c.model)
    load = load_model or encoder.load_model
    records, token_frames, sample = [], [], None
    n_ck = len(checkpoints)
    for ci, ck in enumerate(checkpoints):
        def report(frac: float, message: str, ci=ci) -> None:
            say((ci + frac) / n_ck, message)

        report(0.0, f"loading {ck.name} ({ci + 1}/{n_ck})")
        vecs, layer_idx, sample = _embed_checkpoint(load(ck.model), ck, texts, sample, cfg, report)
        for li, layer in enumerate(layer_idx):
            report(0.5 + 0.5 * li / len(layer_idx), f"LID of {ck.name}, layer {layer}")
            record, frame = _layer_record(ck, ci, int(layer), vecs[:, li], cfg)
            records.append(record)
            token_frames.append(frame)
    say(1.0, "done")
    cols = list(RECORD_KEYS) + ["train_loss", "eval_loss", "n_unique", "n_zero_distances", "n_undefined",
                                "estimator", "n_neighbors", "order", "path"]
    return DimensionRun(records=pd.DataFrame(records)[cols], token_lid=pd.concat(token_frames, ignore_index=True),
                        sample=sample, params=_params(checkpoints, texts, sample, cfg))


def _embed_checkpoint(lm, ck: Checkpoint, texts: list[str], sample: TokenSample | None, cfg: LidSettings,
                      report: ProgressFn) -> tuple[np.ndarray, list[int], TokenSample]:
    """The sample's vectors at the chosen layers of one loaded model: (n_tokens, n_layers, dim), the layers, and
    the sample (drawn here with this model when it is the first)."""
    from analysis import encoder

    if sample is None:
        sample = _draw_sample(lm, texts, cfg)
    layer_idx = encoder.check_layers(lm, cfg.layers)
    report(0.2, f"embedding {len(sample.tokens)} tokens with {ck.name}")
    vecs = encoder.embed_spans(lm, sample.texts, sample.spans, layers=layer_idx, pooling="first",
                               batch_size=cfg.batch_size)
    return vecs, layer_idx, sample


def _draw_sample(lm, texts: list[str], cfg: LidSettings) -> TokenSample:
    """The token sample, with texts cut to what ``lm`` takes in one pass; TooFewPointsError when it is smaller
    than L + 1, saying which limit bites: the sample size chosen, or the texts themselves."""
    # A later model with a shorter limit would see windows instead (checkpoints of one run share the limit).
    max_tokens = int(lm.max_length) - int(lm.n_special)
    sample = sample_tokens(lm.tokenizer, texts, cfg.n_sample, max_tokens=max_tokens, seed=cfg.seed)
    n, L = len(sample.tokens), int(cfg.n_neighbors)
    if n >= L + 1:
        return sample
    if n >= int(cfg.n_sample):
        raise TooFewPointsError(f"a sample of {n} tokens is too small for L = {L} neighbours, which needs at least "
                                f"{L + 1} tokens (sample more tokens or lower L)")
    raise TooFewPointsError(f"the evaluation texts have only {n} tokens; L = {L} neighbours needs at least {L + 1} "
                            f"(add text or lower L)")


def _layer_record(ck: Checkpoint, order: int, layer: int, X: np.ndarray, cfg: LidSettings
                  ) -> tuple[dict, pd.DataFrame]:
    """The record of one checkpoint x layer (summary statistics and the checkpoint's losses) and its per-token LID."""
    try:
        est = LocalDimension(n_neighbors=cfg.n_neighbors, estimator=cfg.estimator).fit(X)
    except TooFewPointsError as exc:
        raise TooFewPointsError(f"{ck.name}, layer {layer}: {exc}") from None
    record = {"checkpoint": ck.name, "step": ck.step, "layer": layer, **est.summary(), "loss": ck.eval_loss,
              "train_loss": ck.train_loss, "eval_loss": ck.eval_loss, "estimator": cfg.estimator,
              "n_neighbors": int(cfg.n_neighbors), "order": order, "path": str(ck.path)}
    frame = pd.DataFrame({"checkpoint": ck.name, "step": ck.step, "order": order, "layer": layer,
                          "token_index": np.arange(len(X)), "lid": est.dimension_per_sample_})
    return record, frame


def _params(checkpoints: Sequence[Checkpoint], texts: list[str], sample: TokenSample, cfg: LidSettings) -> dict:
    """The parameters of a run, for manifests."""
    return {"checkpoints": [str(c.path) for c in checkpoints], "layers": cfg.layers_param(),
            "n_sample": int(cfg.n_sample), "n_tokens": len(sample.tokens), "n_candidates": sample.n_candidates,
            "n_texts": len(texts), "n_neighbors": int(cfg.n_neighbors), "estimator": cfg.estimator,
            "discard_fraction": DISCARD_FRACTION, "seed": cfg.seed, "pooling": "first",
            "statistics": "over distinct vectors (exact duplicates removed and counted)"}

"""Running bias tests with loaded models: one query at one level, or a whole battery."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from analysis import layers as layer_specs
from analysis.bias.encoding import EncodingCache, _Item, _level_items, _probe
from analysis.bias.query import LEVELS, SET_KEYS, BiasTestError, WeatQuery
from analysis.bias.results import BiasResult
from analysis.bias.statistics import (DEFAULT_BOOTSTRAP, DEFAULT_PERMUTATIONS, WeatSettings, association, holm,
                                      weat_from_associations)
from analysis.errors import ConfigError, TooFewPointsError

DEFAULT_POOLING = {"word": "mean", "sentence": "cls", "contextual": "first"}
ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class RunOptions:
    """How the tests of a run are computed (one object for the page, the CLI and the benchmark).

    layers : None (the last layer), "all", or any layer spec of :mod:`analysis.layers` (negative counts from the top)
    pooling : per level, e.g. {"word": "mean", "sentence": "cls", "contextual": "first"} (the defaults, which fill in
        the levels not given)
    unit : "item" re-partitions items (occurrences at the contextual level, as Tan & Celis); "word" whole words
    permutations : exact test up to this many partitions, else this many Monte Carlo permutations
    n_bootstrap, confidence : bootstrap draws and coverage of the interval of d (0 draws = no interval)
    seed : the same seed serves every test, so a test's numbers do not depend on the battery around it
    skip_unavailable : in a battery, leave out (and report) query x level pairs without inputs instead of raising
    batch_size : inputs per forward pass
    """

    layers: object = None
    pooling: Mapping[str, str] | None = None
    unit: str = "item"
    permutations: int = DEFAULT_PERMUTATIONS
    n_bootstrap: int = DEFAULT_BOOTSTRAP
    confidence: float = 0.95
    seed: object = 0
    skip_unavailable: bool = False
    batch_size: int = 64

    def __post_init__(self):
        if self.unit not in {"item", "word"}:
            raise ConfigError(f"unit must be 'item' or 'word', not {self.unit!r}")
        unknown = set(self.pooling or {}) - set(LEVELS)
        if unknown:
            raise ConfigError(f"pooling is given per level ({', '.join(LEVELS)}), not for {sorted(unknown)[0]!r}")

    @classmethod
    def of(cls, options: "RunOptions | None" = None, level: str | None = None, **settings) -> "RunOptions":
        """``options`` (or the defaults) with the fields given as keywords replaced; with ``level``, a pooling
        given as one string is that level's."""
        if level is not None and isinstance(settings.get("pooling"), str):
            settings["pooling"] = {level: settings["pooling"]}
        return replace(options or cls(), **settings)

    def pooling_for(self, level: str) -> str:
        return {**DEFAULT_POOLING, **(self.pooling or {})}[level]

    @property
    def statistics(self) -> WeatSettings:
        return WeatSettings(permutations=self.permutations, n_bootstrap=self.n_bootstrap,
                            confidence=self.confidence, seed=self.seed)

    def to_dict(self) -> dict:
        """The options as the manifests of the page and the CLI record them."""
        return {"layers": self.layers if self.layers is not None else "last", "permutations": int(self.permutations),
                "bootstrap": int(self.n_bootstrap), "confidence": float(self.confidence), "seed": self.seed,
                "unit": self.unit, "pooling": {lv: self.pooling_for(lv) for lv in LEVELS}}


def model_layers(lm, layers) -> list[int]:
    """The hidden states a layer spec names for ``lm``, ascending and without repeats.

    Any spec :mod:`analysis.layers` reads (``6``, ``"4-6"``, ``[1, 4, -1]``; 0 = the embedding layer, negative counts
    from the top); None means the last layer and ``"all"`` every hidden state.
    """
    if isinstance(layers, str) and layers.strip().lower() == "all":
        return list(range(lm.n_layers))
    return sorted(set(layer_specs.resolve(layers, lm.n_layers, name=f"model {lm.name}", default=-1)))


def _present(items: list[_Item], lm, cache: EncodingCache, level: str, label: str) -> tuple[list[_Item], list[str]]:
    """Drop items the tokenizer cannot supply, listing them."""
    probe = [_probe(it, level) for it in items]
    bad = cache.unknown(lm, probe)
    kept, missing = [], []
    for it, p in zip(items, probe):
        if p in bad:
            missing.append(f"{it.word or p} ({label}: the tokenizer of {lm.name} has no pieces for it)")
        else:
            kept.append(it)
    return kept, missing


def require_level(query: WeatQuery, level: str) -> None:
    """Raise a clear error unless ``query`` has inputs for ``level``."""
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    if level not in query.levels():
        how = {"word": "word lists", "sentence": "sentences (a sent- file or templates)",
               "contextual": "words located in sentences, templates or corpus occurrences"}[level]
        raise BiasTestError(f"test {query.name!r} has no {how}, so it cannot run at the {level} level "
                            f"(it can run at: {', '.join(query.levels()) or 'no level'})")


def _usable_items(query: WeatQuery, lm, level: str, cache: EncodingCache) -> tuple[list[list[_Item]], list[str]]:
    """The items of the four sets that ``lm`` can supply, and the list of everything left out (sets' own ``missing``
    first); TooFewPointsError when a set keeps fewer than two."""
    missing = [m for s in query.sets() for m in s.missing]
    kept = []
    for key, s, items in zip(SET_KEYS, query.sets(), _level_items(query, level)):
        ok, miss = _present(items, lm, cache, level, f"{key} {s.name}")
        missing += miss
        if len(ok) < 2:
            raise TooFewPointsError(f"test {query.name!r} at the {level} level: set {key} ({s.name}) has "
                                    f"{len(ok)} usable item(s) after leaving out what {lm.name} cannot supply; "
                                    "at least two are needed")
        kept.append(ok)
    return kept, missing


def _word_groups(query: WeatQuery, level: str, kept: list[list[_Item]], unit: str) -> list[list[str] | None]:
    """Permutation groups of the X and Y items: None (each item alone), or with ``unit="word"`` the word of each."""
    groups: list[list[str] | None] = [None, None]
    if unit == "word" and level != "word":
        for j in (0, 1):
            words = [it.word for it in kept[j]]
            if not all(words):
                raise ConfigError(f"unit='word' needs the word of every item; the {level} items of test "
                                  f"{query.name!r} are not all tied to a word of its lists")
            groups[j] = words
            if len(set(words)) < 2:
                raise TooFewPointsError(f"test {query.name!r}: set {SET_KEYS[j]} has fewer than two words")
    return groups


def run_query(query: WeatQuery, lm, level: str, options: RunOptions | None = None, *,
              cache: EncodingCache | None = None, **settings) -> list[BiasResult]:
    """One test at one level with one loaded model: one :class:`BiasResult` per layer.

    ``options`` (:class:`RunOptions`) and/or its fields as keywords (``layers=``, ``pooling=`` (one string, this
    level's), ``permutations=``, ``seed=``...). For every layer: s(w, A, B) of every X and Y item that the model can
    supply, d, the permutation p and the bootstrap interval (:func:`analysis.bias.statistics.weat_from_associations`).
    """
    opts = RunOptions.of(options, level, **settings)
    require_level(query, level)
    cache = cache if cache is not None else EncodingCache()
    layer_idx = model_layers(lm, opts.layers)
    t0 = time.perf_counter()
    kept, missing = _usable_items(query, lm, level, cache)
    groups = _word_groups(query, level, kept, opts.unit)
    pooling = opts.pooling_for(level)
    vecs = [cache.vectors(lm, level, pooling, items, layer_idx, batch_size=opts.batch_size) for items in kept]
    s_x, s_y = (np.stack([association(vecs[t][:, j], vecs[2][:, j], vecs[3][:, j]) for j in range(len(layer_idx))],
                         axis=1) for t in (0, 1))
    st = weat_from_associations(s_x, s_y, opts.statistics, groups_x=groups[0], groups_y=groups[1])
    seconds = (time.perf_counter() - t0) / len(layer_idx)
    names = tuple(s.name for s in query.sets())
    results = []
    for j, layer in enumerate(layer_idx):
        items = tuple(("X", it.word, it.text, float(v)) for it, v in zip(kept[0], s_x[:, j])) + \
            tuple(("Y", it.word, it.text, float(v)) for it, v in zip(kept[1], s_y[:, j]))
        results.append(BiasResult(
            test=query.name, level=level, model=lm.name, layer=int(layer), effect_size=float(st.effect_size[j]),
            p_value=float(st.p_value[j]), ci_low=float(st.ci_low[j]), ci_high=float(st.ci_high[j]),
            n_permutations=st.n_permutations, exact=st.exact, missing=tuple(missing), n_x=len(kept[0]),
            n_y=len(kept[1]), n_a=len(kept[2]), n_b=len(kept[3]), set_names=names, unit=opts.unit, pooling=pooling,
            seconds=seconds, items=items))
    return results


def apply_holm(results: Sequence[BiasResult]) -> list[BiasResult]:
    """Holm-adjusted p-values within each battery: the tests that share a level, model and layer."""
    results = list(results)
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(results):
        groups.setdefault((r.level, r.model, r.layer), []).append(i)
    for idx in groups.values():
        adj = holm([results[i].p_value for i in idx])
        for i, a in zip(idx, adj):
            results[i] = replace(results[i], p_holm=float(a))
    return results


def _plan(queries: Sequence[WeatQuery], levels: Sequence[str],
          skip_unavailable: bool) -> tuple[list[tuple[str, WeatQuery]], list[str]]:
    """The (level, query) pairs to run, level by level, and one line per pair left out for lack of inputs."""
    for level in levels:
        if level not in LEVELS:
            raise ConfigError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    names = [q.name for q in queries]
    if len(set(names)) != len(names):
        raise BiasTestError(f"two tests share the name {next(n for n in names if names.count(n) > 1)!r}")
    plan, skipped = [], []
    for level in levels:
        for q in queries:
            if level in q.levels():
                plan.append((level, q))
            elif skip_unavailable:
                skipped.append(f"{q.name} @ {level}: no inputs for this level (has: {', '.join(q.levels())})")
            else:
                require_level(q, level)
    return plan, skipped


def encode_level(queries: Sequence[WeatQuery], lm, level: str, options: RunOptions | None = None, *,
                 cache: EncodingCache) -> int:
    """Encode every distinct input of ``queries`` at ``level`` into ``cache`` at once (full, shared batches); the
    inputs the tokenizer cannot supply are left out. Returns the number of items (before de-duplication)."""
    opts = options or RunOptions()
    items = [it for q in queries for s in _level_items(q, level) for it in s]
    kept = [it for it in items if not cache.unknown(lm, [_probe(it, level)])]
    cache.vectors(lm, level, opts.pooling_for(level), kept, model_layers(lm, opts.layers),
                  batch_size=opts.batch_size)
    return len(items)


class _Progress:
    """Progress of a battery: the share of (test, level, model) runs done, passed to the caller's callback."""

    def __init__(self, fn: ProgressFn | None, total: int):
        self.fn, self.total, self.done = fn, max(1, total), 0

    def say(self, message: str) -> None:
        if self.fn:
            self.fn(self.done / self.total, message)

    def step(self) -> None:
        self.done += 1

    def finish(self) -> None:
        if self.fn:
            self.fn(1.0, "done")


def _run_level(todo: Sequence[WeatQuery], lm, level: str, opts: RunOptions, cache: EncodingCache,
               report: "_Progress") -> list[BiasResult]:
    """The tests ``todo`` at one level with one model, their inputs encoded first; results in the order of ``todo``."""
    n_inputs = len({it.key for q in todo for s in _level_items(q, level) for it in s})
    report.say(f"{lm.name}: encoding {n_inputs} {level} inputs")
    encode_level(todo, lm, level, opts, cache=cache)
    # Tests of equal sizes share their random permutations (same seed, same sizes: the same draw), so they run in
    # order of size; the results keep the order of the queries.
    sizes = {q.name: tuple(len(s) for s in _level_items(q, level)[:2]) for q in todo}
    out: dict[str, list[BiasResult]] = {}
    for q in sorted(todo, key=lambda q: sizes[q.name]):
        report.say(f"{lm.name}: {q.name} ({level})")
        out[q.name] = run_query(q, lm, level, opts, cache=cache)
        report.step()
    return [r for q in todo for r in out[q.name]]


def run_bias(queries: Sequence[WeatQuery], models: Sequence, options: RunOptions | None = None, *,
             levels: Sequence[str] = ("word",), cache: EncodingCache | None = None, progress: ProgressFn | None = None,
             **settings) -> tuple[list[BiasResult], list[str]]:
    """Run a battery: every query at every level with every model, at the chosen layers.

    Parameters
    ----------
    queries : the tests
    models : loaded models (:class:`analysis.encoder.LoadedModel`) or names (loaded here, once each)
    options, settings : a :class:`RunOptions` and/or its fields as keywords (``layers=``, ``pooling=``, ``unit=``,
        ``permutations=``, ``n_bootstrap=``, ``confidence=``, ``seed=``, ``skip_unavailable=``, ``batch_size=``)
    levels : any of "word", "sentence", "contextual"
    cache : vectors already computed (kept between runs by the page); a fresh one by default
    progress : called with (fraction done, message)

    Returns
    -------
    results : list of :class:`BiasResult` (with Holm-adjusted p within each level x model x layer)
    skipped : one line per query x level that was left out
    """
    from analysis.encoder import load_model

    opts = RunOptions.of(options, **settings)
    cache = cache if cache is not None else EncodingCache()
    plan, skipped = _plan(queries, levels, opts.skip_unavailable)
    report = _Progress(progress, len(plan) * len(models))
    results = []
    for m in models:
        lm = load_model(m) if (m is None or isinstance(m, str)) else m
        model_layers(lm, opts.layers)  # a layer the model lacks fails before any encoding starts
        for level in levels:
            todo = [q for lv, q in plan if lv == level]
            if todo:
                results.extend(_run_level(todo, lm, level, opts, cache, report))
    report.finish()
    return apply_holm(results), skipped


def run_parameters(queries: Sequence[WeatQuery], models: Sequence, levels: Sequence[str], options: RunOptions, *,
                   corpus: str | None = None, skipped: Sequence[str] = ()) -> dict:
    """The parameters of a run as the manifests of the page and the CLI record them (``models`` loaded)."""
    return {"tests": [q.describe() for q in queries], "levels": list(levels), "models": [m.describe() for m in models],
            **options.to_dict(), "corpus": corpus, "skipped": list(skipped)}

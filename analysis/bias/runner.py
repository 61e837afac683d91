"""Running bias tests with loaded models: one query at one level, or a whole battery."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Mapping, Sequence

import numpy as np

from analysis import layers as layer_specs
from analysis.bias.encoding import EncodingCache, _Item, _level_items, _probe
from analysis.bias.query import LEVELS, SET_KEYS, BiasTestError, WeatQuery
from analysis.bias.results import BiasResult
from analysis.bias.statistics import DEFAULT_BOOTSTRAP, DEFAULT_PERMUTATIONS, association, holm, weat_from_associations
from analysis.errors import ConfigError, TooFewPointsError

DEFAULT_POOLING = {"word": "mean", "sentence": "cls", "contextual": "first"}
ProgressFn = Callable[[float, str], None]


def resolve_layers(lm, layers) -> list[int]:
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


def run_query(query: WeatQuery, lm, level: str, *, layers=None, pooling: str | None = None, unit: str = "item",
              permutations: int = DEFAULT_PERMUTATIONS, n_bootstrap: int = DEFAULT_BOOTSTRAP, confidence: float = 0.95,
              seed: int | None = 0, cache: EncodingCache | None = None, batch_size: int = 64) -> list[BiasResult]:
    """Run one test at one level with one loaded model; one :class:`BiasResult` per layer."""
    require_level(query, level)
    if unit not in {"item", "word"}:
        raise ConfigError(f"unit must be 'item' or 'word', not {unit!r}")
    pooling = pooling or DEFAULT_POOLING[level]
    cache = cache if cache is not None else EncodingCache()
    layer_idx = resolve_layers(lm, layers)
    t0 = time.perf_counter()
    per_set = _level_items(query, level)
    missing = [m for s in query.sets() for m in s.missing]
    kept = []
    for key, s, items in zip(SET_KEYS, query.sets(), per_set):
        ok, miss = _present(items, lm, cache, level, f"{key} {s.name}")
        missing += miss
        if len(ok) < 2:
            raise TooFewPointsError(f"test {query.name!r} at the {level} level: set {key} ({s.name}) has "
                                    f"{len(ok)} usable item(s) after leaving out what {lm.name} cannot supply; "
                                    "at least two are needed")
        kept.append(ok)
    groups = [None, None]
    if unit == "word" and level != "word":
        for j in (0, 1):
            words = [it.word for it in kept[j]]
            if not all(words):
                raise ConfigError(f"unit='word' needs the word of every item; the {level} items of test "
                                  f"{query.name!r} are not all tied to a word of its lists")
            groups[j] = words
            if len(set(words)) < 2:
                raise TooFewPointsError(f"test {query.name!r}: set {SET_KEYS[j]} has fewer than two words")
    vecs = [cache.vectors(lm, level, pooling, items, layer_idx, batch_size=batch_size) for items in kept]
    s_x = np.stack([association(vecs[0][:, j], vecs[2][:, j], vecs[3][:, j]) for j in range(len(layer_idx))], axis=1)
    s_y = np.stack([association(vecs[1][:, j], vecs[2][:, j], vecs[3][:, j]) for j in range(len(layer_idx))], axis=1)
    st = weat_from_associations(s_x, s_y, groups_x=groups[0], groups_y=groups[1], permutations=permutations,
                                n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
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
            n_y=len(kept[1]), n_a=len(kept[2]), n_b=len(kept[3]), set_names=names, unit=unit, pooling=pooling,
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


def run_bias(queries: Sequence[WeatQuery], models: Sequence, *, levels: Sequence[str] = ("word",), layers=None,
             pooling: Mapping[str, str] | None = None, unit: str = "item", permutations: int = DEFAULT_PERMUTATIONS,
             n_bootstrap: int = DEFAULT_BOOTSTRAP, confidence: float = 0.95, seed: int | None = 0,
             skip_unavailable: bool = False, cache: EncodingCache | None = None, progress: ProgressFn | None = None,
             batch_size: int = 64) -> tuple[list[BiasResult], list[str]]:
    """Run a battery: every query at every level with every model, at the chosen layers.

    Parameters
    ----------
    queries : the tests
    models : loaded models (:class:`analysis.encoder.LoadedModel`) or names (loaded here, once each)
    levels : any of "word", "sentence", "contextual"
    layers : None (last layer), "all", or hidden-state indices (negative count from the top)
    pooling : per level, e.g. {"word": "mean", "sentence": "cls", "contextual": "first"} (these are the defaults)
    unit : "item" re-partitions items (occurrences at the contextual level, as Tan & Celis); "word" whole words
    permutations : exact test up to this many partitions, else this many Monte Carlo permutations
    seed : the same seed is used for every test, so a test's numbers do not depend on the battery around it
    skip_unavailable : leave out (and report) query x level pairs without inputs, instead of raising

    Returns
    -------
    results : list of :class:`BiasResult` (with Holm-adjusted p within each level x model x layer)
    skipped : one line per query x level that was left out
    """
    from analysis.encoder import load_model

    pooling = {**DEFAULT_POOLING, **(pooling or {})}
    for level in levels:
        if level not in LEVELS:
            raise ConfigError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    cache = cache if cache is not None else EncodingCache()
    names = [q.name for q in queries]
    if len(set(names)) != len(names):
        raise BiasTestError(f"two tests share the name {next(n for n in names if names.count(n) > 1)!r}")
    results, skipped = [], []
    plan = []
    for level in levels:
        for q in queries:
            if level in q.levels():
                plan.append((level, q))
            elif skip_unavailable:
                skipped.append(f"{q.name} @ {level}: no inputs for this level (has: {', '.join(q.levels())})")
            else:
                require_level(q, level)
    total = max(1, len(plan) * len(models))
    done = 0
    for m in models:
        lm = load_model(m) if (m is None or isinstance(m, str)) else m
        for level in levels:
            todo = [q for lv, q in plan if lv == level]
            if not todo:
                continue
            # Encode every distinct input of this level once, before the tests, so batches are full and shared.
            items = [it for q in todo for s in _level_items(q, level) for it in s]
            if progress:
                progress(done / total, f"{lm.name}: encoding {len(set(i.key for i in items))} {level} inputs")
            kept = [it for it in items if not cache.unknown(lm, [_probe(it, level)])]
            cache.vectors(lm, level, pooling[level], kept, resolve_layers(lm, layers), batch_size=batch_size)
            # Tests of equal sizes share their random permutations (same seed, same sizes: the same draw), so they
            # run in order of size; the results keep the order of the queries.
            sizes = {q.name: tuple(len(s) for s in _level_items(q, level)[:2]) for q in todo}
            out: dict[str, list[BiasResult]] = {}
            for q in sorted(todo, key=lambda q: sizes[q.name]):
                if progress:
                    progress(done / total, f"{lm.name}: {q.name} ({level})")
                out[q.name] = run_query(q, lm, level, layers=layers, pooling=pooling[level], unit=unit,
                                        permutations=permutations, n_bootstrap=n_bootstrap, confidence=confidence,
                                        seed=seed, cache=cache, batch_size=batch_size)
                done += 1
            for q in todo:
                results.extend(out[q.name])
    if progress:
        progress(1.0, "done")
    return apply_holm(results), skipped


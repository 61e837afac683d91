"""``python -m analysis shift`` (one target across periods) and ``python -m analysis shift-rank`` (many targets).

``shift CORPUS --target T --year-column Y|--period-column P [--bins ...] [--model M] [--layer L] --out DIR`` writes
``shift.json`` (per pair of periods: apd, prt, jsd, their p-values and intervals; sense shares per period), CSV tables
and figures, each with a manifest.

``shift-rank CORPUS... [--year-column Y|--period-column P] [--gold FILE] --out DIR`` writes ``ranking.csv`` (target,
apd, prt, jsd, then p-values and counts) and, with graded gold, ``spearman.json``
(``{"apd": rho, "prt": rho, "jsd": rho, "n": targets}``) plus ``evaluation.json`` (p-values of rho, binary accuracy,
matched and unmatched targets). DWUG ``uses.csv`` files use ``grouping`` as the period unless told otherwise.

A period with fewer than 2 occurrences (often an empty or nearly empty year bin) stops ``shift`` and skips the target
in ``shift-rank``; ``--drop-thin-periods`` leaves such periods out instead (per target, as the Shift page's option
does), ``--min-period-count N`` raises the threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import layers
from analysis._util import json_clean
from analysis.cli.embed import Progress, add_corpus_arguments, add_engine_arguments, load_occurrences, make_engine
from analysis.cli._common import add_min_silhouette_argument, add_preset_arguments, figure_options, prepare_out_dir
from analysis.errors import ConfigError, CorpusError


# ------------------------------------------------------------------------------------------------------------ helpers
def write_json(path: Path, obj) -> None:
    """``obj`` as JSON (NaN as null) at ``path``."""
    path.write_text(json.dumps(json_clean(obj), indent=1, ensure_ascii=False), encoding="utf-8")


def parse_bins(text: str | None) -> tuple[int | None, list[float] | None]:
    """``--bins``: "4" -> 4 bins; "1810,1860,2010" -> edges; None -> (None, None)."""
    if text is None or not str(text).strip():
        return None, None
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        if len(parts) == 1:
            n = int(parts[0])
            if n < 2:
                raise ConfigError(f"--bins {text}: use at least 2 bins")
            return n, None
        return None, [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"cannot read --bins {text!r}: give a number of bins (4) or increasing edges "
                          f"(1810,1860,2010)") from None


def resolve_period_columns(occ: pd.DataFrame, year_column: str | None, period_column: str | None):
    """Names of the period and year columns in the occurrences table.

    The corpus loader renames the user's year/period columns to ``year``/``period`` (DWUG: ``date``/``grouping``), so
    a name given on the command line is looked up as given first and then under its standard name. With neither,
    a ``period`` column (DWUG grouping) is used, else ``year``.
    """
    def find(name, standard):
        if name is None:
            return None
        if name in occ.columns:
            return name
        if standard in occ.columns:
            return standard
        raise CorpusError(f"the corpus has no column {name!r} (columns: {', '.join(map(str, occ.columns[:20]))})")

    period = find(period_column, "period")
    year = find(year_column, "year")
    if period is None and year is None:
        if "period" in occ.columns and occ["period"].notna().any():
            period = "period"
        elif "year" in occ.columns and occ["year"].notna().any():
            year = "year"
        else:
            raise ConfigError("say which column holds the period (--period-column) or the year (--year-column)")
    return period, year


def period_kwargs(occ, args) -> dict:
    period, year = resolve_period_columns(occ, getattr(args, "year_column", None), getattr(args, "period_column", None))
    n_bins, edges = parse_bins(getattr(args, "bins", None))
    if period is not None:
        if n_bins or edges:
            raise ConfigError("--bins applies to a year column; with --period-column the periods are its values")
        return {"period_column": period, "year_column": year, "mode": "column"}
    from analysis.shift import DEFAULT_N_BINS

    mode = "edges" if edges else getattr(args, "binning", "equal-width")
    return {"year_column": year, "mode": mode, "n_bins": n_bins or DEFAULT_N_BINS, "edges": edges}


def embed(occ, args, layers=None, engine=None):
    """The embedding set of ``occ`` (cached), encoded here or by ``engine`` (``--engine ray``: a Ray Data job)."""
    from analysis.store import get_or_compute

    return get_or_compute(occ, args.model, layers=layers, pooling=args.pooling, window=args.window,
                          batch_size=args.batch_size, device=args.device if engine is None else None, engine=engine,
                          progress=Progress())


def layer_matrix(es, layer) -> tuple[np.ndarray, str]:
    from analysis.senses import layer_label, layer_vectors
    from analysis.shift import DEFAULT_LAYER

    spec = DEFAULT_LAYER if layer is None else layer
    return layer_vectors(es.vectors, es.layers, spec), layer_label(es.layers, spec)


def sense_labels(X, periods, occ, args):
    """Sense labels for shares and JSD: clusters of the usages that have a period, or a column of the table.

    Returns (labels, names or None, :func:`analysis.shift.sense_info` record)."""
    from analysis.shift import NOISE_LABEL, cluster_labels, labels_from_column, sense_info

    if args.senses == "column":
        if args.sense_column not in occ.columns:
            raise ConfigError(f"there is no sense column {args.sense_column!r} in the corpus")
        labels, names = labels_from_column(occ[args.sense_column])
        return labels, names, sense_info(f"column {args.sense_column!r}", len(names))
    inside = periods.codes >= 0
    labels = np.full(len(X), NOISE_LABEL)
    k, min_sil = (args.k if args.k == "auto" else int(args.k)), args.min_silhouette
    labels[inside], res = cluster_labels(X[inside], method=args.clusters, k=k, seed=args.seed, min_silhouette=min_sil)
    return labels, None, sense_info("clusters", res.k, method=args.clusters, k_choice=args.k, seed=args.seed,
                                    silhouette=res.silhouette or {}, notice=res.notice, min_silhouette=min_sil)


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="hub id or local folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--layer", help="hidden-state index (e.g. 6, -1), an averaged range (4-6) or a rule relative "
                                   "to the depth (upper-half, middle-third, ...); default: analysis.shift.DEFAULT_LAYER "
                                   "(upper-half)")
    p.add_argument("--pooling", choices=["mean", "first"], default="mean")
    p.add_argument("--window", type=int, help="most tokens per model input (default: the model's maximum)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", help="cuda, mps or cpu (default: best available)")


def _add_test_arguments(p: argparse.ArgumentParser) -> None:
    from analysis.shift import DEFAULT_CI, DEFAULT_N_BOOT, DEFAULT_N_PERMUTATIONS

    p.add_argument("--bins", help="year bins: a number (equal-width, or see --binning) or edges 1810,1860,2010")
    p.add_argument("--binning", choices=["equal-width", "equal-count"], default="equal-width")
    p.add_argument("--senses", choices=["clusters", "column"], default="clusters",
                   help="sense labels for shares and JSD: cluster the usages (default) or read --sense-column")
    p.add_argument("--sense-column", default="label", help="with --senses column (default: label, e.g. DWUG clusters)")
    p.add_argument("--clusters", choices=["kmeans", "agglomerative", "hdbscan"], default="kmeans")
    p.add_argument("--k", default="auto", help="number of clusters, or auto (silhouette over 2..10)")
    add_min_silhouette_argument(p)
    p.add_argument("--permutations", type=int, default=DEFAULT_N_PERMUTATIONS)
    p.add_argument("--boot", type=int, default=DEFAULT_N_BOOT, help="bootstrap resamples for the intervals")
    p.add_argument("--ci", type=float, default=DEFAULT_CI)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--formats", default=FORMATS, help="figure formats: html,png,svg,pdf (PNG/SVG/PDF need Chromium; "
                                                      "default %(default)s, svg,pdf,png with --preset paper)")
    add_preset_arguments(p)
    p.add_argument("--drop-thin-periods", action="store_true",
                   help="leave out periods with fewer than --min-period-count occurrences (per target), as the "
                        "Shift page's option does, instead of stopping (shift) or skipping the target (shift-rank)")
    p.add_argument("--min-period-count", type=int, default=None,
                   help="with --drop-thin-periods: the fewest occurrences a period needs to be kept "
                        "(default and minimum: analysis.shift.MIN_PERIOD_COUNT = 2)")


#: The default of --formats of shift and shift-rank.
FORMATS = "html,png,svg"

#: How the CLI's user leaves thin periods out; ends the thin-period error message.
DROP_HINT = "leave such periods out with --drop-thin-periods (and --min-period-count N)"


def thin_options(args) -> dict:
    """``drop_thin_periods`` / ``min_period_count`` for analysis.shift from the flags (checked)."""
    from analysis.shift import MIN_PERIOD_COUNT

    n = getattr(args, "min_period_count", None)
    drop = bool(getattr(args, "drop_thin_periods", False))
    if n is not None and not drop:
        raise ConfigError("--min-period-count applies with --drop-thin-periods; add that flag")
    if n is not None and n < MIN_PERIOD_COUNT:
        raise ConfigError(f"--min-period-count {n}: the metrics need at least {MIN_PERIOD_COUNT} occurrences a period")
    return {"drop_thin_periods": drop, "min_period_count": MIN_PERIOD_COUNT if n is None else int(n)}


def _layer_arg(text):
    """``--layer`` as a layer spec (:mod:`analysis.layers`), read before any model loads; None = the default."""
    if text is None:
        return None
    layers.parse(text)  # a typo stops the run here, with the spec rules in the message
    return text


def _save_figures(figs: dict, out: Path, params: dict, options: dict) -> None:
    """Write each figure with ``save_figure(**options)`` (formats and preset, from :func:`figure_options`)."""
    from analysis.export import save_figure

    skipped = ""
    for stem, fig in figs.items():
        res = save_figure(fig, out, stem, params, **options)
        skipped = skipped or res["skipped"]
    if skipped:
        print(f"note: {skipped}", file=sys.stderr)


# -------------------------------------------------------------------------------------------------------------- shift
def _add_shift(p: argparse.ArgumentParser) -> None:
    add_corpus_arguments(p)
    _add_model_arguments(p)
    _add_test_arguments(p)
    p.add_argument("--typical", type=int, default=None, help="typical occurrences listed per period (default 5)")
    p.add_argument("--out", required=True, help="output folder")


def _one_target(args):
    """The occurrences of the one target and their periods (thin periods dropped or refused), before any embedding."""
    from analysis import shift as S

    occ = load_occurrences(args)
    if "target" in occ.columns and occ["target"].nunique() > 1:
        names = ", ".join(sorted(occ["target"].astype(str).unique())[:8])
        raise ConfigError(f"the corpus holds {occ['target'].nunique()} targets ({names}); name one with --target, "
                          f"or rank them all with shift-rank")
    thin = thin_options(args)
    periods = S.make_periods(occ, **period_kwargs(occ, args))
    if thin["drop_thin_periods"]:
        periods = periods.drop_small(thin["min_period_count"])
    for w in periods.warnings:
        print(f"warning: {w}", file=sys.stderr)
    S.check_periods(periods, how_to_drop=DROP_HINT)
    return occ, periods, thin


def _shift_report(args, occ, periods, thin):
    """Embed, label the senses, compare the periods: the :class:`analysis.shift.ShiftReport` of the one target."""
    from analysis import shift as S

    layer = _layer_arg(args.layer)
    prepare_out_dir(args.out, create=False)  # a bad --out fails before the embedding and leaves nothing behind
    es = embed(occ, args)
    X, layer_name = layer_matrix(es, layer)
    labels, names, sense_info = sense_labels(X, periods, occ, args)
    result = S.analyse_shift(X, periods, labels=labels, sense_names=names, n_permutations=args.permutations,
                             n_bootstrap=args.boot, ci=args.ci, seed=args.seed)
    traj = S.trajectory(X, periods, n_typical=S.DEFAULT_N_TYPICAL if args.typical is None else args.typical)
    target = str(occ["target"].iloc[0]) if "target" in occ.columns else (args.target or "")
    params = {"command": "shift", "corpus": str(args.corpus), "target": target, "model": es.model,
              "layer": layer_name, "pooling": args.pooling, "window": args.window, "embedding_key": es.key,
              "periods": periods.to_dict(), "senses": sense_info, **thin, **result.params}
    return S.ShiftReport(result=result, trajectory=traj, occurrences=occ, target=target, model=es.model,
                         layer=layer_name, senses=sense_info, parameters=params)


def _write_shift(report, out: Path, options: dict) -> None:
    """shift.json, the tables (pairs, periods, shares, typical) and the figures, each with its manifest."""
    from analysis.export import save_table
    from analysis.plots import shift as P

    result, traj, periods, params = report.result, report.trajectory, report.result.periods, report.parameters
    write_json(out / "shift.json", report.to_dict())
    save_table(result.pairs_frame(), out, "pairs", params)
    save_table(periods.counts_frame(), out, "periods", params)
    save_table(result.shares.to_frame(), out, "shares", params)
    save_table(report.typical_frame(), out, "typical", params)
    usages = pd.DataFrame({"x": traj.usage_xy[:, 0], "y": traj.usage_xy[:, 1],
                           "period": [periods.names[c] if c >= 0 else None for c in periods.codes]}).dropna()
    figs = {"counts": P.plot_period_counts(periods.counts_frame()),
            "shares": P.plot_sense_shares(result.shares.to_frame()),
            "metrics": P.plot_metrics_over_time(result.pairs_frame()),
            "trajectory": P.plot_trajectory(usages, traj.prototype_frame(), explained=traj.explained)}
    _save_figures(figs, out, params, options)


def _run_shift(args) -> int:
    options = figure_options(args, FORMATS)  # a bad format or width stops here, before any embedding
    occ, periods, thin = _one_target(args)
    report = _shift_report(args, occ, periods, thin)
    out = prepare_out_dir(args.out)
    _write_shift(report, out, options)
    print(report.result.metric_table().to_string(index=False))
    print(f"wrote {out / 'shift.json'} and tables/figures to {out}")
    return 0


# --------------------------------------------------------------------------------------------------------- shift-rank
def _add_rank(p: argparse.ArgumentParser) -> None:
    add_corpus_arguments(p, many=True)
    _add_model_arguments(p)
    _add_test_arguments(p)
    p.add_argument("--gold", action="append", default=[],
                   help="gold change scores: TSV target<TAB>score (SemEval truth; all-0/1 = binary) or DWUG "
                        "stats_groupings.csv; repeat for graded + binary files")
    p.add_argument("--binary-rule", choices=["mean", "permutation"], default=None,
                   help="how a metric becomes changed/stable for accuracy "
                        "(default: analysis.shift.DEFAULT_BINARY_RULE)")
    add_engine_arguments(p)
    p.add_argument("--all-layers", action="store_true",
                   help="also rank at every hidden layer: layers.csv (each target's scores per layer), "
                        "rho_by_layer.csv and a figure of the scores (with --gold: rho with its interval) per layer")
    p.add_argument("--out", required=True, help="output folder")


def load_many(paths, *, targets=None, columns=None, search: dict | None = None,
              sampling: dict | None = None) -> pd.DataFrame:
    """One occurrences table over several corpora and targets (DWUG folders: every lemma is a target).

    ``targets``: comma-separated targets to find (all of a corpus's own targets when it has spans and none are
    named); ``columns``: an :class:`analysis.corpus.ColumnSpec`; ``search``: ``regex``, ``whole_word``,
    ``case_sensitive`` for :func:`analysis.corpus.find_occurrences` in corpora without spans; ``sampling``:
    ``sample``, ``per_period``, ``seed``, ``context_chars`` of :class:`analysis.corpus_index.select.Selection`,
    applied to each target on its own (an index reads only the sampled documents)."""
    from analysis.corpus import ColumnSpec, find_occurrences, load_corpus
    from analysis.corpus_index import is_index
    from analysis.corpus_index.select import Selection, sample_table, select_occurrences

    spec = columns or ColumnSpec()
    frames = []
    wanted = [t.strip() for t in (targets or "").split(",") if t.strip()]
    for path in paths:
        if is_index(path):  # a corpus index: each named target's occurrences, found out of core
            if not wanted:
                raise ConfigError(f"{path} is a corpus index; name the targets to find with --targets a,b,c")
            for t in wanted:
                sel = Selection(target=t, **(search or {}), **(sampling or {}))
                frames.append(select_occurrences(path, None, sel)[0])
            continue
        docs = load_corpus(path, spec)
        if {"start", "end"} <= set(docs.columns):
            occ = find_occurrences(docs, "|".join(wanted) if wanted else None)
            found = ([g for _, g in occ.groupby("target", sort=False)] if sampling and "target" in occ.columns
                     else [occ])  # each target sampled on its own; unsampled, the rows keep their order
        else:
            if not wanted:
                raise ConfigError(f"{path} has no target spans; name the targets to find with --targets a,b,c")
            found = [find_occurrences(docs, t, **(search or {})) for t in wanted]
        if sampling:
            found = [sample_table(f.reset_index(drop=True), Selection(target=None, **sampling)) for f in found]
        frames += found
    occ = pd.concat(frames, ignore_index=True)
    occ["occurrence_id"] = np.arange(len(occ))
    return occ


def _load_many_args(args) -> pd.DataFrame:
    from analysis.corpus import ColumnSpec

    columns = ColumnSpec(text=args.text_column, id=args.id_column, year=args.year_column, period=args.period_column,
                         label=args.label_column)
    from analysis.cli.embed import check_selection

    check_selection(args)
    search = {"regex": args.regex, "whole_word": not args.substring, "case_sensitive": args.case_sensitive}
    sampling = None
    if args.sample is not None or args.context_chars is not None:
        sampling = {"sample": args.sample, "per_period": bool(args.per_period), "seed": int(args.seed),
                    "context_chars": args.context_chars}
    return load_many(args.corpus, targets=args.targets, columns=columns, search=search, sampling=sampling)


def read_golds(files) -> "object | None":
    from analysis.shift import read_gold

    gold = None
    for f in files:
        g = read_gold(f)
        gold = g if gold is None else gold.merged(g)
    return gold


def rank_layer(occ, X, args, gold=None):
    """Ranking (and evaluation) for one layer's vectors: what shift-rank computes, reusable by the benchmark."""
    from analysis import shift as S

    options = S.RankOptions.build(
        senses="column" if args.senses == "column" else "clusters", sense_column=args.sense_column,
        cluster_method=args.clusters, k=args.k if args.k == "auto" else int(args.k), min_silhouette=args.min_silhouette,
        n_permutations=args.permutations, n_bootstrap=args.boot, ci=args.ci, seed=args.seed,
        how_to_drop=DROP_HINT, **thin_options(args), **period_kwargs(occ, args))
    ranking, results, skipped = S.shift_many(occ, X, options)
    evaluation = None
    if gold is not None:
        evaluation = S.evaluate_ranking(ranking, gold, binary_rule=args.binary_rule or S.DEFAULT_BINARY_RULE)
    return ranking, results, skipped, evaluation


def _write_rank(ranking, evaluation, gold, out: Path, params: dict, options: dict) -> None:
    """ranking.csv, spearman.json and evaluation.json (with gold), and the figures."""
    from analysis import shift as S
    from analysis.export import save_table
    from analysis.plots import shift as P

    first = ["target", "apd", "prt", "jsd"]
    save_table(ranking[first + [c for c in ranking.columns if c not in first]], out, "ranking", params)
    figs = {f"ranking_{m}": P.plot_ranking(ranking, metric=m) for m in S.METRICS if ranking[m].notna().any()}
    if evaluation is not None:
        if gold.graded is not None:
            write_json(out / "spearman.json", evaluation.spearman_json())
            df = ranking.copy()
            df["gold"] = evaluation.gold_column(gold, df["target"])
            for m in S.METRICS:
                if df[m].notna().any():
                    figs[f"{m}_vs_gold"] = P.plot_metric_vs_gold(df, metric=m, rho=evaluation.spearman.get(m))
        write_json(out / "evaluation.json", {**evaluation.to_dict(), "gold": gold.source, "layer": params["layer"],
                                              "model": params["model"]})
    _save_figures(figs, out, params, options)


def _print_rank(ranking, evaluation, gold, out: Path) -> None:
    from analysis.shift import METRICS

    show = ranking[["target", "apd", "prt", "jsd", "n_first", "n_last"]]
    print(show.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if evaluation is not None:
        sp = evaluation.spearman_json()
        if gold.graded is not None:
            print(f"Spearman rho vs gold (n = {sp['n']}; 95 % bootstrap interval over targets, permutation p): "
                  + "; ".join(evaluation.rho_line(m) for m in METRICS))
        if evaluation.accuracy:
            print(f"binary accuracy (n = {evaluation.n_binary}, rule {evaluation.binary_rule}): " + ", ".join(
                f"{m.upper()} {v:.3f}" for m, v in evaluation.accuracy.items()))
        if evaluation.unmatched_targets:
            print(f"note: no gold for {', '.join(evaluation.unmatched_targets)}", file=sys.stderr)
    print(f"wrote {out / 'ranking.csv'}" + (f" and {out / 'spearman.json'}" if evaluation is not None
                                             and gold.graded is not None else ""))


def layer_sweep(occ, es, args, gold=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ranking at every hidden layer: (each target's scores per layer, one row per layer x metric with the mean
    score over targets and, with gold, rho, its bootstrap interval over targets and permutation p)."""
    from analysis import shift as S
    from analysis.senses import layer_label, layer_vectors

    per_target, summary = [], []
    for layer in es.layers:
        X = layer_vectors(es.vectors, es.layers, str(layer))
        ranking, _, _, evaluation = rank_layer(occ, X, args, gold)
        name = layer_label(es.layers, str(layer))
        per_target.append(ranking.assign(layer=name).loc[:, lambda d: ["layer", *[c for c in d if c != "layer"]]])
        for m in S.METRICS:
            row = {"layer": name, "metric": m, "mean": float(ranking[m].mean()), "n_targets": int(ranking[m].notna().sum())}
            if evaluation is not None and evaluation.spearman:
                lo, hi = evaluation.spearman_ci.get(m, (np.nan, np.nan))
                row |= {"rho": evaluation.spearman.get(m, np.nan), "rho_low": lo, "rho_high": hi,
                        "rho_permutation_p": evaluation.spearman_perm_p.get(m, np.nan), "n_gold": evaluation.n_graded}
            summary.append(row)
    return pd.concat(per_target, ignore_index=True), pd.DataFrame(summary)


def _run_rank(args) -> int:
    options = figure_options(args, FORMATS)  # a bad format or width stops here, before any embedding
    thin = thin_options(args)  # bad flags fail before any embedding
    if args.all_layers and args.layer:
        raise ConfigError("--all-layers ranks at every layer; leave out --layer (the main ranking then uses the "
                          "default layer)")
    layer = _layer_arg(args.layer)
    engine = make_engine(args)  # --engine ray without Ray installed, or a stray --workers, stops here
    gold = read_golds(args.gold) if args.gold else None  # read first: a bad gold file fails before any embedding
    occ = _load_many_args(args)
    prepare_out_dir(args.out, create=False)
    es = embed(occ, args, engine=engine)
    X, layer_name = layer_matrix(es, layer)
    ranking, results, skipped, evaluation = rank_layer(occ, X, args, gold)
    for t, why in skipped.items():
        print(f"warning: skipped {t}: {why}", file=sys.stderr)
    out = prepare_out_dir(args.out)
    params = {"command": "shift-rank", "corpus": [str(c) for c in args.corpus], "model": es.model,
              "layer": layer_name, "pooling": args.pooling, "window": args.window, "embedding_key": es.key,
              "senses": args.senses, "clusters": args.clusters, "k": args.k, "n_permutations": args.permutations,
              "n_bootstrap": args.boot, "ci": args.ci, "seed": args.seed, "compared": "first vs last period",
              "gold": [str(g) for g in args.gold], "skipped": skipped, "engine": args.engine, **thin}
    _write_rank(ranking, evaluation, gold, out, params, options)
    _print_rank(ranking, evaluation, gold, out)
    if args.all_layers:
        from analysis.export import save_table
        from analysis.plots import shift as P

        per_target, by_layer = layer_sweep(occ, es, args, gold)
        sweep_params = {**params, "layer": "every hidden layer"}
        save_table(per_target, out, "layers", sweep_params)
        save_table(by_layer, out, "rho_by_layer", sweep_params)
        _save_figures({"by_layer": P.plot_layer_sweep(by_layer)}, out, sweep_params, options)
        value = "rho" if "rho" in by_layer.columns else "mean"
        wide = by_layer.pivot(index="layer", columns="metric", values=value).reindex(by_layer["layer"].unique())
        print(f"per layer ({'Spearman rho vs gold' if value == 'rho' else 'mean score over targets'}):")
        print(wide.to_string(float_format=lambda v: f"{v:.3f}"))
        print(f"wrote {out / 'layers.csv'} and {out / 'rho_by_layer.csv'}")
    return 0


COMMANDS = {
    "shift": ("Semantic shift of one target across periods: sense shares, APD/PRT/JSD with significance.",
              _add_shift, _run_shift),
    "shift-rank": ("Rank many targets by semantic change between their first and last period; Spearman vs gold.",
                   _add_rank, _run_rank),
}

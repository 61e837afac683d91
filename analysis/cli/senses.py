"""``python -m analysis senses``: sense clusters of one target, scored per model x layer.

``senses CORPUS --target T [--model M ...] [--layer L|--layers A-B|--all-layers] [--method METHOD] [--k K|auto|gold]
[--threshold T] [--preference Q] [--min-silhouette S] [--label-column C] [--split-column C] [--seed S]
[--projection umap|pca|tsne|none] --out DIR`` writes

- ``metrics.json``: a list of records, one per model x layer, with keys model, layer, k, the score columns of
  :func:`analysis.senses.score_record` (purity, inverse_purity, purity_f, ari, nmi, v_measure, centroid_accuracy,
  centroid_macro_f1, logreg_accuracy, logreg_macro_f1, macro_f1 = logistic regression's macro-F1; the same columns
  as the Senses page's comparison table), then n_scored, mode ("split" or "cv"), method, k_requested (the --k
  asked for; graph methods and HDBSCAN find their own), clustering (the clustering's parameters), silhouette,
  classifier_note; scores are null when the corpus has no gold labels. A corpus whose gold labels hold one sense
  is scored too (ARI 1 when one cluster is found): only the classifiers, which need two senses, are skipped, and
  ``classifier_note`` says why;
- ``assignments.csv``: one row per occurrence x model x layer with its cluster, cluster name and 2-D coordinates;
- ``layers.csv`` (the same records as a table) and, per model x layer, the projection, contingency heatmap and (k auto)
  silhouette figures, plus one line chart per score over layers when several layers/models were run. Figures are
  written as HTML always and as PNG/SVG when kaleido finds a Chrome/Chromium (the command says when it does not).
  Every file has a ``.manifest.json`` beside it with all parameters and versions.

Layers (specs of :mod:`analysis.layers`): ``--layer L`` is one hidden-state index (negative counts from the top), or
``A-B`` / ``1,4,6`` for the mean of those layers (layer mixing); ``--layers A-B`` (or a list) scores each of those
layers separately; ``--all-layers`` every layer. With no layer option, the documented default layer
:data:`analysis.senses.DEFAULT_LAYER` is used (one record per model). A spec that cannot be read stops the command
before any model is loaded.

With ``--split-column`` (values ``train``/``test``) sense centroids and classifiers are fitted on train and scored on
test, and clusters (fitted on all occurrences, labels unused) are scored on test, as in the CoarseWSD-20 1-NN
evaluation; without it, stratified 5-fold cross-validation.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import layers, senses
from analysis._util import json_clean
from analysis.cli._common import (add_min_silhouette_argument, add_min_stability_argument, add_preset_arguments,
                                  figure_options, word_or_number)
from analysis.cli.embed import Progress, add_corpus_arguments, load_occurrences
from analysis.errors import ConfigError, CorpusError, TooFewPointsError

#: The default of --formats.
FORMATS = "html,png,svg"


def _add(p: argparse.ArgumentParser) -> None:
    add_corpus_arguments(p)
    p.add_argument("--model", action="append", help="hub id or local folder; repeat for several models "
                   "(default: the packaged all-MiniLM-L6-v2; 'default' names it among others)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--layer", help="one layer (6, -1) or the mean of several (4-6, 1,4,6)")
    g.add_argument("--layers", help="score each layer of a range or list separately (e.g. 1-6)")
    g.add_argument("--all-layers", action="store_true", help="score every layer separately")
    p.add_argument("--method", choices=list(senses.CLUSTER_METHODS), default=senses.DEFAULT_METHOD)
    p.add_argument("--k", default="auto", help="number of clusters, 'auto' (silhouette over --k-range) or 'gold' "
                   "(the number of gold senses); HDBSCAN and the graph methods (affinity, correlation, "
                   "chinese_whispers) choose their own")
    p.add_argument("--threshold", type=float, default=senses.DEFAULT_THRESHOLD,
                   help="correlation / chinese_whispers: cosine above which two occurrences count as one sense "
                        "(default %(default)s)")
    p.add_argument("--preference", type=float, default=senses.DEFAULT_PREFERENCE,
                   help="affinity: preference as a quantile of the pairwise cosines (default %(default)s)")
    add_min_silhouette_argument(p)
    add_min_stability_argument(p)
    p.add_argument("--k-range", default=f"{senses.DEFAULT_K_RANGE[0]}-{senses.DEFAULT_K_RANGE[1]}",
                   help="range searched by --k auto (default %(default)s)")
    p.add_argument("--split-column", help="column with train/test: fit classifiers on train, score on test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--projection", choices=["umap", "pca", "tsne", "none"], default=senses.DEFAULT_PROJECTION,
                   help="2-D projection for the figures and assignments.csv (default %(default)s)")
    p.add_argument("--remove-mean", action="store_true", default=senses.DEFAULT_PREPROCESSING.remove_mean,
                   help="subtract the common mean vector before re-normalising (off by default, see BENCHMARKS.md)")
    p.add_argument("--remove-directions", type=int, default=senses.DEFAULT_PREPROCESSING.n_directions,
                   help="also remove this many top principal directions (default %(default)s)")
    p.add_argument("--names", help="cluster names as 0=aircraft,1=geometry (applied to every model x layer)")
    p.add_argument("--formats", default=FORMATS, help="figure formats: html,png,svg,pdf (PNG/SVG/PDF need Chromium; "
                                                      "default %(default)s, svg,pdf,png with --preset paper)")
    add_preset_arguments(p)
    p.add_argument("--out", required=True, help="output folder")


def _parse_k(text: str):
    """``--k``: a number of clusters, or "auto" / "gold"."""
    return word_or_number(text, "--k", {"auto": "auto", "gold": "gold"}, int)


def _parse_range(text: str) -> tuple[int, int]:
    """``--k-range``: one inclusive range such as ``2-10``, read by the layer-spec parser's range syntax."""
    try:
        parsed = layers.parse(text)
    except ConfigError:
        parsed = None
    if not parsed or len(parsed) != 1:
        raise ConfigError(f"cannot read the range {text!r}: use e.g. 2-10")
    return parsed[0]


def _parse_names(text: str | None) -> dict[int, str]:
    """``--names``: cluster names as ``0=aircraft,1=geometry``."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise ConfigError(f"cannot read --names {text!r}: use 0=aircraft,1=geometry")
        k, v = part.split("=", 1)
        try:
            out[int(k.strip())] = v.strip()
        except ValueError:
            raise ConfigError(f"cannot read --names {text!r}: cluster ids are numbers") from None
    return out


def layer_specs(args, available: list[int]) -> list:
    """The layer specs to score, from --layer / --layers / --all-layers (see the module docstring): each layer of
    ``--layers`` on its own, the ``--layer`` spec as given (several layers are averaged), or the default layer."""
    if args.all_layers:
        return list(available)
    if args.layers:
        return list(dict.fromkeys(layers.resolve(args.layers, available, name="the model")))
    if args.layer is not None:
        return [args.layer]
    return [senses.DEFAULT_LAYER]


def _layer_value(available: list[int], spec):
    """The ``layer`` of a record: the hidden-state index when the spec names one layer, else its label ("4-6")."""
    hs = set(layers.resolve(spec, available, default=senses.DEFAULT_LAYER))
    return hs.pop() if len(hs) == 1 else senses.layer_label(available, spec)


@dataclass
class _Plan:
    """What the command does, read from the arguments and the corpus before any model is loaded."""

    out: Path
    k: object
    k_range: tuple[int, int]
    min_silhouette: float | None
    names: dict
    prep: object
    formats: dict  # save_figure keywords: formats and the export preset (figure_options)
    gold: np.ndarray | None = None
    split: np.ndarray | None = None
    score_mask: np.ndarray | None = None
    base_params: dict | None = None


def _plan(args) -> _Plan:
    """The checked options (a bad one stops here, before the corpus is read)."""
    from analysis import export
    from analysis.cli._common import prepare_out_dir

    out = prepare_out_dir(args.out, create=False)  # created once the input has been checked
    for spec in (args.layer, args.layers):
        if spec is not None:
            layers.parse(spec)  # a typo stops the run before any model is loaded
    prep = senses.Preprocessing(normalize=True, remove_mean=args.remove_mean, n_directions=args.remove_directions)
    options = figure_options(args, FORMATS)  # formats and the export preset, checked
    ok, reason = export.static_export_available()
    if not ok and any(f != "html" for f in options["formats"]):
        print(f"note: {reason}; writing HTML figures only.", file=sys.stderr)
        options["formats"] = tuple(f for f in options["formats"] if f == "html")
    formats = options
    return _Plan(out, _parse_k(args.k), _parse_range(args.k_range), args.min_silhouette,
                 _parse_names(args.names), prep, formats)


def _read_gold(args, occ: pd.DataFrame, plan: _Plan) -> None:
    """Gold senses, train/test split and the rows clusters are scored on (the test rows, or all), into ``plan``."""
    if "label" in occ.columns and occ["label"].notna().any():
        plan.gold = occ["label"].astype("object").where(occ["label"].notna(), None).to_numpy()
    elif args.label_column:
        raise CorpusError(f"the label column {args.label_column!r} holds no labels")
    else:
        print("note: no gold label column (use --label-column); clusters are computed but not scored.",
              file=sys.stderr)
    if args.split_column:
        if args.split_column not in occ.columns:
            raise CorpusError(f"the corpus has no column {args.split_column!r} (columns: "
                              f"{', '.join(map(str, occ.columns[:20]))})")
        plan.split = occ[args.split_column].astype(str).str.strip().str.lower().to_numpy()
        if not {"train", "test"} <= set(plan.split):
            raise CorpusError(f"the split column {args.split_column!r} must hold the values train and test")
    plan.score_mask = np.ones(len(occ), dtype=bool) if plan.split is None else (plan.split == "test")
    if plan.k == "gold":
        if plan.gold is None:
            raise ConfigError("--k gold needs gold labels (--label-column)")
        plan.k = int(pd.Series(plan.gold).dropna().nunique())
    plan.base_params = {"corpus": str(args.corpus), "target": args.target, "method": args.method, "k": args.k,
                        "k_range": list(plan.k_range), "threshold": args.threshold, "preference": args.preference,
                        "min_silhouette": plan.min_silhouette, "min_stability": args.min_stability,
                        "seed": args.seed,
                        "preprocessing": plan.prep.describe(),
                        "projection": args.projection, "split_column": args.split_column,
                        "label_column": args.label_column, "cluster_names": plan.names}


def _run(args) -> int:
    from analysis.cli._common import prepare_out_dir
    from analysis.store import get_or_compute

    plan = _plan(args)
    occ = load_occurrences(args)
    _read_gold(args, occ, plan)
    prepare_out_dir(plan.out)
    records, assignments = [], []
    t0 = time.perf_counter()
    for model in args.model or [None]:
        model = None if model in (None, "", "default") else model
        es = get_or_compute(occ, model, layers=None, progress=Progress(f"embedding ({model or 'default'})"))
        for spec in layer_specs(args, list(es.layers)):
            rec, table = _score_layer(args, plan, occ, es, spec)
            records.append(rec)
            assignments.append(table)
            shown = {key: (round(v, 3) if isinstance(v, float) else v) for key, v in rec.items()
                     if key in ("model", "layer", "k", "purity", "ari", "centroid_accuracy", "logreg_accuracy")}
            print(f"{shown}", file=sys.stderr, flush=True)
    _write_results(args, plan, records, assignments)
    print(f"wrote {plan.out / 'metrics.json'} ({len(records)} records), assignments.csv and figures in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def _score_layer(args, plan: _Plan, occ: pd.DataFrame, es, spec) -> tuple[dict, pd.DataFrame]:
    """Cluster, score and draw one model x layer: its metrics record and its rows of assignments.csv."""
    available, mname, gold = list(es.layers), es.model, plan.gold
    label = senses.layer_label(available, spec)
    X = senses.prepared_layer(es.vectors, available, spec, plan.prep)
    cl = senses.cluster_vectors(X, method=args.method, k=plan.k, k_range=plan.k_range, seed=args.seed,
                                threshold=args.threshold, preference=args.preference,
                                min_silhouette=plan.min_silhouette, min_stability=args.min_stability)
    if cl.notice:
        print(f"note ({mname}, layer {label}): {cl.notice}", file=sys.stderr)
    cnames = senses.cluster_names(cl.labels, plan.names)
    params = {**plan.base_params, "model": mname, "model_path": es.manifest.get("model_path"),
              "fingerprint": es.manifest.get("fingerprint"), "layer": label, "k_found": cl.k, "embedding_key": es.key}
    draw = _Drawer(plan, params, f"{_slug(mname)}_layer{label}", f"{mname}, layer {label}")
    sc, pr, note = _gold_scores(args, plan, X, cl, cnames, draw)
    if note:
        print(f"note ({mname}, layer {label}): {note}", file=sys.stderr)
    if cl.silhouette:
        draw.silhouette(cl)
    xy = np.full((len(occ), 2), np.nan, dtype=np.float32)
    if args.projection != "none":
        pj = senses.project(X, method=args.projection, seed=args.seed)
        if pj.notice:
            print(f"note ({mname}, layer {label}): {pj.notice}", file=sys.stderr)
        xy = pj.coords
        draw.projection(_view_frame(occ, xy, cnames), pj, args)
    found = cl.to_dict()
    rec = {"model": mname, "layer": _layer_value(available, spec), "k": cl.k, **senses.score_record(sc, pr),
           "n_scored": sc.n if sc is not None else 0, "mode": pr.mode if pr is not None else None,
           "method": cl.method, "k_requested": args.k, "clustering": found["params"],
           "silhouette": found["silhouette"], "classifier_note": note}
    return rec, _assignments(occ, plan, mname, label, cl.labels, cnames, xy)


def _gold_scores(args, plan: _Plan, X, cl, cnames, draw):
    """Cluster scores (one gold sense included), classifier scores and the contingency figure; (scores, probe,
    note). The classifiers need two gold senses with two occurrences each: without them they are skipped and the
    note says why."""
    gold = plan.gold
    if gold is None:
        return None, None, None
    mask = plan.score_mask
    sc = senses.score_clusters(gold[mask], cl.labels[mask])
    name_map = {int(c): n for c, n in zip(cl.labels, cnames)}
    draw.contingency(senses.contingency_table(gold[mask], cl.labels[mask], cluster_names=name_map))
    try:
        return sc, senses.predict_senses(X, gold, split=plan.split, seed=args.seed), None
    except TooFewPointsError as exc:
        return sc, None, f"classifiers skipped: {exc}"


def _assignments(occ, plan: _Plan, mname, label, labels, cnames, xy) -> pd.DataFrame:
    """The rows of assignments.csv for one model x layer: cluster, name and 2-D position of every occurrence."""
    a = pd.DataFrame({"occurrence_id": occ["occurrence_id"].to_numpy(), "model": mname, "layer": label,
                      "cluster": labels, "cluster_name": cnames, "x": xy[:, 0], "y": xy[:, 1]})
    for col in ("doc_id", "target", "form", "start", "end", "year", "period", "label"):
        if col in occ.columns:
            a[col] = occ[col].to_numpy()
    if plan.split is not None:
        a["split"] = plan.split
    return a


class _Drawer:
    """The figures of one model x layer, written with its parameters beside them."""

    def __init__(self, plan: _Plan, params: dict, stem: str, title: str):
        from analysis.plots import senses as plots  # plotly is imported only when a command draws

        self.plots, self.plan, self.params, self.stem, self.title = plots, plan, params, stem, title

    def contingency(self, table: pd.DataFrame) -> None:
        fig = self.plots.plot_contingency(table, title=f"{self.title}: clusters × gold senses")
        _figure(fig, self.plan.out, f"contingency_{self.stem}", self.params, self.plan.formats)

    def silhouette(self, cl) -> None:
        fig = self.plots.plot_silhouette(cl.silhouette, chosen=cl.k, title=self.title)
        _figure(fig, self.plan.out, f"silhouette_{self.stem}", self.params, self.plan.formats)

    def projection(self, view: pd.DataFrame, pj, args) -> None:
        fig = self.plots.plot_projection(view, color="cluster_name",
                                         title=f"{args.target or ''} — {self.title}, {args.projection.upper()}",
                                         method=pj.method, explained=pj.params.get("explained_variance_ratio"))
        _figure(fig, self.plan.out, f"projection_{self.stem}", {**self.params, **pj.params}, self.plan.formats)


def _write_results(args, plan: _Plan, records: list[dict], assignments: list[pd.DataFrame]) -> None:
    """metrics.json (with its manifest), layers.csv, assignments.csv and, for several records, the comparisons."""
    from analysis import export
    from analysis.plots import senses as plots

    out, base = plan.out, plan.base_params
    (out / "metrics.json").write_text(json.dumps(json_clean(records), indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "metrics.manifest.json").write_text(
        export.manifest_json({**base, "models": [r["model"] for r in records]}, kind="table:metrics"),
        encoding="utf-8")
    table = pd.DataFrame(records).drop(columns=["silhouette", "clustering"])
    export.save_table(table, out, "layers", base)
    export.save_table(pd.concat(assignments, ignore_index=True), out, "assignments", base)
    if plan.gold is not None and len(records) > 1:
        comp = table.assign(layer=table["layer"].astype(str))
        for score in ("ari", "purity", "centroid_accuracy", "logreg_accuracy"):
            fig = plots.plot_layer_comparison(comp, score=score, title=f"{args.target or ''}: {score} by layer")
            _figure(fig, out, f"comparison_{score}", base, plan.formats)


def _slug(name: str) -> str:
    """A model name as a safe file-name part (its last path component)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name).rstrip("/").split("/")[-1]).strip("_") or "model"


def _view_frame(occ: pd.DataFrame, xy: np.ndarray, cnames) -> pd.DataFrame:
    """The rows the projection figure draws: position, cluster name, KWIC hover line, year and label."""
    from analysis.corpus import kwic_html

    lines = [kwic_html(t, int(s), int(e), 60) for t, s, e in zip(occ["text"], occ["start"], occ["end"])]
    view = pd.DataFrame({"occurrence_id": occ["occurrence_id"].to_numpy(), "x": xy[:, 0], "y": xy[:, 1],
                         "cluster_name": cnames, "kwic": lines})
    for col in ("year", "label"):
        if col in occ.columns:
            view[col] = occ[col].to_numpy()
    return view


def _figure(fig, out: Path, stem: str, params: dict, formats: dict) -> None:
    """Write one figure with its manifest (``formats``: the save_figure keywords of :func:`figure_options`, formats
    and preset); say so when a format could not be written."""
    from analysis import export

    res = export.save_figure(fig, out, stem, params, **formats)
    if res.get("skipped"):
        print(f"note: {stem}: {res['skipped']}", file=sys.stderr)


COMMANDS = {"senses": ("Sense clusters of a target: projection, clusters, scores against gold senses, per model x "
                       "layer.", _add, _run)}

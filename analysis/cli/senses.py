"""``python -m analysis senses``: sense clusters of one target, scored per model x layer.

``senses CORPUS --target T [--model M ...] [--layer L|--layers A-B|--all-layers] [--method kmeans|agglomerative|hdbscan]
[--k K|auto|gold] [--label-column C] [--split-column C] [--seed S] [--projection umap|pca|tsne|none] --out DIR`` writes

- ``metrics.json``: a list of records, one per model x layer, with keys model, layer, k, purity, inverse_purity, ari,
  nmi, v_measure, centroid_accuracy, logreg_accuracy, macro_f1 (= logistic regression's macro-F1), plus purity_f,
  centroid_macro_f1, logreg_macro_f1, n_scored, mode ("split" or "cv"), method, silhouette; scores are null when the
  corpus has no gold labels;
- ``assignments.csv``: one row per occurrence x model x layer with its cluster, cluster name and 2-D coordinates;
- ``layers.csv`` (the same records as a table) and, per model x layer, the projection, contingency heatmap and (k auto)
  silhouette figures, plus one line chart per score over layers when several layers/models were run. Figures are
  written as HTML always and as PNG/SVG when kaleido finds a Chrome/Chromium (the command says when it does not).
  Every file has a ``.manifest.json`` beside it with all parameters and versions.

Layers: ``--layer L`` is one hidden-state index (negative counts from the top) or ``A-B`` for the mean of layers A..B
(layer mixing); ``--layers A-B`` scores every layer from A to B separately; ``--all-layers`` every layer. With no layer
option, the documented default layer :data:`analysis.senses.DEFAULT_LAYER` is used (one record per model).

With ``--split-column`` (values ``train``/``test``) sense centroids and classifiers are fitted on train and scored on
test, and clusters (fitted on all occurrences, labels unused) are scored on test, as in the CoarseWSD-20 1-NN
evaluation; without it, stratified 5-fold cross-validation.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cli.embed import Progress, add_corpus_arguments, load_occurrences
from analysis.errors import ConfigError, CorpusError

SCORE_KEYS = ["purity", "inverse_purity", "ari", "nmi", "v_measure", "centroid_accuracy", "logreg_accuracy", "macro_f1"]


def _add(p: argparse.ArgumentParser) -> None:
    from analysis import senses

    add_corpus_arguments(p)
    p.add_argument("--model", action="append", help="hub id or local folder; repeat for several models "
                   "(default: the packaged all-MiniLM-L6-v2; 'default' names it among others)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--layer", help="one layer (6, -1) or the mean of a range (4-6)")
    g.add_argument("--layers", help="score every layer of a range separately (e.g. 1-6)")
    g.add_argument("--all-layers", action="store_true", help="score every layer separately")
    p.add_argument("--method", choices=list(senses.CLUSTER_METHODS), default=senses.DEFAULT_METHOD)
    p.add_argument("--k", default="auto", help="number of clusters, 'auto' (silhouette over --k-range) or 'gold' "
                   "(the number of gold senses); HDBSCAN chooses its own")
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
    p.add_argument("--formats", default="html,png,svg", help="figure formats (default %(default)s)")
    p.add_argument("--out", required=True, help="output folder")


def _parse_k(text: str):
    t = str(text).strip().lower()
    if t in {"auto", "gold"}:
        return t
    try:
        return int(t)
    except ValueError:
        raise ConfigError(f"cannot read --k {text!r}: give a number, 'auto' or 'gold'") from None


def _parse_range(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(-?\d+)\s*-\s*(-?\d+)\s*", str(text))
    if not m:
        raise ConfigError(f"cannot read the range {text!r}: use e.g. 2-10")
    return int(m.group(1)), int(m.group(2))


def _parse_names(text: str | None) -> dict[int, str]:
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
    """The layer specs to score, from --layer / --layers / --all-layers (see the module docstring)."""
    from analysis import senses

    if args.all_layers:
        return list(available)
    if args.layers:
        a, b = _parse_range(args.layers)
        top = max(available)
        a, b = (top + 1 + a if a < 0 else a), (top + 1 + b if b < 0 else b)
        wanted = [l for l in available if min(a, b) <= l <= max(a, b)]
        if not wanted:
            raise ConfigError(f"no layer between {a} and {b}; the model has layers {available[0]}..{available[-1]}")
        return wanted
    if args.layer is not None:
        return [args.layer]
    return [senses.DEFAULT_LAYER]


def _layer_value(label: str):
    return int(label) if re.fullmatch(r"-?\d+", label) else label


def _run(args) -> int:
    from analysis import export, senses
    from analysis.corpus import kwic_html
    from analysis.plots import senses as plots
    from analysis.store import get_or_compute

    from analysis.cli._common import prepare_out_dir

    out = prepare_out_dir(args.out, create=False)  # created once the input has been checked
    k = _parse_k(args.k)
    k_range = _parse_range(args.k_range)
    names = _parse_names(args.names)
    prep = senses.Preprocessing(normalize=True, remove_mean=args.remove_mean,
                                n_directions=args.remove_directions)
    formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    if bad := [f for f in formats if f not in {"html", "png", "svg"}]:
        raise ConfigError(f"unknown figure format {bad[0]!r}: use html, png, svg")
    ok, reason = export.static_export_available()
    if not ok and any(f in formats for f in ("png", "svg")):
        print(f"note: {reason}; writing HTML figures only.", file=sys.stderr)
        formats = tuple(f for f in formats if f == "html")

    occ = load_occurrences(args)
    gold = None
    if "label" in occ.columns and occ["label"].notna().any():
        gold = occ["label"].astype("object").where(occ["label"].notna(), None).to_numpy()
    elif args.label_column:
        raise CorpusError(f"the label column {args.label_column!r} holds no labels")
    else:
        print("note: no gold label column (use --label-column); clusters are computed but not scored.",
              file=sys.stderr)
    split = None
    if args.split_column:
        if args.split_column not in occ.columns:
            raise CorpusError(f"the corpus has no column {args.split_column!r} (columns: "
                              f"{', '.join(map(str, occ.columns[:20]))})")
        split = occ[args.split_column].astype(str).str.strip().str.lower().to_numpy()
        if not {"train", "test"} <= set(split):
            raise CorpusError(f"the split column {args.split_column!r} must hold the values train and test")
    score_mask = np.ones(len(occ), dtype=bool) if split is None else (split == "test")
    if k == "gold":
        if gold is None:
            raise ConfigError("--k gold needs gold labels (--label-column)")
        k = int(pd.Series(gold).dropna().nunique())

    prepare_out_dir(out)
    models = args.model or [None]
    records, assignments = [], []
    base_params = {"corpus": str(args.corpus), "target": args.target, "method": args.method, "k": args.k,
                   "k_range": list(k_range), "seed": args.seed, "preprocessing": prep.describe(),
                   "projection": args.projection, "split_column": args.split_column, "label_column": args.label_column,
                   "cluster_names": names}
    t0 = time.perf_counter()
    for model in models:
        model = None if model in (None, "", "default") else model
        es = get_or_compute(occ, model, layers=None, progress=Progress(f"embedding ({model or 'default'})"))
        mname = es.model
        available = list(es.layers)
        for spec in layer_specs(args, available):
            label = senses.layer_label(available, spec)
            X = senses.preprocess(senses.layer_vectors(es.vectors, available, spec), prep)
            cl = senses.cluster_vectors(X, method=args.method, k=k, k_range=k_range, random_state=args.seed)
            if cl.notice:
                print(f"note ({mname}, layer {label}): {cl.notice}", file=sys.stderr)
            rec = {"model": mname, "layer": _layer_value(label), "k": cl.k, **{key: None for key in SCORE_KEYS},
                   "purity_f": None, "centroid_macro_f1": None, "logreg_macro_f1": None, "n_scored": 0,
                   "mode": None, "method": args.method, "silhouette": cl.silhouette or None}
            cnames = senses.cluster_names(cl.labels, names)
            name_map = {int(c): n for c, n in zip(cl.labels, cnames)}
            params = {**base_params, "model": mname, "model_path": es.manifest.get("model_path"),
                      "fingerprint": es.manifest.get("fingerprint"), "layer": label, "k_found": cl.k,
                      "embedding_key": es.key}
            stem = f"{_slug(mname)}_layer{label}"
            if gold is not None:
                sc = senses.cluster_scores(gold[score_mask], cl.labels[score_mask])
                pr = senses.predict_senses(X, gold, split=split, random_state=args.seed)
                rec.update(purity=sc.purity, inverse_purity=sc.inverse_purity, ari=sc.ari, nmi=sc.nmi,
                           v_measure=sc.v_measure, centroid_accuracy=pr.centroid_accuracy,
                           logreg_accuracy=pr.logreg_accuracy, macro_f1=pr.logreg_macro_f1, purity_f=sc.purity_f,
                           centroid_macro_f1=pr.centroid_macro_f1, logreg_macro_f1=pr.logreg_macro_f1, n_scored=sc.n,
                           mode=pr.mode)
                table = senses.contingency_table(gold[score_mask], cl.labels[score_mask], cluster_names=name_map)
                _figure(export, plots.plot_contingency(table, title=f"{mname}, layer {label}: clusters × gold senses"),
                        out, f"contingency_{stem}", params, formats)
            if cl.silhouette:
                _figure(export, plots.plot_silhouette(cl.silhouette, chosen=cl.k, title=f"{mname}, layer {label}"),
                        out, f"silhouette_{stem}", params, formats)
            xy = np.full((len(occ), 2), np.nan, dtype=np.float32)
            if args.projection != "none":
                pj = senses.project(X, method=args.projection, random_state=args.seed)
                if pj.notice:
                    print(f"note ({mname}, layer {label}): {pj.notice}", file=sys.stderr)
                xy = pj.coords
                view = _view_frame(occ, xy, cnames, kwic_html)
                fig = plots.plot_projection(view, color="cluster_name",
                                            title=f"{args.target or ''} — {mname}, layer {label}, "
                                                  f"{args.projection.upper()}")
                _figure(export, fig, out, f"projection_{stem}", {**params, **pj.params}, formats)
            a = pd.DataFrame({"occurrence_id": occ["occurrence_id"].to_numpy(), "model": mname, "layer": label,
                              "cluster": cl.labels, "cluster_name": cnames, "x": xy[:, 0], "y": xy[:, 1]})
            for col in ("doc_id", "target", "form", "start", "end", "year", "period", "label"):
                if col in occ.columns:
                    a[col] = occ[col].to_numpy()
            if split is not None:
                a["split"] = split
            assignments.append(a)
            records.append(rec)
            shown = {key: (round(v, 3) if isinstance(v, float) else v) for key, v in rec.items()
                     if key in ("model", "layer", "k", "purity", "ari", "centroid_accuracy", "logreg_accuracy")}
            print(f"{shown}", file=sys.stderr, flush=True)

    from analysis.cli.shift import write_json

    write_json(out / "metrics.json", records)
    (out / "metrics.manifest.json").write_text(export.manifest_json({**base_params, "models": [r["model"] for r in
                                                                                            records]},
                                                                    kind="table:metrics"), encoding="utf-8")
    table = pd.DataFrame(records).drop(columns=["silhouette"])
    export.save_table(table, out, "layers", base_params)
    export.save_table(pd.concat(assignments, ignore_index=True), out, "assignments", base_params)
    if gold is not None and len(records) > 1:
        comp = table.assign(layer=table["layer"].astype(str))
        for score in ("ari", "purity", "centroid_accuracy", "logreg_accuracy"):
            _figure(export, plots.plot_layer_comparison(comp, score=score, title=f"{args.target or ''}: {score} by layer"),
                    out, f"comparison_{score}", base_params, formats)
    print(f"wrote {out / 'metrics.json'} ({len(records)} records), assignments.csv and figures in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name).rstrip("/").split("/")[-1]).strip("_") or "model"


def _view_frame(occ: pd.DataFrame, xy: np.ndarray, cnames, kwic_html) -> pd.DataFrame:
    lines = [kwic_html(t, int(s), int(e), 60) for t, s, e in zip(occ["text"], occ["start"], occ["end"])]
    view = pd.DataFrame({"occurrence_id": occ["occurrence_id"].to_numpy(), "x": xy[:, 0], "y": xy[:, 1],
                         "cluster_name": cnames, "kwic": lines})
    for col in ("year", "label"):
        if col in occ.columns:
            view[col] = occ[col].to_numpy()
    return view


def _figure(export, fig, out: Path, stem: str, params: dict, formats) -> None:
    res = export.save_figure(fig, out, stem, params, formats=formats)
    if res.get("skipped"):
        print(f"note: {stem}: {res['skipped']}", file=sys.stderr)


COMMANDS = {"senses": ("Sense clusters of a target: projection, clusters, scores against gold senses, per model x "
                       "layer.", _add, _run)}

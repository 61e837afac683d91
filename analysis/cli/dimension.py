"""``python -m analysis dimension``: local intrinsic dimension of a token sample across checkpoints and layers.

``dimension --checkpoints DIR | --model M [--model M2 ...] --corpus CORPUS [--layers ...] [--sample N] [--neighbors L]
[--estimator twonn|mle|lpca] [--seed S] --out DIR`` writes

* ``dimension.json`` – a list of records, one per checkpoint x layer, with keys checkpoint, step, layer, mean, median,
  std, global, n_tokens, n_duplicates, loss (held-out masked-LM loss, null when unknown), and also train_loss,
  eval_loss, n_unique, n_zero_distances, n_undefined, estimator, n_neighbors, order, path;
* ``tokens.csv`` – the token sample (text index, char span, token, context) and ``token_lid.csv`` (LID per checkpoint,
  layer and token);
* ``extremes.csv`` – the tokens with the highest and lowest LID at the last checkpoint's deepest layer;
* figures ``lid_trajectory``, ``lid_violins``, ``lid_heatmap`` (HTML, and PNG/SVG where Chromium is available),
  each with a manifest, and ``manifest.json`` with all parameters.
"""

from __future__ import annotations

import argparse
import json
import sys

from analysis.cli._common import add_preset_arguments, figure_options


#: The default of --formats.
FORMATS = "html,png,svg"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from analysis.dimension import DEFAULT_NEIGHBORS, DEFAULT_SAMPLE, ESTIMATORS

    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoints", help="a run folder holding checkpoint-<step>/ model folders (e.g. made by "
                                           "`python -m analysis finetune`)")
    src.add_argument("--model", action="extend", nargs="+", help="models (hub ids or folders; 'default' = "
                                                                  "all-MiniLM-L6-v2): --model A B or --model A --model B")
    p.add_argument("--corpus", required=True, help="evaluation texts: CSV/TSV/JSONL/Parquet/TXT, a DWUG uses.csv or a corpus index")
    p.add_argument("--text-column", help="column holding the text (default: detected)")
    p.add_argument("--layers", help="e.g. all (default), 6, 0-6, 1,4,-1 (0 = embeddings, -1 = last)")
    p.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help=f"tokens to sample (default {DEFAULT_SAMPLE})")
    p.add_argument("--neighbors", type=int, default=DEFAULT_NEIGHBORS,
                   help=f"L, neighbours per local estimate (default {DEFAULT_NEIGHBORS})")
    p.add_argument("--estimator", choices=list(ESTIMATORS), default="twonn")
    p.add_argument("--seed", type=int, default=0, help="seed of the token sample")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--formats", default=FORMATS, help="figure formats: html,png,svg,pdf (PNG/SVG/PDF need Chromium; "
                                                      "default %(default)s, svg,pdf,png with --preset paper)")
    add_preset_arguments(p)
    p.add_argument("--out", required=True, help="output folder")


def load_texts(corpus: str, text_column: str | None = None) -> list[str]:
    """Distinct non-empty texts of a corpus file, in file order."""
    from analysis.corpus import ColumnSpec
    from analysis.corpus_index.select import load_documents as load_corpus

    docs = load_corpus(corpus, ColumnSpec(text=text_column))
    return list(dict.fromkeys(t for t in docs["text"].astype(str) if t.strip()))




def _shown(path) -> str:
    """A checkpoint's path as output files show it: 'default', a hub id, or a display path (never absolute)."""
    from analysis.encoder import display_model_path

    return path if path in (None, "default") else display_model_path(str(path))


class _Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.last = ""

    def __call__(self, frac: float, message: str) -> None:
        if message != self.last:
            self.last = message
            self.stream.write(f"[{frac:5.0%}] {message}\n")
            self.stream.flush()


def run(args) -> int:
    from analysis.cli._common import positive_int, prepare_out_dir
    from analysis.dimension import checkpoints_from_models, dimension_across_checkpoints, find_checkpoints
    from analysis.export import manifest_json, save_figure, save_table
    from analysis.plots.dimension import plot_lid_heatmap, plot_lid_trajectory, plot_lid_violins

    out = prepare_out_dir(args.out, create=False)  # fails before the long run; created when writing
    positive_int(args.batch_size, "--batch-size")
    options = figure_options(args, FORMATS)
    checkpoints = find_checkpoints(args.checkpoints) if args.checkpoints else checkpoints_from_models(args.model)
    texts = load_texts(args.corpus, args.text_column)
    res = dimension_across_checkpoints(checkpoints, texts, layers=args.layers, n_sample=args.sample,
                                       n_neighbors=args.neighbors, estimator=args.estimator, seed=args.seed,
                                       batch_size=args.batch_size, progress=_Progress())
    prepare_out_dir(out)
    params = {**res.params, "corpus": str(args.corpus), "source": "checkpoints folder" if args.checkpoints else "models",
              "checkpoints": [_shown(c) for c in res.params.get("checkpoints", [])]}
    records = [{**r, "path": _shown(r["path"])} if "path" in r else r for r in res.to_records()]
    (out / "dimension.json").write_text(json.dumps(records, indent=1, ensure_ascii=False), encoding="utf-8")
    tokens = res.sample.tokens.assign(context=res.sample.contexts())
    save_table(tokens, out, "tokens", params)
    save_table(res.token_lid, out, "token_lid", params)
    last = res.records.sort_values("order").iloc[-1]
    ext = res.extremes(str(last["checkpoint"]), int(res.records["layer"].max()))
    save_table(ext, out, "extremes", {**params, "checkpoint": last["checkpoint"], "layer": int(res.records["layer"].max())})
    skipped = ""
    for stem, fig in (("lid_trajectory", plot_lid_trajectory(res.records)), ("lid_violins", plot_lid_violins(res.token_lid)),
                      ("lid_heatmap", plot_lid_heatmap(res.records))):
        skipped = save_figure(fig, out, stem, params, **options)["skipped"] or skipped
    if skipped:
        print(f"note: {skipped}", file=sys.stderr)
    (out / "manifest.json").write_text(manifest_json(params, kind="dimension"), encoding="utf-8")
    deepest = int(res.records["layer"].max())
    for _, r in res.records[res.records["layer"] == deepest].sort_values("order").iterrows():
        loss = "" if r["loss"] is None or r["loss"] != r["loss"] else f"  held-out loss {r['loss']:.4f}"
        print(f"{r['checkpoint']:<24} layer {deepest}: mean LID {r['mean']:.2f} ± {r['std']:.2f} (median "
              f"{r['median']:.2f}, global {r['global'] if r['global'] is None else round(r['global'], 2)}, "
              f"{r['n_tokens']} tokens, {r['n_duplicates']} duplicates){loss}")
    print(f"wrote {out / 'dimension.json'}")
    return 0


COMMANDS = {"dimension": ("local intrinsic dimension of a token sample across checkpoints (or models) and layers",
                          add_arguments, run)}

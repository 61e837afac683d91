"""``python -m analysis bias``: WEAT / SEAT / contextual association tests across levels, models and layers.

``bias [--test NAME ...|--test-file F] [--level word|sentence|contextual] [--model M ...] [--layer L|--all-layers]
[--permutations N] [--seed S] --out DIR`` writes ``bias.json`` (a list of records, one per test x level x model x
layer, with keys test, level, model, layer, effect_size, p_value, ci_low, ci_high, n_permutations, missing, then
details such as exact, p_holm and set sizes), ``results.csv``, ``items.csv`` (s(w, A, B) of every target item),
figures (effect-size bars per level; a test x layer heatmap with several layers; per-word charts with
``--word-figures``) and a manifest beside each. Bundled tests are named by their file stems (``weat6``,
``sent-weat6``, ``weat+i1``, ...); ``--test all`` (the default) runs the bundled battery of each level.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from analysis.cli._common import add_preset_arguments, figure_options
from analysis.errors import ConfigError

#: The default of --formats.
FORMATS = "html"


def _add_bias(p: argparse.ArgumentParser) -> None:
    from analysis.bias import DEFAULT_BOOTSTRAP, DEFAULT_PERMUTATIONS

    p.add_argument("--test", nargs="+", action="extend", default=[], metavar="NAME",
                   help="bundled test(s) by file stem (weat6, sent-weat6, weat+i1, ...), or 'all' for the bundled "
                        "battery of each level (the default when no --test-file is given)")
    p.add_argument("--test-file", action="append", default=[], metavar="F",
                   help="JSON file with one test or a list (targ1/targ2/attr1/attr2 or X/Y/A/B, optional templates)")
    p.add_argument("--list", action="store_true", help="list the bundled tests per level and exit")
    p.add_argument("--level", action="append", default=[], choices=["word", "sentence", "contextual", "all"],
                   help="word (alone), sentence (SEAT) or contextual (the word inside each sentence); repeatable; "
                        "default word")
    p.add_argument("--model", action="append", default=[], metavar="M",
                   help="hub id or local folder (default: the packaged all-MiniLM-L6-v2); repeatable")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--layer", help="hidden-state index (0 = embeddings, -1 = last; also 1,4,-1 or 0-6); "
                                       "default the last layer")
    group.add_argument("--all-layers", action="store_true", help="every layer, embeddings included")
    p.add_argument("--permutations", type=int, default=DEFAULT_PERMUTATIONS,
                   help="exact test up to this many partitions, else this many random permutations (default %(default)s)")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, help="bootstrap draws for the interval of d")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--unit", choices=["item", "word"], default="item",
                   help="what the permutation re-partitions: items (occurrences, as Tan & Celis) or whole words")
    p.add_argument("--word-pooling", choices=["mean", "first"], default="mean")
    p.add_argument("--sentence-pooling", choices=["cls", "mean"], default="cls")
    p.add_argument("--context-pooling", choices=["first", "mean"], default="first")
    p.add_argument("--corpus", help="use my corpus: the contextual level takes each word's occurrences in this file (or folder, or corpus index)")
    p.add_argument("--text-column", help="text column of --corpus")
    p.add_argument("--max-per-word", type=int, default=20, help="occurrences kept per word with --corpus")
    p.add_argument("--drop-missing", action="store_true",
                   help="with --corpus, leave out (and list) words that do not occur instead of stopping")
    p.add_argument("--word-figures", action="store_true", help="also write a per-word s(w, A, B) chart per result "
                                                               "at the last layer")
    p.add_argument("--formats", default=FORMATS, help="figure formats: html,png,svg,pdf (PNG/SVG/PDF need Chromium; "
                                                      "default %(default)s, svg,pdf,png with --preset paper)")
    add_preset_arguments(p)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    p.add_argument("--out", help="output folder (required unless --list)")


def _levels(args) -> list[str]:
    from analysis.bias import LEVELS

    chosen = args.level or ["word"]
    return list(LEVELS) if "all" in chosen else list(dict.fromkeys(chosen))


def _layers(args):
    """None (the last layer), "all", or the ``--layer`` spec as typed, read here so that a typo stops the run before
    any model is loaded (:func:`analysis.bias.model_layers` resolves it per model)."""
    from analysis import layers as layer_specs

    if args.all_layers:
        return "all"
    if args.layer is None:
        return None
    return "all" if layer_specs.parse(args.layer) is None else args.layer


def _queries(args, levels):
    """(queries, skip_unavailable): named bundled tests and files; 'all' adds each level's bundled battery."""
    from analysis.bias.sources import bundled_names, load_bundled, read_test_file

    names = list(args.test) or ([] if args.test_file else ["all"])
    wanted: list[str] = []
    battery = "all" in names
    for n in names:
        if n == "all":
            for level in levels:
                wanted += bundled_names(level)
        else:
            wanted.append(n)
    queries = [load_bundled(n) for n in dict.fromkeys(wanted)]
    for f in args.test_file:
        queries += read_test_file(f)
    if not queries:
        raise ConfigError("no test to run: name bundled tests with --test or give --test-file")
    return queries, battery


def _apply_corpus(queries, args):
    if not args.corpus:
        return queries
    from analysis.bias.sources import corpus_query
    from analysis.corpus import ColumnSpec
    from analysis.corpus_index.select import load_documents as load_corpus

    docs = load_corpus(args.corpus, ColumnSpec(text=args.text_column))
    texts = docs["text"].astype(str).tolist()
    return [corpus_query(q, texts, max_per_word=args.max_per_word, drop_missing=args.drop_missing, seed=args.seed)
            for q in queries]


def _print_table(frame, stream=None) -> None:
    from analysis.bias.results import format_table

    cols = ["test", "level", "model", "layer", "effect_size", "ci_low", "ci_high", "p_value", "p_holm",
            "n_permutations", "n_missing"]
    (stream or sys.stdout).write(format_table(frame[cols]).to_string(index=False) + "\n")


def _list_tests() -> int:
    from analysis.bias import LEVELS
    from analysis.bias.sources import bundled_names

    for level in LEVELS:
        names = bundled_names(level)
        print(f"{level} ({len(names)}): {' '.join(names)}")
    return 0


def _options(args, levels, battery: bool):
    """The run options the arguments ask for (checked before anything is loaded)."""
    from analysis.bias import RunOptions
    from analysis.cli._common import positive_int
    from analysis.encoder import pick_device

    positive_int(args.batch_size, "--batch-size")
    if args.device:
        pick_device(args.device)
    if args.permutations < 1 or args.bootstrap < 0:
        raise ConfigError("--permutations must be at least 1 and --bootstrap at least 0")
    return RunOptions(layers=_layers(args), unit=args.unit, permutations=args.permutations,
                      n_bootstrap=args.bootstrap, seed=args.seed, skip_unavailable=battery or len(levels) > 1,
                      pooling={"word": args.word_pooling, "sentence": args.sentence_pooling,
                               "contextual": args.context_pooling},
                      batch_size=args.batch_size)


def _progress_line():
    """A progress callback that rewrites one line on stderr at most twice a second."""
    last = [0.0]

    def progress(frac: float, message: str) -> None:
        now = time.perf_counter()
        if now - last[0] > 0.5 or frac >= 1:
            last[0] = now
            sys.stderr.write(f"\r[{frac:5.1%}] {message[:90]:<90}")
            if frac >= 1:
                sys.stderr.write("\n")
            sys.stderr.flush()

    return progress


def _figures(frame, items, levels, word_figures: bool) -> dict:
    """Effect-size bars per level (last layer run), a test x layer heatmap with several layers, per-word charts."""
    from analysis.plots import bias as P

    figs = {}
    for level in levels:
        sub = frame[frame["level"] == level]
        if sub.empty:
            continue
        top = sub[sub["layer"] == sub.groupby("model")["layer"].transform("max")]
        figs[f"effect_sizes_{level}"] = P.plot_effect_sizes(top, title=f"Effect sizes, {level} level, last layer run")
        if sub["layer"].nunique() > 1:
            figs[f"layers_{level}"] = P.plot_layer_heatmap(sub, title=f"Effect size across layers, {level} level")
    if word_figures:
        for (test, level, model), grp in items.groupby(["test", "level", "model"], sort=False):
            layer = grp["layer"].max()
            slug = f"words_{test}_{level}_{Path(str(model)).name}_L{layer}"
            figs[slug] = P.plot_word_associations(grp[grp["layer"] == layer], title=f"{test} ({level}, {model}, "
                                                  f"layer {layer}): s(w, A, B) per word")
    return figs


def _write(out: Path, results, params: dict, args, levels, options: dict) -> None:
    """bias.json, its manifest, results.csv, items.csv and the figures."""
    from analysis import bias as B
    from analysis.cli.shift import _save_figures
    from analysis.cli._common import prepare_out_dir
    from analysis.export import save_table

    prepare_out_dir(out)
    records = [r.to_dict() for r in results]
    (out / "bias.json").write_text(json.dumps(records, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "bias.manifest.json").write_text(json.dumps({"kind": "bias", "parameters": params}, indent=1,
                                                       ensure_ascii=False, default=str), encoding="utf-8")
    frame, items = B.results_frame(results), B.items_frame(results)
    save_table(frame, out, "results", params)
    save_table(items, out, "items", params)
    _save_figures(_figures(frame, items, levels, args.word_figures), out, params, options)
    _print_table(frame)


def _run_bias(args) -> int:
    from analysis import bias as B
    from analysis.cli._common import prepare_out_dir
    from analysis.encoder import load_model
    if args.list:
        return _list_tests()
    if not args.out:
        raise ConfigError("say where to write the results with --out DIR")
    out = prepare_out_dir(args.out, create=False)  # created when there are results to write
    fig_options = figure_options(args, FORMATS)  # a bad format or width stops here, before any model loads
    levels = _levels(args)
    queries, battery = _queries(args, levels)
    options = _options(args, levels, battery)
    queries = _apply_corpus(queries, args)
    t0 = time.perf_counter()
    models = [load_model(m or None, device=args.device) for m in (args.model or [None])]
    results, skipped = B.run_bias(queries, models, options, levels=levels, progress=_progress_line())
    seconds = time.perf_counter() - t0
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    if not results:
        raise ConfigError("none of the chosen tests has inputs for the chosen level(s)")
    params = {**B.run_parameters(queries, models, levels, options, corpus=args.corpus, skipped=skipped),
              "seconds": round(seconds, 2), "notes": B.NOTES}
    _write(out, results, params, args, levels, fig_options)
    print(f"{len(results)} result(s) in {seconds:.1f} s -> {out / 'bias.json'}", file=sys.stderr)
    return 0


COMMANDS = {"bias": ("WEAT / SEAT / contextual word association tests across levels, models and layers",
                     _add_bias, _run_bias)}

"""``python -m analysis occurrences CORPUS --target T [--sample N] [--per-period] [--seed S] [--context-chars N]
--out DIR`` — find (and sample) a term's occurrences; writes ``occurrences.parquet`` and ``counts.json``.

CORPUS is a corpus index (``python -m analysis index``) or any corpus file or folder ``embed`` reads. ``counts.json``
holds ``{"total", "documents", "per_year", "per_period", "sampled"}``: counts over the whole corpus, however many
rows were sampled.
"""

from __future__ import annotations

import argparse
import json
import os

from analysis.cli._common import positive_int, prepare_out_dir
from analysis.errors import ConfigError


def _add(p: argparse.ArgumentParser) -> None:
    from analysis.cli.embed import add_corpus_arguments

    add_corpus_arguments(p)
    p.add_argument("--sample", type=int, help="a seeded uniform sample of N hits (default: all)")
    p.add_argument("--per-period", action="store_true", help="with --sample: up to N hits from each period")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--context-chars", type=int, help="cut each text to N characters either side of the hit")
    p.add_argument("--out", required=True, help="folder for occurrences.parquet and counts.json")


def _check(args) -> None:
    if not args.target:
        raise ConfigError("give --target (surface forms such as plane|planes, or a regex with --regex)")
    if args.sample is not None:
        positive_int(args.sample, "--sample")
    elif args.per_period:
        raise ConfigError("--per-period needs --sample N (the cap per period)")
    if args.context_chars is not None and (isinstance(args.context_chars, bool) or args.context_chars < 0):
        raise ConfigError(f"--context-chars must be 0 or more, not {args.context_chars}")


def column_spec(args):
    """The corpus column options as an analysis.corpus.ColumnSpec."""
    from analysis.corpus import ColumnSpec

    return ColumnSpec(text=args.text_column, id=args.id_column, year=getattr(args, "year_column", None),
                      period=getattr(args, "period_column", None), label=getattr(args, "label_column", None))


def selection(args):
    """The shared corpus options (analysis/cli/embed.py) and the sampling options as one Selection."""
    from analysis.corpus_index.select import Selection

    return Selection(target=args.target, regex=args.regex, whole_word=not args.substring,
                     case_sensitive=args.case_sensitive, labelled_hits=args.labelled_hits,
                     sample=args.sample, per_period=args.per_period, seed=args.seed,
                     context_chars=args.context_chars)


def _run(args) -> int:
    from analysis.cli.embed import note_dropped_hits
    from analysis.corpus_index.select import select_occurrences

    _check(args)
    out = prepare_out_dir(args.out, create=False)
    occ, counts = select_occurrences(args.corpus, column_spec(args), selection(args))
    note_dropped_hits(occ)
    out = prepare_out_dir(out)
    tmp = out / f".occurrences.parquet.{os.getpid()}.tmp"
    occ.to_parquet(tmp, index=False)
    os.replace(tmp, out / "occurrences.parquet")
    counts["sampled"] = int(len(occ))
    (out / "counts.json").write_text(json.dumps(counts, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"{counts['total']} hits in {counts['documents']} documents; {counts['sampled']} occurrences written to "
          f"{out / 'occurrences.parquet'}")
    return 0


COMMANDS = {"occurrences": ("find and sample a term's occurrences in a corpus or corpus index; counts per "
                            "year/period", _add, _run)}

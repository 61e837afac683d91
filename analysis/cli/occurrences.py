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

from analysis.cli._common import prepare_out_dir
from analysis.errors import ConfigError


def _add(p: argparse.ArgumentParser) -> None:
    from analysis.cli.embed import add_corpus_arguments

    add_corpus_arguments(p)  # the corpus, target and sampling options every corpus-reading command shares
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default %(default)s)")
    p.add_argument("--out", required=True, help="folder for occurrences.parquet and counts.json")


def _run(args) -> int:
    from analysis.cli.embed import check_selection, load_occurrences

    if not args.target:
        raise ConfigError("give --target (surface forms such as plane|planes, or a regex with --regex)")
    check_selection(args)
    out = prepare_out_dir(args.out, create=False)
    occ = load_occurrences(args)
    counts = dict(occ.attrs.pop("counts"))
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

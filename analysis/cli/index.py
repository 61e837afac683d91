"""``python -m analysis index SOURCE... --out INDEX_DIR`` — build a corpus index (see :mod:`analysis.corpus_index`).

Sources are any mix of files (CSV, TSV, JSONL, Parquet, TXT, also .gz/.zst) and folders (searched recursively; DWUG
folders as DWUG). A progress bar (MB of source read) goes to stderr; a killed build resumes when run again.
"""

from __future__ import annotations

import argparse
import sys

from analysis.cli._common import prepare_out_dir
from analysis.errors import ConfigError


def _add(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="corpus files and folders")
    p.add_argument("--out", required=True, help="folder of the index (built beside it as <out>.partial, then moved)")
    for col in ("text", "id", "year", "period", "label"):
        p.add_argument(f"--{col}-column")
    p.add_argument("--skip-bad", action="store_true", help="leave out files that cannot be read (listed in the "
                                                           "manifest) instead of stopping")


def _run(args) -> int:
    from analysis.cli.embed import Progress
    from analysis.corpus import ColumnSpec
    from analysis.corpus_index import build_index, read_manifest

    out = prepare_out_dir(args.out, create=False)
    if out.exists() and out.is_dir() and any(out.iterdir()) and not (out / ".sensescope-corpus-index").exists():
        raise ConfigError(f"--out {args.out!r} is a folder that is not a corpus index; give a new folder")
    spec = ColumnSpec(text=args.text_column, id=args.id_column, year=args.year_column, period=args.period_column,
                      label=args.label_column)
    bar = Progress("indexing (MB)")

    def progress(done: int, total: int) -> None:
        total_mb = max(-(-total >> 20), 1)
        bar(total_mb if done >= total else done >> 20, total_mb)

    path = build_index(args.sources, out, spec, progress=progress, skip_bad=args.skip_bad)
    manifest = read_manifest(path)
    for skipped in manifest["skipped"]:
        print(f"skipped: {skipped['reason']}", file=sys.stderr)
    print(f"{path}: {manifest['documents']} documents, {manifest['stats']['words']} words, "
          f"{len(manifest['files'])} part files")
    return 0


COMMANDS = {"index": ("build a corpus index from files and folders (streaming, resumable)", _add, _run)}

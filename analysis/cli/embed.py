"""``python -m analysis embed`` and ``python -m analysis cache ls|rm``."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from analysis import layers as layer_specs
from analysis.errors import ConfigError


def add_corpus_arguments(p: argparse.ArgumentParser, *, many: bool = False) -> None:
    """Options shared by every subcommand that reads a corpus.

    ``many=True`` (shift-rank): several corpus paths and ``--targets`` (comma-separated) instead of one ``--target``.
    """
    if many:
        p.add_argument("corpus", nargs="+", help="DWUG uses.csv files or folders, or corpus files (with --targets)")
        p.add_argument("--targets", help="comma-separated target terms to find in non-DWUG corpora (each a target)")
    else:
        p.add_argument("corpus", help="CSV/TSV/JSONL/Parquet/TXT file, a DWUG uses.csv, a folder of them, or a "
                                      "corpus index (python -m analysis index)")
        p.add_argument("--target", help="surface forms (plane|planes), a regex with --regex, or a DWUG lemma")
    per = " of each target" if many else ""
    g = p.add_argument_group("sampling (counts stay over the whole corpus; the seed is --seed)")
    g.add_argument("--sample", type=int, help=f"a seeded uniform sample of N hits{per} (default: all)")
    g.add_argument("--per-period", action="store_true", help="with --sample: up to N hits from each period")
    g.add_argument("--context-chars", type=int,
                   help="cut each text to N characters either side of the hit (spans shifted to match)")
    p.add_argument("--regex", action="store_true", help="the target is a regular expression")
    p.add_argument("--case-sensitive", action="store_true")
    p.add_argument("--substring", action="store_true", help="match inside words too (default: whole words)")
    p.add_argument("--text-column")
    p.add_argument("--id-column")
    p.add_argument("--year-column")
    p.add_argument("--period-column")
    p.add_argument("--label-column")
    p.add_argument("--labelled-hits", choices=["first", "all"], default="first",
                   help="a labelled row with several hits of the term: give its label to the first hit only "
                        "(default; the others are left out and counted) or to all of them")


def note_dropped_hits(occ, stream=None) -> None:
    """One line on stderr when labelled rows had hits that were left out (--labelled-hits first)."""
    dropped = int(getattr(occ, "attrs", {}).get("labelled_hits_dropped", 0) or 0)
    if dropped:
        print(f"note: {dropped} more hit{'s' if dropped != 1 else ''} of the term in labelled rows "
              f"{'were' if dropped != 1 else 'was'} left out (each labelled row gives its label to its first hit); "
              f"use --labelled-hits all to keep them", file=stream or sys.stderr)


def column_spec(args):
    """The corpus column options as an analysis.corpus.ColumnSpec."""
    from analysis.corpus import ColumnSpec

    return ColumnSpec(text=args.text_column, id=args.id_column, year=getattr(args, "year_column", None),
                      period=getattr(args, "period_column", None), label=getattr(args, "label_column", None))


def check_selection(args) -> None:
    """The sampling options, checked before the corpus is read (ConfigError with the option's name)."""
    from analysis.cli._common import positive_int

    sample = getattr(args, "sample", None)
    if sample is not None:
        positive_int(sample, "--sample")
    elif getattr(args, "per_period", False):
        raise ConfigError("--per-period needs --sample N (the cap per period)")
    chars = getattr(args, "context_chars", None)
    if chars is not None and (isinstance(chars, bool) or chars < 0):
        raise ConfigError(f"--context-chars must be 0 or more, not {chars}")


def selection(args):
    """The shared corpus options and the sampling options as one analysis.corpus_index.select.Selection."""
    from analysis.corpus_index.select import Selection

    return Selection(target=args.target, regex=args.regex, whole_word=not args.substring,
                     case_sensitive=args.case_sensitive, labelled_hits=getattr(args, "labelled_hits", "first"),
                     sample=getattr(args, "sample", None), per_period=bool(getattr(args, "per_period", False)),
                     seed=int(getattr(args, "seed", 0) or 0), context_chars=getattr(args, "context_chars", None))


def load_occurrences(args):
    """The occurrences the command works on: from a corpus index (out of core: only the sampled documents are read)
    or from a corpus file or folder, sampled as --sample/--per-period/--seed say, cut to --context-chars. The
    counts over the whole corpus are in ``occ.attrs["counts"]``; a sample says on stderr what it kept."""
    from analysis.corpus_index import is_index
    from analysis.corpus_index.select import select_occurrences

    check_selection(args)
    if is_index(args.corpus):
        if not args.target:
            raise ConfigError("a corpus index needs --target (surface forms such as plane|planes, or a regex with "
                              "--regex)")
        if any(getattr(args, c, None) for c in ("text_column", "id_column", "year_column", "period_column",
                                               "label_column")):
            print("note: the column options were fixed when the index was built; they are ignored here",
                  file=sys.stderr)
    occ, counts = select_occurrences(args.corpus, column_spec(args), selection(args))
    note_dropped_hits(occ)
    occ.attrs["counts"] = counts
    if len(occ) < counts.get("total", len(occ)):
        print(f"note: sampled {len(occ)} of {counts['total']} hits in {counts['documents']} documents "
              f"(seed {getattr(args, 'seed', 0)})", file=sys.stderr)
    return occ


class Progress:
    """A one-line progress bar on stderr (no dependency), with occurrences per second."""

    def __init__(self, label: str = "embedding", stream=None):
        self.label, self.stream, self.t0, self.last = label, stream or sys.stderr, time.perf_counter(), 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - self.last < 0.2:
            return
        self.last = now
        frac = done / max(total, 1)
        bar = "#" * int(30 * frac)
        rate = done / max(now - self.t0, 1e-9)
        self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{total} ({rate:.0f}/s)")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _add_embed(p: argparse.ArgumentParser) -> None:
    add_corpus_arguments(p)
    p.add_argument("--model", help="hub id or local folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--layers", help="e.g. all (default), 6, 0-6, 1,4,-1")
    p.add_argument("--pooling", choices=["mean", "first"], default="mean")
    p.add_argument("--window", type=int, help="most tokens per model input (default: the model's maximum)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", help="cuda, mps or cpu (default: best available)")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default %(default)s)")
    p.add_argument("--chunk-size", type=int, default=2048,
                   help="occurrences per cached chunk (an interrupted run resumes from finished chunks)")
    p.add_argument("--out", help="folder for occurrences.csv and vectors.npy")
    add_engine_arguments(p)


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    """--engine/--address/--workers: where the encoding runs (embed and shift-rank; read with :func:`make_engine`)."""
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="encode in this process (default) or as a Ray Data job (pip install -r requirements-ray.txt); "
                        "the cache entry is the same")
    p.add_argument("--address", help="with --engine ray: the address of an existing Ray cluster "
                                     "(default: start a local one)")
    p.add_argument("--workers", type=int, help="with --engine ray: encoding actors (default: one per GPU of the "
                                               "cluster, else one per CPU)")


def make_engine(args):
    """The engine of ``--engine`` (None for local), checked before any corpus is read."""
    from analysis.cli._common import positive_int
    from analysis.errors import ConfigError

    if args.engine != "ray":
        if args.address or args.workers is not None:
            raise ConfigError("--address and --workers go with --engine ray")
        return None
    from analysis.ray_engine import RayEngine, require_ray

    require_ray()
    workers = positive_int(args.workers, "--workers") if args.workers is not None else None
    return RayEngine(address=args.address, workers=workers, device=args.device)


def _run_embed(args) -> int:
    from analysis.cli._common import positive_int, prepare_out_dir
    from analysis.encoder import pick_device
    from analysis.store import get_or_compute

    # Bad options fail before the corpus is read or anything is cached.
    layer_specs.parse(args.layers)  # an unreadable --layers fails at once (its range is checked against the model)
    chunk_size = positive_int(args.chunk_size, "--chunk-size")
    batch_size = positive_int(args.batch_size, "--batch-size")
    engine = make_engine(args)
    if args.device and not (engine is not None and args.address):  # a remote cluster's devices are its own
        pick_device(args.device)
    if args.out:
        prepare_out_dir(args.out, create=False)
    occ = load_occurrences(args)
    es = get_or_compute(occ, args.model, layers=args.layers, pooling=args.pooling, window=args.window,
                        batch_size=batch_size, device=args.device if engine is None else None, engine=engine,
                        chunk_size=chunk_size, progress=Progress())
    summary = {"occurrences": es.n, "model": es.model, "layers": list(es.layers), "dim": es.dim,
               "cache": "hit" if es.cache_hit else "computed", "seconds": round(es.seconds, 2), "key": es.key,
               "engine": args.engine}
    if args.out:
        out = prepare_out_dir(args.out)
        from analysis.export import table_csv

        (out / "occurrences.csv").write_bytes(table_csv(es.occurrences))  # spreadsheet-safe, like every export
        np.save(out / "vectors.npy", np.asarray(es.vectors, dtype=np.float32))
        (out / "manifest.json").write_text(json.dumps(es.manifest, indent=1))
        summary["out"] = str(out)
    print(json.dumps(summary))
    return 0


def _add_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["ls", "rm", "verify"],
                   help="verify: read every entry's files again against its checksums (a corrupt one is removed)")
    p.add_argument("keys", nargs="*", help="keys (or prefixes) to remove or verify (verify: all when none)")
    p.add_argument("--all", action="store_true", help="with rm: remove every entry")


def _run_cache(args) -> int:
    from analysis.errors import ConfigError
    from analysis.store import cache_root, list_entries, remove_entries, verify_entries

    if args.action == "ls":
        df = list_entries()
        print(f"cache: {cache_root()}")
        print(df.to_string(index=False) if len(df) else "(empty)")
        return 0
    if args.action == "verify":
        checked = verify_entries(args.keys or None)
        for key, whole in checked.items():
            print(f"{key}: {'ok' if whole else 'corrupt: removed (recomputed when next asked for)'}")
        print(f"{sum(checked.values())} of {len(checked)} entries whole")
        return 0 if all(checked.values()) else 1
    if not args.keys and not args.all:
        raise ConfigError("cache rm needs keys (see cache ls) or --all")
    n = remove_entries(None if args.all else args.keys)
    print(f"removed {n} entr{'y' if n == 1 else 'ies'}")
    return 0


COMMANDS = {
    "embed": ("Embed every occurrence of a target term (cached).", _add_embed, _run_embed),
    "cache": ("List (ls), remove (rm) or verify cached embedding sets.", _add_cache, _run_cache),
}

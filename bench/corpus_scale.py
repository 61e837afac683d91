"""Corpus at scale (issue 11): index build and occurrence queries on a generated corpus of real sentences.

Sentences from ../shared/datasets (CoarseWSD-20 train/test sentences, DWUG EN usages) are shuffled into paragraphs
of 3-10 sentences with a year (1986-2022) and written as JSONL. Then, each step in a child process whose peak RSS is
read with os.wait4: ``python -m analysis index`` (build time, s per GB of JSONL, peak RSS) and
``python -m analysis occurrences --sample 100`` for a frequent and a rare term, each beside ``grep -c -i -w`` over
the same JSONL in the same run; in-process: count_hits with the hits cache off, and the KWIC preview of a sample of
20 once the count has run (the Corpus page's order). ``--inverted`` also measures a token -> document posting table
built with DuckDB (build time and size vs. the speed-up of a lookup).

Usage:  .venv/bin/python bench/corpus_scale.py --paragraphs 200000 [--work /tmp/corpus_scale] [--inverted]
Prints a Markdown block (command, machine, load, date, results); --append adds it to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"


def sentences() -> list[str]:
    out = set()
    for f in sorted((DATA / "coarsewsd20").rglob("*.data.txt")):
        for line in f.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[-1].strip():
                out.add(parts[-1].strip())
    for f in sorted((DATA / "semchange_en").rglob("uses.csv")):
        with open(f, encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
                if row.get("context"):
                    out.add(" ".join(row["context"].split()))
    if not out:
        raise SystemExit(f"no sentences found under {DATA}")
    return sorted(out)


def generate(path: Path, n: int, pool: list[str], seed: int = 0) -> int:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            text = " ".join(rng.choice(pool) for _ in range(rng.randint(3, 10)))
            fh.write(json.dumps({"id": f"p{i}", "year": rng.randint(1986, 2022), "text": text},
                                ensure_ascii=False) + "\n")
    return path.stat().st_size


def pick_terms(pool: list[str]) -> tuple[str, str]:
    counts: dict[str, int] = {}
    for s in pool:
        for w in set(re.findall(r"[a-z]{7,}", s.lower())):
            counts[w] = counts.get(w, 0) + 1
    rare = sorted(w for w, c in counts.items() if c == 2)[0]
    return "bank", rare


def child(cmd: list[str], stdout=subprocess.DEVNULL) -> tuple[float, float, int]:
    """(wall s, peak RSS MiB, return code) of one child process."""
    import tempfile

    with tempfile.TemporaryFile() as errfile:  # a file, not a pipe: the progress bar must never block the child
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=stdout, stderr=errfile)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {err[-1500:]}")
    return wall, usage.ru_maxrss / 1024, proc.returncode


def grep_count(term: str, path: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    res = subprocess.run(["grep", "-c", "-i", "-w", term, str(path)], capture_output=True, text=True)
    return time.perf_counter() - t0, int(res.stdout.strip() or 0)


def inverted(index: Path, terms) -> dict:
    """Build a token -> document posting table (DuckDB) and compare a lookup with the scan's coarse filter."""
    from analysis.corpus_index import build, open_index

    idx = open_index(index)
    con = build.connect()
    out = index.parent / "postings.parquet"
    t0 = time.perf_counter()
    con.execute(f"COPY (SELECT DISTINCT lower(tok) AS token, _row FROM (SELECT _row, "
                f"unnest(regexp_extract_all(text, '\\w+')) AS tok FROM read_parquet({idx.files!r})) ) TO '{out}' "
                f"(FORMAT parquet, COMPRESSION zstd)")
    res = {"build_s": time.perf_counter() - t0, "size_mb": out.stat().st_size / 2 ** 20}
    for term in terms:
        t0 = time.perf_counter()
        n_post = con.execute(f"SELECT count(*) FROM read_parquet('{out}') WHERE token = ?", [term]).fetchone()[0]
        res[f"lookup_{term}_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        n_scan = con.execute(f"SELECT count(*) FROM read_parquet({idx.files!r}) WHERE regexp_matches(text, ?)",
                             [f"(?i){term}"]).fetchone()[0]
        res[f"filter_{term}_s"] = time.perf_counter() - t0
        res[f"docs_{term}"] = [int(n_post), int(n_scan)]
    con.close()
    out.unlink()
    return res


def in_process(index: Path, terms) -> dict:
    from analysis.corpus import kwic_table
    from analysis.corpus_index import query

    res = {}
    for term in terms:
        t0 = time.perf_counter()
        counts = query.counts_of(query.find_hits(index, term, cache=False))
        res[f"count_{term}_s"] = time.perf_counter() - t0
        res[f"hits_{term}"] = counts["total"]
        res[f"docs_{term}"] = counts["documents"]
        query.find_hits(index, term)  # fills the hits cache, as the count on the page would
        t0 = time.perf_counter()
        kwic_table(query.sample_occurrences(index, term, n=20, seed=1, context_chars=200))
        res[f"kwic_{term}_s"] = time.perf_counter() - t0
    return res


def run(args) -> dict:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    corpus, index = work / f"corpus-{args.paragraphs}.jsonl", work / f"index-{args.paragraphs}"
    load_before = os.getloadavg()
    pool = sentences()
    frequent, rare = pick_terms(pool)
    t0 = time.perf_counter()
    if not corpus.exists():
        generate(corpus, args.paragraphs, pool)
    gen_s = time.perf_counter() - t0
    size = corpus.stat().st_size
    shutil.rmtree(index, ignore_errors=True)
    py = [sys.executable, "-m", "analysis"]
    build_s, build_rss, _ = child([*py, "index", str(corpus), "--out", str(index), "--year-column", "year",
                                   "--id-column", "id"])
    res = {"paragraphs": args.paragraphs, "sentence_pool": len(pool), "jsonl_mb": size / 2 ** 20, "generate_s": gen_s,
           "build_s": build_s, "build_s_per_gb": build_s / (size / 1e9), "build_peak_rss_mb": build_rss,
           "index_mb": sum(f.stat().st_size for f in index.rglob("*") if f.is_file()) / 2 ** 20,
           "terms": [frequent, rare], "load_before": load_before}
    for term in (frequent, rare):
        shutil.rmtree(index / "cache", ignore_errors=True)
        wall, rss, _ = child([*py, "occurrences", str(index), "--target", term, "--sample", "100",
                              "--context-chars", "200", "--out", str(work / f"occ-{term}")])
        g_s, g_n = grep_count(term, corpus)
        counts = json.loads((work / f"occ-{term}" / "counts.json").read_text())
        res[term] = {"occurrences_cli_s": wall, "occurrences_peak_rss_mb": rss, "grep_s": g_s, "grep_lines": g_n,
                     "hits": counts["total"], "documents": counts["documents"]}
    shutil.rmtree(index / "cache", ignore_errors=True)
    res["in_process"] = in_process(index, (frequent, rare))
    if args.inverted:
        res["inverted"] = inverted(index, (frequent, rare))
    res["load_after"] = os.getloadavg()
    return res


def markdown(res: dict, argv: list[str]) -> str:
    f, r = res["terms"]
    ip = res["in_process"]
    lines = [f"### {res['paragraphs']:,} paragraphs ({res['jsonl_mb']:.0f} MiB JSONL)", "",
             f"`.venv/bin/python bench/corpus_scale.py {' '.join(argv)}` — {platform.node()}, "
             f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
             f"{time.strftime('%Y-%m-%d %H:%M')}; load average before/after "
             f"{'/'.join(f'{x:.1f}' for x in res['load_before'])} → "
             f"{'/'.join(f'{x:.1f}' for x in res['load_after'])} (machine shared with other engineers' tests)", "",
             f"- sentence pool {res['sentence_pool']:,} real sentences; index build {res['build_s']:.1f} s "
             f"(**{res['build_s_per_gb']:.0f} s per GB** of JSONL), peak RSS **{res['build_peak_rss_mb']:.0f} MiB**, "
             f"index {res['index_mb']:.0f} MiB on disk", "",
             "| term | hits | docs | `occurrences --sample 100` (CLI, incl. ~start-up) | peak RSS | count_hits in-process "
             "(no cache) | `grep -c -i -w` | count / grep | KWIC preview of 20 (after the count) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for t in (f, r):
        x = res[t]
        lines.append(f"| {t} | {x['hits']:,} | {x['documents']:,} (grep: {x['grep_lines']:,} lines) | "
                     f"{x['occurrences_cli_s']:.1f} s | {x['occurrences_peak_rss_mb']:.0f} MiB | "
                     f"{ip[f'count_{t}_s']:.2f} s | {x['grep_s']:.2f} s | {ip[f'count_{t}_s'] / x['grep_s']:.2f}× | "
                     f"{ip[f'kwic_{t}_s']:.2f} s |")
    if "inverted" in res:
        inv = res["inverted"]
        lines += ["", f"- token → document postings (DuckDB, distinct lower-cased `\\w+` tokens per document): build "
                      f"{inv['build_s']:.1f} s, {inv['size_mb']:.0f} MiB; lookup {f}: {inv[f'lookup_{f}_s']:.2f} s vs "
                      f"coarse scan filter {inv[f'filter_{f}_s']:.2f} s; {r}: {inv[f'lookup_{r}_s']:.2f} s vs "
                      f"{inv[f'filter_{r}_s']:.2f} s"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paragraphs", type=int, default=200_000)
    p.add_argument("--work", default="/tmp/corpus_scale")
    p.add_argument("--inverted", action="store_true")
    p.add_argument("--append", action="store_true", help="append the results to BENCHMARKS.md")
    args = p.parse_args(argv)
    res = run(args)
    (Path(args.work) / f"results-{args.paragraphs}.json").write_text(json.dumps(res, indent=1))
    text = markdown(res, [a for a in argv if a != "--append"])
    print(text)
    if args.append:
        with open(ROOT / "BENCHMARKS.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

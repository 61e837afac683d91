"""Build a corpus index: the documents of many source files as Parquet parts written by DuckDB, plus a manifest.

Layout of an index folder::

    .sensescope-corpus-index   marker: this folder is an index (only such folders are ever replaced)
    build.json                 what is being built (sources, column spec): a rerun with other inputs starts afresh
    parts/00000/00000.parquet  documents of source file 0, one Parquet file per batch
    parts/00000/DONE.json      written last for a source: its fingerprint, rows, columns, files and their sha256
    manifest.json              written last of all: every part file with its size and sha256, corpus statistics
    manifest.sha256            checksum of manifest.json

Streaming: one batch of rows (``batch_rows``) is in memory at a time. Resumable: a killed build leaves
``<out>.partial``; a rerun keeps every source whose ``DONE.json`` matches the file as it is now and redoes the rest.
Atomic: the index is built in ``<out>.partial`` and renamed to ``<out>`` at the end, so ``<out>`` is complete or absent;
an existing index that fails its checksums is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from analysis.cache_files import atomic_write_bytes, sha256_file
from analysis.corpus import ColumnSpec
from analysis.corpus_index import sources as src
from analysis.errors import ConfigError, CorpusError

FORMAT = "sensescope-corpus-index"
VERSION = 1
MARKER = ".sensescope-corpus-index"
BATCH_ROWS = 50_000
ROW_GROUP_ROWS = 8_192  # small row groups: fetching a sampled document reads little more than its own group


# -------------------------------------------------------------------------------------------------------- helpers
def write_json_atomic(path: Path, obj) -> bytes:
    """``obj`` as JSON written atomically (the cache's own atomic write); returns the bytes written."""
    data = json.dumps(obj, indent=1, ensure_ascii=False, sort_keys=True).encode("utf-8")
    atomic_write_bytes(path, data)
    return data


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def connect(threads: int | None = None, memory_limit: str = "1GB"):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute(f"SET threads={int(threads or min(os.cpu_count() or 1, 4))}")
    return con


def spec_dict(spec: ColumnSpec | None) -> dict:
    spec = spec or ColumnSpec()
    return {k: v for k, v in spec.__dict__.items() if v is not None}


# --------------------------------------------------------------------------------------------------------- verify
def is_index(path) -> bool:
    path = Path(path)
    return path.is_dir() and (path / MARKER).exists()


def verify(path, deep: bool = False) -> str | None:
    """None if ``path`` is a complete index, else the reason it is not. ``deep`` also checks every file's sha256
    (reads the whole index); without it, the manifest's own checksum and every part file's size are checked."""
    path = Path(path)
    if not is_index(path):
        return "it is not a corpus index (no marker file)"
    man_path, sum_path = path / "manifest.json", path / "manifest.sha256"
    if not man_path.exists() or not sum_path.exists():
        return "its manifest is missing (the build did not finish)"
    data = man_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sum_path.read_text().strip():
        return "manifest.json does not match its checksum"
    manifest = json.loads(data)
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        return f"it was written by another version ({manifest.get('format')} {manifest.get('version')})"
    for entry in manifest["files"]:
        f = path / entry["path"]
        if not f.exists():
            return f"part {entry['path']} is missing"
        if f.stat().st_size != entry["size"]:
            return f"part {entry['path']} has {f.stat().st_size} bytes, not {entry['size']}"
        if deep and sha256_file(f) != entry["sha256"]:
            return f"part {entry['path']} does not match its checksum"
    return None


def read_manifest(path) -> dict:
    """The manifest of a complete index; CorpusError naming the problem when the index is incomplete or corrupt."""
    problem = verify(path)
    if problem:
        raise CorpusError(f"{str(path)!r} cannot be used as a corpus index: {problem}; rebuild it with "
                          f"python -m analysis index SOURCE... --out {path}")
    return json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------------------- build
def build_index(sources, out_dir, spec: ColumnSpec | None = None, progress=None, skip_bad: bool = False,
                batch_rows: int = BATCH_ROWS) -> Path:
    """Index ``sources`` (files and folders, any mix of formats) into ``out_dir``; returns its path.

    ``progress(done_bytes, total_bytes)`` is called as source bytes are read. A file that cannot be read stops the
    build with its path named, unless ``skip_bad`` (then it is listed under ``skipped`` in the manifest). An index
    already at ``out_dir`` that was built from the same files and spec and passes its checksums is kept as it is.
    """
    from analysis.cache_files import KeyLock

    spec = spec or ColumnSpec()
    out = Path(out_dir).expanduser()
    # One build of an index folder at a time: a second build (another shell, the same command twice) would write the
    # same .partial folder. The OS drops the lock when a build is killed, so a killed build never blocks the rerun.
    lock = KeyLock(out.parent, f".{out.name}.index")
    if not lock.acquire(blocking=False):
        raise ConfigError(f"another build of the index {str(out)!r} is running; wait for it to finish (or end it) "
                          f"and run this again")
    try:
        return _build_locked(sources, out, spec, progress, skip_bad, batch_rows)
    finally:
        lock.release()


def _build_locked(sources, out: Path, spec: ColumnSpec, progress, skip_bad: bool, batch_rows: int) -> Path:
    listed = src.list_sources(sources)
    plan = {"format": FORMAT, "version": VERSION, "spec": spec_dict(spec), "batch_rows": int(batch_rows),
            "sources": [src.fingerprint(s) for s in listed]}
    build_id = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:24]
    if out.exists():
        if not is_index(out) and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(f"{str(out)!r} exists and is not a corpus index; give a new folder for the index")
        if is_index(out) and verify(out, deep=True) is None and \
                _read_json(out / "manifest.json").get("build_id") == build_id:
            return out
    partial = out.with_name(out.name + ".partial")
    _prepare_partial(partial, plan, build_id)
    total = sum(p["size"] for p in plan["sources"])
    state = {"offset": 0, "bytes": 0, "columns": None, "columns_from": None, "skipped": [], "done": []}
    for k, source in enumerate(listed):
        _index_source(k, source, plan["sources"][k], partial, spec, state, batch_rows, skip_bad,
                      lambda b: progress and progress(state["bytes"] + b, total))
        state["bytes"] += plan["sources"][k]["size"]
        if progress:
            progress(state["bytes"], total)
    if not state["offset"]:
        raise CorpusError(f"no documents in {', '.join(str(s.path) for s in listed)}")
    _finish(partial, out, plan, build_id, state)
    return out


def _prepare_partial(partial: Path, plan: dict, build_id: str) -> None:
    previous = _read_json(partial / "build.json") if partial.exists() else None
    if partial.exists() and (not is_index(partial) or (previous or {}).get("build_id") != build_id):
        if partial.is_dir() and (is_index(partial) or not any(partial.iterdir())):
            shutil.rmtree(partial)
        elif partial.exists():
            raise ConfigError(f"{str(partial)!r} exists and is not an unfinished corpus index; move it away")
    (partial / "parts").mkdir(parents=True, exist_ok=True)
    (partial / MARKER).write_text(FORMAT + "\n")
    write_json_atomic(partial / "build.json", {**plan, "build_id": build_id})


def _finished_part(part: Path, fp: dict) -> dict | None:
    done = _read_json(part / "DONE.json")
    if not done or done.get("source") != fp:
        return None
    for entry in done["files"]:
        f = part / entry["name"]
        if not f.exists() or f.stat().st_size != entry["size"]:
            return None
    return done


def _index_source(k, source, fp, partial, spec, state, batch_rows, skip_bad, report) -> None:
    part = partial / "parts" / f"{k:05d}"
    done = _finished_part(part, fp)
    if done is None:
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        try:
            done = write_source(source, fp, part, spec, state["offset"], batch_rows, report)
        except CorpusError as exc:
            shutil.rmtree(part, ignore_errors=True)
            if not skip_bad:
                raise CorpusError(f"{exc}; use --skip-bad to leave unreadable files out") from exc
            state["skipped"].append({"path": str(source.path), "reason": str(exc)})
            return
    _check_schema(done["columns"], str(source.path), state)
    state["offset"] += done["rows"]
    state["done"].append((k, done))


def _check_schema(columns: list, name: str, state: dict) -> None:
    if state["columns"] is None:
        state["columns"], state["columns_from"] = columns, name
        return
    if set(columns) != set(state["columns"]):
        only_new = sorted(set(columns) - set(state["columns"]))
        only_old = sorted(set(state["columns"]) - set(columns))
        raise CorpusError(
            f"mixed schemas: {name} has columns {', '.join(columns)} but {state['columns_from']} has "
            f"{', '.join(state['columns'])} (only in the first: {', '.join(only_new) or '-'}; only in the second: "
            f"{', '.join(only_old) or '-'}); index files with the same columns together")


def write_source(source, fp: dict, part: Path, spec: ColumnSpec, first_row: int, batch_rows: int, report) -> dict:
    """Write the documents of one source into ``part`` (one Parquet file per batch) and its DONE.json."""
    con = connect(threads=1)
    files, rows, columns = [], 0, None
    try:
        for j, docs in enumerate(_documents(source, spec, first_row, batch_rows, report)):
            if columns is None:
                columns = list(docs.columns)
            docs = docs[columns] if set(docs.columns) == set(columns) else _mismatch(source, columns, docs)
            name = f"{j:05d}.parquet"
            write_part(con, docs, part / name)
            files.append({"name": name, "rows": len(docs), "first_row": first_row + rows})
            rows += len(docs)
    finally:
        con.close()
    if not rows:
        raise CorpusError(f"{source.path} holds no documents")
    for entry in files:
        f = part / entry["name"]
        entry.update(size=f.stat().st_size, sha256=sha256_file(f))
    done = {"source": fp, "rows": rows, "columns": [c for c in columns if c != src.ROW], "files": files}
    write_json_atomic(part / "DONE.json", done)
    return done


def _mismatch(source, columns, docs):
    raise CorpusError(f"{source.path}: its rows do not all have the same columns ({', '.join(columns)} then "
                      f"{', '.join(docs.columns)})")


def _documents(source, spec, first_row, batch_rows, report):
    """Standardized batches of one source; a damaged or undecodable file is a CorpusError naming its path."""
    try:
        yield from _batches(source, spec, first_row, batch_rows, report)
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{source.path} is not UTF-8 text (undecodable byte 0x{exc.object[exc.start]:02x}); "
                          f"re-save it as UTF-8") from exc
    except CorpusError:
        raise
    except (OSError, EOFError, ValueError, _zstd_error()) as exc:
        raise CorpusError(f"{source.path} cannot be read: {str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}") from exc


def _zstd_error():
    try:
        import zstandard

        return zstandard.ZstdError
    except ImportError:
        return OSError


def _batches(source, spec, first_row, batch_rows, report):
    if source.kind == "dwug":
        docs = src.dwug_documents(source)
        for i in range(0, len(docs), batch_rows):
            yield src.normalize(docs.iloc[i:i + batch_rows], False, first_row + i)
        return
    row = first_row
    for raw, pos in src.iter_raw_batches(source, spec, batch_rows):
        if raw.empty:
            continue
        docs = src.standardize_batch(raw, spec, str(source.path), row)
        row += len(docs)
        report(pos)
        yield docs


def write_part(con, docs, path: Path) -> None:
    """One batch of documents as a Parquet file, written by DuckDB (zstd, small row groups), renamed into place."""
    tmp = path.with_name(path.name + ".tmp")
    con.register("batch_docs", docs)
    try:
        con.execute(f"COPY (SELECT * FROM batch_docs) TO '{_sql_path(tmp)}' "
                    f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
    finally:
        con.unregister("batch_docs")
    os.replace(tmp, path)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


# --------------------------------------------------------------------------------------------------------- finish
def _finish(partial: Path, out: Path, plan: dict, build_id: str, state: dict) -> None:
    files = []
    for k, done in state["done"]:
        for entry in done["files"]:
            files.append({"path": f"parts/{k:05d}/{entry['name']}", "rows": entry["rows"],
                          "first_row": entry["first_row"], "size": entry["size"], "sha256": entry["sha256"]})
    manifest = {"format": FORMAT, "version": VERSION, "build_id": build_id, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "spec": plan["spec"], "sources": plan["sources"], "skipped": state["skipped"],
                "columns": state["columns"], "documents": state["offset"], "files": files}
    manifest["stats"] = corpus_stats(partial, files, state["columns"])
    data = write_json_atomic(partial / "manifest.json", manifest)
    (partial / "manifest.sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
    old = out.with_name(out.name + f".old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(partial, out)
    shutil.rmtree(old, ignore_errors=True)


def corpus_stats(root: Path, files: list, columns: list) -> dict:
    """Documents and words (runs of non-space characters, counted by DuckDB) overall, per year and per period."""
    con = connect()
    try:
        paths = [str(root / f["path"]) for f in files]
        words = "len(regexp_extract_all(text, '\\S+'))"
        rel = con.read_parquet(paths)
        stats = {"documents": 0, "words": 0}
        row = con.execute(f"SELECT count(*), coalesce(sum({words}), 0) FROM rel").fetchone()
        stats["documents"], stats["words"] = int(row[0]), int(row[1])
        for col in ("year", "period"):
            if col in columns:
                res = con.execute(f"SELECT {col}, count(*), coalesce(sum({words}), 0) FROM rel GROUP BY 1").fetchall()
                stats[f"per_{col}"] = {("(none)" if k is None else str(k)): {"documents": int(d), "words": int(w)}
                                       for k, d, w in res}
        return stats
    finally:
        con.close()

"""A generated embedding set of many occurrences, cached under the key the dashboard looks up (issue 12).

``make_bigset(folder, n)`` writes ``folder/bigset.parquet``, a documents table of ``n`` short paragraphs (text, year),
each holding the target "planck" once in one of three planted senses (its context words say which), and puts an
embedding entry for the packaged MiniLM into the current cache (``SENSESCOPE_CACHE``) with planted vectors: one
blob per sense plus a small time direction, every layer alike. The entry is written under the key that
``analysis.store.get_or_compute`` computes for exactly the occurrences the Corpus page finds in that file with its
default settings, so opening the file on the page, with the target "planck", opens these vectors instead of
embedding a million paragraphs; :func:`make_bigset` checks that by asking ``get_or_compute`` for them (a cache hit).
Planted, not encoded: the page's work (clustering, projection, drawing) is what is measured, not the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TARGET = "planck"
SENSES = {  # context words of the three planted senses
    "constant": ["quantum", "radiation", "constant", "action", "energy", "black-body", "oscillator", "entropy"],
    "mission": ["satellite", "mission", "microwave", "background", "survey", "telescope", "launch", "maps"],
    "society": ["institute", "society", "medal", "director", "foundation", "research", "award", "Berlin"],
}
COMMON = ["the", "of", "a", "in", "was", "and", "new", "first", "this", "that", "with", "by", "for", "its"]


def documents(n: int, seed: int = 0, n_senses: int = 3, labels: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` paragraphs (text, year, and with ``labels`` a gold column "label" = the planted sense's name) and the
    planted sense of each, drawn from the first ``n_senses`` senses."""
    rng = np.random.default_rng(seed)
    names = list(SENSES)[:n_senses]
    sense = rng.integers(0, len(names), n)
    year = rng.integers(1900, 2021, n)
    words = {s: np.array(SENSES[s] + COMMON) for s in names}
    left, right = rng.integers(3, 8, n), rng.integers(3, 8, n)
    texts = []
    for i in range(n):
        pool = words[names[sense[i]]]
        pick = pool[rng.integers(0, len(pool), left[i] + right[i])]
        texts.append(f"{' '.join(pick[:left[i]])} Planck {' '.join(pick[left[i]:])} ({i}).")
    docs = pd.DataFrame({"text": texts, "year": year})
    if labels:
        docs["label"] = np.array(names)[sense]
    return docs, sense


def planted_vectors(sense: np.ndarray, year: np.ndarray, n_layers: int, dim: int, seed: int = 0) -> np.ndarray:
    """float16 (n, n_layers, dim): a blob per sense, a small shift along one direction with the year."""
    rng = np.random.default_rng(seed + 1)
    centres = rng.normal(size=(int(sense.max()) + 1, dim)).astype(np.float32)
    drift = rng.normal(size=dim).astype(np.float32)
    t = ((year - year.min()) / max(1, np.ptp(year))).astype(np.float32)
    out = np.empty((len(sense), n_layers, dim), dtype=np.float16)
    step = 100_000
    for lo in range(0, len(sense), step):
        hi = min(len(sense), lo + step)
        base = centres[sense[lo:hi]] + 0.4 * t[lo:hi, None] * drift
        for layer in range(n_layers):
            noise = rng.normal(scale=0.6, size=(hi - lo, dim)).astype(np.float32)
            out[lo:hi, layer] = (base + noise).astype(np.float16)
    return out


def make_bigset(folder: Path, n: int, seed: int = 0, *, n_senses: int = 3,
                labels: bool = False) -> tuple[Path, pd.DataFrame]:
    """Write the documents file (with ``labels``, a gold column "label") and the cached entry; return the file and
    the occurrences it yields on the page with its default column settings."""
    from analysis import encoder
    from analysis.corpus import find_occurrences, load_corpus
    from analysis.store import embedding_key, get_or_compute, open_entry, write_entry
    from ui.state import DEFAULTS

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bigset.parquet"
    docs, sense = documents(n, seed, n_senses, labels)
    docs.to_parquet(path, index=False)
    # The Corpus page's own steps with its defaults (ui/state.py): load the file, find the target.
    occ = find_occurrences(load_corpus(path, DEFAULTS["spec"]), TARGET, regex=DEFAULTS["regex"],
                           whole_word=DEFAULTS["whole_word"], case_sensitive=DEFAULTS["case_sensitive"],
                           labelled_hits=DEFAULTS["labelled_hits"])
    if len(occ) != n:
        raise RuntimeError(f"expected {n} occurrences of {TARGET!r}, found {len(occ)}")
    lm = encoder.load_model(None)
    info = {**lm.describe(), "path": lm.path}
    layers = encoder.normalize_layers(info["n_layers"], info.get("model", "model"), None)
    key = embedding_key(info, occ, layers, "mean", None)
    if open_entry(key, verify=False) is None:
        vectors = planted_vectors(sense[occ["doc_id"].astype(int).to_numpy()], occ["year"].to_numpy(), len(layers), lm.dim, seed)
        manifest = {"model": encoder.display_model_path(info.get("model", info.get("name"))),
                    "model_path": encoder.display_model_path(info["path"]), "fingerprint": info["fingerprint"],
                    "layers": layers, "pooling": "mean", "window": None, "effective_window": lm.max_length,
                    "targets": [TARGET], "seconds": 0.0, "device": "planted (tests/bigset.py)"}
        write_entry(key, vectors, occ, manifest)
        del vectors
    es = get_or_compute(occ, None, loaded=lm)
    if es.cache_hit is False:
        raise RuntimeError("the planted entry was not found under the page's key")
    return path, occ

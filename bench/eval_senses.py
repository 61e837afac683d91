"""Sense clusters on CoarseWSD-20: do the contextual vectors separate known senses, and which defaults work best?

For each of the ten CoarseWSD-20 words in ``../shared/datasets/coarsewsd20`` (seeded, sense-stratified subsample of at
most ``--max-per-split`` train and test sentences per word; every sense keeps at least 10), the occurrences are
embedded with the default model (all hidden states, through the embedding cache), and then:

- per layer (and layer mixes): k-means with k = number of senses on L2-normalised vectors ("plain"), fitted on all
  sampled occurrences (labels unused) and scored on the test ones: ARI and purity; and the CoarseWSD-20 1-NN
  evaluation: sense centroids fitted on train, cosine nearest centroid on test (accuracy);
- at the default layer: the package defaults (``analysis.senses.DEFAULT_*``) beside the alternatives the literature
  suggests (mean removal, top-direction removal, agglomerative, HDBSCAN);
- a TF-IDF bag-of-words baseline on the same sentences (target word removed): the same k-means and centroid scores;
- the authors' published bert-base-uncased 1-NN test accuracy per word, for reference.

``--explore`` prints the wider grid the defaults were chosen from (preprocessing x layer mix x method). ``--dwug``
repeats the default-vs-alternatives comparison on DWUG EN (``../shared/datasets/semchange_en``; sense clusters with at
least 10 usages as gold) to check that the choice carries over to other words and another corpus.
``--page-timing`` times the Senses page on the demo in headless Chromium. ``--cv`` runs ``bench/cv_senses.py`` (the
defaults chosen by leave-words-out cross-validation, old and new side by side; its options follow ``--cv``). Run from
the project root::

    .venv/bin/python bench/eval_senses.py [--max-per-split 600] [--explore] [--dwug] [--page-timing]
    .venv/bin/python bench/eval_senses.py --cv [--splits 20 ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from analysis import senses  # noqa: E402
from analysis.datasets import coarsewsd20_words, load_coarsewsd20_word  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

SHARED = ROOT.parent / "shared" / "datasets"
DATA = SHARED / "coarsewsd20" / "CoarseWSD-20"
REFERENCE = SHARED / "coarsewsd20" / "reference_results" / "1nn_bert-base-uncased" / "summary.csv"

P = senses.Preprocessing
PREPS = {
    "l2": P(normalize=True, remove_mean=False, n_directions=0),
    "l2-mean": P(normalize=True, remove_mean=True, n_directions=0),
    "l2-mean-pc1": P(normalize=True, remove_mean=True, n_directions=1),
    "l2-mean-pc3": P(normalize=True, remove_mean=True, n_directions=3),
    "raw": P(normalize=False, remove_mean=False, n_directions=0),
}
# (name, preprocessing, method) compared at the default layer; "plain" is the baseline.
ALTERNATIVES = [("plain k-means (L2)", PREPS["l2"], "kmeans"),
                ("k-means, mean removed", PREPS["l2-mean"], "kmeans"),
                ("k-means, mean + top direction removed", PREPS["l2-mean-pc1"], "kmeans"),
                ("agglomerative (L2)", PREPS["l2"], "agglomerative"),
                ("agglomerative, mean removed", PREPS["l2-mean"], "agglomerative"),
                ("HDBSCAN (own k)", PREPS["l2"], "hdbscan")]


def embed(occ: pd.DataFrame, model):
    from analysis import store

    return store.get_or_compute(occ, model, layers=None)


def scores(X, gold, split, k, *, method="kmeans", seed=0, probe=True):
    """ARI/purity of clusters fitted on all rows and scored on test rows (all rows when split is None), and the
    centroid 1-NN accuracy fitted on train."""
    test = np.ones(len(gold), dtype=bool) if split is None else split == "test"
    cl = senses.cluster_vectors(X, method=method, k=k, seed=seed)
    sc = senses.cluster_scores(gold[test], cl.labels[test])
    out = {"ari": sc.ari, "purity": sc.purity, "nmi": sc.nmi, "k_found": cl.k}
    if probe:
        out["centroid_acc"] = senses.predict_senses(X, gold, split=split, seed=seed, logreg=False).centroid_accuracy
    return out


def tfidf_vectors(occ: pd.DataFrame) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    # The same sentences with the target token removed (it is the same word in every sentence).
    docs = [t[:s] + " " + t[e:] for t, s, e in zip(occ["text"], occ["start"], occ["end"])]
    return TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(docs).toarray().astype(np.float32)


def _parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--model", default=None, help="model (default: the packaged all-MiniLM-L6-v2)")
    ap.add_argument("--max-per-split", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--explore", action="store_true", help="print the grid the defaults were chosen from")
    ap.add_argument("--dwug", action="store_true", help="check the default against alternatives on DWUG EN")
    ap.add_argument("--words", nargs="*", default=None)
    ap.add_argument("--page-timing", action="store_true",
                    help="time the Senses page on the demo in headless Chromium (fresh server, then cached)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--cv" in argv:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import cv_senses

        return cv_senses.main([a for a in argv if a != "--cv"])
    args = _parse_args(argv)
    if args.page_timing:
        return page_timing()
    if args.dwug:
        return dwug_check(args.model, args.seed)
    if not Path(args.data).is_dir():
        print(f"CoarseWSD-20 not found at {args.data}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    data = load_words(args)
    t_embed = time.perf_counter() - t0
    layers = list(next(iter(data.values()))[1].layers)
    pd.set_option("display.width", 220, "display.max_columns", 30, "display.max_rows", 500)
    if args.explore:
        explore(data, layers, args.seed)
        return 0
    t1 = time.perf_counter()
    per_layer, alt_rows, words_df = score_words(data, layers, args.seed)
    report(args, layers, per_layer, alt_rows, words_df)
    print(f"\nembedding {t_embed:.1f} s, scoring {time.perf_counter() - t1:.1f} s")
    return 0


def load_words(args) -> dict:
    """{word: (occurrences, embedding set)} for the chosen CoarseWSD-20 words (seeded sample, cached embeddings)."""
    data = {}
    for w in args.words or coarsewsd20_words(args.data):
        occ = load_coarsewsd20_word(Path(args.data) / w, max_per_split=args.max_per_split, seed=args.seed)
        t = time.perf_counter()
        es = embed(occ, args.model)
        data[w] = (occ, es)
        print(f"# {w}: {len(occ)} occurrences ({(occ.split == 'train').sum()} train / {(occ.split == 'test').sum()} "
              f"test), {occ.label.nunique()} senses, embedded in {time.perf_counter() - t:.1f} s"
              f"{' (cache)' if es.cache_hit else ''}", flush=True)
    return data


def score_words(data: dict, layers: list[int], seed: int):
    """Per word: scores per layer and layer mix (plain k-means), the alternatives at the default layer, and the
    defaults beside TF-IDF; returns (per-layer rows, alternative rows, the per-word table with its MEAN row)."""
    top = max(layers)
    specs = list(layers) + [(top - 1, top), (top - 3, top), (1, top)]
    per_layer, alt_rows, word_rows = [], [], []
    for w, (occ, es) in data.items():
        gold = occ["label"].to_numpy().astype(str)
        split = occ["split"].to_numpy()
        k = len(np.unique(gold))
        for spec in specs:
            X = senses.preprocess(senses.layer_vectors(es.vectors, layers, spec), PREPS["l2"])
            r = scores(X, gold, split, k, seed=seed)
            per_layer.append({"word": w, "layer": senses.layer_label(layers, spec), **r})
        V = senses.layer_vectors(es.vectors, layers, senses.DEFAULT_LAYER)
        for name, prep, method in ALTERNATIVES:
            r = scores(senses.preprocess(V, prep), gold, split, "auto" if method == "hdbscan" else k, method=method,
                       seed=seed, probe=False)
            alt_rows.append({"word": w, "setting": name, **r})
        Xd = senses.preprocess(V, senses.DEFAULT_PREPROCESSING)
        d = scores(Xd, gold, split, k, method=senses.DEFAULT_METHOD, seed=seed)
        tf = scores(tfidf_vectors(occ), gold, split, k, seed=seed)
        word_rows.append({"word": w, "senses": k, "n_test": int((split == "test").sum()), "ari": d["ari"],
                          "purity": d["purity"], "centroid_acc": d["centroid_acc"], "tfidf_ari": tf["ari"],
                          "tfidf_purity": tf["purity"], "tfidf_centroid_acc": tf["centroid_acc"]})
    ref = _reference()
    words_df = pd.DataFrame(word_rows).set_index("word")
    if ref is not None:
        words_df["bert_base_1nn_acc (paper, full test)"] = ref.reindex(words_df.index)
    words_df.loc["MEAN"] = words_df.mean(numeric_only=True)
    return per_layer, alt_rows, words_df


def report(args, layers, per_layer, alt_rows, words_df) -> None:
    """Print the three tables of BENCHMARKS.md ("Sense clusters")."""
    default_label = senses.layer_label(layers, senses.DEFAULT_LAYER)
    print(f"\nmodel: {args.model or 'all-MiniLM-L6-v2 (packaged)'}; k = number of senses; clusters fitted on all "
          f"sampled occurrences (labels unused), scored on the test ones; centroid 1-NN fitted on train, scored on "
          f"test; seed {args.seed}")
    print(f"defaults: layer {default_label}, {senses.DEFAULT_PREPROCESSING.describe()}, {senses.DEFAULT_METHOD}")
    pl = pd.DataFrame(per_layer).groupby("layer", sort=False)[["ari", "purity", "nmi", "centroid_acc"]].mean()
    print("\n1) Plain k-means on L2-normalised vectors and centroid 1-NN, mean over the words, per layer "
          "(a-b = mean of layers a..b):")
    print(pl.round(3).to_string())
    alt = pd.DataFrame(alt_rows)
    print(f"\n2) At the default layer ({default_label}): the literature's alternatives, mean over the words "
          "(k = number of senses; HDBSCAN picks its own):")
    print(alt.groupby("setting", sort=False)[["ari", "purity", "nmi", "k_found"]].mean().round(3).to_string())
    print(f"\n3) Per word at the default layer ({default_label}) with the default settings, beside TF-IDF "
          "bag-of-words on the same sentences:")
    print(words_df.round(3).to_string())


def _reference() -> pd.Series | None:
    if not REFERENCE.exists():
        return None
    ref = pd.read_csv(REFERENCE)
    return ref[ref["sense"] == "ALL"].set_index("word")["acc"]


def explore(data, layers, seed):
    """Mean ARI / purity over the words for each preprocessing x layer mix x method (k = number of senses)."""
    top = max(layers)
    specs = [top, top - 1, (top - 1, top), (top - 2, top), (top - 3, top), (1, top)]
    rows = []
    t = time.perf_counter()
    for w, (occ, es) in data.items():
        gold = occ["label"].to_numpy().astype(str)
        split = occ["split"].to_numpy()
        k = len(np.unique(gold))
        for spec in specs:
            V = senses.layer_vectors(es.vectors, layers, spec)
            for pname, prep in PREPS.items():
                X = senses.preprocess(V, prep)
                for method in ("kmeans", "agglomerative"):
                    r = scores(X, gold, split, k, method=method, seed=seed)
                    rows.append({"word": w, "layer": senses.layer_label(layers, spec), "prep": pname,
                                 "method": method, **r})
            X = senses.preprocess(V, PREPS["l2"])
            r = scores(X, gold, split, "auto", method="hdbscan", seed=seed)
            rows.append({"word": w, "layer": senses.layer_label(layers, spec), "prep": "l2", "method": "hdbscan", **r})
        print(f"# scored {w} ({time.perf_counter() - t:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    g = df.groupby(["method", "prep", "layer"])[["ari", "purity", "nmi", "centroid_acc"]].mean()
    print(g.round(3).to_string())
    print("\nTop 10 by mean ARI:\n" + g.sort_values("ari", ascending=False).head(10).round(3).to_string())
    print(f"\nexplore scoring: {time.perf_counter() - t:.1f} s")


def dwug_check(model, seed) -> int:
    """Default vs alternatives on DWUG EN: per target, usages in sense clusters of >= 10 usages, k = their number."""
    from analysis.corpus import load_dwug

    root = SHARED / "semchange_en" / "dwug_en_v3" / "data"
    if not root.is_dir():
        print(f"DWUG EN not found at {root}", file=sys.stderr)
        return 1
    rows = []
    t = time.perf_counter()
    for tdir in sorted(root.iterdir()):
        docs = load_dwug(tdir / "uses.csv")
        counts = docs["label"].dropna().value_counts()
        big = counts[counts >= 10].index
        if len(big) < 2:
            continue
        occ = docs[docs["label"].isin(big)].reset_index(drop=True)
        occ["form"] = [x[s:e] for x, s, e in zip(occ["text"], occ["start"], occ["end"])]
        occ.insert(0, "occurrence_id", np.arange(len(occ)))
        es = embed(occ, model)
        layers = list(es.layers)
        top = max(layers)
        gold = occ["label"].astype(str).to_numpy()
        for spec in (senses.DEFAULT_LAYER, top - 1, (top - 1, top), (top - 3, top)):
            V = senses.layer_vectors(es.vectors, layers, spec)
            for name, prep, method in ALTERNATIVES:
                r = scores(senses.preprocess(V, prep), gold, None, "auto" if method == "hdbscan" else len(big),
                           method=method, seed=seed, probe=False)
                rows.append({"target": tdir.name, "layer": senses.layer_label(layers, spec), "setting": name, **r})
        print(f"# {tdir.name}: {len(occ)} usages in {len(big)} senses ({time.perf_counter() - t:.0f} s)", flush=True)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 220)
    print(f"\nDWUG EN, {df['target'].nunique()} targets with >= 2 senses of >= 10 usages; mean ARI over targets "
          f"(all usages scored), by setting x layer:")
    print(df.pivot_table(index="setting", columns="layer", values="ari", aggfunc="mean", sort=False).round(3).to_string())
    print(f"\nscoring {time.perf_counter() - t:.1f} s")
    return 0


def page_timing() -> int:
    """Seconds from clicking "Senses" (after the Corpus page has shown the demo) on a fresh server (fresh cache, packaged
    MiniLM, demo plane_nn; embeddings not yet computed) to a drawn projection (PCA, shown at once), to the UMAP swap,
    and the same for a second session (everything cached)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    if str(ROOT) not in sys.path:  # the browser helpers live in tests/, which is not an installed package
        sys.path.insert(0, str(ROOT))
    from tests.browser import CHROMIUM, CHROMIUM_ARGS, Server, free_port

    cache = tempfile.mkdtemp(prefix="senses_timing_")
    env = {**os.environ, "SENSESCOPE_CACHE": cache, "HF_HUB_OFFLINE": "1"}
    t = time.perf_counter()
    server = Server(env, free_port())
    print(f"server up in {time.perf_counter() - t:.1f} s")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            for run in ("fresh server", "cached (new session)"):
                page = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
                page.goto(server.url, wait_until="domcontentloaded")  # the Corpus page, through app.py
                page.get_by_text("Keyword in context").first.wait_for(timeout=300_000)
                t0 = time.perf_counter()
                page.get_by_role("link", name="Senses").first.click()
                # The scatter's title is drawn by plotly.js once the figure is on screen (PCA first, then UMAP).
                page.locator(".js-plotly-plot .gtitle", has_text="occurrences of").first.wait_for(timeout=300_000)
                t_first = time.perf_counter() - t0
                page.locator(".js-plotly-plot .gtitle", has_text="UMAP of").first.wait_for(timeout=300_000)
                t_umap = time.perf_counter() - t0
                page.get_by_text("Purity").first.wait_for(timeout=300_000)
                print(f"{run}: first projection drawn after {t_first:.1f} s, UMAP drawn after {t_umap:.1f} s",
                      flush=True)
                page.context.close()
            browser.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

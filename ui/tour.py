"""The guided tour: seven short steps through the bundled demo, each a plain-language text beside a live figure.

Every step is one function here (``views/tour.py`` only picks which to draw). The tour always uses the bundled demo
(three DWUG EN targets: plane, gas, chairman) with the packaged all-MiniLM-L6-v2, whatever corpus and model the
sidebar holds, so that a class sees the same pictures as the teacher. Embedding a target runs once as a background
job (ui/jobs.py) and is then opened from the on-disk store; everything derived from it is ``st.cache_data``'d, so a
step redraws at once when it is visited again or its "try it yourself" control moves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from analysis import bias as B
from analysis import senses as S
from analysis import shift as SH
from analysis.corpus import ColumnSpec, kwic, kwic_html
from analysis.dimension import occurrence_dimension
from analysis.errors import SenseScopeError
from analysis.plots import bias as PB
from analysis.plots import senses as PS
from analysis.plots import shift as PSH
from analysis.plots import tour as PT
from ui import cached, jobs, state, widgets
from ui import bias as ub
from ui import senses as us

TARGETS = {"plane_nn": "plane (changed: tool/geometry → aircraft)", "gas_nn": "gas (some change)",
           "chairman_nn": "chairman (stable)"}
TESTS = {"weat6": "male / female names × career / family (WEAT 6)",
         "weat7": "male / female terms × maths / arts (WEAT 7)",
         "weat1": "flowers / insects × pleasant / unpleasant (WEAT 1)"}
PREP = S.DEFAULT_PREPROCESSING
LAYER = S.DEFAULT_LAYER


class NotReady(Exception):
    """The demo's vectors are still being computed (the job's status line is on the page)."""


# ------------------------------------------------------------------------------------------------------------ data
def _embed_work(report, occ: pd.DataFrame, loaded):
    from analysis.store import get_or_compute

    return get_or_compute(occ, None, loaded=loaded,
                          progress=lambda d, t: report(d / max(t, 1), f"embedding {d}/{t} occurrences"))


def demo_occurrences(target: str) -> pd.DataFrame:
    docs = cached.load_corpus_path(str(state.DEMO_PATH), ColumnSpec())
    return cached.occurrences(docs, target, False, True, False, "first")


def demo_embeddings(target: str):
    """The demo target's embedding set with the packaged model (a background job the first time); NotReady while
    it is computed."""
    from analysis.store import cache_root

    occ = demo_occurrences(target)
    es = jobs.checked(jobs.key_of("tour:embed", target, str(cache_root())), _embed_work, occ, cached.model(None),
                      label=f"Embedding the demo occurrences of {target} (once)")
    if es is None:
        raise NotReady(target)
    return es


def vectors(es) -> np.ndarray:
    """The prepared vectors the Senses page clusters by default (mean of the default layers, common mean removed)."""
    return us.prepared_vectors(es, LAYER, PREP)


def gold(es) -> np.ndarray:
    return es.occurrences["label"].astype("string").to_numpy(dtype=object, na_value=None)


@st.cache_data(show_spinner=False, max_entries=16)
def _shift(key: str, shuffle: bool, _X, _occ) -> tuple:
    occ = _occ
    if shuffle:  # what the permutation test does: the period labels shuffled among the occurrences
        occ = occ.assign(period=np.random.default_rng(0).permutation(occ["period"].to_numpy()))
    periods = SH.make_periods(occ, mode="column", period_column="period",
                              **({} if shuffle else {"year_column": "year"}))
    labels, names = SH.labels_from_column(occ["label"])
    result = SH.analyse_shift(_X, periods, labels=labels, sense_names=names,
                              settings=SH.ShiftSettings(n_permutations=199, n_bootstrap=200, seed=0))
    return periods, result, SH.trajectory(_X, periods)


def shift_of(es, shuffle: bool = False):
    return _shift(es.key, shuffle, vectors(es), es.occurrences.reset_index(drop=True))


@st.cache_data(show_spinner="Running the association test…", max_entries=8)
def _weat(test: str) -> pd.DataFrame:
    results = B.run_query(ub.bundled(test), cached.model(None), "word", layers="all", cache=ub.encoding_cache())
    return B.results_frame(results)


@st.cache_data(show_spinner=False, max_entries=32)
def _lid(key: str, n_neighbors: int, _es) -> pd.DataFrame:
    rows = []
    for layer in _es.layers:
        ld = occurrence_dimension(_es, int(layer), n_neighbors=n_neighbors)
        v = np.asarray(ld.dimension_per_sample_, dtype=float)
        rows.append({"checkpoint": _es.model, "order": 0, "layer": int(layer), "mean": float(np.nanmean(v)),
                     "std": float(np.nanstd(v)), "n_tokens": int(np.isfinite(v).sum())})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------------- helpers
def _columns():
    return st.columns([2, 3], gap="large")


def _link(page: str, label: str) -> None:
    st.page_link(page, label=label, icon=":material/arrow_forward:")


def _figure(fig, name: str, params: dict) -> None:
    widgets.figure(fig, name=f"tour_{name}", params={"tour_step": name, "corpus": "bundled demo (DWUG EN)",
                                                     "model": "all-MiniLM-L6-v2 (packaged)", **params},
                   key=f"tour_fig_{name}", exports=False)  # a class needs the picture, not the download buttons


def _finish(text, fig_col, fig, name: str, params: dict, *, look_for: str, page: tuple[str, str]) -> None:
    """How every step ends: its figure in the right-hand column, what to look for in it, a link to the full page."""
    with fig_col:
        _figure(fig, name, params)
    text.markdown(f"**Look for:** {look_for}")
    _link(*page)


def _short(text: str, start: int, end: int) -> str:
    left, match, right = kwic(text, start, end, 35)
    return f"…{left}[{match}]{right}…"


# --------------------------------------------------------------------------------------------------------- steps
def step_vector() -> None:
    text, fig_col = _columns()
    text.markdown(
        "**Every occurrence of a word becomes a list of numbers.** A language model reads the whole sentence and "
        "gives each word in it a *vector*: here 384 numbers per layer. The vector depends on the context, so "
        "*plane* in “the plane landed” gets different numbers from *plane* in “a plane surface”.\n\n"
        "Two vectors can be compared by the angle between them (*cosine similarity*: 1 = same direction). "
        "Occurrences used in the same sense tend to point the same way. The chart ranks all other occurrences of "
        "*plane* in the demo by their similarity to the one you choose; colours are the senses that human "
        "annotators gave them (DWUG).")
    es = demo_embeddings("plane_nn")
    occ = es.occurrences.reset_index(drop=True)
    X = vectors(es)
    labelled = [i for i in range(len(occ)) if pd.notna(occ["label"].iloc[i])][:40]
    pick = text.selectbox("Try it yourself: choose an occurrence", labelled, key="tour_vector_pick",
                          format_func=lambda i: _short(occ["text"].iloc[i], int(occ["start"].iloc[i]),
                                                       int(occ["end"].iloc[i])))
    v = X[int(pick)]
    text.caption("Its first numbers: " + ", ".join(f"{x:+.2f}" for x in v[:6]) + ", …  (sense "
                 f"{widgets.md_escape(occ['label'].iloc[int(pick)])})")
    others = np.arange(len(occ)) != int(pick)
    sims = X[others] @ v / (np.linalg.norm(X[others], axis=1) * np.linalg.norm(v) + 1e-12)
    df = pd.DataFrame({"similarity": sims, "sense": occ["label"].to_numpy()[others],
                       "kwic": [kwic_html(t, int(s), int(e), 50) for t, s, e in
                                zip(occ["text"][others], occ["start"][others], occ["end"][others])]})
    _finish(text, fig_col, PT.plot_similarities(df), "vector", {"target": "plane_nn", "occurrence": int(pick)},
            look_for="the first places go mostly to one colour, the chosen occurrence's own sense.",
            page=("views/corpus.py", "See the occurrences on the Corpus page"))


def step_projection() -> None:
    text, fig_col = _columns()
    text.markdown(
        "**A projection draws the vectors on a flat page.** 384 numbers cannot be drawn, so a projection keeps as "
        "much of the picture as two axes can hold: PCA keeps the two directions in which the vectors differ most "
        "(PC 1, PC 2); UMAP and t-SNE (on the Senses page) keep each point's nearest neighbours near it instead. "
        "Each dot is one occurrence of *plane*; dots close together have similar vectors.\n\n"
        "Projections are for looking, not for measuring: distances on the page are only roughly those between "
        "the vectors, and the axes have no meaning of their own.")
    es = demo_embeddings("plane_nn")
    occ = es.occurrences.reset_index(drop=True)
    X = vectors(es)
    colour = text.radio("Try it yourself: colour the dots by", ["label", "period"], horizontal=True,
                        key="tour_projection_colour",
                        format_func={"label": "sense (human annotation)",
                                     "period": "period (1810–1860 / 1960–2010)"}.get)
    proj = us.pca(es.key, S.layer_label(es.layers, LAYER), PREP, 2, 0, X)
    view = pd.DataFrame({"occurrence_id": occ["occurrence_id"].to_numpy(), "x": proj.coords[:, 0],
                         "y": proj.coords[:, 1],
                         "kwic": [kwic_html(t, int(s), int(e), 50) for t, s, e in
                                  zip(occ["text"], occ["start"], occ["end"])],
                         "label": occ["label"].to_numpy(), "period": occ["period"].to_numpy()})
    fig = PS.plot_projection(view, color=colour, title="PCA of the occurrences of plane",
                             hover_fields=[("sense", "label"), ("period", "period")], method="pca",
                             explained=proj.params.get("explained_variance_ratio"))
    _finish(text, fig_col, fig, "projection", {"target": "plane_nn", "projection": "pca", "colour": colour},
            look_for="coloured by period, the old and the new uses sit in different regions — the "
                     "word changed its main sense.",
            page=("views/senses.py", "Explore projections on the Senses page"))


def step_clusters() -> None:
    text, fig_col = _columns()
    text.markdown(
        "**Clusters can be senses.** A clustering algorithm (here k-means) groups the vectors into *k* groups "
        "without looking at any labels. If the model separates the meanings well, each group collects one sense.\n\n"
        "How well do the groups match the annotators' senses? **Purity**: the share of occurrences that belong to "
        "their group's most common sense (it rises with k and reaches 1 when every occurrence is its own group, so "
        "read it with **inverse purity**, the same with the roles swapped). **ARI** (adjusted Rand index) compares "
        "all pairs of occurrences — are two occurrences together in both groupings? — and is corrected for chance: "
        "0 = no better than random groups, 1 = the same grouping.")
    es = demo_embeddings("plane_nn")
    X = vectors(es)
    k = text.slider("Try it yourself: number of clusters k", 2, 8, 2, key="tour_clusters_k")
    layer_name = S.layer_label(es.layers, LAYER)
    cl = us.clusters(es.key, layer_name, PREP, "kmeans", int(k), tuple(S.DEFAULT_K_RANGE), 0, None, X)
    g = gold(es)
    scores = S.cluster_scores(g, cl.labels)
    m1, m2, m3 = fig_col.columns(3)
    m1.metric("purity", f"{scores.purity:.2f}")
    m2.metric("inverse purity", f"{scores.inverse_purity:.2f}")
    m3.metric("ARI", f"{scores.ari:.2f}")
    names = dict(zip(cl.labels, S.cluster_names(cl.labels)))
    table = S.contingency_table(g, cl.labels, cluster_names={int(c): n for c, n in names.items()})
    fig = PS.plot_contingency(table, title=f"k-means clusters (k = {k}) against the annotated senses")
    _finish(text, fig_col, fig, "clusters", {"target": "plane_nn", "clustering": "kmeans", "k": int(k),
                                             **scores.to_dict()},
            look_for="with k = 2 the two big senses (0, the usual one in 1810–1860, and 1, the usual "
                     "one in 1960–2010) fall into separate clusters; a larger k splits them further — purity hardly "
                     "moves, while inverse purity and ARI fall.",
            page=("views/senses.py", "Cluster, name and score senses on the Senses page"))


def step_shares() -> None:
    text, fig_col = _columns()
    text.markdown(
        "**Senses gain and lose ground over time.** Split the occurrences by period and count how many fall into "
        "each sense: the *share* of a sense in a period. The demo has two periods of about 100 occurrences each "
        "(1810–1860 and 1960–2010, from the Corpus of Historical American English).\n\n"
        "A share measured on 100 occurrences is uncertain, so each bar carries a *bootstrap interval*: draw the "
        "period's occurrences again at random (with replacement) many times and see how much the share moves. "
        "From the second period on, ▲ marks where a sense first appears, ★ where it becomes the largest.")
    target = text.selectbox("Try it yourself: choose a word", list(TARGETS), format_func=TARGETS.get,
                            key="tour_shares_target")
    es = demo_embeddings(target)
    _, result, _ = shift_of(es)
    frame = result.shares.to_frame()
    fig = PSH.plot_sense_shares(frame, title=f"Senses of {target.split('_')[0]} per period (annotated senses)")
    _finish(text, fig_col, fig, "shares", {"target": target, "senses": "gold labels", **result.params},
            look_for="for *plane* the largest sense changes between the periods; for *chairman* the "
                     "shares hardly move.",
            page=("views/shift.py", "Measure shifts on the Shift page"))


def step_change() -> None:
    text, fig_col = _columns()
    text.markdown(
        "**Three numbers for how much a word changed.** **APD** (average pairwise distance): take one occurrence "
        "from each period, measure the cosine distance, average over all pairs. **PRT** (prototype distance): "
        "average each period's vectors into one *prototype* (the diamonds) and measure the distance between the "
        "prototypes. **JSD** (Jensen–Shannon divergence): compare the two periods' sense shares (0 = the same "
        "shares, at most ln 2 ≈ 0.69).\n\n"
        "Is a value larger than chance? The *permutation test* shuffles the period labels many times and counts "
        "how often a shuffled corpus gives a value at least as large: that share is the p-value.")
    es = demo_embeddings("plane_nn")
    shuffle = text.toggle("Try it yourself: shuffle the periods", key="tour_change_shuffle",
                          help="What the permutation test does once: the change should all but vanish.")
    periods, result, traj = shift_of(es, shuffle)
    table = result.metric_table().iloc[0]
    cols = fig_col.columns(3)
    for col, m in zip(cols, ("APD", "PRT", "JSD")):
        col.metric(m, f"{table[m]:.3f}", help=f"p = {table[f'{m} p']:.3f} ({result.params.get('n_permutations')} "
                                               "permutations)")
    text.caption("p-values: " + ", ".join(f"{m} {table[f'{m} p']:.3f}" for m in ("APD", "PRT", "JSD")))
    occ = es.occurrences.reset_index(drop=True)
    usages = pd.DataFrame({"x": traj.usage_xy[:, 0], "y": traj.usage_xy[:, 1],
                           "period": [periods.names[c] if c >= 0 else None for c in periods.codes],
                           "hover": [kwic_html(t, int(s), int(e), 50) for t, s, e in
                                     zip(occ["text"], occ["start"], occ["end"])]})
    fig = PSH.plot_trajectory(usages.dropna(subset=["period"]), traj.prototype_frame(), explained=traj.explained,
                              title="Usages of plane and the period prototypes" + (" (shuffled)" if shuffle else ""))
    _finish(text, fig_col, fig, "change",
            {"target": "plane_nn", "shuffled_periods": bool(shuffle), **result.params},
            look_for="shuffled, the two prototypes move together and the p-values become large.",
            page=("views/shift.py", "Tests, intervals and many targets on the Shift page"))


def step_weat() -> None:
    text, fig_col = _columns()
    text.markdown(
        "**Does a model link groups of people with stereotypes?** The Word Embedding Association Test takes two "
        "groups of target words X and Y (e.g. male and female names) and two sets of attribute words A and B (e.g. "
        "career and family). For each target word w, s(w) = its mean cosine similarity to A minus that to B.\n\n"
        "The **effect size d** is the difference of the mean s over X and over Y, divided by the standard deviation "
        "of s over all target words: about 0.2 is small, 0.8 large, the sign says which way. The **p-value** asks how "
        "often a random split of the target words into two groups gives a d at least as large (one-sided); a small p "
        "means the association is unlikely to be an accident of these few words.")
    test = text.selectbox("Try it yourself: choose a test", list(TESTS), format_func=TESTS.get, key="tour_weat_test")
    frame = _weat(test)
    last = frame.sort_values("layer").iloc[-1]
    c1, c2 = fig_col.columns(2)
    c1.metric(f"d (last layer {int(last['layer'])})", f"{last['effect_size']:.2f}")
    c2.metric("p-value", f"{last['p_value']:.3f}")
    fig = PB.plot_effect_sizes(frame, title=f"{test}: effect size d per layer (word level)")
    _finish(text, fig_col, fig, "weat", {"test": test, "level": "word", "layers": "all"},
            look_for="d changes from layer to layer — one number per model hides that; and with so "
                     "few words, even a large d can have a p-value above 0.05.",
            page=("views/bias.py", "Run the test battery on the Bias page"))


def step_lid() -> None:
    text, fig_col = _columns()
    text.markdown(
        "**How many directions do the vectors really use?** The vectors have 384 numbers, but the occurrences of a "
        "word may lie on a much thinner surface inside that space. The *local intrinsic dimension* (LID) estimates, "
        "around each point, how many directions its nearest neighbours spread into (TwoNN: from the ratio of the "
        "distances to the first and second neighbour).\n\n"
        "Ruppik et al. (2025) found that fine-tuning lowers the LID of text from the training domain, and that a "
        "fall in LID comes before the model gets better at its task — a way to watch training without labels. "
        "Here: the LID of the occurrences of a word in each layer of the packaged model.")
    target = text.selectbox("Try it yourself: choose a word", list(TARGETS), format_func=TARGETS.get,
                            key="tour_lid_target")
    n_neighbors = text.select_slider("… and the neighbourhood size L", [10, 20, 40, 80], value=20,
                                     key="tour_lid_neighbors")
    es = demo_embeddings(target)
    records = _lid(es.key, int(n_neighbors), es)
    fig = PT.plot_lid_by_layer(records, title=f"LID of the occurrences of {target.split('_')[0]} per layer "
                                              f"(L = {n_neighbors})")
    _finish(text, fig_col, fig, "lid", {"target": target, "n_neighbors": int(n_neighbors), "estimator": "twonn"},
            look_for="the dimension is far below 384 and grows through the layers, as the model adds "
                     "context to each word.",
            page=("views/dimension.py", "Track LID across fine-tuning checkpoints on the Dimension page"))


#: (key, title, section function) in tour order.
STEPS = [("vector", "An occurrence is a vector", step_vector),
         ("projection", "A projection shows the vectors", step_projection),
         ("clusters", "Clusters as senses: purity and ARI", step_clusters),
         ("shares", "Senses' shares move between periods", step_shares),
         ("change", "How much changed: APD, PRT, JSD", step_change),
         ("weat", "Bias: a WEAT effect size and its p-value", step_weat),
         ("lid", "Local intrinsic dimension", step_lid)]


def draw(step: str) -> None:
    """Draw one step; while the demo's vectors are computed, the job's status line stands in for the figure."""
    fn = {k: f for k, _, f in STEPS}[step]
    try:
        fn()
    except NotReady:
        st.caption("The figure appears here when the demo's vectors are ready (once; later visits are instant).")
    except SenseScopeError as exc:
        widgets.error(exc)

"""The Senses page's sections below the chart, as named functions of what one run of the page shares (PageRun):
agreement with the known senses, the cluster descriptions and naming, and the model x layer comparison."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from analysis import senses as S
from analysis.corpus import kwic_table
from analysis.errors import SenseScopeError
from analysis.plots import senses as P
from ui import cached, jobs, state, widgets
from ui import curate as uc
from ui import explore as ue
from ui import kwic as uk
from ui import senses as us
from ui.widgets import md_escape


class PageRun(NamedTuple):
    """What the sections below the chart share in one run of the page."""
    es: object
    occ: pd.DataFrame
    n: int
    target: str
    layer_name: str
    prep: S.Preprocessing
    seed: int
    X: np.ndarray
    cl: S.ClusterResult
    name_map: dict
    params: dict
    cnames: np.ndarray
    order: list
    signature: str
    names: dict
    layer_spec: object


def known_senses(occ: pd.DataFrame):
    """(gold, one_sense): gold = labels with at least two senses (classifiers, comparison, descriptions); one_sense =
    every labelled occurrence has the same label, a normal case for a stable word: the clusters are still scored
    against it."""
    gold = one_sense = None
    if "label" in occ.columns:
        g = occ["label"].astype("object").where(occ["label"].notna(), None)
        if g.dropna().nunique() >= 2:
            gold = g.to_numpy()
        elif g.notna().sum() >= 2:
            one_sense = g.to_numpy()
    return gold, one_sense


def _split_choice(occ: pd.DataFrame):
    """A train/test split column to evaluate with, if the corpus has one and the user picks it (else None)."""
    split_cols = [c for c in occ.columns if c not in {"label", "text"} and
                  {"train", "test"} <= set(occ[c].astype(str).str.strip().str.lower().unique())]
    if split_cols:
        sc_choice = st.radio("Evaluate with", ["cross-validation"] + split_cols, horizontal=True,
                             key="senses_split",
                             format_func=lambda c: c if c == "cross-validation" else f"train/test split ({c})")
        if sc_choice != "cross-validation":
            return occ[sc_choice].astype(str).str.strip().str.lower().to_numpy()
    return None


def _classifiers(run: "PageRun", gold, one_sense, split):
    """Classifiers that predict the known meanings (nearest centroid, logistic regression): (probe result, note)."""
    es, layer_name, prep, seed, X = run.es, run.layer_name, run.prep, run.seed, run.X
    st.markdown("**Predicting the known meanings**")
    pr, note = None, None
    if gold is None:
        only = pd.Series(one_sense).dropna().astype(str).unique()[0]
        note = (f"Every occurrence has the same gold label ({only!r}): the clusters are scored against it "
                f"(one cluster scores ARI 1). The classifiers, which need two senses, are skipped.")
        st.info(md_escape(note))
    else:
        try:
            pr = us.probe(es.key, layer_name, prep, tuple(gold), None if split is None else tuple(split), seed, X)
        except SenseScopeError as exc:
            note = f"classifiers skipped: {exc}"
            st.info(md_escape(note))
    if pr is not None:
        p1, p2 = st.columns(2)
        p1.metric("Centroid accuracy", f"{pr.centroid_accuracy:.3f}")
        p2.metric("Centroid macro-F1", f"{pr.centroid_macro_f1:.3f}")
        p1.metric("LogReg accuracy", f"{pr.logreg_accuracy:.3f}")
        p2.metric("LogReg macro-F1", f"{pr.logreg_macro_f1:.3f}")
        how = (f"fitted on {pr.n_train} train, scored on {pr.n_test} test occurrences"
               if pr.mode == "split" else
               f"stratified {pr.n_splits}-fold cross-validation over {pr.n_train} occurrences (seed {seed})")
        if pr.notice:
            st.caption(pr.notice)
        st.caption(f"Nearest sense centroid by cosine (the CoarseWSD-20 1-NN method) and logistic "
                   f"regression on standardised vectors; {how}.")
    return pr, note


def gold_scores(run: "PageRun"):
    """Agreement with the known senses: cluster scores, the contingency figure and the classifiers;
    (gold, one_sense, split)."""
    es, occ, n, target, layer_name = run.es, run.occ, run.n, run.target, run.layer_name
    cl, name_map, params = run.cl, run.name_map, run.params
    split = None
    gold, one_sense = known_senses(occ)
    scored = gold if gold is not None else one_sense
    st.subheader("Agreement with known senses")
    if scored is None and "label" in occ.columns and occ["label"].notna().any():
        st.info("Only one occurrence has a gold label; scoring needs at least two. Choose another label column on the "
                "Corpus page, or a corpus with more labelled occurrences.")
    elif scored is None:
        st.info("The corpus has no gold sense labels. Name a label column on the Corpus page to score the clusters.")
    else:
        split = _split_choice(occ)
        mask = np.ones(n, dtype=bool) if split is None else split == "test"
        try:
            scores = S.score_clusters(scored[mask], cl.labels[mask])
            table = S.contingency_table(scored[mask], cl.labels[mask], cluster_names=name_map)
        except SenseScopeError as exc:
            widgets.error(exc)
            scores = None
        if scores is not None:
            m = st.columns(6)
            for col, (lab, val) in zip(m, [("Purity", scores.purity), ("Inverse purity", scores.inverse_purity),
                                           ("Purity F", scores.purity_f), ("ARI", scores.ari), ("NMI", scores.nmi),
                                           ("V-measure", scores.v_measure)]):
                col.metric(lab, f"{val:.3f}")
            st.caption(f"On {scores.n} occurrences with a gold label{' (test split)' if split is not None else ''}: "
                       f"{scores.k} clusters vs {scores.n_labels} gold senses. Purity alone rises with k (one "
                       f"cluster per occurrence has purity 1); read it with inverse purity, their harmonic mean "
                       f"(purity F), ARI or NMI, which do not reward extra clusters.")
            h1, h2 = st.columns([3, 2])
            with h1:
                widgets.figure(P.plot_contingency(table, title="Clusters × gold senses"),
                               name=f"senses_contingency_{target}", params=params, key="senses_contingency")
            with h2:
                pr, note = _classifiers(run, gold, one_sense, split)
                metrics_row = {"model": es.model, "layer": layer_name, **scores.to_dict(),
                               **(pr.to_dict() if pr is not None else {}), "classifier_note": note}
                widgets.table(pd.DataFrame([metrics_row]), name=f"senses_metrics_{target}", params=params,
                              key="senses_metrics", hide_index=True)
    return gold, one_sense, split


def descriptions(run: "PageRun", gold) -> None:
    """What the clusters are about: distinctive words, naming, the occurrences nearest each centre."""
    occ, target, X, cl, name_map, params = run.occ, run.target, run.X, run.cl, run.name_map, run.params
    signature, names = run.signature, run.names
    st.subheader("What the clusters are about")
    forms = uk.target_forms(occ)
    desc, nearest = us.describe(signature, tuple(sorted(names.items())), None if gold is None else uk.signature(gold),
                                X, cl.labels, occ, forms, gold)
    with st.form("senses_naming"):
        st.caption("Name the clusters: the names are used in every figure and export (and by the Shift page).")
        cols = st.columns(min(4, max(1, len(desc))))
        new_names = {}
        for i, row in enumerate(desc.itertuples()):
            new_names[int(row.cluster)] = cols[i % len(cols)].text_input(
                f"Cluster {row.cluster} ({row.size})", value=names.get(int(row.cluster), ""),
                key=f"senses_name_{signature}_{row.cluster}",
                placeholder=row.words.split(", ")[0] if row.words else "")
        if st.form_submit_button("Apply names"):
            names.clear()
            names.update({c: v.strip() for c, v in new_names.items() if v.strip()})
            st.rerun()
    widgets.table(desc, name=f"senses_clusters_{target}", params=params, key="senses_desc", hide_index=True,
                  column_config={"share": st.column_config.NumberColumn(format="%.2f"),
                                 "words": st.column_config.TextColumn("distinctive words (class TF-IDF)",
                                                                      width="large")})
    with st.expander("Occurrences nearest each cluster centre"):
        rows = np.unique(nearest["index"].to_numpy())  # only the few listed occurrences are cut into KWIC lines
        near = nearest.merge(kwic_table(occ.iloc[rows]).reset_index(drop=True).assign(index=rows), on="index")
        near.insert(1, "name", [name_map[int(c)] for c in near["cluster"]])
        widgets.table(near.drop(columns=["index"]), name=f"senses_nearest_{target}", params=params,
                      key="senses_nearest",
                      hide_index=True)


def curation_and_kwic(run: "PageRun", chart, gold) -> None:
    """Curating senses (from the clusters, the selection, search hits or named selections), then the KWIC lines and
    collocates grouped by cluster, curated sense, period and gold label."""
    es, occ, target, X, cl, names, params = run.es, run.occ, run.target, run.X, run.cl, run.names, run.params
    cnames, layer_name, prep = run.cnames, run.layer_name, run.prep
    picked, ex, meta_cols = chart.picked, chart.ex, chart.meta_cols
    picks = {"selection": ue.rows_of(occ, picked)} if picked else {}
    if ex.hits is not None and ex.hits.n:
        picks["hits"] = np.flatnonzero(ex.hits.mask)
    picks.update({f"named:{nm}": ue.rows_of(occ, ids) for nm, ids in ue.named(es).items()})
    uc.section(es, occ, labels=cl.labels, names=dict(names), gold=gold, X=X, picks=picks, params=params,
               source={k: params[k] for k in ("layer", "preprocessing", "clustering", "k", "k_found", "seed")},
               space=f"layer {layer_name}, {prep.describe()}")

    st.subheader("Keyword in context and collocates")
    kw_groups = {"cluster": cnames}
    if uc.curated_labels(es) is not None:
        kw_groups["your sense"] = uc.curation(es).sense_names()
    kw_groups.update({c: occ[c].to_numpy() for c in ("period", "label") if c in meta_cols})
    uk.lines_section(occ, groups=kw_groups, key="senses_kwic", params=params, name=f"senses_kwic_{target}",
                     cache_key=es.key)
    uk.collocates_section(occ, groups=kw_groups, key="senses_coll", params=params, name=f"senses_collocates_{target}",
                          cache_key=es.key)


def comparison(run: "PageRun", gold, one_sense, split, method: str, method_label: str) -> None:
    """Compare models and layers against the gold senses (a background job per request)."""
    es, occ, target, prep, seed, params = run.es, run.occ, run.target, run.prep, run.seed, run.params
    st.subheader("Compare models and layers")
    if gold is None:
        st.info("The comparison scores models against gold senses; this corpus has "
                + ("one only." if one_sense is not None else "none."))
    else:
        n_gold = int(pd.Series(gold).dropna().astype(str).nunique())
        how_k = (f"with k = {n_gold} (the number of gold senses) in every row" if method in ("kmeans", "agglomerative")
                 else "which finds the number of clusters itself (the table's k column gives it for every row)")
        st.caption(f"For every layer of each model (one line per model in the chart, one row per model and layer in "
                   f"the table): {method_label} {how_k}, the vector preparation above, scored as above. Embeddings "
                   f"are cached per model; the comparison runs in the background.")
        choices = state.known_models()
        current = state.get("model") or ""
        if current not in choices:
            choices.append(current)
        pick = st.multiselect("Models", choices, default=[current], key="senses_cmp_models",
                              format_func=lambda m: "all-MiniLM-L6-v2 (packaged)" if m == "" else m)
        extra = st.text_input("More models (hub ids in the local cache or local folders, comma-separated)",
                              key="senses_cmp_extra")
        typed, refused = [], False
        for m in (m.strip() for m in extra.split(",")):
            if not m:
                continue
            try:
                typed.append(state.checked_model(m))  # a path must lie under the allowed folders
            except SenseScopeError as exc:
                widgets.error(exc)
                refused = True
        models = list(dict.fromkeys(pick + typed))
        split_t = None if split is None else tuple(split)
        cmp_key = us.comparison_key(es.key, models, tuple(gold), split_t, method, prep, seed)
        if st.button("Compare", key="senses_cmp_go", disabled=not models or refused):
            st.session_state["senses_cmp_request"] = (target, cmp_key, models)
        request = st.session_state.get("senses_cmp_request")
        if request is not None and request[0] == target:
            _, req_key, req_models = request
            if jobs.registry().get(req_key) is None:  # about to start: resolve the (Streamlit-cached) models here
                loaded = []
                for mname in req_models:
                    try:
                        loaded.append((mname, cached.model(mname or None)))
                    except SenseScopeError:
                        loaded.append((mname, None))  # the job reports it with the other models' results
            else:
                loaded = [(m, None) for m in req_models]
            try:
                found = jobs.checked(req_key, us.comparison_work, occ, loaded, tuple(gold), split_t, method, prep, seed,
                                     label=f"Comparing {len(req_models)} model(s) over their layers")
            except Exception as exc:
                widgets.error(exc)
                st.session_state.pop("senses_cmp_request", None)
                found = None
            if found is not None:
                st.session_state.pop("senses_cmp_request", None)
                st.session_state["senses_comparison"] = (target, found[0], found[1], req_models)
        cmp = st.session_state.get("senses_comparison")
        if cmp is not None and cmp[0] == target:
            _, comp, failed, cmp_models = cmp
            for line in failed:
                st.error(md_escape(line))
        if cmp is not None and cmp[0] == target and comp is not None:
            score_names = {k: v for k, v in P.SCORE_NAMES.items() if k in comp.columns}
            score = st.selectbox("Score", list(score_names), format_func=score_names.get, key="senses_cmp_score",
                                 index=list(score_names).index("ari"))
            cmp_params = {**params, "models": cmp_models, "k": "gold", "k_gold": n_gold}
            widgets.figure(P.plot_layer_comparison(comp, score=score,
                                                   title=f"{score_names[score]} by layer — {target}"),
                           name=f"senses_comparison_{score}_{target}", params=cmp_params, key="senses_cmp_fig")
            widgets.table(comp, name=f"senses_comparison_{target}", params=cmp_params, key="senses_cmp_table",
                          hide_index=True)

"""The Shift page's sections for one term, as named functions of what one run of the page shares (a ShiftRun): the
vectors, the periods, the sense labels, the test settings, the sense shares, the change between periods, the
per-layer sweep, and the trajectory with its typical occurrences and the shift.json download."""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from analysis import shift as S
from analysis.corpus import kwic, kwic_html
from analysis.errors import SenseScopeError
from analysis.layers import rule_of as layer_rule
from analysis.plots import shift as P
from analysis.senses import layer_label, layer_vectors
from ui import state, widgets
from ui import curate as uc
from ui import shift as cs
from ui.widgets import md_escape


class ShiftRun(NamedTuple):
    """What the sections share in one run of the page."""
    es: object
    occ: pd.DataFrame
    X: np.ndarray
    layer_spec: object
    layer_name: str
    target: str
    base_params: dict


class Periods(NamedTuple):
    """The periods, how they were asked for (``kwargs`` of make_periods) and whether thin periods are left out."""
    periods: S.Periods
    kwargs: dict
    drop_thin: bool


class Senses(NamedTuple):
    """The sense labels of the occurrences, their names, where they came from, and the source chosen."""
    labels: np.ndarray
    sense_names: dict | None
    cluster_info: dict
    source: str


class Tests(NamedTuple):
    """The permutation and bootstrap settings, as ShiftSettings and as manifest parameters."""
    settings: S.ShiftSettings
    params: dict


def valid(key: str, options) -> list:
    """``options``, after forgetting a kept choice (ui.state.PERSISTENT_KEYS) that is not among them any more."""
    options = list(options)
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    return options


def vectors(es, occ: pd.DataFrame) -> ShiftRun:
    """The vectors to compare: the shift default (a layer mix) or the sidebar layer."""
    layer = state.current_layer(es)
    default_label = layer_label(es.layers, S.DEFAULT_LAYER)
    rule = layer_rule(S.DEFAULT_LAYER)
    default_label += f", the {rule}" if rule else ""
    vector_choice = st.radio(
        "Vectors", ["default", "sidebar"], horizontal=True, key="shift_vectors",
        format_func={"default": f"Mean of layers {default_label} (default for shift; see BENCHMARKS.md)",
                     "sidebar": f"Sidebar layer ({layer})"}.get)
    layer_spec = S.DEFAULT_LAYER if vector_choice == "default" else int(layer)
    X = layer_vectors(es.vectors, es.layers, layer_spec)
    layer_name = layer_label(es.layers, layer_spec)
    target = str(occ["target"].iloc[0]) if "target" in occ.columns and len(occ) else state.get("target")
    base_params = {"corpus": state.corpus_label(), "target": target, "model": es.model, "layer": layer_name,
                   "embedding_key": es.key}
    return ShiftRun(es, occ, X, layer_spec, layer_name, target, base_params)


def _period_kwargs(occ: pd.DataFrame) -> dict:
    """How the periods are made: the corpus's period column, or year bins (equal width, equal count, own edges)."""
    meta = [c for c in occ.columns if c not in {"occurrence_id", "doc_id", "text", "start", "end", "form", "target"}]

    def _few_values(col: str) -> bool:
        return 2 <= occ[col].nunique(dropna=True) <= 30

    period_cols = ["period"] if "period" in occ.columns and occ["period"].notna().any() else []
    period_cols += [c for c in meta if c not in period_cols and c not in {"year", "label"}
                    and not pd.api.types.is_float_dtype(occ[c]) and _few_values(c)]
    year_cols = [c for c in meta
                 if (c == "year" or "year" in c.lower() or "date" in c.lower()) and occ[c].notna().any()]
    modes = {}
    if period_cols:
        modes["column"] = "The corpus's period column"
    if year_cols:
        modes.update({"equal-width": "Equal-width year bins", "equal-count": "Equal-count year bins",
                      "edges": "Year bins with my own edges"})
    if not modes:
        st.error("The corpus has neither a period column nor a year column. Name one on the Corpus page (Columns).")
        st.page_link("views/corpus.py", label="Corpus page")
        st.stop()
    c1, c2, c3 = st.columns([2, 1, 2])
    mode = c1.radio("Periods from", valid("shift_mode", modes), format_func=modes.get, key="shift_mode")
    kwargs: dict = {"mode": mode}
    if mode == "column":
        kwargs["period_column"] = c2.selectbox("Column", valid("shift_period_col", period_cols),
                                               key="shift_period_col")
        if year_cols:
            kwargs["year_column"] = year_cols[0]  # orders non-numeric period names by their median year
    else:
        kwargs["year_column"] = c2.selectbox("Year column", valid("shift_year_col", year_cols),
                                             key="shift_year_col")
        if mode == "edges":
            yrs, _, _ = S.year_values(occ[kwargs["year_column"]])
            fin = yrs[np.isfinite(yrs)]
            guess = ", ".join(f"{v:g}" for v in np.linspace(fin.min(), fin.max(), 3).round()) if fin.size else ""
            text = c3.text_input("Edges (increasing years, comma-separated)", value=guess, key="shift_edges",
                                 help="Bins are [e0, e1), [e1, e2), …, and the last one includes its upper edge.")
            try:
                kwargs["edges"] = [float(t) for t in text.replace(";", ",").split(",") if t.strip()]
            except ValueError:
                st.error(f"Cannot read the edges {md_escape(repr(text))}: give years separated by commas, e.g. "
                         f"1810, 1900, 2010.")
                st.stop()
        else:
            kwargs["n_bins"] = c3.slider("Number of bins", 2, 12, S.DEFAULT_N_BINS, key="shift_bins")
    return kwargs


def periods(run: ShiftRun) -> Periods:
    """The periods (from a column or year bins), their counts, and what was left out."""
    occ, target, base_params = run.occ, run.target, run.base_params
    st.subheader("Periods")
    kwargs = _period_kwargs(occ)
    try:
        periods = S.make_periods(occ, **kwargs)
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    # Always drawn (not only when this target has a thin period): ranking many targets below honours it too, and each
    # target there has periods of its own.
    small = [f"{n} ({c})" for n, c in zip(periods.names, periods.counts) if c < S.MIN_PERIOD_COUNT]
    drop_thin = st.checkbox(f"Leave out periods with fewer than {S.MIN_PERIOD_COUNT} occurrences", value=True,
                            key="shift_drop_small", help="Here and for every target when ranking many targets below.")
    if small:
        st.caption(("Left out: " if drop_thin else "Thin: ") + ", ".join(md_escape(x) for x in small))
    if drop_thin:
        periods = periods.drop_small()
    if sum(periods.counts):  # no chart when no period has occurrences (the error below says why)
        counts_fig = P.plot_period_counts(periods.counts_frame(), thin_count=S.THIN_PERIOD_COUNT)
        widgets.figure(counts_fig, name=f"{target}_period_counts",
                       params={**base_params, "periods": periods.to_dict()}, key="shift_counts_fig")
    if periods.n_left_out:
        st.info(f"{periods.n_left_out} of {len(occ)} occurrences have no period and are left out "
                f"(missing: {periods.n_missing}, not a year: {periods.n_unparsable}, outside the edges: "
                f"{periods.n_out_of_range}, in left-out periods: {periods.n_dropped}).")
    for w in periods.warnings:
        st.warning(md_escape(w))
    try:
        S.check_periods(periods, how_to_drop="leave such periods out (the option above)")
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    return Periods(periods, kwargs, drop_thin)


def senses(run: ShiftRun, periods: S.Periods) -> Senses:
    """The sense labels: curated on the Senses page, its clusters, k-means here (a background job) or gold labels."""
    es, occ, X = run.es, run.occ, run.X
    st.subheader("Sense shares per period")
    inside = periods.codes >= 0
    from_senses = st.session_state.get("cluster_labels")
    sources = {}
    curated = uc.curated_labels(es)  # the senses curated on the Senses page, saved beside the embedding set
    if curated is not None:
        sources["curated"] = "My senses (curated on the Senses page)"
    if from_senses is not None and len(from_senses) == len(occ):
        sources["senses"] = "Clusters from the Senses page"
    sources["kmeans"] = "Cluster here (k-means, k by silhouette)"
    if "label" in occ.columns and occ["label"].notna().any():
        sources["label"] = "Gold sense labels of the corpus"
    c1, c2, c3 = st.columns([2, 1, 1])
    # The key follows the available sources, so that clusters made on the Senses page become the default once they
    # exist.
    source = c1.radio("Senses", list(sources), format_func=sources.get,
                      key=f"shift_sense_source_{'_'.join(sources)}", horizontal=True)
    sense_names = None
    if source == "curated":
        labels = curated
        sense_names = uc.curated_names(es)
        cur = uc.curation(es)
        cluster_info = S.sense_info(f"curated senses (version {cur.version})", len(set(labels[labels >= 0])))
        st.caption(f"Your curated senses, version {cur.version} ({len(cur.stack) - 1} edits; edit them on the Senses "
                   f"page). Occurrences marked as noise are left out of the shares.")
    elif source == "senses":
        labels = np.asarray(from_senses, dtype=int)
        sense_names = {int(k): str(v) for k, v in (st.session_state.get("cluster_names") or {}).items()}
        cluster_info = S.sense_info("Senses page", len(set(labels[labels >= 0])))
    elif source == "label":
        labels, sense_names = S.labels_from_column(occ["label"])
        cluster_info = S.sense_info("gold label column", len(sense_names))
    else:
        labels, cluster_info = _clusters_here(X, inside, len(occ), c2, c3)
    return Senses(labels, sense_names, cluster_info, source)


def _clusters_here(X: np.ndarray, inside: np.ndarray, n: int, c2, c3) -> tuple[np.ndarray, dict]:
    """k-means (k by silhouette, with the one-sense test) of the usages that have a period, as a background job."""
    k_text = c2.selectbox("k", ["auto"] + list(range(2, 11)), key="shift_k")
    seed = int(c3.number_input("Seed", value=0, step=1, key="shift_cluster_seed"))
    try:
        found = cs.job(cs.key_of("cluster", X[inside], "kmeans", k_text, seed), "Clustering the usages",
                       cs.cluster_work, X[inside], "kmeans", k_text, seed)
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    if found is None:  # running: the status line above updates, and the page reruns when it is done
        st.stop()
    lab, k_found, sil, notice = found
    labels = np.full(n, S.NOISE_LABEL)
    labels[inside] = lab
    cluster_info = S.sense_info("k-means on this page", k_found, method="kmeans", k_choice=k_text, seed=seed,
                                silhouette=sil, notice=notice,
                                min_silhouette=S.DEFAULT_MIN_SILHOUETTE if k_text == "auto" else None)
    st.caption(f"k-means on the usages that have a period (unit length, common mean removed): "
               f"k = {k_found}" + (f" chosen by silhouette (one cluster when even the best silhouette is below "
                                   f"{S.DEFAULT_MIN_SILHOUETTE}: a stable word is not split along time)"
                                   if k_text == "auto" else "") + ". Name the clusters on the "
               "Senses page to see the names here." + (f" {md_escape(notice)}" if notice else ""))
    return labels, cluster_info


def tests() -> Tests:
    """Permutations, bootstrap resamples, interval, seed and the appearance threshold."""
    with st.expander("Test settings", expanded=False):
        t1, t2, t3, t4, t5 = st.columns(5)
        n_perm = int(t1.number_input("Permutations", 0, 20000, S.DEFAULT_N_PERMUTATIONS, step=100, key="shift_perm",
                                     help="Shuffles of the period labels; "
                                          "p = (count(null ≥ observed) + 1) / (n + 1)."))
        n_bootstrap = int(t2.number_input("Bootstrap resamples", 0, 20000, S.DEFAULT_N_BOOT, step=100,
                                          key="shift_boot"))
        ci = float(t3.select_slider("Interval", options=[0.8, 0.9, 0.95, 0.99], value=S.DEFAULT_CI, key="shift_ci"))
        seed_tests = int(t4.number_input("Seed", value=0, step=1, key="shift_seed"))
        appear = int(t5.number_input("Appears with ≥ occurrences", 1, 50, 1, key="shift_appear",
                                     help="How many occurrences a sense needs in a period to count as having "
                                          "appeared there (1 = its first occurrence; more ignores stray, possibly "
                                          "misclustered usages)."))
    settings = S.ShiftSettings(n_permutations=n_perm, n_bootstrap=n_bootstrap, ci=ci, seed=seed_tests,
                               appear_min_count=appear)
    test_params = {"n_permutations": n_perm, "n_bootstrap": n_bootstrap, "ci": ci, "seed": seed_tests,
                   "appear_min_count": appear}
    return Tests(settings, test_params)


def compare(run: ShiftRun, periods: S.Periods, senses: Senses, tests: Tests):
    """The comparison of the periods (a background job): (result, params); stops the page while it runs."""
    analyse_args = (run.X, periods, senses.labels, senses.sense_names, tests.settings)
    try:
        result = cs.job(cs.key_of("analyse", *analyse_args), "Comparing periods (permutation tests and bootstrap)",
                        cs.analyse_work, *analyse_args)
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    if result is None:
        st.stop()
    params = {**run.base_params, "periods": periods.to_dict(), "senses": senses.cluster_info, **result.params}
    return result, params


def shares(run: ShiftRun, result, params: dict, tests: Tests) -> None:
    """Each sense's share per period with intervals, when it appears and when it becomes the largest."""
    target, ci, n_bootstrap = run.target, tests.settings.ci, tests.settings.n_bootstrap
    shares_frame = result.shares.to_frame()
    kind = st.radio("Chart", ["bar", "area"], format_func={"bar": "Bars with intervals",
                                                           "area": "Stacked area"}.get, horizontal=True,
                    key="shift_share_kind")
    widgets.figure(P.plot_sense_shares(shares_frame, kind=kind), name=f"{target}_sense_shares", params=params,
                   key="shift_shares_fig")
    marks = []
    for name, first, largest in zip(result.shares.sense_names, result.shares.first_period,
                                    result.shares.largest_from):
        name, first, largest = (md_escape(v) if v else v for v in (name, first, largest))
        text = f"**{name}**: first appears in {first}" if first else f"**{name}**: never reaches the threshold"
        text += f", largest from {largest}" if largest else ", never the largest"
        marks.append(text)
    st.markdown("  \n".join(marks))
    st.caption(f"Bars: share of each sense in each period; whiskers: {ci:.0%} bootstrap intervals ({n_bootstrap} "
               f"resamples of each period's occurrences). From the second period on, ▲ = the sense first appears, "
               f"★ = it first becomes the largest sense.")
    widgets.table(shares_frame, name=f"{target}_sense_shares", params=params, key="shift_shares_table",
                  hide_index=True)


def metrics(run: ShiftRun, result, params: dict, periods: S.Periods, tests: Tests) -> None:
    """APD, PRT and JSD between the periods, with p-values and intervals, and their course over time."""
    target, s = run.target, tests.settings
    n_perm, seed_tests, ci = s.n_permutations, s.seed, s.ci
    st.subheader("Change between periods")
    table = result.metric_table()
    st.dataframe(table, hide_index=True, key="shift_metric_table",
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns
                                if c in ("APD", "PRT", "JSD")}
                 | {c: st.column_config.NumberColumn(format="%.4f") for c in table.columns if c.endswith(" p")})
    st.caption(f"p-values from {n_perm} permutations of the period labels (seed {seed_tests}; smallest possible "
               f"{1 / (n_perm + 1):.4f}), not adjusted for the number of comparisons. Intervals: {ci:.0%} percentile "
               f"bootstrap; the PRT and JSD intervals are biased upwards (resampling adds spurious differences, so "
               f"they can lie above the observed value): read them with the p-value. JSD maximum is ln 2 ≈ 0.693.")
    pairs = result.pairs_frame()
    widgets.table(pairs, name=f"{target}_shift_pairs", params=params, key="shift_pairs_table", hide_index=True)
    if periods.n_periods > 2:
        widgets.figure(P.plot_metrics_over_time(pairs), name=f"{target}_shift_over_time", params=params,
                       key="shift_time_fig")
    else:
        st.caption("With two periods there is one comparison; the line charts over time appear with three or more.")


def per_layer(run: ShiftRun, params: dict, periods: S.Periods, senses: Senses, tests: Tests) -> None:
    """APD, PRT and JSD at every hidden layer (on request, a background job)."""
    es, target = run.es, run.target
    labels, sense_names, settings = senses.labels, senses.sense_names, tests.settings
    with st.expander("Per layer: how much does the answer depend on the layer?", expanded=False):
        st.caption("APD, PRT and JSD between the first and the last period at every hidden layer, with the tests "
                   "above and the same sense labels (so JSD moves only through its resampling). Runs in the "
                   "background.")
        layer_args = (es.vectors, tuple(es.layers), periods, labels, sense_names, settings)
        layer_key = cs.key_of("layers", es.key, periods, labels, sense_names, settings)
        if st.button("Score every layer", key="shift_layers_go"):
            st.session_state["shift_layers_request"] = layer_key
        if st.session_state.get("shift_layers_request") == layer_key:
            try:
                by_layer = cs.job(layer_key, f"Scoring {len(es.layers)} layers", cs.layers_work, *layer_args)
            except SenseScopeError as exc:
                widgets.error(exc)
                by_layer = None
                st.session_state.pop("shift_layers_request", None)
            if by_layer is not None:
                layer_params = {**params, "layer": "every hidden layer"}
                widgets.figure(P.plot_layer_sweep(by_layer), name=f"{target}_shift_by_layer", params=layer_params,
                               key="shift_layers_fig")
                widgets.table(by_layer, name=f"{target}_shift_by_layer", params=layer_params,
                              key="shift_layers_table", hide_index=True)


def trajectory(run: ShiftRun, result, params: dict, periods: S.Periods, senses: Senses) -> None:
    """The period prototypes in a PCA of the usages, the most typical occurrences of each period, and shift.json."""
    es, occ, X, target, layer_name = run.es, run.occ, run.X, run.target, run.layer_name
    st.subheader("Trajectory and typical occurrences")
    n_typ = st.slider("Typical occurrences per period", 1, 20, S.DEFAULT_N_TYPICAL, key="shift_typical")
    traj = cs.trajectory(X, periods, n_typ)
    usages = pd.DataFrame({"x": traj.usage_xy[:, 0], "y": traj.usage_xy[:, 1],
                           "period": [periods.names[c] if c >= 0 else None for c in periods.codes],
                           "hover": [kwic_html(t, s, e, 50) for t, s, e in
                                     zip(occ["text"], occ["start"], occ["end"])]})
    widgets.figure(P.plot_trajectory(usages.dropna(subset=["period"]), traj.prototype_frame(),
                                     explained=traj.explained),
                   name=f"{target}_trajectory", params={**params, "projection": "PCA of the usages with a period"},
                   key="shift_traj_fig")
    st.caption("Each period's prototype (mean vector) in a PCA of all usages with a period; PCA is linear, so each "
               "diamond sits at the centroid of its period's points. Arrows join the prototypes in time order.")
    typ = traj.typical_frame()
    if len(typ):
        rows = occ.iloc[typ["occurrence_id"].to_numpy()]
        parts = [kwic(t, s, e, 70) for t, s, e in zip(rows["text"], rows["start"], rows["end"])]
        typ = typ.assign(left=[p[0] for p in parts], match=[p[1] for p in parts], right=[p[2] for p in parts],
                         doc_id=rows["doc_id"].astype(str).to_numpy())
        for p in periods.names:
            sub = typ[typ["period"] == p]
            st.markdown(f"**{md_escape(p)}** — most typical of the period (cosine to its prototype)")
            st.dataframe(sub[["similarity", "left", "match", "right", "doc_id"]], hide_index=True,
                         key=f"shift_typ_{p}", column_config={
                             "similarity": st.column_config.NumberColumn(format="%.3f", width="small"),
                             "left": st.column_config.TextColumn(width="large"),
                             "match": st.column_config.TextColumn(width="small"),
                             "right": st.column_config.TextColumn(width="large")})
        with st.expander("All typical occurrences as one table (CSV)"):
            widgets.table(typ, name=f"{target}_typical", params=params, key="shift_typ_table", hide_index=True)

    shift_report = S.ShiftReport(result=result, trajectory=traj, occurrences=occ, target=target, model=es.model,
                                 layer=layer_name, senses=senses.cluster_info, parameters=params)
    st.download_button("Download everything above as shift.json", key="shift_json",
                       data=lambda: json.dumps(shift_report.to_dict(), indent=1, ensure_ascii=False),
                       file_name=f"{target}_shift.json", mime="application/json", on_click="ignore")

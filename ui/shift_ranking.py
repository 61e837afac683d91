"""The Shift page's "Many targets" section: rank every target of the corpus by its change between the first and the
last period (a background job), and score the ranking against gold change scores."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from analysis import shift as S
from analysis._util import natural_sorted
from analysis.errors import SenseScopeError
from analysis.plots import shift as P
from ui import cached, state, widgets
from ui import shift as cs
from ui.shift_sections import Periods, Senses, ShiftRun, Tests, valid
from ui.widgets import md_escape


def many_targets(run: ShiftRun, pr: Periods, senses: Senses, tests: Tests) -> None:
    """Rank many targets (each with its own periods, clusters and tests) and compare with gold change scores."""
    layer_spec, base_params, kwargs, drop_thin, source = run.layer_spec, run.base_params, pr.kwargs, pr.drop_thin, \
        senses.source
    n_perm, n_bootstrap, seed_tests = (tests.settings.n_permutations, tests.settings.n_bootstrap,
                                       tests.settings.seed)
    test_params = tests.params
    st.subheader("Many targets")
    st.caption("Rank every target of the corpus by the change between its first and last period (each target gets "
               "its own periods, clusters and tests, with the settings above), and compare with gold change scores.")
    if state.get("corpus_kind") == "index":
        st.info("With a corpus index, rank many targets from the command line, which reads each target's occurrences "
                "out of core: `python -m analysis shift-rank INDEX --targets a,b,c --out DIR`.")
        st.stop()
    try:
        docs = state.documents()
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    has_targets = {"start", "end"} <= set(docs.columns) and "target" in docs.columns
    if has_targets:
        all_targets = natural_sorted(docs["target"].astype(str).unique())
        st.caption(f"The corpus holds {len(all_targets)} targets: {', '.join(md_escape(t) for t in all_targets[:12])}"
                   + ("…" if len(all_targets) > 12 else ""))
        wanted = all_targets
    else:
        text = st.text_input("Targets to find, separated by commas", key="shift_rank_targets",
                             value=state.get("target") or "")
        wanted = [t.strip() for t in text.split(",") if t.strip()]
    senses_for_rank = "column" if source == "label" else "clusters"
    search = None if has_targets else {"regex": bool(state.get("regex")), "whole_word": bool(state.get("whole_word")),
                                       "case_sensitive": bool(state.get("case_sensitive")),
                                       "labelled_hits": state.labelled_hits()}
    rank_key = cs.key_of("rank", state.settings_key(), wanted, repr(layer_spec), json.dumps(kwargs, default=str),
                         senses_for_rank, n_perm, n_bootstrap, seed_tests, drop_thin)
    if st.button(f"Rank {len(wanted)} targets", key="shift_rank_button", disabled=len(wanted) < 2,
                 help="Embeds every target's occurrences (cached) and compares the first and the last period."):
        st.session_state["shift_rank_pending"] = rank_key
    saved = st.session_state.get("shift_rank_result")
    if st.session_state.get("shift_rank_pending") == rank_key and (saved is None or saved[0] != rank_key):
        try:  # the model is resolved here: the work runs in a worker thread, which must not call Streamlit
            rank_options = S.RankOptions.build(senses=senses_for_rank, n_permutations=n_perm, n_bootstrap=n_bootstrap,
                                               seed=seed_tests, drop_thin_periods=drop_thin, **kwargs)
            done = cs.job(rank_key, f"Ranking {len(wanted)} targets", cs.rank_work, docs, (wanted, search),
                          (cached.model(state.model_name()), state.model_name()), layer_spec, rank_options)
        except SenseScopeError as exc:
            st.session_state.pop("shift_rank_pending", None)
            widgets.error(exc)
            done = None
        if done is not None:
            st.session_state["shift_rank_result"] = (rank_key, *done)
            st.session_state.pop("shift_rank_pending", None)
    saved = st.session_state.get("shift_rank_result")
    if saved is not None and saved[0] == rank_key:
        _, ranking, skipped = saved
        rank_params = {**base_params, "targets": wanted, "periods": kwargs, "senses": source,
                       "compared": "first vs last period", "drop_thin_periods": drop_thin, **test_params}
        for t, why in skipped.items():
            st.warning(f"{md_escape(t)} left out: {md_escape(why)}")
        metric = st.radio("Rank by", valid("shift_rank_metric", [m for m in S.METRICS if ranking[m].notna().any()]),
                          horizontal=True,
                          format_func=lambda m: m.upper(), key="shift_rank_metric")
        widgets.figure(P.plot_ranking(ranking, metric=metric), name=f"ranking_{metric}", params=rank_params,
                       key="shift_rank_fig")
        widgets.table(ranking, name="ranking", params=rank_params, key="shift_rank_table", hide_index=True)

        gold_scores(ranking, rank_params)


def gold_scores(ranking: pd.DataFrame, rank_params: dict) -> None:
    """The ranking against gold change scores (an uploaded file or the corpus's DWUG stats): rho, scatter, accuracy."""
    st.markdown("**Gold change scores**")
    gold = None
    stats_file = None
    if state.get("corpus_kind") in ("demo", "path"):
        root = state.corpus_file()  # resolved and under the allowed roots (documents() was read from it)
        cand = root / "stats" / "opt" / "stats_groupings.csv"
        stats_file = cand if cand.exists() else None
    up = st.file_uploader("Gold file: TSV target<TAB>score (e.g. SemEval-2020 graded or binary truth) or DWUG "
                          "stats_groupings.csv", type=["tsv", "txt", "csv"], key="shift_gold_upload")
    use_stats = stats_file is not None and st.checkbox(f"Use the corpus's DWUG {stats_file.name}", value=up is None,
                                                      key="shift_gold_stats")
    try:
        if up is not None:
            gold = S.read_gold(up.getvalue(), name=up.name)
        if use_stats:
            g2 = S.read_gold(stats_file)
            gold = g2 if gold is None else gold.merged(g2)
        if gold is not None:
            rule = st.radio("Binary decision", list(S.BINARY_RULES), horizontal=True, key="shift_binary_rule",
                            format_func={"mean": "metric above its mean over the targets",
                                         "permutation": "permutation p < 0.05"}.get)
            ev = S.evaluate_ranking(ranking, gold, binary_rule=rule)
            gold_params = {**rank_params, "gold": gold.source, "binary_rule": rule}
            if gold.graded is not None:
                cols = st.columns(3)
                for col, m in zip(cols, S.METRICS):
                    rho = ev.spearman.get(m, float("nan"))
                    col.metric(f"Spearman ρ, {m.upper()}", "n/a" if not np.isfinite(rho) else f"{rho:.3f}",
                               help=f"n = {ev.n_graded} targets with gold; "
                                    f"p = {ev.spearman_p.get(m, float('nan')):.3g}")
                df = ranking.assign(gold=ev.gold_column(gold, ranking["target"]))
                m = st.radio("Scatter", valid("shift_gold_metric", [m for m in S.METRICS
                                                                     if ranking[m].notna().any()]), horizontal=True,
                             format_func=lambda m: m.upper(), key="shift_gold_metric")
                widgets.figure(P.plot_metric_vs_gold(df, metric=m, rho=ev.spearman.get(m)), name=f"{m}_vs_gold",
                               params=gold_params, key="shift_gold_fig")
            if ev.accuracy:
                cols = st.columns(3)
                for col, m in zip(cols, S.METRICS):
                    if m in ev.accuracy:
                        col.metric(f"Binary accuracy, {m.upper()}", f"{ev.accuracy[m]:.2f}",
                                   help=f"n = {ev.n_binary}; rule: {rule}")
            if ev.unmatched_targets:
                st.caption(f"No gold score for: {', '.join(md_escape(t) for t in ev.unmatched_targets)}")
            st.download_button("spearman.json", key="shift_spearman_json", mime="application/json",
                               data=json.dumps(ev.spearman_json(), indent=1, default=str),
                               file_name="spearman.json", on_click="ignore")
    except SenseScopeError as exc:
        widgets.error(exc)

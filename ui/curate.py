"""Sense curation on the Senses page: merge, split, move, rename, mark as noise, undo (analysis.curation does it).

``curation(es)``       the saved curation of the embedding set (None if there is none), reloaded when its log changes
``curated_labels(es)`` the curated sense of each occurrence (int, -1 = noise) or None: what the Shift page uses for
                       "my senses", with ``curated_names(es)`` ({sense id: name})
``section(...)``       the curation controls, the scores of the curated senses and their contingency table, the
                       edit log and the CSV export with a manifest of every edit

The first edit starts the curation from the clusters shown above it; it is saved beside the embedding set in the
cache, so it is there again after a restart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from analysis import curation as C
from analysis import export
from analysis import senses as S
from analysis.errors import SenseScopeError
from analysis.plots import senses as P
from ui import widgets
from ui.explore import clean_choice
from ui.widgets import md_escape

_HELD = "_curations"
_MSG = "curate_message"
_GEN = "curate_generation"


def _log_stamp(key: str):
    try:
        st_ = (C.senses_dir(key) / C.LOG).stat()
    except FileNotFoundError:
        return None
    return (st_.st_mtime_ns, st_.st_size)


def curation(es) -> C.Curation | None:
    """The curation of ``es`` (bound to its occurrences; check ``.stale``), kept in the session while its log on disk
    is unchanged."""
    stamp = _log_stamp(es.key)
    if stamp is None:
        return None
    held = st.session_state.setdefault(_HELD, {}).get(es.key)
    if held is not None and held[0] == stamp:
        return held[1]
    try:
        cur = C.open_curation(es.key, es.occurrences.reset_index(drop=True))
    except SenseScopeError as exc:
        widgets.error(exc)
        return None
    st.session_state[_HELD][es.key] = (stamp, cur)
    return cur


def curated_labels(es) -> np.ndarray | None:
    """The curated sense id of each occurrence of ``es`` (-1 = noise), or None when there is no usable curation."""
    cur = curation(es)
    if cur is None or cur.stale or len(cur.labels) != es.n:
        return None
    return cur.labels.copy()


def curated_names(es) -> dict[int, str]:
    """{sense id: name} of the curated senses (every sense in use, default names included); {} without a curation."""
    cur = curation(es)
    if cur is None or cur.stale:
        return {}
    return {int(s): cur.name_of(s) for s in cur.senses if s != C.NOISE}


def _remember(cur: C.Curation, message: str) -> None:
    st.session_state.setdefault(_HELD, {})[cur.key] = (_log_stamp(cur.key), cur)
    st.session_state[_MSG] = message
    st.session_state[_GEN] = st.session_state.get(_GEN, 0) + 1


def _current(es, occ, labels, names, source) -> C.Curation:
    """The curation to edit: the saved one, or a new one started from the clusters above."""
    cur = curation(es)
    if cur is None:
        cur = C.start_curation(es.key, occ, labels, names, source=source)
    return cur


def _apply(es, occ, labels, names, source, edit, message: str) -> None:
    """Run ``edit(curation)``; on success remember it and rerun, else show why (nothing was changed)."""
    try:
        cur = _current(es, occ, labels, names, source)
        edit(cur)
    except SenseScopeError as exc:
        widgets.error(exc)
        return
    _remember(cur, f"{message} (version {cur.version}).")
    st.rerun()


def _fmt(cur_or_none, labels, names):
    """Sense labels for the pickers: the name (stable while the sense keeps it; sizes are in the caption)."""
    if cur_or_none is not None:
        return cur_or_none.name_of
    return lambda s: names.get(s) or ("noise" if s == -1 else f"sense {s}")


def _sizes_caption(cur_or_none, labels, fmt) -> None:
    if cur_or_none is not None:
        sizes = cur_or_none.sizes()
    else:
        ids, counts = np.unique(labels, return_counts=True)
        sizes = {int(i): int(c) for i, c in zip(ids, counts)}
    order = sorted(sizes, key=lambda s: (s < 0, s))  # noise last
    st.caption("Sizes: " + ", ".join(f"{md_escape(fmt(s))} {sizes[s]}" for s in order) + ".")


def _edit_controls(es, occ, labels, names, source, X, picks: dict, space: str) -> None:
    cur = curation(es)
    cur = None if cur is not None and cur.stale else cur
    senses = [s for s in (cur.senses if cur is not None else [int(v) for v in np.unique(np.asarray(labels))]) if s != C.NOISE]
    fmt = _fmt(cur, labels, names)
    _sizes_caption(cur, labels, fmt)
    # The pickers are new widgets after every successful edit (their keys carry a count of them): a choice made on
    # the senses before the edit (whose ids and names it changed) is not carried over; a refused edit keeps them.
    v = f"_g{st.session_state.get(_GEN, 0)}"
    for key, opts, multi in (("curate_merge", senses, True), ("curate_split", senses, False),
                             ("curate_move_src", list(picks) or ["(nothing selected)"], False),
                             ("curate_move_to", senses + ["new", C.NOISE], False), ("curate_rename", senses, False),
                             ("curate_noise", senses, True)):
        clean_choice(key + v, opts, multi=multi)
    run = lambda edit, msg: _apply(es, occ, labels, names, source, edit, msg)  # noqa: E731
    a, b = st.columns(2)
    with a.container(border=True):
        merge = st.multiselect("Merge senses", senses, key="curate_merge" + v, format_func=fmt)
        m1, m2 = st.columns([2, 1])
        new_name = m1.text_input("Name of the merged sense (optional)", key="curate_merge_name" + v)
        if m2.button("Merge", key="curate_merge_go"):
            run(lambda c: c.merge(merge, name=new_name), f"Merged {len(merge)} senses")
    with b.container(border=True):
        s1, s2, s3 = st.columns([2, 1, 1])
        split = s1.selectbox("Split a sense", senses, key="curate_split" + v, format_func=fmt)
        k = int(s2.number_input("into k", 2, 20, 2, key="curate_split_k" + v))
        seed = int(s3.number_input("seed", 0, 2**31 - 1, 0, key="curate_split_seed" + v))
        if st.button("Split", key="curate_split_go", help=f"k-means on the vectors used above ({space})"):
            run(lambda c: c.split(split, X, k=k, seed=seed), f"Split sense {split} in {k}")
    c, d = st.columns(2)
    with c.container(border=True):
        p1, p2 = st.columns(2)
        shown = {"selection": "box/lasso selection", "hits": "search hits"}
        src = p1.selectbox("Move", list(picks) or ["(nothing selected)"], key="curate_move_src" + v,
                           format_func=lambda s: shown.get(s, s.replace("named:", "selection ")))
        to = p2.selectbox("to", senses + ["new", C.NOISE], key="curate_move_to" + v,
                          format_func=lambda s: "a new sense" if s == "new" else "noise" if s == C.NOISE else fmt(s))
        rows = picks.get(src, [])
        if st.button(f"Move {len(rows)} occurrences", key="curate_move_go", disabled=not len(rows)):
            run(lambda c: c.move(rows, to), f"Moved {len(rows)} occurrences")
    with d.container(border=True):
        r1, r2 = st.columns(2)
        ren = r1.selectbox("Rename a sense", senses, key="curate_rename" + v, format_func=fmt)
        text = r2.text_input("new name", key="curate_rename_text" + v)
        n1, n2 = st.columns(2)
        if n1.button("Rename", key="curate_rename_go"):
            run(lambda c: c.rename(ren, text), f"Renamed sense {ren}")
        noise = n2.multiselect("Mark as noise", senses, key="curate_noise" + v, format_func=fmt,
                               label_visibility="collapsed", placeholder="senses to mark as noise")
        if n2.button("Mark as noise", key="curate_noise_go"):
            run(lambda c: c.noise(senses=noise), f"Marked {len(noise)} senses as noise")


def _history(es, occ, labels, names, source) -> None:
    cur = curation(es)
    h1, h2, h3 = st.columns([1, 2, 3])
    n_edits = 0 if cur is None else len(cur.stack) - 1
    if h1.button("Undo", key="curate_undo", disabled=cur is None or cur.stale or n_edits == 0,
                 help="Go back one edit (the undone version stays saved)."):
        _apply(es, occ, labels, names, source, lambda c: c.undo(), "Undid the last edit")
    if h2.button("Start again from the clusters above", key="curate_restart",
                 help="A new starting point; the earlier versions stay saved (and one Undo brings them back)."):
        try:
            cur = C.start_curation(es.key, occ, labels, names, source=source)
        except SenseScopeError as exc:
            widgets.error(exc)
        else:
            _remember(cur, f"Started again from the clusters above (version {cur.version}).")
            st.rerun()
    if cur is not None and not cur.stale:
        h3.caption(f"Version {cur.version}: {len(cur.edits)} edits logged, {n_edits} can be undone. Saved beside "
                   f"the embedding set (`{es.key}.senses`).")


def _scores(cur: C.Curation, gold, params: dict) -> None:
    if gold is None:
        st.caption("The corpus has no gold sense labels to score the curated senses against.")
        return
    names = {s: cur.name_of(s) for s in cur.senses}
    try:
        scores = S.cluster_scores(gold, cur.labels)
        table = S.contingency_table(gold, cur.labels, cluster_names=names)
    except SenseScopeError as exc:
        widgets.error(exc)
        return
    m = st.columns(6)
    for col, (lab, val) in zip(m, [("Purity", scores.purity), ("Inverse purity", scores.inverse_purity),
                                   ("Purity F", scores.purity_f), ("ARI", scores.ari), ("NMI", scores.nmi),
                                   ("V-measure", scores.v_measure)]):
        col.metric(f"{lab} (your senses)", f"{val:.3f}")
    widgets.figure(P.plot_contingency(table, title="Your senses × gold senses"), name="senses_curated_contingency",
                   params=params, key="curate_contingency")


def section(es, occ: pd.DataFrame, *, labels, names: dict, gold, X, picks: dict, params: dict, source: dict,
            space: str) -> None:
    """The curation section (see the module notes). ``picks``: {source key: row positions} for "move"."""
    st.subheader("Your senses")
    st.caption("Correct the clusters into the senses you read: merge, split (k-means again on the sense's own "
               "vectors), move the occurrences you selected, rename, mark as noise; Undo goes back. The first edit "
               "starts from the clusters above (cluster N becomes sense N). Every edit is saved with the embedding "
               "set and logged; the Shift page can use these senses (\"my senses\").")
    message = st.session_state.pop(_MSG, None)
    if message:
        st.success(md_escape(message))
    cur = curation(es)
    if cur is not None and cur.stale:
        try:
            cur.check_fresh()
        except SenseScopeError as exc:
            st.warning(md_escape(exc))
    labels = np.asarray(labels, dtype=int)
    _edit_controls(es, occ, labels, names, source, X, picks, space)
    _history(es, occ, labels, names, source)
    cur = curation(es)
    if cur is None or cur.stale:
        st.info("No curated senses yet: the first edit starts them from the clusters above.")
        return
    cparams = {**params, **cur.manifest_params()}
    _scores(cur, gold, cparams)
    with st.expander(f"Edit log ({len(cur.edits)} edits)"):
        log = pd.DataFrame([{k: (str(v) if isinstance(v, (list, dict)) else v) for k, v in e.items()}
                            for e in cur.edits])
        st.dataframe(log, key="curate_log", hide_index=True)
    e1, e2 = st.columns(2)
    table = cur.table(occ)
    target = params.get("target") or "senses"
    e1.download_button("Your senses (CSV)", data=lambda: export.table_csv(table), file_name=f"my_senses_{target}.csv",
                       mime="text/csv", key="curate_csv", on_click="ignore")
    e2.download_button("Their edits and parameters (JSON)",
                       data=lambda: export.manifest_json(cparams, kind="table:my_senses"),
                       file_name=f"my_senses_{target}.manifest.json", mime="application/json",
                       key="curate_manifest", on_click="ignore")

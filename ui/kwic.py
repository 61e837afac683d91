"""The KWIC view of the Corpus and Senses pages: lines that sort by the words around the target and filter by
cluster, period or any metadata column, and the collocates per group (table and bar chart).

``lines_section``       the KWIC table with its sort and filters (the first table of the section)
``collocates_section``  collocates (log-likelihood or PMI, window ±5 by default) per cluster / period / ...

``groups`` maps a display name ("cluster", "your sense", "period", ...) to one value per occurrence; the pages pass
what they have. Counting collocates is cached per corpus (``cache_key`` names the occurrences) and settings.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from analysis import kwic as K
from analysis.errors import SenseScopeError
from analysis.plots import explore as PE
from ui import widgets

SORTS = {None: "text order", "L1": "1st word left", "L2": "2nd word left", "R1": "1st word right",
         "R2": "2nd word right"}
_SKIP = {"occurrence_id", "text", "start", "end", "doc_id", "target"}


def target_forms(occ: pd.DataFrame) -> set[str]:
    """The target's forms in the occurrences, lower-cased.

    Distinct forms first (a handful), then lower-cased: a million rows are not lower-cased on every rerun."""
    return set(occ["form"].drop_duplicates().astype(str).str.lower()) if "form" in occ.columns else set()


def function_words(occ: pd.DataFrame) -> set[str]:
    """English function words (scikit-learn's list) and the target's own forms: left out of collocates."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return set(ENGLISH_STOP_WORDS) | {w for f in target_forms(occ) for w in K.words(f)}


def metadata_columns(occ: pd.DataFrame) -> list[str]:
    """Columns worth filtering by: few distinct values (2..50)."""
    out = []
    for c in occ.columns:
        if c in _SKIP or not occ[c].notna().any():
            continue
        try:
            distinct = occ[c].nunique(dropna=True)
        except TypeError:  # unhashable cells (lists)
            continue
        if 2 <= distinct <= 50:
            out.append(str(c))
    return out


def _values(series) -> list[str]:
    from analysis._util import natural_sorted

    distinct = pd.Series(series).drop_duplicates()  # hashed in the column's own type: a million rows in ~0.1 s
    return natural_sorted({"(none)" if pd.isna(v) else str(v) for v in distinct.astype("object")})


#: The KWIC table lists at most this many lines (after sorting and filtering all of them); its CSV holds them all.
TABLE_ROWS = 5_000


@st.cache_resource(show_spinner="Cutting the KWIC lines…", max_entries=8)
def _lines(cache_key: str, _occ: pd.DataFrame) -> pd.DataFrame:
    """The lines cut from the texts and spans that ``cache_key`` names (metadata columns are added by the caller:
    an embedding set's key does not cover them). One shared frame, never changed by callers (``assign`` copies):
    cache_data would unpickle a copy of a million lines on every rerun (1.8 s)."""
    return K.kwic_lines(_occ)


def lines_section(occ: pd.DataFrame, *, groups: dict, key: str, params: dict, name: str,
                  cache_key: str | None = None) -> pd.DataFrame:
    """The sortable, filterable KWIC table; returns the lines shown. With ``cache_key`` (what ``occ`` is, e.g. the
    embedding set's key) the lines are cut once and kept (a million take half a minute)."""
    meta = [c for c in metadata_columns(occ) if c not in groups]
    extra = {g: np.asarray(v, dtype=object) for g, v in groups.items()}
    if cache_key:
        base = _lines(cache_key, occ)  # the same columns as kwic_lines(columns=meta, extra=extra) gives
        lines = base.assign(**{c: occ[c].to_numpy() for c in meta if c not in base.columns}, **extra)
    else:
        lines = K.kwic_lines(occ, columns=meta, extra=extra)
    c1, c2 = st.columns([2, 1])
    by = c1.selectbox("Sort by", list(SORTS), format_func=SORTS.get, key=f"{key}_sort",
                      help="Ties are broken by the next word further out, then by text order.")
    desc = c2.checkbox("Descending", key=f"{key}_desc")
    filters = {}
    pickable = list(groups) + meta
    if pickable:
        cols = st.columns(min(4, len(pickable) + 1))
        for i, g in enumerate(list(groups)[:3]):
            filters[g] = cols[i].multiselect(f"Only {g}", _values(lines[g]), key=f"{key}_f_{g}",
                                             placeholder="all")
        if meta:
            col = cols[-1].selectbox("Filter by column", ["(none)"] + meta, key=f"{key}_fcol")
            if col != "(none)":
                filters[col] = cols[-1].multiselect(f"Only {col}", _values(lines[col]), key=f"{key}_fval_{col}",
                                                    placeholder="all")
    try:
        shown = K.sort_lines(K.filter_lines(lines, filters), by, descending=desc)
    except SenseScopeError as exc:
        widgets.error(exc)
        return lines
    active = {k: list(v) for k, v in filters.items() if v}
    st.caption(f"{len(shown):,} of {len(lines):,} lines" + (f", sorted by the {SORTS[by]}" if by else "") + "."
               + (f" The first {TABLE_ROWS:,} are listed (sort or filter to bring others up); the CSV has all "
                  f"{len(shown):,}." if len(shown) > TABLE_ROWS else ""))
    widgets.table(shown.head(TABLE_ROWS), download=shown, name=name,
                  params={**params, "sort": by, "descending": desc, "filters": active},
                  key=f"{key}_table", hide_index=True, height=300,
                  column_config={"left": st.column_config.TextColumn(width="large"),
                                 "match": st.column_config.TextColumn(width="small"),
                                 "right": st.column_config.TextColumn(width="large")})
    return shown


def signature(values) -> str:
    """A short hash of a column of values (a cache key part)."""
    return hashlib.sha1("\x00".join(map(str, values)).encode("utf-8", "surrogatepass")).hexdigest()


@st.cache_data(show_spinner="Counting collocates…", max_entries=32)
def _collocates(cache_key: str, group_sig: str, window: int, measure: str, stop: bool, min_count: int, top_n: int,
                _occ: pd.DataFrame, _groups) -> pd.DataFrame:
    exclude = function_words(_occ) if stop else {w for f in _occ.get("form", pd.Series([], dtype=str)).astype(str)
                                                 for w in K.words(f.lower())}
    return K.collocates(_occ, _groups, window=window, measure=measure, min_count=min_count, top_n=top_n,
                        exclude=exclude)


def collocates_section(occ: pd.DataFrame, *, groups: dict, key: str, params: dict, name: str,
                       cache_key: str) -> None:
    """Collocates per group: a table and one bar panel per group."""
    usable = {g: v for g, v in groups.items() if pd.Series(v, dtype="object").nunique(dropna=True) >= 1}
    if not usable:
        st.info("There is nothing to group the occurrences by.")
        return
    c1, c2, c3, c4, c5 = st.columns([2, 2, 1, 1, 2])
    per = c1.radio("Collocates per", list(usable), key=f"{key}_per", horizontal=True)
    measure = c2.radio("Measure", list(K.MEASURES), format_func=K.MEASURES.get, key=f"{key}_measure",
                       horizontal=True)
    window = int(c3.number_input("Window ±", 1, 20, K.DEFAULT_WINDOW, key=f"{key}_window"))
    min_count = int(c4.number_input("Min. count", 1, 50, 2, key=f"{key}_min"))
    stop = c5.checkbox("Leave out function words", value=True, key=f"{key}_stop",
                       help="English function words (scikit-learn's list) and the target's own forms.")
    values = np.asarray(usable[per], dtype=object)
    try:
        table = _collocates(cache_key, signature(values), window, measure, stop, min_count, 15, occ, values)
    except SenseScopeError as exc:
        widgets.error(exc)
        return
    n_groups = pd.Series(values).nunique(dropna=True)
    against = "the other groups' windows" if n_groups >= 2 else "the rest of the same texts"
    st.caption(f"Words within ±{window} words of the target that are more frequent in each {per}'s contexts than "
               f"in {against}, ranked by {K.MEASURES[measure]}; seen at least {min_count} times.")
    if table.empty:
        st.info("No word passes these settings; lower the minimum count or widen the window.")
        return
    cparams = {**params, "per": per, "measure": measure, "window": window, "min_count": min_count,
               "function_words_left_out": stop, "reference": "rest" if n_groups >= 2 else "text"}
    widgets.figure(PE.plot_collocates(table, measure=measure, top_n=10, group_label=per,
                                      title=f"Collocates per {per}"), name=f"{name}_{per}", params=cparams,
                   key=f"{key}_fig")
    widgets.table(table, name=f"{name}_{per}", params=cparams, key=f"{key}_coll", hide_index=True, height=260,
                  column_config={"g2": st.column_config.NumberColumn("G²", format="%.2f"),
                                 "pmi": st.column_config.NumberColumn("PMI", format="%.2f"),
                                 "expected": st.column_config.NumberColumn(format="%.2f")})


def page_groups(occ: pd.DataFrame, es=None) -> dict:
    """What the Corpus page can group KWIC lines by: the Senses page's clusters and the curated senses (when they
    belong to these occurrences), then the period and gold label columns."""
    from analysis import senses as S
    from ui import curate

    groups = {}
    labels = st.session_state.get("cluster_labels")
    same = es is not None and es.n == len(occ)
    if same and labels is not None and len(labels) == len(occ):
        groups["cluster"] = S.cluster_names(labels, st.session_state.get("cluster_names") or {})
    if same and curate.curated_labels(es) is not None:
        groups["your sense"] = curate.curation(es).sense_names()
    for c in ("period", "label"):
        if c in occ.columns and occ[c].notna().any():
            groups[c] = occ[c].to_numpy()
    return groups

"""Reading the occurrences on the Senses page: search, nearest neighbours, selections (isolate, keep, compare).

Section functions drawn by views/senses.py (the work is in analysis.occurrence_search and analysis.kwic):

``controls``      the search box and the neighbour picker, drawn above the projection; returns an :class:`Explore`
``decorate``      adds the highlighted hits and the neighbour links to the projection figure
``clicked``       the projection's selection callback: one clicked point becomes the occurrence whose neighbours are
                  listed (the callback runs before the script, so it may set the picker's value)
``lists``         the KWIC lines of the hits and the neighbours with contexts and similarity
``selections``    keep the box/lasso selection or the hits as a named selection, isolate one, compare two

Named selections live in ``st.session_state["explore_selections"][<embedding key>]`` as sorted occurrence ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from analysis import kwic as K
from analysis import occurrence_search as OS
from analysis.corpus import kwic
from analysis.errors import SenseScopeError
from analysis.plots import explore as PE
from analysis.plots import raster
from ui import widgets
from ui.widgets import md_escape

SCATTER_KEY = "senses_scatter"
NN_KEY = "explore_nn_id"
SHOW_KEY = "explore_show"
PICKER_LIMIT = 5000  # above this many occurrences the neighbour picker is a number box, not a list


@dataclass
class Explore:
    """What the controls chose: the search result, the neighbours (row of the chosen occurrence and the table from
    analysis.occurrence_search.nearest_neighbours) and the rows to draw (``show``, named ``show_name``)."""

    hits: OS.SearchResult | None
    nn_row: int | None
    nn: pd.DataFrame | None
    show: np.ndarray
    show_name: str


@st.cache_data(show_spinner=False, max_entries=16)
def _layer_matrix(key: str, layer, _es) -> np.ndarray:
    return OS.layer_matrix(_es.vectors, list(_es.layers), layer)


def clean_choice(key: str, options, *, multi: bool = False) -> None:
    """Before a selectbox/radio/multiselect is drawn: forget a held value that is no longer among its options.

    Streamlit keeps a choice by its formatted label; once the options or their labels change, a held value may come
    back as a stale label (a callback then reads text instead of an option)."""
    if key not in st.session_state:
        return
    held = st.session_state[key]
    opts = list(options)
    if multi:
        kept = [v for v in (held or []) if v in opts]
        if kept != list(held or []):
            st.session_state[key] = kept
    elif held not in opts:
        st.session_state.pop(key, None)


def named(es) -> dict[str, list[int]]:
    """This embedding set's named selections {name: occurrence ids} (kept in the session)."""
    return st.session_state.setdefault("explore_selections", {}).setdefault(es.key, {})


def rows_of(occ: pd.DataFrame, ids) -> np.ndarray:
    """Row positions of the occurrences with these ids."""
    return np.flatnonzero(occ["occurrence_id"].isin(list(ids)).to_numpy())


def _search(occ: pd.DataFrame) -> OS.SearchResult | None:
    c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
    query = c1.text_input("Search the occurrences", key="explore_query", placeholder="a word, phrase or pattern",
                          help="Hits are ringed on the projection and listed below as KWIC lines.")
    cols = OS.searchable_columns(occ)
    column = c2.selectbox("in", cols, key="explore_column",
                          format_func=lambda c: "the context" if c == OS.CONTEXT else f"column {c}")
    regex = c3.checkbox("Regular expression", key="explore_regex")
    case = c4.checkbox("Case-sensitive", key="explore_case")
    if not query.strip():
        return None
    try:
        return OS.search_occurrences(occ, query, column=column, regex=regex, case_sensitive=case)
    except SenseScopeError as exc:
        widgets.error(exc)
        return None


def _short(occ: pd.DataFrame, i: int) -> str:
    left, match, right = kwic(occ["text"].iat[i], int(occ["start"].iat[i]), int(occ["end"].iat[i]), 30)
    return f"#{occ['occurrence_id'].iat[i]}: {left}[{match}]{right}"


def _neighbours(es, occ: pd.DataFrame, layer, layer_name: str):
    c1, c2 = st.columns([5, 1])
    if len(occ) <= PICKER_LIMIT:
        ids = [int(i) for i in occ["occurrence_id"]]
        pos = {v: i for i, v in enumerate(ids)}
        if st.session_state.get(NN_KEY) not in (None, *pos):
            st.session_state.pop(NN_KEY, None)
        chosen = c1.selectbox("Nearest neighbours of", [None] + ids, key=NN_KEY,
                              format_func=lambda v: "(click a point, or choose an occurrence)" if v is None
                              else _short(occ, pos[v]),
                              help=f"Ranked by cosine similarity of the full vectors at layer {layer_name}.")
    else:
        chosen = c1.number_input("Nearest neighbours of occurrence id (or click a point)", min_value=0,
                                 max_value=int(occ["occurrence_id"].max()), value=None, key=NN_KEY)
    k = int(c2.number_input("How many", 1, 100, 10, key="explore_nn_k"))
    if chosen is None:
        return None, None
    rows = rows_of(occ, [int(chosen)])
    if not len(rows):
        st.error(f"There is no occurrence with id {int(chosen)}.")
        return None, None
    try:
        return int(rows[0]), OS.nearest_neighbours(_layer_matrix(es.key, layer, es), int(rows[0]), k=k)
    except SenseScopeError as exc:
        widgets.error(exc)
        return None, None


def _show(es, occ: pd.DataFrame, hits: OS.SearchResult | None) -> tuple[np.ndarray, str]:
    store = named(es)
    options = ["all"] + (["hits"] if hits is not None and hits.n else []) + [f"named:{n}" for n in store]
    if st.session_state.get(SHOW_KEY) not in options:
        st.session_state.pop(SHOW_KEY, None)
    label = {"all": "all occurrences", "hits": "only the search hits"}
    choice = st.radio("Draw", options, key=SHOW_KEY, horizontal=True,
                      format_func=lambda o: label.get(o, f"only {o[6:]}"),
                      help="Isolate a selection: only its occurrences are drawn (clusters and scores are unchanged).")
    if choice == "hits":
        return hits.mask.copy(), "search hits"
    if choice.startswith("named:"):
        mask = np.zeros(len(occ), dtype=bool)
        mask[rows_of(occ, store[choice[6:]])] = True
        return mask, choice[6:]
    return np.ones(len(occ), dtype=bool), "all"


def controls(es, occ: pd.DataFrame, layer, layer_name: str) -> Explore:
    """Search, neighbour picker and isolation, drawn above the projection."""
    with st.container(border=True):
        hits = _search(occ)
        nn_row, nn = _neighbours(es, occ, layer, layer_name)
        show, show_name = _show(es, occ, hits)
    if not show.any():
        st.info("The isolated selection is empty; all occurrences are drawn.")
        show, show_name = np.ones(len(occ), dtype=bool), "all"
    return Explore(hits=hits, nn_row=nn_row, nn=nn, show=show, show_name=show_name)


def decorate(fig, view: pd.DataFrame, ex: Explore, z: str | None = None):
    """Ring the hits and draw the neighbour links on a projection of ``view`` (the rows ``ex.show`` of the page's
    view, in order); points that are not drawn are left out."""
    pos = np.full(len(ex.show), -1)
    pos[np.flatnonzero(ex.show)] = np.arange(int(ex.show.sum()))
    if ex.hits is not None and ex.hits.n:
        fig = PE.add_highlight(fig, view, ex.hits.mask[ex.show], name=f"hits for {ex.hits.query}", z=z)
    if ex.nn is not None and pos[ex.nn_row] >= 0:
        keep = pos[ex.nn["index"].to_numpy()] >= 0
        fig = PE.add_neighbour_links(fig, view, int(pos[ex.nn_row]), pos[ex.nn["index"].to_numpy()[keep]],
                                     ex.nn["similarity"].to_numpy()[keep], z=z)
    return fig


def selected_ids(sel, view: pd.DataFrame | None = None) -> list[int]:
    """Occurrence ids of the points in a plotly_chart selection state (customdata), in order, without repeats.

    With ``view`` (the drawn rows: occurrence_id, x, y) the boxes and lassos of the state are resolved against every
    row's coordinates as well: a big scatter draws markers for a sample only (analysis.plots.raster), and its
    selection must list all the occurrences under the lasso."""
    if sel is None:
        return []
    state = (sel.get("selection") or {}) if isinstance(sel, dict) else sel.selection
    points = state.get("points", [])
    out = []
    if view is not None:
        boxes = [(b["x"], b["y"]) for b in state.get("box", []) or [] if len(b.get("x", [])) == 2]
        lassos = [(s["x"], s["y"]) for s in state.get("lasso", []) or [] if len(s.get("x", [])) >= 3]
        if boxes or lassos:
            mask = raster.inside(view["x"].to_numpy(), view["y"].to_numpy(), boxes=boxes, lassos=lassos)
            out = view["occurrence_id"].to_numpy()[mask].astype(int).tolist()
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, (list, tuple)):
            cd = cd[0] if cd else None
        if cd is not None:
            out.append(int(cd))
    return list(dict.fromkeys(out))


def clicked() -> None:
    """Selection callback: a single clicked point becomes the occurrence whose neighbours are shown."""
    ids = selected_ids(st.session_state.get(SCATTER_KEY))
    if len(ids) == 1:
        st.session_state[NN_KEY] = ids[0]


def lists(occ: pd.DataFrame, ex: Explore, names: np.ndarray, params: dict) -> None:
    """The hits as KWIC lines and the neighbours with contexts and similarity."""
    if ex.hits is not None:
        what = "the context" if ex.hits.column == OS.CONTEXT else f"column {ex.hits.column}"
        st.markdown(f"**{ex.hits.n} occurrences match {md_escape(repr(ex.hits.query))} in {md_escape(what)}**")
        if ex.hits.n:
            lines = ex.hits.lines.assign(cluster=names[ex.hits.mask])
            widgets.table(lines, name="senses_search_hits", params={**params, "search": ex.hits.query,
                                                                    "column": ex.hits.column,
                                                                    "regex": ex.hits.regex},
                          key="explore_hits", hide_index=True, height=240)
    if ex.nn is not None:
        st.markdown(f"**Nearest neighbours of {md_escape(_short(occ, ex.nn_row))}**")
        table = OS.neighbour_lines(occ, ex.nn, extra={"cluster": names})
        widgets.table(table, name="senses_neighbours", params={**params, "occurrence": int(
            occ["occurrence_id"].iat[ex.nn_row]), "k": len(ex.nn)}, key="explore_nn_table", hide_index=True,
                      column_config={"similarity": st.column_config.NumberColumn(format="%.3f")})


# ------------------------------------------------------------------------------------------------------ selections
def _keep(store: dict, sources: dict, isolate: bool) -> None:
    """Button callback: store the chosen source under the typed name (and draw only it when ``isolate``)."""
    src = st.session_state.get("explore_keep_src")
    src = src if src in sources else next(iter(sources))
    name = (st.session_state.get("explore_keep_name") or "").strip() or f"selection {len(store) + 1}"
    store[name] = sorted(int(i) for i in sources[src])
    st.session_state["explore_keep_name"] = ""
    if isolate:
        st.session_state[SHOW_KEY] = f"named:{name}"


def _forget(store: dict) -> None:
    for name in st.session_state.get("explore_forget") or []:
        store.pop(name, None)
    if str(st.session_state.get(SHOW_KEY, "")).startswith("named:") and st.session_state[SHOW_KEY][6:] not in store:
        st.session_state[SHOW_KEY] = "all"


def keep(es, occ: pd.DataFrame, picked_ids: list[int], hits: OS.SearchResult | None) -> None:
    """Keep the box/lasso selection or the search hits as a named selection (optionally drawing only it)."""
    store = named(es)
    sources = {}
    if picked_ids:
        sources["selection"] = list(picked_ids)
    if hits is not None and hits.n:
        sources["hits"] = hits.ids
    if not sources:
        st.caption("Select points on the projection (box or lasso) or search, to keep them as a named selection.")
        return
    shown = {"selection": "the box/lasso selection", "hits": "the search hits"}
    c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
    clean_choice("explore_keep_src", sources)
    c1.radio("Keep", list(sources), key="explore_keep_src", horizontal=True, format_func=shown.get,
             captions=[f"{len(v)} occurrences" for v in sources.values()])
    c2.text_input("as the selection named", key="explore_keep_name", placeholder=f"selection {len(store) + 1}")
    c3.button("Keep", key="explore_keep", on_click=_keep, args=(store, sources, False))
    c4.button("Keep and isolate", key="explore_isolate", on_click=_keep, args=(store, sources, True),
              help="Keep it and draw only its occurrences.")


def compare(es, occ: pd.DataFrame, names: np.ndarray, params: dict, exclude=()) -> None:
    """Two named selections side by side: their KWIC lines and the words that tell them apart."""
    store = named(es)
    if not store:
        st.caption("No named selections yet.")
        return
    f1, f2 = st.columns([4, 1])
    clean_choice("explore_forget", store, multi=True)
    f1.multiselect("Named selections", list(store), key="explore_forget", placeholder="choose selections to forget",
                   format_func=lambda n: f"{n} ({len(store[n])})")
    f2.button("Forget", key="explore_forget_go", on_click=_forget, args=(store,))
    if len(store) < 2:
        st.caption("Keep a second named selection to compare two.")
        return
    c1, c2 = st.columns(2)
    clean_choice("explore_cmp_a", store)
    a = c1.selectbox("Compare", list(store), key="explore_cmp_a")
    clean_choice("explore_cmp_b", [n for n in store if n != a])
    b = c2.selectbox("with", [n for n in store if n != a], key="explore_cmp_b")
    if b is None:
        return
    rows_a, rows_b = rows_of(occ, store[a]), rows_of(occ, store[b])
    for col, nm, rows in ((c1, a, rows_a), (c2, b, rows_b)):
        with col:
            lines = K.kwic_lines(occ.iloc[rows], width=40, extra={"cluster": names[rows]})
            widgets.table(lines[["occurrence_id", "left", "match", "right", "cluster"]], name=f"senses_selection_{nm}",
                          params={**params, "selection": nm}, key=f"explore_cmp_lines_{'ab'[col is c2]}",
                          hide_index=True, height=240)
    ma, mb = np.zeros(len(occ), dtype=bool), np.zeros(len(occ), dtype=bool)
    ma[rows_a], mb[rows_b] = True, True
    try:
        words = K.compare_words(occ, ma, mb, exclude=exclude, min_count=2, top_n=15)
    except SenseScopeError as exc:
        widgets.error(exc)
        return
    st.markdown(f"**Words near the target that tell {md_escape(a)} (A) and {md_escape(b)} (B) apart** "
                f"(log-likelihood, ±{K.DEFAULT_WINDOW} words; seen at least twice)")
    if words.empty:
        st.info("No word is clearly more frequent on either side (the selections may be too small).")
        return
    words = words.assign(group=[a if s == "A" else b for s in words["side"]])
    cmp_params = {**params, "selection_a": a, "selection_b": b, "window": K.DEFAULT_WINDOW}
    widgets.figure(PE.plot_collocates(words, measure="g2", top_n=10, group_label="distinctive of"),
                   name="senses_selection_words", params=cmp_params, key="explore_cmp_fig")
    widgets.table(words.drop(columns=["group"]), name="senses_selection_words", params=cmp_params,
                  key="explore_cmp_words", hide_index=True)

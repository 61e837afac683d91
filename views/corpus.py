"""Corpus page: choose a corpus, its columns and the target; preview occurrences; compute embeddings."""

from __future__ import annotations

import streamlit as st

from analysis.corpus import ColumnSpec, kwic_table, summarize
from analysis.errors import SenseScopeError
from analysis.plots.corpus import count_table, plot_counts
from ui import cached, state, widgets

st.title("Corpus")
st.caption("Load a corpus, choose the target term, preview its occurrences in context and compute their contextual "
           "embeddings (cached on disk, so the next time is instant).")

# ---------------------------------------------------------------------------------------------------------- source
kinds = {"demo": "Bundled demo (DWUG EN: plane, gas, chairman)", "upload": "Upload a file",
         "path": "A file or folder on this machine"}
kind = st.radio("Corpus", list(kinds), format_func=kinds.get, index=list(kinds).index(state.get("corpus_kind")),
                horizontal=True, key="corpus_kind_radio")
raw_columns: list[str] = []
if kind == "demo":
    st.session_state.update(corpus_kind="demo", corpus_path=str(state.DEMO_PATH), spec=ColumnSpec())
elif kind == "upload":
    up = st.file_uploader("CSV, TSV, JSONL, Parquet or plain text (UTF-8); DWUG uses.csv files load as they are",
                          type=["csv", "tsv", "tab", "jsonl", "ndjson", "parquet", "txt"], key="corpus_file")
    if up is not None:
        st.session_state["corpus_upload"] = (up.name, up.getvalue())
        st.session_state["corpus_kind"] = "upload"
        try:
            raw_columns = cached.raw_columns_bytes(up.getvalue(), up.name)
        except SenseScopeError as exc:
            widgets.error(exc)
            st.stop()
    elif not st.session_state.get("corpus_upload"):
        st.info("Choose a file to upload.")
        st.stop()
    else:
        st.session_state["corpus_kind"] = "upload"
        name, data = st.session_state["corpus_upload"]
        st.caption(f"Using the uploaded file {name}.")
        raw_columns = cached.raw_columns_bytes(data, name)
else:
    path = st.text_input("Path to a corpus file, or a folder of DWUG uses.csv files",
                         value=state.get("corpus_path") if state.get("corpus_kind") == "path" else "")
    if not path.strip():
        st.info("Type a path.")
        st.stop()
    st.session_state.update(corpus_kind="path", corpus_path=path.strip())
    from pathlib import Path

    from analysis.corpus import is_dwug, read_raw_table
    try:
        if Path(path).is_file() and not is_dwug(path):
            raw_columns = [str(c) for c in read_raw_table(path.strip()).columns]
    except SenseScopeError as exc:
        widgets.error(exc)
        st.stop()

# ------------------------------------------------------------------------------------------------------- columns
if raw_columns and raw_columns != ["text"]:
    with st.expander("Columns", expanded=True):
        st.caption("Name the column that holds the text and, optionally, the others; every other column is kept as "
                   "metadata. A table with `start`/`end` columns gives each occurrence itself (no search is done).")
        none = "(none)"
        opts = [none] + raw_columns
        spec0 = state.get("spec")

        def pick(label, current, guess):
            value = current if current in raw_columns else next((c for c in raw_columns if c.lower() in guess), none)
            return st.selectbox(label, opts, index=opts.index(value), key=f"col_{label}")

        # The text and id pickers come first (they are drawn in order; the columns row goes below them).
        text_col = pick("Text column", spec0.text, {"text", "context", "sentence", "content", "body"})
        id_col = pick("Id column", spec0.id, {"id", "doc_id", "identifier"})
        c1, c2, c3 = st.columns(3)
        year_col = c1.selectbox("Year / date column", opts, index=opts.index(
            spec0.year if spec0.year in raw_columns else next((c for c in raw_columns if c.lower() in
                                                               {"year", "date"}), none)), key="col_year")
        period_col = c2.selectbox("Period / group column", opts, index=opts.index(
            spec0.period if spec0.period in raw_columns else next((c for c in raw_columns if c.lower() in
                                                                   {"period", "group", "grouping"}), none)),
            key="col_period")
        label_col = c3.selectbox("Gold sense label column", opts, index=opts.index(
            spec0.label if spec0.label in raw_columns else next((c for c in raw_columns if c.lower() in
                                                                 {"label", "sense", "gold"}), none)), key="col_label")
        norm = lambda c: None if c == none else c  # noqa: E731
        st.session_state["spec"] = ColumnSpec(text=norm(text_col), id=norm(id_col), year=norm(year_col),
                                              period=norm(period_col), label=norm(label_col))

try:
    docs = state.documents()
except SenseScopeError as exc:
    widgets.error(exc)
    st.stop()

# -------------------------------------------------------------------------------------------------------- target
st.subheader("Target")
has_spans = {"start", "end"} <= set(docs.columns)
if has_spans and "target" in docs.columns:
    targets = sorted(docs["target"].astype(str).unique())
    current = state.get("target") if state.get("target") in targets else targets[0]
    target = st.selectbox("Target (the corpus gives each occurrence's span)", targets, index=targets.index(current))
    st.session_state["target"] = target
elif has_spans:
    st.caption("The corpus gives each occurrence's span (start/end columns): no search is needed.")
    st.session_state["target"] = ""
else:
    c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
    target = c1.text_input("Target forms, separated by | (e.g. plane|planes), or a regular expression",
                           value=state.get("target") if state.get("target") != state.DEMO_TARGET else "")
    regex = c2.checkbox("Regular expression", value=bool(state.get("regex")))
    whole = c3.checkbox("Whole words", value=bool(state.get("whole_word")))
    case = c4.checkbox("Case-sensitive", value=bool(state.get("case_sensitive")))
    st.session_state.update(target=target.strip(), regex=regex, whole_word=whole, case_sensitive=case)
    if not target.strip():
        st.info("Type the target term to find its occurrences.")
        st.stop()

try:
    occ = state.occurrences()
except SenseScopeError as exc:
    widgets.error(exc)
    st.stop()

# The session's settings key sees an upload's name and size only, so an edited file re-uploaded under the same name and
# size would keep the old embedding set (old labels and years on every page). Drop it when its occurrences are stale.
held = state.current_embeddings()
if held is not None and not held.occurrences.reset_index(drop=True).equals(occ.reset_index(drop=True)):
    for stale in ("embset", "embset_key", "cluster_labels", "cluster_names"):
        st.session_state.pop(stale, None)

# ------------------------------------------------------------------------------------------------------- preview
summary = summarize(occ)
m1, m2, m3 = st.columns(3)
m1.metric("Occurrences", summary["occurrences"])
m2.metric("Documents", summary["documents"])
m3.metric("Surface forms", len(summary["forms"]))
st.markdown("**Keyword in context**")
kw = kwic_table(occ)
widgets.table(kw, name="kwic", params={"corpus": state.corpus_label(), "target": state.get("target")},
              key="kwic_table", hide_index=True, height=280,
              column_config={"left": st.column_config.TextColumn(width="large"),
                             "match": st.column_config.TextColumn(width="small"),
                             "right": st.column_config.TextColumn(width="large")})
count_cols = [c for c in ("year", "period", "label") if c in occ.columns and occ[c].notna().any()]
if count_cols:
    cols = st.columns(len(count_cols))
    for col, name in zip(cols, count_cols):
        with col:
            counts = count_table(occ, name)
            widgets.figure(plot_counts(counts, column=name), name=f"counts_{name}",
                           params={"corpus": state.corpus_label(), "target": state.get("target"), "column": name},
                           exports=False)
    if "year" in occ.columns and summary.get("year_missing"):
        st.warning(f"{summary['year_missing']} occurrences have no readable year; they are kept but left out of "
                   f"analyses over time.")

# --------------------------------------------------------------------------------------------------------- model
st.subheader("Model and embeddings")
typed = st.text_input("Model: leave empty for the packaged all-MiniLM-L6-v2, or give a Hugging Face id already in the "
                      "local cache, or a local folder", value=state.get("model") or "", key="model_text")
if typed.strip() != (state.get("model") or ""):
    st.session_state["model"] = typed.strip()
    st.session_state["layer"] = None
    st.rerun()
try:
    info = cached.model_info(state.model_name())
    st.caption(f"{info['name']}: {info['n_layers']} hidden states (embedding layer + {info['n_layers'] - 1} layers), "
               f"width {info['dim']}.")
except SenseScopeError as exc:
    widgets.error(exc)
    st.stop()

es = state.current_embeddings()
if st.button("Compute embeddings", type="primary", disabled=es is not None):
    try:
        es = state.compute_embeddings()
    except SenseScopeError as exc:
        widgets.error(exc)
        st.stop()
if es is not None:
    st.success(f"Embeddings ready: {es.n} occurrences × {len(es.layers)} layers × {es.dim} dimensions, model "
               f"{es.model}, {'cache hit' if es.cache_hit else 'computed'} in {es.seconds:.1f} s.")
    s1, s2, s3, s4, s5 = st.columns(5)
    s1.metric("Occurrences", es.n)
    s2.metric("Layers", f"{es.layers[0]}–{es.layers[-1]}")
    s3.metric("Dimension", es.dim)
    s4.metric("Time", f"{es.seconds:.1f} s")
    s5.metric("Cache", "hit" if es.cache_hit else "computed")
    st.caption(f"Cache entry `{es.key}` ({es.manifest.get('dtype')}, pooling {es.manifest.get('pooling')}, window "
               f"{es.manifest.get('effective_window')} tokens). Other pages use these embeddings.")
else:
    st.info("Press **Compute embeddings** (other pages also compute them on first use).")

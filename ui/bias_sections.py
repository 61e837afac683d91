"""The Bias page's sections, as named functions: the tests (bundled, typed or uploaded, optionally with the corpus's
occurrences), the levels, models, layers and statistics (Settings), the battery as a background job, the results,
and which words drive an effect."""

from __future__ import annotations

import json
from typing import NamedTuple

import pandas as pd
import streamlit as st

from analysis import bias as B
from analysis.bias.sources import corpus_query, query_from_dict, read_test_file
from analysis.errors import SenseScopeError
from analysis.plots import bias as P
from ui import bias as ub
from ui import cached, jobs, state, widgets
from ui.widgets import md_escape


class Settings(NamedTuple):
    """Levels, models, layers, statistics and pooling; ``run_key`` names them with the tests."""
    levels: list
    models: list
    layers: object
    pooling: dict
    unit: str
    permutations: int
    n_boot: int
    seed: int
    alpha: float
    use_holm: bool
    run_key: tuple


def tests() -> list:
    """The tests to run: bundled ones, one typed in, or a JSON file."""
    st.subheader("Tests")
    sources = {"bundled": "Bundled tests", "mine": "My own test", "file": "Upload a JSON file"}
    source = st.radio("Tests from", list(sources), format_func=sources.get, horizontal=True, key="bias_source")
    queries: list[B.WeatQuery] = []
    try:
        if source == "bundled":
            names = ub.bundled_names()
            picked = st.multiselect(
                "Bundled tests (file stems; NAME and sent-NAME give the same test: word lists + template sentences)",
                names, default=["weat6"], key="bias_tests",
                help="WEAT 1–10 and b-variants (Caliskan et al.), SEAT sentences (May et al.), Tan & Celis' "
                     "+11/+12/+13/"
                     "+occ and intersectional +i1…+i5, double-bind and angry-Black-woman tests, Project Implicit and "
                     "religion tests. See data/weat_seat/README.md.")
            queries = [ub.bundled(n) for n in picked]
        elif source == "mine":
            c1, c2 = st.columns(2)
            xs = c1.text_area("X: target words (one per line or comma-separated)", "John, Paul, Mike, Kevin",
                              key="bias_x")
            ys = c2.text_area("Y: target words", "Amy, Joan, Lisa, Sarah", key="bias_y")
            as_ = c1.text_area("A: attribute words", "executive, office, salary, career", key="bias_a")
            bs = c2.text_area("B: attribute words", "home, family, children, wedding", key="bias_b")
            names = st.text_input("Set names (X, Y, A, B)", "male, female, career, family", key="bias_names")
            templates = st.text_area("Templates for the sentence and contextual levels (one per line, {} = the word; "
                                     "leave empty for the word level only)", "This is {}.\n{} is here.\nHere is {}.",
                                     key="bias_templates")
            set_names = ub.parse_words(names)
            if len(set_names) != 4:
                set_names = ["X", "Y", "A", "B"]
            queries = [query_from_dict({"name": st.text_input("Test name", "my test", key="bias_name"),
                                        "X": {"category": set_names[0], "examples": ub.parse_words(xs)},
                                        "Y": {"category": set_names[1], "examples": ub.parse_words(ys)},
                                        "A": {"category": set_names[2], "examples": ub.parse_words(as_)},
                                        "B": {"category": set_names[3], "examples": ub.parse_words(bs)},
                                        "templates": ub.parse_templates(templates)})]
        else:
            up = st.file_uploader("JSON: one test or a list; targ1/targ2/attr1/attr2 as in the bundled files, or "
                                  "{\"name\", \"X\", \"Y\", \"A\", \"B\", \"templates\"}", type=["json", "jsonl"],
                                  key="bias_file")
            if up is None:
                st.info("Choose a JSON file with your test(s).")
                st.stop()
            queries = read_test_file(up.getvalue(), name=up.name)
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    if not queries:
        st.info("Choose at least one test.")
        st.stop()
    return queries


def with_corpus(queries: list) -> tuple[list, bool]:
    """The tests with the corpus's occurrences at the contextual level, if asked for; (queries, use_corpus)."""
    use_corpus = st.checkbox("Use my corpus: the contextual level takes each word's occurrences in the current corpus "
                             f"({state.corpus_label()}) instead of template sentences", key="bias_use_corpus")
    if use_corpus:
        c1, c2 = st.columns(2)
        per_word = c1.slider("Occurrences kept per word (seeded sample)", 2, 200, 20, key="bias_per_word")
        drop = c2.checkbox("Leave out words that do not occur (they are listed with the results)", value=True,
                           key="bias_drop")
        try:
            texts = state.documents()["text"].astype(str).tolist()
            queries = [corpus_query(q, texts, max_per_word=per_word, drop_missing=drop) for q in queries]
        except SenseScopeError as exc:
            widgets.stop_with(exc)

    with st.expander("What the chosen tests contain", expanded=False):
        st.dataframe(pd.DataFrame([
            {"test": q.name, "levels": ", ".join(q.levels()),
             **{f"{k}": f"{s.name} ({len(s.words) or len(s.sentences)})" for k, s in zip(B.SET_KEYS, q.sets())},
             "source": q.source} for q in queries]), hide_index=True)
    return queries, use_corpus


def settings(queries: list) -> Settings:
    """Levels, models, layers, statistics and pooling."""
    st.subheader("Levels, models and layers")
    c1, c2, c3 = st.columns([2, 2, 1])
    levels = c1.multiselect("Levels", list(B.LEVELS), default=list(B.LEVELS), key="bias_levels")
    choices = state.known_models()
    current = state.get("model") or ""
    if current not in choices:
        choices.append(current)
    models = c2.multiselect("Models", choices, default=[current], key="bias_models",
                            format_func=lambda m: "all-MiniLM-L6-v2 (packaged)" if m == "" else m,
                            help="Several models are compared side by side (one bar colour each).")
    other = c2.text_input("Another model (hub id in the local cache, or a folder)", "", key="bias_other_model").strip()
    if other and other not in models:
        models = models + [other]
    sidebar_layer = state.current_layer()
    layer_modes = {"last": "Last layer of each model",
                   "sidebar": f"Sidebar layer ({'last' if sidebar_layer == -1 else sidebar_layer})",
                   "all": "Every layer (0 = embeddings)"}
    layer_mode = c3.radio("Layers", list(layer_modes), format_func=layer_modes.get, key="bias_layer_mode")
    with st.expander("Statistics and pooling", expanded=False):
        c1, c2, c3, c4 = st.columns(4)
        permutations = c1.number_input("Permutation budget", 100, 1_000_000, B.DEFAULT_PERMUTATIONS, step=10_000,
                                       key="bias_perms", help="Exact test when the partitions are at most this many, "
                                                              "else this many random permutations")
        n_boot = c2.number_input("Bootstrap draws", 0, 20_000, B.DEFAULT_BOOTSTRAP, step=500, key="bias_boot")
        seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="bias_seed")
        unit = c4.radio("Permute", ["item", "word"], key="bias_unit",
                        format_func={"item": "items (occurrences, as Tan & Celis)", "word": "whole words"}.get,
                        help="At the sentence and contextual levels a word has several items; permuting whole words "
                             "respects that they are not independent (a larger, more honest p).")
        c1, c2, c3, c4 = st.columns(4)
        word_pool = c1.selectbox("Word pooling", ["mean", "first"], key="bias_pool_word")
        sent_pool = c2.selectbox("Sentence pooling", ["cls", "mean"], key="bias_pool_sent",
                                 help="cls = first token ([CLS]) as in SEAT; mean = mean of the sentence's tokens")
        ctx_pool = c3.selectbox("Contextual pooling", ["first", "mean"], key="bias_pool_ctx",
                                help="first subword as in Tan & Celis, or the mean of the word's subwords")
        alpha = c4.number_input("Significance level", 0.0001, 0.5, 0.05, format="%.4f", key="bias_alpha")
        use_holm = st.checkbox("Mark significance with Holm-adjusted p (across the tests of each level × model × "
                               "layer)",
                               value=False, key="bias_holm")

    if not levels or not models:
        st.info("Choose at least one level and one model.")
        st.stop()
    layers = {"last": None, "sidebar": [sidebar_layer], "all": "all"}[layer_mode]
    pooling = {"word": word_pool, "sentence": sent_pool, "contextual": ctx_pool}
    run_key = (tuple(q for q in queries), tuple(levels), tuple(models), layer_mode, sidebar_layer, int(permutations),
               int(n_boot), int(seed), unit, tuple(sorted(pooling.items())))
    return Settings(levels, models, layers, pooling, unit, int(permutations), int(n_boot), int(seed), float(alpha),
                    use_holm, run_key)


def run(queries: list, use_corpus: bool, s: Settings):
    """The battery, a background job started by the button: (results, params) of the last run (skipped tests are
    listed)."""
    levels, models, layers, pooling, unit, run_key = s.levels, s.models, s.layers, s.pooling, s.unit, s.run_key
    permutations, n_boot, seed = s.permutations, s.n_boot, s.seed
    # The battery runs as a background job keyed on everything it depends on (the tests' words and sentences, corpus
    # occurrences included; levels, models, layers, statistics, pooling): it finishes whatever the page does meanwhile.
    job_key = jobs.key_of("bias:battery", repr(run_key), state.corpus_label() if use_corpus else None)
    if st.button("Run the tests", type="primary", key="bias_run"):
        options = B.RunOptions(layers=layers, pooling=pooling, unit=unit, permutations=int(permutations),
                               n_bootstrap=int(n_boot), seed=int(seed))
        st.session_state["bias_request"] = (run_key, job_key, queries, levels, models, options,
                                            state.corpus_label() if use_corpus else None)

    def load_models(args: list) -> list:  # about to start: load the (Streamlit-cached) models here
        args[2] = [cached.model(m or None) for m in args[2]]
        return [ub.encoding_cache(), *args]

    stored_key, (results, skipped, params) = jobs.requested(
        "bias_request", "bias_result", ub.battery_work, prepare=load_models,
        label=lambda args: f"Running {len(args[0])} test(s)",
        idle="Choose tests, levels, models and layers, then **Run the tests**.")
    if stored_key != run_key:
        st.warning("The results below were computed with other settings; press **Run the tests** to update them.")
    for line in skipped:
        st.info(f"Not run: {md_escape(line)}")
    if not results:
        st.error("None of the chosen tests has inputs for the chosen levels.")
        st.stop()
    return results, params


def results(results: list, params: dict, s: Settings) -> None:
    """The results table, the effect sizes per layer and model, and the words that drive one result."""
    alpha, use_holm = s.alpha, s.use_holm
    frame = B.results_frame(results)
    items = B.items_frame(results)
    p_col = "p_holm" if use_holm else "p_value"
    params = {**params, "significance": {"alpha": float(alpha), "p": p_col}}
    st.subheader("Results")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Results", len(frame))
    m2.metric(f"{p_col.replace('_', ' ')} < {alpha:g}", int((frame[p_col] < alpha).sum()))
    m3.metric("Mean |d|", f"{frame['effect_size'].abs().mean():.2f}")
    m4.metric("Missing items", int(frame["n_missing"].sum()))
    show = frame[["test", "level", "model", "layer", "effect_size", "ci_low", "ci_high", "p_value", "p_holm",
                  "n_permutations", "exact", "n_x", "n_y", "n_a", "n_b", "X", "Y", "A", "B", "pooling", "unit",
                  "n_missing", "missing"]]
    widgets.table(show, name="bias_results", params=params, key="bias_table", hide_index=True,
                  column_config={"effect_size": st.column_config.NumberColumn("d", format="%.3f"),
                                 "ci_low": st.column_config.NumberColumn(format="%.3f"),
                                 "ci_high": st.column_config.NumberColumn(format="%.3f"),
                                 "p_value": st.column_config.NumberColumn("p", format="%.2g"),
                                 "p_holm": st.column_config.NumberColumn("p (Holm)", format="%.2g")})
    undefined = frame[frame["effect_size"].isna()]
    if len(undefined):
        # e.g. sentence level, layer 0, cls pooling: the [CLS] vector is the same for every sentence
        st.caption(f"d is undefined (blank, p = 1) in {len(undefined)} row(s) where every item has the same "
                   f"association score (zero spread), e.g. at layer 0 with cls sentence pooling, where the [CLS] "
                   f"vector is the same "
                   f"for every sentence: " + ", ".join(f"{md_escape(t)} · {lv} · layer {ly}" for t, lv, ly in
                                                       undefined[["test", "level", "layer"]].itertuples(index=False)))
    st.download_button("bias.json", data=json.dumps([r.record() for r in results], indent=1, ensure_ascii=False),
                       file_name="bias.json", mime="application/json", key="bias_json",
                       help="One record per test × level × model × layer (the CLI's format)")
    if frame["n_missing"].sum():
        with st.expander("Missing words and sentences (left out, not silently dropped)"):
            for _, row in frame[frame["n_missing"] > 0].drop_duplicates(["test", "level", "model"]).iterrows():
                st.markdown(f"**{md_escape(row['test'])}** ({row['level']}, {md_escape(row['model'])}): "
                            f"{md_escape(row['missing'])}")

    layers_run = sorted(frame["layer"].unique())
    bar_layer = layers_run[-1]
    if len(layers_run) > 1:
        bar_layer = st.select_slider("Layer shown in the bar chart", layers_run, value=layers_run[-1],
                                     key="bias_bar_layer")
    st.markdown("**Effect sizes** (one colour per model; bars: bootstrap interval; stars: significance)")
    widgets.figure(P.plot_effect_sizes(frame[frame["layer"] == bar_layer], p_col=p_col, alpha=float(alpha)),
                   name="bias_effect_sizes", params={**params, "layer": int(bar_layer)}, key="bias_fig_bars")
    if len(layers_run) > 1:
        st.markdown("**Across layers**")
        widgets.figure(P.plot_layer_heatmap(frame, p_col=p_col, alpha=float(alpha)), name="bias_layers", params=params,
                       key="bias_fig_heat")

    word_drivers(frame, items, params, layers_run)


def word_drivers(frame: pd.DataFrame, items: pd.DataFrame, params: dict, layers_run: list) -> None:
    """Each target word's association score in one result (test x level x model x layer)."""
    st.markdown("**Which words drive the effect**")
    combos = frame[["test", "level", "model"]].drop_duplicates()
    labels = [f"{t} · {l} · {m}" for t, l, m in combos.itertuples(index=False)]
    c1, c2 = st.columns([3, 1])
    pick = c1.selectbox("Result", labels, key="bias_word_pick")
    word_layer = c2.selectbox("Layer", layers_run, index=len(layers_run) - 1, key="bias_word_layer")
    test, level, model = combos.iloc[labels.index(pick)]
    sel = items[(items["test"] == test) & (items["level"] == level) & (items["model"] == model)
                & (items["layer"] == word_layer)]
    row = frame[(frame["test"] == test) & (frame["level"] == level) & (frame["model"] == model)
                & (frame["layer"] == word_layer)].iloc[0]
    widgets.figure(P.plot_word_associations(sel, title=f"{test} ({level}, layer {word_layer}): s(w, {row['A']}, "
                                                       f"{row['B']}) per target word; d = {row['effect_size']:.2f}"),
                   name="bias_words", params={**params, "result": pick, "layer": int(word_layer)}, key="bias_fig_words")
    widgets.table(P.word_scores(sel), name="bias_word_scores", params={**params, "result": pick,
                                                                        "layer": int(word_layer)},
                  key="bias_word_table", hide_index=True)

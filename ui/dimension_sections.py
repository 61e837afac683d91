"""The Dimension page's sections, as named functions: making checkpoints by fine-tuning (a background run), the
checkpoints and evaluation texts to compare, the LID settings and job, its results, and the LID of the current term's
occurrences."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import streamlit as st

from analysis import dimension as D
from analysis import export
from analysis.corpus import ColumnSpec
from analysis.errors import ConfigError, SenseScopeError
from analysis.paths import check_allowed
from analysis.plots import dimension as P
from ui import cached, jobs, state, widgets
from ui import dimension as ud
from ui.widgets import md_escape


class EvalTexts(NamedTuple):
    """The texts whose tokens are sampled, and how they are named in manifests."""
    texts: list
    label: str


def _texts_of(docs: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(t for t in docs["text"].astype(str) if t.strip()))


def _digest(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "replace") + b"\0")
    return h.hexdigest()[:16]



def finetune() -> None:
    """Start a fine-tuning run on the corpus (a background process) and watch a run's progress."""
    runs = ud.list_runs()
    active = [r for r in runs if ud.is_running(r)]
    with st.expander("1 · Make checkpoints: fine-tune a model on the corpus (continued masked-LM training)",
                     expanded=bool(active) or not runs or "ft_watch" in st.session_state):
        st.caption("Continued masked-LM training on the current corpus, as in Astro-HEP-BERT (Simons 2024), runs in "
                   "the background: the page stays usable and you can leave it. Checkpoints are saved every K steps "
                   "(checkpoint-0 = the base model) and appear in the sidebar's **Model** list on every page. A "
                   "model without a masked-LM head (the packaged MiniLM) gets a new head tied to its input "
                   "embeddings; the run says so. 10 % of the texts are held out for the held-out loss.")
        try:
            corpus_texts = _texts_of(state.documents())
        except SenseScopeError as exc:
            corpus_texts = []
            widgets.error(exc)
        base = state.model_name()
        c1, c2, c3, c4 = st.columns(4)
        default_name = f"{Path(base).name if base else 'minilm'}-{Path(state.corpus_label()).stem or 'corpus'}"
        run_name = c1.text_input("Run name", value=ud.safe_name(default_name) if default_name.strip("-") else "run",
                                 key="ft_name", help="Folder under the cache; the same name and settings resume a run.")
        steps = c2.number_input("Steps", 1, 1_000_000, 300, step=50, key="ft_steps")
        save_every = c3.number_input("Save every K steps", 1, 1_000_000, 50, step=10, key="ft_save_every")
        seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="ft_seed")
        c1, c2, c3 = st.columns([1, 1, 2])
        batch = c1.number_input("Batch size", 1, 1024, 16, key="ft_batch")
        wwm = c2.checkbox("Whole-word masking", value=False, key="ft_wwm")
        c3.caption(f"Base model: **{md_escape(base or 'all-MiniLM-L6-v2 (packaged)')}** (the sidebar's model) · "
                   f"{len(corpus_texts)} distinct texts of {md_escape(state.corpus_label())}")
        if st.button("Start fine-tuning", type="primary", disabled=not corpus_texts, key="ft_start"):
            try:
                started = ud.start_finetune(corpus_texts, run_name, model=base, steps=int(steps),
                                            save_every=int(save_every), seed=int(seed), batch_size=int(batch),
                                            whole_word_mask=wwm)
                st.session_state["ft_watch"] = str(started)
                st.rerun()
            except SenseScopeError as exc:
                widgets.error(exc)

        runs = ud.list_runs()
        if runs:
            names = [r.name for r in runs]
            watched = Path(st.session_state.get("ft_watch", str(runs[0]))).name
            pick = st.selectbox("Watch run", names, index=names.index(watched) if watched in names else 0,
                                key="ft_pick")
            watch_dir = ud.runs_root() / pick
            live = ud.is_running(watch_dir)

            ud.monitor(watch_dir, live)


def checkpoints() -> tuple[list, Path | None]:
    """The checkpoints to compare: those of a fine-tuning run, or several models; (checkpoints, run folder)."""
    st.subheader("2 · Local intrinsic dimension across checkpoints")
    sources = {"run": "Checkpoints of a fine-tuning run", "models": "Several models"}
    source = st.radio("Compare", list(sources), format_func=sources.get, horizontal=True, key="lid_source")
    checkpoints: list[D.Checkpoint] = []
    run_dir: Path | None = None
    try:
        if source == "run":
            runs = ud.list_runs()
            other = "Another folder…"
            options = [r.name for r in runs] + [other]
            # The key follows the set of runs, so that a run that appears (e.g. one just started above) becomes the
            # choice instead of a stale "Another folder…" picked while there was no run yet.
            watched = Path(st.session_state.get("ft_watch", "")).name
            pick = st.selectbox("Run", options, index=options.index(watched) if watched in options[:-1] else 0,
                                key=f"lid_run_{_digest(sorted(options))}",
                                help="Runs made above live under the cache's finetune/ folder; any folder of "
                                     "checkpoint-<step>/ model folders works.")
            if pick == other:
                folder = st.text_input("Folder holding checkpoint-<step>/ model folders", key="lid_folder").strip()
                if not folder:
                    st.info("Type the folder of a fine-tuning run.")
                    st.stop()
                run_dir = check_allowed(folder, what="checkpoint folder")
                found = D.find_checkpoints(run_dir)
            else:
                run_dir = ud.runs_root() / pick
                try:
                    found = D.find_checkpoints(run_dir)
                except ConfigError:  # a run that has just started: the normal state until its first save
                    st.info(f"Run {md_escape(pick)} has no checkpoint yet: it saves checkpoint-0 (the base model) when "
                            f"training starts and then one every K steps; they appear here as soon as they are saved.")
                    st.stop()
            labels = [c.name for c in found]
            chosen = st.multiselect("Checkpoints", labels, default=labels, key=f"lid_cks_{run_dir}")
            checkpoints = [c for c in found if c.name in chosen]
        else:
            known = state.known_models()
            chosen = st.multiselect("Models", known, default=known[:2], key="lid_models",
                                    format_func=lambda m: "all-MiniLM-L6-v2 (packaged)" if m == "" else m)
            extra = st.text_input("More models (hub ids in the local cache or folders, comma-separated)",
                                  key="lid_extra")
            names = list(chosen) + [state.checked_model(m) for m in extra.split(",") if m.strip()]
            checkpoints = D.checkpoints_from_models(names) if names else []
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    if not checkpoints:
        st.info("Choose at least one checkpoint or model.")
        st.stop()
    return checkpoints, run_dir


def eval_texts(run_dir: Path | None) -> EvalTexts:
    """The evaluation texts: the run's held-out texts, the current corpus, or a file."""
    evals = {"corpus": "The current corpus", "file": "A file (e.g. out-of-domain text)"}
    if run_dir is not None and (run_dir / ud.CORPUS_FILE).exists():
        evals = {"heldout": "The run's held-out texts (in-domain)", **evals}
    c1, c2 = st.columns([1, 2])
    ev = c1.radio("Evaluation texts", list(evals), format_func=evals.get, key="lid_eval")
    try:
        if ev == "heldout":
            texts = ud.heldout_texts(run_dir)
            eval_label = f"held-out texts of {run_dir.name}"
        elif ev == "file":
            path = c2.text_input("Corpus file or DWUG folder", key="lid_eval_path").strip()
            if not path:
                st.info("Type the path of the evaluation texts.")
                st.stop()
            texts = _texts_of(cached.load_corpus_path(path, ColumnSpec()))
            eval_label = path
        else:
            texts = _texts_of(state.documents())
            eval_label = state.corpus_label()
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    c2.caption(f"{len(texts)} distinct texts from {md_escape(eval_label)}")
    return EvalTexts(texts, eval_label)


def lid(checkpoints: list, ev: EvalTexts):
    """The layers, sample and estimator, and LID as a background job started by the button: its result."""
    texts, eval_label = ev
    try:
        first = checkpoints[0]
        n_layers = cached.model_info(None if first.path == "default" else first.path)["n_layers"]
    except SenseScopeError as exc:
        widgets.stop_with(exc)
    c1, c2, c3, c4, c5 = st.columns([3, 1, 1, 1, 1])
    layers = c1.multiselect("Layers (0 = embeddings)", list(range(n_layers)), default=list(range(n_layers)),
                            key=f"lid_layers_{n_layers}")
    n_sample = c2.number_input("Tokens", 50, 200_000, 1000, step=250, key="lid_sample",
                               help="Token positions sampled (seeded, the same for every checkpoint and layer). The "
                                    "paper used 150,000 (60,000 after removing duplicates) on a GPU.")
    L = c3.number_input("Neighbours L", 3, 5000, 128, step=16, key="lid_L",
                        help="Each token's estimate comes from its L nearest neighbours (paper: 128).")
    estimator = c4.selectbox("Estimator", list(D.ESTIMATORS), key="lid_estimator",
                             format_func={"twonn": "TwoNN (paper)", "mle": "MLE", "lpca": "local PCA"}.get)
    lid_seed = c5.number_input("Seed", 0, 2**31 - 1, 0, key="lid_seed")
    if not layers:
        st.info("Choose at least one layer.")
        st.stop()

    key = (tuple((c.path, c.name) for c in checkpoints), _digest(texts), tuple(sorted(layers)), int(n_sample), int(L),
           estimator, int(lid_seed))
    # LID runs as a background job keyed on the checkpoints, the texts (by digest) and every setting.
    if st.button("Compute LID", type="primary", key="lid_compute"):
        st.session_state["lid_request"] = (key, jobs.key_of("dimension:lid", repr(key), eval_label), checkpoints,
                                           texts, sorted(layers), int(n_sample), int(L), estimator, int(lid_seed),
                                           eval_label)
    stored_key, res = jobs.requested(
        "lid_request", "lid_result", ud.lid_work,
        label=lambda args: f"Computing LID ({len(args[0])} checkpoint(s) × {len(args[2])} layer(s))",
        idle="Choose checkpoints, texts and settings, then **Compute LID**.")
    if stored_key != key:
        st.warning("The results below were computed with other settings; press **Compute LID** to update them.")
    return res


def results(res) -> None:
    """LID per checkpoint and layer: trajectory, violins, heatmap, records, extreme tokens, per-token CSV."""
    rec = res.records
    params = dict(res.params)
    all_layers = sorted(rec["layer"].unique())
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Tokens sampled", int(rec["n_tokens"].iloc[0]))
    m2.metric("Checkpoints", rec["checkpoint"].nunique())
    m3.metric("Layers", len(all_layers))
    m4.metric("Duplicates (last layer)", int(rec.loc[rec.layer == all_layers[-1], "n_duplicates"].max()))
    show_layer = st.select_slider("Layer shown in the trajectory and violins", all_layers, value=all_layers[-1],
                                  key="lid_show_layer")
    lp = {**params, "layer": int(show_layer)}
    widgets.figure(P.plot_lid_trajectory(rec, layer=show_layer), name="lid_trajectory", params=lp, key="lid_fig_traj")
    widgets.figure(P.plot_lid_violins(res.token_lid, layer=show_layer), name="lid_violins", params=lp,
                   key="lid_fig_violins")
    if len(all_layers) > 1:
        widgets.figure(P.plot_lid_heatmap(rec), name="lid_heatmap", params=params, key="lid_fig_heat")

    st.markdown("**Records** (one per checkpoint × layer; statistics over distinct vectors)")
    cols = [c for c in ("checkpoint", "step", "layer", "mean", "median", "std", "global", "n_tokens", "n_duplicates",
                        "n_zero_distances", "train_loss", "eval_loss") if c in rec]
    widgets.table(rec[cols], name="dimension_records", params=params, key="lid_records", hide_index=True)

    st.markdown("**Tokens with the highest and lowest LID**")
    c1, c2 = st.columns([2, 1])
    ck_names = list(dict.fromkeys(rec.sort_values("order")["checkpoint"]))
    ck_pick = c1.selectbox("Checkpoint", ck_names, index=len(ck_names) - 1, key="lid_ext_ck")
    n_ext = c2.number_input("Tokens each", 1, 200, 10, key="lid_ext_n")
    ext = res.extremes(ck_pick, int(show_layer), n=int(n_ext))
    widgets.table(ext, name="lid_extremes", params={**lp, "checkpoint": ck_pick}, key="lid_extremes", hide_index=True,
                  column_config={"context": st.column_config.TextColumn(width="large")})
    tok = res.sample.tokens.assign(context=res.sample.contexts())
    st.download_button("Per-token LID (CSV, every checkpoint and layer)",
                       data=lambda: export.table_csv(res.token_lid.merge(tok[["token", "context"]],
                                                                          left_on="token_index", right_index=True)),
                       file_name="token_lid.csv", mime="text/csv", on_click="ignore", key="lid_tok_csv")


def occurrences() -> None:
    """LID of the current term's occurrences (its embedding set) at the sidebar layer."""
    es = state.current_embeddings()
    with st.expander("LID of the current term's occurrences (its embedding set)"):
        if es is None:
            st.caption("Compute the term's embeddings on the Corpus page first.")
        else:
            layer = state.current_layer(es)
            n = es.n
            occ_L = st.slider("Neighbours L", 3, max(3, min(200, n - 2)), min(20, max(3, n - 2)), key="lid_occ_L")
            try:
                fitted = D.occurrence_dimension(es, layer, n_neighbors=int(occ_L))
                s = fitted.summary()
                a, b, c, d = st.columns(4)
                a.metric("Mean LID", f"{s['mean']:.2f}")
                b.metric("Median", f"{s['median']:.2f}")
                c.metric("Global TwoNN", "–" if s["global"] is None else f"{s['global']:.2f}")
                d.metric("Duplicates removed", s["n_duplicates"])
                st.caption(f"{n} occurrences of {md_escape(state.get('target'))} at layer {layer} of "
                           f"{md_escape(es.model)}.")
            except SenseScopeError as exc:
                widgets.error(exc)

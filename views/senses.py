"""Senses page: see, name and score the senses of a term; compare models and layers on them."""

from __future__ import annotations

import streamlit as st

from ui import senses_chart as chart_sections
from ui import senses_controls as controls
from ui import senses_sections as sections
from ui import state

st.title("Senses")
st.caption("Project the occurrences of the term, cluster their vectors into candidate senses, read and name the "
           "clusters, and score them against known senses (purity, ARI, NMI, V-measure, and classifiers that "
           "predict the known meanings). Clustering uses the full vectors, never the 2-D projection.")

es = state.require_embeddings()
occ = es.occurrences.reset_index(drop=True)
target = str(occ["target"].iloc[0]) if "target" in occ.columns and len(occ) else state.get("target")

vs = controls.vector_settings(es, len(occ))
cs = controls.cluster_settings(len(occ))
run = controls.clusters(es, occ, target, vs, cs)

projection = chart_sections.projection(run, vs)
chart = chart_sections.scatter(run, vs, projection)
chart_sections.selection(run, chart)
chart_sections.assignments(run, projection, chart)
chart_sections.silhouette(run)

gold, one_sense, split = sections.gold_scores(run)
sections.descriptions(run, gold)
sections.curation_and_kwic(run, chart, gold)
sections.comparison(run, gold, one_sense, split, cs.method, controls.METHODS[cs.method])

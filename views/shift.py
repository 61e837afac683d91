"""Shift page: how a term's senses and usage move across periods, with significance; many targets ranked."""

from __future__ import annotations

import streamlit as st

from ui import shift_ranking as ranking
from ui import shift_sections as sections
from ui import state

st.title("Shift")
st.caption("When did a sense appear, when did it take over, and how much did the usage change between periods? "
           "APD (average pairwise cosine distance between two periods' usages), PRT (cosine distance between the "
           "period prototypes) and JSD (Jensen-Shannon divergence of the sense shares, natural log) — each with a "
           "permutation test that shuffles period labels and a bootstrap interval.")

es = state.require_embeddings()
run = sections.vectors(es, es.occurrences.reset_index(drop=True))
periods = sections.periods(run)
senses = sections.senses(run, periods.periods)
tests = sections.tests()
result, params = sections.compare(run, periods.periods, senses, tests)
sections.shares(run, result, params, tests)
sections.metrics(run, result, params, periods.periods, tests)
sections.per_layer(run, params, periods.periods, senses, tests)
sections.trajectory(run, result, params, periods.periods, senses)
ranking.many_targets(run, periods, senses, tests)

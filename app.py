"""SenseScope: a workbench for what words mean in context.

Run with ``make app`` (or ``streamlit run app.py``). This file only wires the pages and the shared sidebar; analyses
live in ``analysis/`` and page logic in ``views/`` (not ``pages/``: Streamlit would treat that folder as old-style pages and run a deep-linked page without app.py).
"""

import os
from pathlib import Path

import streamlit as st

from ui import state

st.set_page_config(page_title="SenseScope", page_icon=":material/hub:", layout="wide")
# Process-wide settings belong to the entry points, not the library: tokenizers' own threads would compete with the
# model's on a small machine and warn at every fork.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).parent
# Fixed order; a page appears once its file exists.
PAGES = [
    ("views/corpus.py", "Corpus", ":material/description:"),
    ("views/senses.py", "Senses", ":material/scatter_plot:"),
    ("views/shift.py", "Shift", ":material/timeline:"),
    ("views/bias.py", "Bias", ":material/balance:"),
    ("views/dimension.py", "Dimension", ":material/stacked_line_chart:"),
    # Last: the Corpus page stays the landing page (the tour is a mode a teacher opens, not every visitor's start).
    ("views/tour.py", "Tour", ":material/school:"),
]

state.init()
navigation = st.navigation([st.Page(path, title=title, icon=icon) for path, title, icon in PAGES
                            if (HERE / path).exists()])
sidebar_slots = state.sidebar()
try:
    navigation.run()
finally:  # also after st.stop(): the sidebar's lines reflect what the page chose and computed
    state.sidebar_status(sidebar_slots)

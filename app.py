"""SenseScope: a workbench for what words mean in context.

Run with ``make app`` (or ``streamlit run app.py``). This file only wires the pages and the shared sidebar; analyses
live in ``analysis/`` and page logic in ``pages/``.
"""

from pathlib import Path

import streamlit as st

from ui import state

st.set_page_config(page_title="SenseScope", page_icon=":material/hub:", layout="wide")

HERE = Path(__file__).parent
# Fixed order; a page appears once its file exists.
PAGES = [
    ("pages/corpus.py", "Corpus", ":material/description:"),
    ("pages/senses.py", "Senses", ":material/scatter_plot:"),
    ("pages/shift.py", "Shift", ":material/timeline:"),
    ("pages/bias.py", "Bias", ":material/balance:"),
    ("pages/dimension.py", "Dimension", ":material/stacked_line_chart:"),
]

state.init()
navigation = st.navigation([st.Page(path, title=title, icon=icon) for path, title, icon in PAGES
                            if (HERE / path).exists()])
status_slot = state.sidebar()
try:
    navigation.run()
finally:  # also after st.stop(): the status line reflects what the page computed
    if status_slot is not None:
        state.sidebar_status(status_slot)

"""Tour page: a guided walk through the bundled demo for a class, one step at a time (the steps are in ui/tour.py)."""

from __future__ import annotations

import streamlit as st

from ui import tour

st.title("Guided tour")
st.caption("Seven short steps through the bundled demo (three English words from DWUG, 1810–1860 against "
           "1960–2010, with the packaged all-MiniLM-L6-v2 model): what the dashboard measures and how to read each "
           "chart. Each step has one control to try and a link to the full page. The tour ignores the corpus and "
           "model chosen in the sidebar, so everyone sees the same pictures.")

keys = [k for k, _, _ in tour.STEPS]
titles = {k: f"{i}. {t}" for i, (k, t, _) in enumerate(tour.STEPS, start=1)}


def _move(by: int) -> None:
    here = keys.index(st.session_state.get("tour_step", keys[0]))
    st.session_state["tour_step"] = keys[min(len(keys) - 1, max(0, here + by))]


nav, body = st.columns([1, 4], gap="medium")
step = nav.radio("Step", keys, format_func=titles.get, key="tour_step")
back, forward = nav.columns(2)
back.button("← Back", key="tour_back", on_click=_move, args=(-1,), disabled=step == keys[0])
forward.button("Next →", key="tour_next", on_click=_move, args=(1,), disabled=step == keys[-1], type="primary")
with body:
    st.subheader(titles[step])
    tour.draw(step)

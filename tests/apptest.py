"""Open a page of the dashboard through app.py with streamlit.testing.v1.AppTest (shared by the page tests)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "app.py")


def open_page(page: str, *, model: str | None = None, timeout: int = 600, **state) -> AppTest:
    """Run app.py (so the shared sidebar and state are set up), then switch to ``page``; fail on an exception.

    ``model`` is stored as the session's model (a tiny test model keeps page tests fast); ``state`` sets other
    session-state keys before the first run.
    """
    at = AppTest.from_file(APP, default_timeout=timeout)
    if model is not None:
        at.session_state["model"] = model
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at

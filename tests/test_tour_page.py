"""The guided tour: every step draws its text, one live chart and its link, and its "try it yourself" control works.

The tour always uses the bundled demo with the packaged model (the first visit embeds the demo's occurrences as a
background job; tests/jobwait.settle waits for it). The browser test walks the steps in headless Chromium and keeps a
screenshot of each in out/screenshots/tour_<step>.png.
"""

from __future__ import annotations

import json

import pytest

from tests.jobwait import open_settled, settle

PAGE = "views/tour.py"
#: step -> (widget kind, key, a value other than the default)
TRY_IT = {"vector": ("selectbox", "tour_vector_pick", None),  # None: pick the fourth option
          "projection": ("radio", "tour_projection_colour", "period"),
          "clusters": ("slider", "tour_clusters_k", 4), "shares": ("selectbox", "tour_shares_target", "chairman_nn"),
          "change": ("toggle", "tour_change_shuffle", True), "weat": ("selectbox", "tour_weat_test", "weat1"),
          "lid": ("select_slider", "tour_lid_neighbors", 40)}


def _chart(at) -> dict:
    charts = at.get("plotly_chart")
    assert len(charts) == 1, f"{len(charts)} charts"
    return json.loads(charts[0].proto.spec)


def _no_problem(at, step: str) -> None:
    assert not at.exception, (step, at.exception)
    assert not at.error, (step, [e.value for e in at.error])


def _widget(at, kind: str, key: str):
    return getattr(at, kind)(key=key)


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    import os

    cache = tmp_path_factory.mktemp("tour_cache")
    old = os.environ.get("SENSESCOPE_CACHE")
    os.environ["SENSESCOPE_CACHE"] = str(cache)
    try:
        yield open_settled(PAGE, timeout=600)
    finally:
        if old is None:
            os.environ.pop("SENSESCOPE_CACHE", None)
        else:
            os.environ["SENSESCOPE_CACHE"] = old


def test_every_step_draws_a_chart_and_its_try_it_control_changes_it(tour):
    from ui.tour import STEPS

    at = tour
    assert [k for k, _, _ in STEPS] == list(TRY_IT) and 6 <= len(STEPS) <= 8
    for step, title, _ in STEPS:
        at.radio(key="tour_step").set_value(step)
        at = settle(at)
        _no_problem(at, step)
        assert any(title in h.value for h in at.subheader), step
        before = _chart(at)
        assert before["data"], f"{step}: the chart has no traces"
        kind, key, value = TRY_IT[step]
        widget = _widget(at, kind, key)
        if value is None:
            widget.select_index(3)
        else:
            widget.set_value(value)
        at = settle(at)
        _no_problem(at, f"{step} after trying {key}")
        after = _chart(at)
        assert after["data"] and after != before, f"{step}: moving {key} did not change the chart"


def test_next_and_back_buttons_walk_the_steps(tour):
    from ui.tour import STEPS

    at = tour
    at.radio(key="tour_step").set_value(STEPS[0][0])
    at = settle(at)
    at.button(key="tour_next").click()
    at = settle(at)
    assert at.radio(key="tour_step").value == STEPS[1][0]
    at.button(key="tour_back").click()
    at = settle(at)
    assert at.radio(key="tour_step").value == STEPS[0][0]
    assert at.button(key="tour_back").disabled


def test_tour_steps_in_the_browser(app_server, browser_page):
    from tests.browser import screenshot, wait_for_text
    from ui.tour import STEPS

    page = browser_page
    page.goto(f"{app_server.url}/tour", wait_until="domcontentloaded")
    wait_for_text(page, "Guided tour", timeout_s=300)
    for i, (step, title, _) in enumerate(STEPS, start=1):
        page.get_by_text(f"{i}. {title}", exact=True).first.click()
        page.get_by_role("heading", name=f"{i}. {title}").wait_for(timeout=300_000)
        wait_for_text(page, "Try it yourself", timeout_s=600, what=f"step {step}'s control")
        page.wait_for_function(_CHART_HAS_DATA, timeout=600_000)
        shot = screenshot(page, app_server, None, name=f"tour_{step}", timeout_ms=600_000)
        assert shot.exists()
        assert page.locator("[data-testid='stAlertContentError']").count() == 0, page.inner_text("body")[:2000]
        points = page.evaluate(_POINTS)
        assert points and max(points) > 0, f"step {step}: an empty chart ({points})"


# the number of values drawn in each chart on the page: Plotly keeps the drawn traces, with their arrays decoded
# (the figure JSON sends them base64-packed), as _fullData on the graph div
_POINTS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(g => (g._fullData || []).reduce(
    (n, t) => n + ((t._length || (t.z && t.z.length) || (t.y && t.y.length)) || 0), 0))"""
_CHART_HAS_DATA = f"() => ({_POINTS})().some(n => n > 0)"

"""Issue 13 in headless Chromium on the demo: every new control of the Senses and Corpus pages used once (search,
isolate, click for neighbours, keep and compare selections, merge / split / move / rename / noise / undo, KWIC
sort, collocates, the Shift page on the curated senses), a screenshot after each; no error box, no exception, no empty chart."""

from __future__ import annotations

import re
import time

import pytest

from tests.browser import screenshot, wait_for_text

LONG = 600


def _clean(page, when: str) -> None:
    """No exception or error box, and every chart has data."""
    body = page.inner_text("body")
    assert page.locator("[data-testid='stException']").count() == 0, f"{when}: exception\n{body[:3000]}"
    errors = page.locator("[data-testid='stAlertContentError']")
    assert errors.count() == 0, f"{when}: error box: {errors.first.inner_text()[:500]}"
    # plotly.js decodes numpy data ({dtype, bdata}) into _fullData; count the points each chart draws
    sizes = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(g =>
        (g._fullData || []).reduce((n, t) => n + (t._length || (t.z && t.z.length) || 0), 0))""")
    assert sizes and all(s > 0 for s in sizes), f"{when}: empty chart(s) {sizes}"


def _shot(page, server, name: str, wait_text: str) -> None:
    screenshot(page, server, None, wait_text=wait_text, name=name, timeout_ms=LONG * 1000)
    _clean(page, name)


def _idle(page, timeout_s: float = LONG) -> None:
    """Wait until the script run has ended (no "Running..." widget), so that no element is replaced mid-action."""
    deadline = time.time() + timeout_s
    time.sleep(0.5)
    while time.time() < deadline and page.locator("[data-testid='stStatusWidget']").count():
        time.sleep(0.3)
    time.sleep(0.5)


def _pick(page, box_label: str, option: str) -> None:
    """Choose ``option`` in the selectbox or multiselect whose label is ``box_label``."""
    _again(lambda: _pick_once(page, box_label, option))


def _pick_once(page, box_label: str, option: str) -> None:
    _idle(page)
    box = page.locator("[data-testid='stSelectbox'], [data-testid='stMultiSelect']").filter(has_text=box_label).first
    box.scroll_into_view_if_needed()
    multi = box.get_attribute("data-testid") == "stMultiSelect"
    box.locator("input").first.click()
    page.get_by_role("option").filter(has_text=option).first.click()
    if multi:  # a multiselect stays open (Escape in a selectbox would undo the choice)
        page.keyboard.press("Escape")


def _again(action, tries: int = 5) -> None:
    """``action()``, tried again when a rerun replaced the element under it (a loaded machine reruns late)."""
    from playwright.sync_api import Error

    for attempt in range(tries):
        try:
            return action()
        except Error as exc:
            if "not attached" not in str(exc) and "not stable" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(1.0)


def _press(page, name: str) -> None:
    def press():
        _idle(page)
        button = page.get_by_role("button", name=name, exact=True).first
        button.scroll_into_view_if_needed()
        button.click()

    _again(press)


def _search(page, text: str) -> None:
    _idle(page)
    box = page.get_by_role("textbox", name="Search the occurrences")
    box.fill(text)
    box.press("Enter")
    wait_for_text(page, f"match '{text}'", timeout_s=LONG, what=f"the hits for {text}")


@pytest.mark.browser
@pytest.mark.slow
def test_explore_and_curate_controls_in_chromium(app_server, browser):
    context = browser.new_context(viewport={"width": 1500, "height": 3000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    screenshot(page, app_server, "", wait_text="Keyword in context", name="explore_corpus", timeout_ms=LONG * 1000,
               wait_plot=False)
    _shot(page, app_server, "explore_corpus_collocates", "Collocates per")
    page.get_by_role("link", name="Senses").first.click()
    wait_for_text(page, "Showing UMAP", timeout_s=LONG, what="the UMAP projection")
    _shot(page, app_server, "explore_senses", "Your senses")

    _search(page, "air")  # search: hits ringed on the projection and listed
    assert page.evaluate("() => Array.from(document.querySelectorAll('.js-plotly-plot')).some(g => (g.data || [])"
                         ".some(t => String(t.name).startsWith('hits for air')))")
    _shot(page, app_server, "explore_search", "occurrences match")
    page.get_by_text("Selections: keep, isolate, compare").first.click()
    page.get_by_role("textbox", name="as the selection named").fill("air")
    _press(page, "Keep and isolate")  # keep the hits as a named selection, draw only them
    wait_for_text(page, "only air", timeout_s=LONG, what="the isolated selection")
    _shot(page, app_server, "explore_isolated", "only air")
    radio = page.locator("[data-testid='stRadio']").filter(has_text="Draw")
    radio.get_by_text("all occurrences", exact=True).click()
    _search(page, "wing")
    page.get_by_role("textbox", name="as the selection named").fill("wing")
    _press(page, "Keep")
    wait_for_text(page, "Words near the target that tell", timeout_s=LONG, what="the comparison of two selections")
    _shot(page, app_server, "explore_compare", "Words near the target that tell")

    # a click on a point (with the Pan tool: in lasso mode a click selects nothing): its nearest neighbours are
    # listed and linked on the projection
    point = page.locator(".js-plotly-plot .scatterlayer .trace .points path").nth(3)
    point.scroll_into_view_if_needed()
    b = point.bounding_box()
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    page.locator(".js-plotly-plot").first.locator(".modebar-btn[data-title='Pan']").click()
    page.mouse.click(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    wait_for_text(page, "Nearest neighbours of #", timeout_s=LONG, what="the neighbours of a clicked point")
    _shot(page, app_server, "explore_neighbours", "Nearest neighbours of #")

    # curation: merge, split, move the hits, rename, noise, undo
    _pick(page, "Merge senses", "sense 0")
    _pick(page, "Merge senses", "sense 1")
    _press(page, "Merge")
    wait_for_text(page, "Edit log (2 edits)", timeout_s=LONG, what="the merge")
    _shot(page, app_server, "explore_merge", "ARI (your senses)")
    _press(page, "Split")
    wait_for_text(page, "Edit log (3 edits)", timeout_s=LONG, what="the split")
    _pick(page, "Move", "search hits")
    _idle(page)
    page.get_by_role("button", name=re.compile(r"^Move \d+ occurrences$")).first.click()
    wait_for_text(page, "Edit log (4 edits)", timeout_s=LONG, what="the move")
    page.get_by_role("textbox", name="new name").fill("aircraft")
    _press(page, "Rename")
    wait_for_text(page, "Edit log (5 edits)", timeout_s=LONG, what="the rename")
    _pick(page, "Mark as noise", "sense")
    _press(page, "Mark as noise")
    wait_for_text(page, "Edit log (6 edits)", timeout_s=LONG, what="marking noise")
    _press(page, "Undo")
    wait_for_text(page, "Edit log (7 edits)", timeout_s=LONG, what="the undo")
    _shot(page, app_server, "explore_curated", "Edit log (7 edits)")

    # KWIC sort and collocates per period
    _pick(page, "Sort by", "1st word right")
    wait_for_text(page, "sorted by the 1st word right", timeout_s=LONG, what="the sorted KWIC lines")
    radio = page.locator("[data-testid='stRadio']").filter(has_text="Collocates per")
    radio.get_by_text("period", exact=True).click()
    wait_for_text(page, "in each period's contexts", timeout_s=LONG, what="collocates per period")
    _shot(page, app_server, "explore_kwic", "in each period's contexts")

    # the Shift page's "My senses" are these curated senses (the undo took back the noise mark, not the rename)
    _idle(page)
    page.get_by_role("link", name="Shift").first.click()
    wait_for_text(page, "Your curated senses, version", timeout_s=LONG, what="the Shift page on my senses")
    _shot(page, app_server, "explore_shift_my_senses", "Bars with intervals")
    assert "My senses (curated on the Senses page)" in page.inner_text("body")
    context.close()

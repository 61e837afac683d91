"""The Bias page through AppTest (tiny random BERT) and in headless Chromium (packaged MiniLM, WEAT 6 at all levels)."""

from __future__ import annotations


import pytest

from tests.browser import screenshot
from tests.apptest import open_page
from tests.jobwait import settle

PAGE = "views/bias.py"


def _open(tiny_bert, **state):
    return open_page(PAGE, model=tiny_bert, timeout=240, **state)


def _results(at):
    return next(d.value for d in at.dataframe if "effect_size" in d.value.columns)


def test_bias_page_weat6_three_levels_tables_and_charts(tiny_bert, cache_dir):
    at = _open(tiny_bert)
    assert at.multiselect(key="bias_tests").value == ["weat6"]
    assert at.multiselect(key="bias_levels").value == ["word", "sentence", "contextual"]
    at.number_input(key="bias_perms").set_value(2000)
    at.number_input(key="bias_boot").set_value(100)
    settle(at.button(key="bias_run").click())
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    res = _results(at)
    assert list(res["level"]) == ["word", "sentence", "contextual"] and set(res["test"]) == {"weat6"}
    assert list(res["n_x"]) == [8, 64, 64] and res["p_value"].between(0, 1).all()
    assert len(at.get("plotly_chart")) == 2  # effect sizes + words (one layer: no heatmap)
    words = next(d.value for d in at.dataframe if "mean" in d.value.columns and "word" in d.value.columns)
    assert len(words) == 16  # 8 male + 8 female names
    # every layer: a heatmap appears; settings changed without rerun -> a warning
    at.radio(key="bias_layer_mode").set_value("all").run()
    assert any("other settings" in w.value for w in at.warning)
    settle(at.button(key="bias_run").click())
    assert not at.exception, at.exception
    res = _results(at)
    assert len(res) == 3 * 4 and sorted(res["layer"].unique()) == [0, 1, 2, 3]
    # the [CLS] vector at layer 0 is the same for every sentence: d is undefined there, and the page says why
    assert res.loc[(res["level"] == "sentence") & (res["layer"] == 0), "effect_size"].isna().all()
    assert any("d is undefined" in c.value and "weat6 · sentence · layer 0" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 3
    # the per-word chart follows the chosen result
    at.selectbox(key="bias_word_pick").set_value("weat6 · contextual · " + tiny_bert).run()
    assert not at.exception


def test_bias_page_own_test_with_templates_and_bad_input(tiny_bert, cache_dir):
    at = _open(tiny_bert)
    at.radio(key="bias_source").set_value("mine").run()
    assert not at.exception and not at.error
    at.number_input(key="bias_perms").set_value(500)
    settle(at.button(key="bias_run").click())
    assert not at.exception, at.exception
    res = _results(at)
    assert list(res["level"]) == ["word", "sentence", "contextual"] and list(res["n_x"]) == [4, 12, 12]
    at.text_area(key="bias_templates").set_value("This is it.").run()
    assert any("no {}" in e.value.replace("\\", "") for e in at.error), [e.value for e in at.error]  # Markdown-escaped
    at.text_area(key="bias_templates").set_value("This is {}.").run()
    at.text_area(key="bias_y").set_value("Amy, Joan").run()
    assert any("different sizes" in e.value for e in at.error)


def test_bias_page_my_corpus_lists_missing_words(tiny_bert, cache_dir):
    """The demo corpus (DWUG EN) has 'he', 'his', 'she', 'her', 'air', 'surface', ... but never 'zebedee'."""
    at = _open(tiny_bert)
    at.radio(key="bias_source").set_value("mine").run()
    for k, v in {"bias_x": "he, his", "bias_y": "she, zebedee", "bias_a": "air, flight",
                 "bias_b": "surface, line"}.items():
        at.text_area(key=k).set_value(v)
    at.checkbox(key="bias_use_corpus").check().run()
    # 'zebedee' never occurs, so Y would keep a single word: a clear message, not a traceback
    assert not at.exception, at.exception
    # regression: the message names the absent word, also when missing words are left out
    assert any("fewer than two" in e.value and "absent: 'zebedee'" in e.value.replace("\\", "") for e in at.error), \
        [e.value for e in at.error]
    at.text_area(key="bias_y").set_value("she, her, zebedee").run()
    at.text_area(key="bias_x").set_value("he, his, him").run()
    assert not at.error, [e.value for e in at.error]
    at.multiselect(key="bias_levels").set_value(["contextual"])
    at.number_input(key="bias_perms").set_value(300)
    settle(at.button(key="bias_run").click())
    assert not at.exception, at.exception
    res = _results(at)
    assert list(res["level"]) == ["contextual"] and "zebedee" in res["missing"].iloc[0]
    assert res["n_x"].iloc[0] <= 3 * 20  # at most 20 occurrences kept per word
    # without leaving missing words out, the page names the absent word
    at.checkbox(key="bias_drop").uncheck().run()
    assert any("zebedee" in e.value and "do not occur" in e.value for e in at.error)


def test_bias_page_upload_json(tiny_bert, cache_dir):
    at = _open(tiny_bert)
    at.radio(key="bias_source").set_value("file").run()
    assert any("JSON file" in i.value for i in at.info)


@pytest.mark.browser
@pytest.mark.slow
def test_bias_page_in_chromium_weat6_three_levels(app_server, browser):
    """WEAT 6 (male/female names x career/family) at the word, sentence and contextual levels with the packaged
    MiniLM; a tall viewport so that the screenshot shows the table, the bars and the per-word chart."""
    context = browser.new_context(viewport={"width": 1400, "height": 4000})
    page = context.new_page()
    try:
        # Enter through the app's entry page and its navigation (a direct /bias load can bypass app.py's
        # st.navigation and shared sidebar in this Streamlit version).
        page.goto(app_server.url, wait_until="domcontentloaded")
        page.locator("[data-testid='stSidebarNav']").get_by_text("Bias", exact=True).click(timeout=600_000)
        page.get_by_text("Run the tests").first.wait_for(timeout=600_000)
        page.get_by_role("button", name="Run the tests").click()
        shot = screenshot(page, app_server, None, wait_text="Which words drive the effect", name="bias",
                          timeout_ms=600_000)
        assert shot.stat().st_size > 30_000
        text = page.inner_text("body")
        assert "weat6" in text and "contextual" in text and "sentence" in text and "all-MiniLM-L6-v2" in text
        assert page.locator(".js-plotly-plot").count() >= 2  # bars + per-word chart
        assert "Current analysis" in page.locator("[data-testid='stSidebar']").inner_text()  # the app's sidebar
    finally:
        context.close()

"""Shared widgets: a figure with its exports, a table with its CSV, an error box.

Every figure gets the Plotly toolbar's own download (PNG, rendered in the browser, no server-side Chrome needed), an
SVG toolbar variant, and buttons for standalone HTML, server-side PNG/SVG (when kaleido finds a Chromium) and the
manifest of parameters. Export files are generated only when their button is clicked (deferred data), so a page
with many figures stays fast.
"""

from __future__ import annotations

import re

import streamlit as st

from analysis import export
from analysis.errors import SenseScopeError


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def md_escape(value) -> str:
    """Data (file names, targets, labels, cluster names, periods) made literal inside Markdown.

    st.markdown, st.caption, st.info and widget labels render Markdown: a corpus value such as ``[x](https://…)``
    would become a live link, ``$...$`` a formula. Every Markdown-special character is backslash-escaped.
    """
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "figure"


def figure(fig, *, name: str, params: dict, key: str | None = None, on_select=None, selection_mode=None,
           exports: bool = True):
    """Show a plotly figure with export buttons; returns the selection state when ``on_select`` is given."""
    slug = _slug(name)
    key = key or f"fig_{slug}"
    config = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": slug, "scale": 2}}
    kwargs = {"key": key, "config": config}
    if on_select is not None:
        kwargs["on_select"] = on_select
        if selection_mode is not None:
            kwargs["selection_mode"] = selection_mode
    state = st.plotly_chart(fig, **kwargs)
    if exports:
        cols = st.columns(4)
        cols[0].download_button("HTML", data=lambda: export.figure_html(fig), file_name=f"{slug}.html",
                                mime="text/html", key=f"{key}_html", on_click="ignore",
                                help="Standalone interactive figure (plotly.js inlined, opens offline)")
        ok, reason = export.static_export_available()
        cols[1].download_button("PNG", data=lambda: export.figure_image(fig, "png"), file_name=f"{slug}.png",
                                mime="image/png", key=f"{key}_png", on_click="ignore", disabled=not ok,
                                help=reason or "Rendered on the server at 2× scale")
        cols[2].download_button("SVG", data=lambda: export.figure_image(fig, "svg"), file_name=f"{slug}.svg",
                                mime="image/svg+xml", key=f"{key}_svg", on_click="ignore", disabled=not ok,
                                help=reason or "Vector image rendered on the server")
        cols[3].download_button("Parameters", data=lambda: export.manifest_json(params, kind=f"figure:{slug}"),
                                file_name=f"{slug}.manifest.json", mime="application/json", key=f"{key}_manifest",
                                on_click="ignore", help="JSON manifest of every parameter and version")
    return state


def table(df, *, name: str, params: dict, key: str | None = None, **dataframe_kwargs) -> None:
    """Show a table with CSV and manifest downloads."""
    slug = _slug(name)
    key = key or f"tab_{slug}"
    st.dataframe(df, key=key, **dataframe_kwargs)
    cols = st.columns(4)
    cols[0].download_button("CSV", data=lambda: export.table_csv(df), file_name=f"{slug}.csv", mime="text/csv",
                            key=f"{key}_csv", on_click="ignore")
    cols[1].download_button("Parameters", data=lambda: export.manifest_json(params, kind=f"table:{slug}"),
                            file_name=f"{slug}.manifest.json", mime="application/json", key=f"{key}_manifest",
                            on_click="ignore")


def error(exc: BaseException) -> None:
    """A user-facing error as a red box (SenseScopeError messages are written for users)."""
    if isinstance(exc, SenseScopeError):
        st.error(md_escape(str(exc)))  # messages quote user input (file names, terms): never read as Markdown
    else:
        st.exception(exc)

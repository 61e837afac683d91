"""Shared widgets: a figure with its exports, a table with its CSV, an error box.

Every figure gets the Plotly toolbar's own download (PNG, rendered in the browser, no server-side Chrome needed), an
SVG toolbar variant, and buttons for standalone HTML, server-side PNG/SVG/PDF (when kaleido finds a Chromium) in the
screen style or the paper preset (a journal column width, see analysis.export.PaperSpec), and the
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
        _export_row(fig, slug, key, params)
    return state


#: Image styles of the export row: the screen look, or the paper preset at a journal's column width.
STYLES = {"screen": "Screen style", "single": "Paper, 8.5 cm (single column)",
          "double": "Paper, 17.4 cm (double column)"}


def _export_row(fig, slug: str, key: str, params: dict) -> None:
    """HTML, PNG, SVG, PDF and parameter downloads, in the screen style or the paper preset chosen beside them."""
    cols = st.columns([1, 1, 1, 1, 1.4, 1.6])
    chosen = st.session_state.get(f"{key}_style", "screen")
    with cols[5].popover("Paper" if chosen != "screen" else "Style", icon=":material/tune:",
                         help="The style of the PNG, SVG and PDF downloads: as on screen, or for a paper"):
        style = st.selectbox("Image style", list(STYLES), format_func=STYLES.get, key=f"{key}_style",
                             help="Paper: white, no grid, one font at 8 pt, no title (put it in the caption); "
                                  "SVG and PDF are vector, PNG is 300 dpi at the column width")
        font = st.selectbox("Font", list(export.PAPER_FONTS), key=f"{key}_font", disabled=style == "screen",
                            help="Font family of the paper figure (embedded in the PDF)")
    spec = None
    if style != "screen":
        spec = export.PaperSpec(width_cm=export.PAPER_WIDTHS_CM["single column" if style == "single"
                                                                 else "double column"],
                                font_family=export.PAPER_FONTS[font])
    stem = slug if spec is None else f"{slug}_paper_{style}"
    cols[0].download_button("HTML", data=lambda: export.figure_html(fig), file_name=f"{slug}.html",
                            mime="text/html", key=f"{key}_html", on_click="ignore",
                            help="Standalone interactive figure (plotly.js inlined, opens offline)")
    ok, reason = export.static_export_available()
    how = {"png": "Rendered on the server at 2× scale", "svg": "Vector image rendered on the server",
           "pdf": "Vector PDF rendered on the server"}
    if spec is not None:
        how = {"png": f"300 dpi, {spec.png_width_px} pixels wide", "svg": "Vector, text kept as text",
               "pdf": "Vector, fonts embedded"}
    mimes = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
    for col, fmt in zip(cols[1:4], ("png", "svg", "pdf")):
        col.download_button(fmt.upper(), data=lambda fmt=fmt: _image(fig, fmt, spec), file_name=f"{stem}.{fmt}",
                            mime=mimes[fmt], key=f"{key}_{fmt}", on_click="ignore", disabled=not ok,
                            help=reason or how[fmt])
    manifest_params = {**params, "export": spec.to_dict() if spec else {"preset": "screen"}}
    cols[4].download_button("Parameters", data=lambda: export.manifest_json(manifest_params, kind=f"figure:{slug}"),
                            file_name=f"{slug}.manifest.json", mime="application/json", key=f"{key}_manifest",
                            on_click="ignore", help="JSON manifest of every parameter and version")


def _image(fig, fmt: str, spec) -> bytes:
    return export.figure_image(fig, fmt) if spec is None else export.paper_image(fig, fmt, spec)


def table(df, *, name: str, params: dict, key: str | None = None, download=None, **dataframe_kwargs) -> None:
    """Show a table with CSV and manifest downloads (``download``: the full table for the CSV when ``df`` shows
    only its first rows)."""
    slug = _slug(name)
    key = key or f"tab_{slug}"
    st.dataframe(df, key=key, **dataframe_kwargs)
    full = df if download is None else download
    cols = st.columns(4)
    cols[0].download_button("CSV", data=lambda: export.table_csv(full), file_name=f"{slug}.csv", mime="text/csv",
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


def stop_with(exc: BaseException) -> None:
    """Show ``exc`` as :func:`error` does and end this run of the page (what follows needs what failed)."""
    error(exc)
    st.stop()

"""Data strings made safe for Plotly text: legends, axis categories, hovers, titles and annotations.

Plotly renders those strings as a subset of HTML (``<a href>``, ``<b>``, ``<br>``, ...), in the dashboard and in
exported HTML alike, so a cluster name, label, period, test name or word holding ``<a href="...">`` would become a
live link. Every data string that reaches a figure goes through :func:`esc` first; only the markup the plot
functions write themselves (``<b>``, ``<br>``) stays markup.

Quotes become numeric entities (``&#34;``, ``&#39;``) because Plotly decodes numeric entities but shows named ones
such as ``&quot;`` as they stand.
"""

from __future__ import annotations

from typing import Iterable

from analysis._util import is_missing

_TABLE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def esc(value, missing: str | None = None) -> str:
    """``str(value)`` with ``& < > " '`` escaped; ``missing`` (when given) for None / NaN / <NA>."""
    if missing is not None and is_missing(value):
        return missing
    return str(value).translate(_TABLE)


def esc_all(values: Iterable, missing: str | None = None) -> list[str]:
    """:func:`esc` of each value (for category arrays, trace texts and hover lists)."""
    return [esc(v, missing) for v in values]


def esc_title(title: str | None) -> str | None:
    """A caller's title is plain text (it often names a target, model or test): escaped, None kept."""
    return None if title is None else esc(title)

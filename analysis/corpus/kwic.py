"""Keyword in context: one occurrence as (left, match, right), as a preview table and as escaped hover HTML."""

from __future__ import annotations

import pandas as pd


def kwic(text: str, start: int, end: int, width: int = 60) -> tuple[str, str, str]:
    """Keyword in context: (left, match, right), each side cut to ``width`` characters at a word boundary."""
    left, match, right = text[max(0, start - width):start], text[start:end], text[end:end + width]
    if start - width > 0 and " " in left:
        left = "…" + left[left.index(" ") + 1:]
    if end + width < len(text) and " " in right:
        right = right[: right.rindex(" ")] + "…"
    return " ".join(left.split()) + (" " if left[-1:].isspace() else ""), match, \
        (" " if right[:1].isspace() else "") + " ".join(right.split())


def kwic_table(occ: pd.DataFrame, width: int = 60) -> pd.DataFrame:
    """A KWIC preview of an occurrences table: left, match, right plus the id and metadata columns."""
    parts = [kwic(t, s, e, width) for t, s, e in zip(occ["text"], occ["start"], occ["end"])]
    out = pd.DataFrame(parts, columns=["left", "match", "right"], index=occ.index)
    keep = [c for c in ("year", "period", "label", "doc_id", "occurrence_id") if c in occ.columns]
    return pd.concat([out, occ[keep]], axis=1)


def kwic_html(text: str, start: int, end: int, width: int = 60) -> str:
    """HTML-safe KWIC line with the target in bold (for plot hovers); the corpus text is escaped."""
    from analysis.plots._text import esc  # the one escaping Plotly decodes (it shows &quot; as it stands)

    left, match, right = kwic(text, start, end, width)
    return f"{esc(left)}<b>{esc(match)}</b>{esc(right)}"

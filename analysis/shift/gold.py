"""Gold change scores (SemEval-2020 Task 1 truth files, DWUG stats) and matching targets to them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from analysis.errors import ConfigError
from analysis.shift.common import GoldFileError


@dataclass(frozen=True)
class Gold:
    """Gold change scores per target.

    Attributes
    ----------
    graded : dict of str to float or None
    binary : dict of str to int or None
    source : str
        File name(s) they came from.
    """

    graded: Mapping[str, float] | None
    binary: Mapping[str, int] | None
    source: str = ""

    def merged(self, other: "Gold") -> "Gold":
        return Gold(graded=self.graded if self.graded is not None else other.graded,
                    binary=self.binary if self.binary is not None else other.binary,
                    source=" + ".join(s for s in (self.source, other.source) if s))


def read_gold(path_or_text, *, kind: str = "auto", name: str | None = None) -> Gold:
    """Read gold change scores.

    Accepted formats: a two-column TSV ``target<TAB>score`` without header (SemEval-2020 Task 1 ``truth`` files;
    a file whose scores are all 0/1 integers is taken as binary gold, unless ``kind`` says otherwise), or DWUG
    ``stats_groupings.csv`` / ``stats.csv`` (tab-separated with a header holding ``lemma`` and ``change_graded`` and/or
    ``change_binary``; both are read).

    Parameters
    ----------
    path_or_text : path, or bytes/str contents (from an upload)
    kind : {"auto", "graded", "binary"}
    name : str, optional
        File name for messages when contents are given.

    Returns
    -------
    Gold
    """
    if kind not in ("auto", "graded", "binary"):
        raise ConfigError(f"unknown gold kind {kind!r}; use auto, graded or binary")
    if isinstance(path_or_text, bytes):
        text = path_or_text.decode("utf-8-sig", errors="replace")
        label = name or "uploaded gold file"
    elif isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                             and "\t" not in path_or_text):
        path = Path(path_or_text)
        if not path.is_file():
            raise GoldFileError(f"gold file {str(path)!r} does not exist")
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        label = name or path.name
    else:
        text, label = str(path_or_text), name or "gold text"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise GoldFileError(f"{label} is empty")
    header = [h.strip() for h in lines[0].split("\t")]
    if "lemma" in header and ("change_graded" in header or "change_binary" in header):
        rows = [ln.split("\t") for ln in lines[1:]]
        li = header.index("lemma")
        graded = binary = None
        if "change_graded" in header and kind in ("auto", "graded"):
            gi = header.index("change_graded")
            graded = {}
            for n, r in enumerate(rows, start=2):
                graded[r[li].strip()] = _parse_score(r[gi] if gi < len(r) else "", label, n)
        if "change_binary" in header and kind in ("auto", "binary"):
            bi = header.index("change_binary")
            binary = {}
            for n, r in enumerate(rows, start=2):
                binary[r[li].strip()] = _parse_binary(r[bi] if bi < len(r) else "", label, n)
        return Gold(graded=graded, binary=binary, source=label)
    scores: dict[str, float] = {}
    raw: dict[str, str] = {}
    for n, ln in enumerate(lines, start=1):
        parts = ln.strip().split("\t") if "\t" in ln else ln.split()
        if len(parts) != 2:
            raise GoldFileError(f"{label}, line {n}: expected 'target<TAB>score', got {ln.strip()[:60]!r}")
        t, s = parts[0].strip(), parts[1].strip()
        scores[t] = _parse_score(s, label, n)
        raw[t] = s
    is_binary = all(v in ("0", "1") for v in raw.values())
    if kind == "binary" or (kind == "auto" and is_binary):
        if not is_binary:
            raise GoldFileError(f"{label}: binary gold must hold only 0 and 1")
        return Gold(graded=None, binary={t: int(v) for t, v in raw.items()}, source=label)
    return Gold(graded=scores, binary=None, source=label)


def _parse_score(s: str, label: str, line: int) -> float:
    try:
        v = float(s)
    except ValueError:
        raise GoldFileError(f"{label}, line {line}: {s.strip()[:30]!r} is not a number") from None
    if not math.isfinite(v):
        raise GoldFileError(f"{label}, line {line}: the score is not a finite number")
    return v


def _parse_binary(s: str, label: str, line: int) -> int:
    v = _parse_score(s, label, line)
    if v not in (0.0, 1.0):
        raise GoldFileError(f"{label}, line {line}: binary change must be 0 or 1, got {s.strip()!r}")
    return int(v)


_POS_SUFFIX = re.compile(r"_[a-z]{2,3}$")


def match_targets(targets: Sequence[str], gold_keys: Sequence[str]) -> dict[str, str]:
    """Map targets to gold keys: exact match first, then with a POS suffix such as ``_nn`` stripped on either side
    (``plane_nn`` ↔ ``plane``), but only where that is unambiguous."""
    keys = set(gold_keys)
    out = {}
    stripped: dict[str, list[str]] = {}
    for k in keys:
        stripped.setdefault(_POS_SUFFIX.sub("", k), []).append(k)
    for t in targets:
        if t in keys:
            out[t] = t
            continue
        base = _POS_SUFFIX.sub("", t)
        cands = stripped.get(base, [])
        if len(cands) == 1:
            out[t] = cands[0]
    return out

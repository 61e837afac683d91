"""Result records of a bias run: one per test x level x model x layer, and their tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from analysis._util import finite_or_none

RECORD_KEYS = ("test", "level", "model", "layer", "effect_size", "p_value", "ci_low", "ci_high", "n_permutations",
               "missing")


@dataclass(frozen=True)
class BiasResult:
    """One test at one level, model and layer.

    ``items`` holds (set, word, text, s(w, A, B)) for every target item, so a chart can show which words drive the
    effect; ``missing`` lists what a tokenizer, a corpus or the sentence matching could not supply.
    """

    test: str
    level: str
    model: str
    layer: int
    effect_size: float
    p_value: float
    ci_low: float
    ci_high: float
    n_permutations: int
    exact: bool
    missing: tuple[str, ...]
    n_x: int
    n_y: int
    n_a: int
    n_b: int
    set_names: tuple[str, str, str, str] = ("X", "Y", "A", "B")
    unit: str = "item"
    pooling: str = ""
    p_holm: float = float("nan")
    seconds: float = 0.0
    items: tuple[tuple[str, str, str, float], ...] = field(default=(), repr=False)

    def to_dict(self) -> dict:
        """Plain-JSON record (``bias.json`` of the page and the CLI): :data:`RECORD_KEYS` first, then the details.
        NaN becomes null."""
        num = finite_or_none
        return {"test": self.test, "level": self.level, "model": self.model, "layer": int(self.layer),
                "effect_size": num(self.effect_size), "p_value": num(self.p_value), "ci_low": num(self.ci_low),
                "ci_high": num(self.ci_high), "n_permutations": int(self.n_permutations),
                "missing": list(self.missing), "exact": bool(self.exact), "p_holm": num(self.p_holm),
                "n_x": self.n_x, "n_y": self.n_y, "n_a": self.n_a, "n_b": self.n_b,
                "X": self.set_names[0], "Y": self.set_names[1], "A": self.set_names[2], "B": self.set_names[3],
                "unit": self.unit, "pooling": self.pooling}

    #: The old name of :meth:`to_dict` (``views/bias.py`` uses it).
    record = to_dict


def results_frame(results: Sequence[BiasResult]):
    """One row per result (the record keys; ``missing`` as a count plus a joined string)."""
    import pandas as pd

    rows = []
    for r in results:
        rec = r.to_dict()
        rec["n_missing"] = len(r.missing)
        rec["missing"] = "; ".join(r.missing)
        rows.append(rec)
    cols = list(RECORD_KEYS) + ["n_missing", "exact", "p_holm", "n_x", "n_y", "n_a", "n_b", "X", "Y", "A", "B",
                                "unit", "pooling"]
    return pd.DataFrame(rows, columns=cols)


def items_frame(results: Sequence[BiasResult]):
    """One row per target item and result: test, level, model, layer, set (X/Y), set_name, word, text, s."""
    import pandas as pd

    rows = []
    for r in results:
        for set_key, word, text, s in r.items:
            rows.append((r.test, r.level, r.model, r.layer, set_key, r.set_names[0 if set_key == "X" else 1], word,
                         text, s))
    return pd.DataFrame(rows, columns=["test", "level", "model", "layer", "set", "set_name", "word", "text", "s"])



#: How the numbers are computed, for manifests.
NOTES = ("d: sample std (ddof=1) over X∪Y; p: one-sided permutation test (exact up to the budget, else Monte Carlo, "
         "(count+1)/(n+1)); interval: percentile bootstrap of target units; p_holm: Holm within each level x model x "
         "layer")


def format_table(frame, digits: int = 3):
    """A copy of a :func:`results_frame` for printing: signed d and interval with ``digits`` decimals, p with two
    significant digits, missing values blank."""
    view = frame.copy()
    for c in ("effect_size", "ci_low", "ci_high"):
        view[c] = view[c].map(lambda v: "" if v is None or v != v else f"{v:+.{digits}f}")
    for c in ("p_value", "p_holm"):
        view[c] = view[c].map(lambda v: "" if v is None or v != v else f"{v:.2g}")
    return view

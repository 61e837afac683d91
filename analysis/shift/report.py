"""``shift.json``: the one document for one target's shift analysis, written alike by the Shift page and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis._util import json_clean
from analysis.shift.analyse import ShiftResult
from analysis.shift.trajectory import Trajectory

#: Characters of context each side of a typical occurrence in ``shift.json``.
KWIC_WIDTH = 60


@dataclass(frozen=True)
class ShiftReport:
    """Everything ``shift.json`` holds for one target.

    Attributes
    ----------
    result : ShiftResult
    trajectory : Trajectory
    occurrences : DataFrame
        The occurrences table the vectors belong to (for the typical occurrences' documents and context).
    target, model, layer : str
        What was analysed: the target, the model, the layer label of the vectors.
    senses : dict
        How the sense labels were made (:func:`analysis.shift.labels.sense_info`).
    parameters : dict
        How the run was made (the manifest: corpus, embedding key, the writer's own settings).
    """

    result: ShiftResult
    trajectory: Trajectory
    occurrences: pd.DataFrame
    target: str
    model: str
    layer: str
    senses: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)

    def typical_frame(self, width: int = KWIC_WIDTH) -> pd.DataFrame:
        """The most typical occurrences per period (:meth:`Trajectory.typical_frame`) with ``doc_id`` and a
        ``kwic`` line, the match in brackets."""
        from analysis.corpus import kwic

        typical = self.trajectory.typical_frame()
        if len(typical):
            rows = self.occurrences.iloc[typical["occurrence_id"].to_numpy()]
            parts = [kwic(t, s, e, width) for t, s, e in zip(rows["text"], rows["start"], rows["end"])]
            typical["doc_id"] = rows["doc_id"].astype(str).to_numpy()
            typical["kwic"] = [f"{a}[{b}]{c}" for a, b, c in parts]
        else:
            typical = typical.assign(doc_id=pd.Series(dtype=str), kwic=pd.Series(dtype=str))
        return typical

    def to_dict(self) -> dict:
        """The JSON document: the result's periods, pairs, shares and params, then target, model, layer,
        n_occurrences, senses, typical, trajectory and parameters (NaN as null)."""
        doc = self.result.to_dict()
        doc.update({"target": self.target, "model": self.model, "layer": self.layer,
                    "n_occurrences": int(len(self.occurrences)), "senses": dict(self.senses),
                    "typical": self.typical_frame().to_dict(orient="records"),
                    "trajectory": self.trajectory.to_dict(), "parameters": dict(self.parameters)})
        return json_clean(doc)

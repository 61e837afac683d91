"""The layer-spec parser: how every page, CLI option and analysis names hidden states.

A *layer* is a hidden-state index: 0 is the embedding layer, ``n`` the output of transformer layer ``n``; negative
numbers count from the top (-1 = the last). A *spec* names one or more of them:

=================  =====================================================================
``6`` / ``"6"``     hidden state 6
``"4-6"``           hidden states 4, 5 and 6 (also ``"4..6"``, ``"4:6"``; ``"-3--1"`` = the last three)
``(4, 6)``          the same inclusive range (a tuple of two numbers is a range)
``"1,4,-1"``        hidden states 1, 4 and the last (a list ``[1, 4, -1]`` is the same)
``"all"`` / None    every layer there is (or the caller's default, see :func:`resolve`)
``"upper half"``    a rule relative to the model's depth L (see :data:`DEPTH_RULES`): layers L/2+1..L, i.e. 4-6
                    of a 6-layer MiniLM, 7-12 of BERT-base and 13-24 of a 24-layer model (also ``upper-half``)
=================  =====================================================================

A rule stated relative to the depth carries over from one model to another where a fixed list such as ``-3--1`` (the
last three) does not: the last three are the upper half of MiniLM but the top quarter of BERT-base. The depth L is
taken to be the highest hidden state there is (the transformer layers are 1..L; 0, the input embeddings, is never in
a rule), so a set that stores only some upper layers still resolves a rule that lies inside them and names the layers
that are missing otherwise.

Where one vector per occurrence is needed (senses, shift, LID of a mix), the layers a spec names are averaged.
:func:`parse` reads a spec without knowing the model; :func:`resolve` turns it into absolute indices that exist.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from analysis.errors import ConfigError

#: A parsed spec: inclusive ranges (first, last), possibly counted from the top (negative), or the name of a rule of
#: :data:`DEPTH_RULES`, which becomes a range once the depth is known (:func:`resolve`).
Spec = tuple["tuple[int, int] | str", ...]

#: Rules relative to the depth L, as fractions (lower, upper) of the transformer layers 1..L: layer l is in the rule
#: when floor(lower * L) < l <= floor(upper * L) (at least one layer: a model too shallow for a third gets the layer
#: above its lower bound). The shift default is one of them (BENCHMARKS.md, issue 14: the depth-relative rule kept
#: its rank correlation on held-out words, picking a layer per sample did not).
DEPTH_RULES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "lower half": ((0, 1), (1, 2)), "upper half": ((1, 2), (1, 1)),
    "lower third": ((0, 1), (1, 3)), "middle third": ((1, 3), (2, 3)), "upper third": ((2, 3), (1, 1)),
}

_PART = re.compile(r"\s*(-?\d+)\s*(?:(?:-|\.\.|:)\s*(-?\d+))?\s*")
_HOW = ("give a number such as 6, a range such as 4-6, a list such as 1,4,-1, a rule relative to the depth ("
        + ", ".join(DEPTH_RULES) + "), or all")


def _rule_name(text: str) -> str | None:
    """The :data:`DEPTH_RULES` name ``text`` spells (any case; ``-`` or ``_`` for the space), else None."""
    name = " ".join(text.strip().lower().replace("-", " ").replace("_", " ").split())
    return name if name in DEPTH_RULES else None


def depth_range(rule: str, depth: int) -> tuple[int, int]:
    """The inclusive hidden-state range (first, last) of the depth rule ``rule`` for a model of ``depth`` layers."""
    name = _rule_name(rule)
    if name is None:
        raise ConfigError(f"there is no layer rule {rule!r}: the rules are {', '.join(DEPTH_RULES)}")
    if depth < 1:
        raise ConfigError(f"the rule {name!r} needs transformer layers; there are none above the embedding layer")
    (a, b), (c, d) = DEPTH_RULES[name]
    lo = (a * depth) // b + 1
    return lo, max(lo, (c * depth) // d)


def rule_of(spec) -> str | None:
    """The depth rule's name when ``spec`` is one (``"Upper-half"`` -> ``"upper half"``), else None."""
    return _rule_name(spec) if isinstance(spec, str) else None


def parse(spec) -> Spec | None:
    """A spec as inclusive ranges, or None for "all" / nothing given; ConfigError when it cannot be read."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in {"", "all"}):
        return None
    if isinstance(spec, (bool, np.bool_)):
        raise ConfigError(f"cannot read the layer {spec!r}: {_HOW}")
    if isinstance(spec, (int, np.integer)):
        return ((int(spec), int(spec)),)
    if isinstance(spec, tuple):
        if len(spec) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in spec):
            raise ConfigError(f"cannot read the layer range {spec!r}: give a pair (first, last) of numbers")
        return ((int(spec[0]), int(spec[1])),)
    if isinstance(spec, str):
        ranges: list = []
        for part in spec.split(","):
            rule = _rule_name(part)
            if rule is not None:
                ranges.append(rule)
                continue
            m = _PART.fullmatch(part)
            if not m:
                raise ConfigError(f"cannot read the layers {spec!r}: {_HOW}")
            lo = int(m.group(1))
            ranges.append((lo, int(m.group(2)) if m.group(2) is not None else lo))
        return tuple(ranges)
    try:
        items = list(spec)
    except TypeError:
        raise ConfigError(f"cannot read the layers {spec!r}: {_HOW}") from None
    out: list = []
    for item in items:
        out.extend(parse(item) or ())
    if not out:
        raise ConfigError("choose at least one layer")
    return tuple(out)


def resolve(spec, available: int | Sequence[int], *, name: str = "the embedding set", default=None) -> list[int]:
    """Absolute hidden-state indices named by ``spec``, each present in ``available``, in the order given.

    ``available`` is the list of hidden states there are (an embedding set's layers), or a model's number of
    hidden states ``n`` (layers 0..n-1). A spec of None/"all" gives ``default`` when one is set, else every layer.
    A range runs upwards whatever the order of its ends. ConfigError names what there is when a layer is missing.
    """
    have = list(range(int(available))) if isinstance(available, (int, np.integer)) else [int(a) for a in available]
    if not have:
        raise ConfigError(f"{name} holds no layers")
    parsed = parse(spec)
    if parsed is None:
        if default is None:
            return list(have)
        parsed = parse(default)
    top = max(have)
    out: list[int] = []
    for part in parsed:
        a, b = depth_range(part, top) if isinstance(part, str) else part
        lo, hi = sorted((top + 1 + a if a < 0 else a, top + 1 + b if b < 0 else b))
        missing = [h for h in range(lo, hi + 1) if h not in have]
        if missing or lo < 0:
            shown = f"{lo}" if lo == hi else f"{lo}-{hi}"
            shown += f" (the {part} of {top} layers)" if isinstance(part, str) else ""
            raise ConfigError(f"layer {shown} is not in {name}, which has layers {describe(have)} "
                              f"(0 = embedding layer)")
        out.extend(range(lo, hi + 1))
    return out


def positions(available: Sequence[int], spec, *, default=None) -> list[int]:
    """Positions on an embedding set's layer axis (``available`` in axis order) of the layers ``spec`` names."""
    have = [int(a) for a in available]
    return [have.index(h) for h in sorted(set(resolve(spec, have, default=default)))]


def label(available: Sequence[int], spec, *, default=None) -> str:
    """A spec as people read it: ``"6"``, ``"4-6"`` (a contiguous run) or ``"1,4,6"`` (absolute indices)."""
    hs = sorted(set(resolve(spec, available, default=default)))
    if len(hs) == 1:
        return str(hs[0])
    return f"{hs[0]}-{hs[-1]}" if hs == list(range(hs[0], hs[-1] + 1)) else ",".join(map(str, hs))


def describe(have: Sequence[int]) -> str:
    """``0..6`` for a contiguous run of layers, else the list."""
    have = sorted(int(h) for h in have)
    if len(have) > 2 and have == list(range(have[0], have[-1] + 1)):
        return f"{have[0]}..{have[-1]}"
    return ", ".join(map(str, have))

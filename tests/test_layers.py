"""The one layer-spec parser (analysis/layers.py) and the shared array helpers (analysis/_util.py)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import layers
from analysis._util import as_matrix, unit_rows
from analysis.errors import ConfigError, TooFewPointsError


@pytest.mark.parametrize("spec, want", [
    (6, [6]), ("6", [6]), ("-1", [6]), ("4-6", [4, 5, 6]), ("4..6", [4, 5, 6]), ("4:6", [4, 5, 6]),
    ((4, 6), [4, 5, 6]), ((6, 4), [4, 5, 6]), ("-3--1", [4, 5, 6]), ("1,4,-1", [1, 4, 6]), ([1, 4, -1], [1, 4, 6]),
    ("all", list(range(7))), (None, list(range(7))), (" 2 - 3 ", [2, 3]),
])
def test_specs_resolve_against_a_model_of_seven_hidden_states(spec, want):
    assert layers.resolve(spec, 7) == want


def test_default_and_stored_layers():
    assert layers.resolve(None, [0, 3, 6], default=-1) == [6]
    # a range needs every layer in it
    with pytest.raises(ConfigError, match="not in the embedding set, which has layers 0, 3, 6"):
        layers.positions([0, 3, 6], "3-6")
    assert layers.positions([2, 4, 6], "4,6") == [1, 2]
    assert layers.label(list(range(7)), "4-6") == "4-6"
    assert layers.label(list(range(7)), "1,4,-1") == "1,4,6"
    assert layers.label(list(range(7)), -1) == "6"


@pytest.mark.parametrize("bad", ["", "x", "1-", "4-6-8", "1,,2", (1, 2, 3), (1.5, 2), True, [], "7", -8])
def test_bad_specs_are_refused_with_a_message(bad):
    with pytest.raises(ConfigError):
        layers.resolve(bad if bad != "" else [], 7)


def test_as_matrix_and_unit_rows():
    with pytest.raises(ConfigError, match="2-D"):
        as_matrix(np.zeros(3))
    with pytest.raises(TooFewPointsError):
        as_matrix(np.zeros((0, 3)))
    with pytest.raises(ConfigError, match="NaN"):
        as_matrix([[1.0, np.nan]])
    with pytest.raises(ConfigError, match="pair"):
        as_matrix(np.ones((2, 3)), n_rows=3)
    U = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]), zero_ok=True)
    np.testing.assert_allclose(U, [[0.6, 0.8], [0.0, 0.0]])
    with pytest.raises(ConfigError, match="all zeros"):
        unit_rows(np.array([[0.0, 0.0]]))


def test_all_finite_checks_every_block():
    """The blockwise finiteness check (as_matrix's, without a boolean array the size of the vectors) finds a NaN or
    an infinity in any block, the last partial one included, and passes finite data."""
    import numpy as np

    from analysis._util import all_finite

    X = np.zeros((103, 4), dtype=np.float32)
    assert all_finite(X, rows=10) and all_finite(X)
    for row, bad in ((0, np.nan), (55, np.inf), (102, -np.inf)):
        Y = X.copy()
        Y[row, 3] = bad
        assert not all_finite(Y, rows=10) and not all_finite(Y)
    assert not all_finite(np.array([1.0, np.nan]), rows=1)


@pytest.mark.parametrize("depth, rule, want", [
    (6, "upper half", (4, 6)), (12, "upper half", (7, 12)), (24, "upper half", (13, 24)),
    (6, "middle third", (3, 4)), (12, "middle third", (5, 8)), (24, "middle third", (9, 16)),
    (6, "upper third", (5, 6)), (12, "lower third", (1, 4)), (12, "lower half", (1, 6)),
    (1, "middle third", (1, 1)), (2, "upper third", (2, 2)),
])
def test_depth_rules_scale_with_the_model(depth, rule, want):
    """A rule relative to the depth picks the same share of layers in a 6-, 12- and 24-layer model (floor of the
    fraction, exclusive below), never the embedding layer, and at least one layer for a shallow model."""
    assert layers.depth_range(rule, depth) == want
    assert layers.resolve(rule, depth + 1) == list(range(want[0], want[1] + 1))
    lo, hi = want
    share = (hi - lo + 1) / depth
    if depth >= 6:  # the rule names its share of the stack
        assert share == pytest.approx({"half": 1 / 2, "third": 1 / 3}[rule.split()[1]])


def test_depth_rules_are_read_in_any_spelling_and_in_lists():
    assert layers.resolve("Upper-Half", 13) == layers.resolve("upper_half", 13) == list(range(7, 13))
    assert layers.resolve("upper half,0", 7) == [4, 5, 6, 0]
    assert layers.resolve(["middle third", -1], 13) == [5, 6, 7, 8, 12]
    assert layers.rule_of("Middle-third") == "middle third" and layers.rule_of("4-6") is None
    assert layers.rule_of((4, 6)) is None
    # the depth is the highest hidden state stored: a rule outside what a set holds names the rule and the layers
    with pytest.raises(ConfigError, match=r"layer 7-12 \(the upper half of 12 layers\) is not in .* 10\.\.12"):
        layers.resolve("upper half", [10, 11, 12])
    with pytest.raises(ConfigError, match="upper half, lower third"):
        layers.parse("upper quarter")
    with pytest.raises(ConfigError, match="no layer rule"):
        layers.depth_range("top", 12)
    with pytest.raises(ConfigError, match="needs transformer layers"):
        layers.resolve("upper half", [0])


def test_the_shift_default_is_the_upper_half_of_any_model():
    """analysis.shift.DEFAULT_LAYER is stated relative to the depth: MiniLM's last three, BERT-base's 7-12."""
    from analysis import shift

    assert layers.rule_of(shift.DEFAULT_LAYER) == "upper half"
    assert layers.label(list(range(7)), shift.DEFAULT_LAYER) == "4-6"
    assert layers.label(list(range(13)), shift.DEFAULT_LAYER) == "7-12"
    assert layers.label(list(range(25)), shift.DEFAULT_LAYER) == "13-24"

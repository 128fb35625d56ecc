"""The linear-hypothesis reader of wald_test and the coefficient table, on plain numbers."""

import numpy as np
import pytest

from pplmle.core.inference import linear_hypotheses

LABELS = ["intercept", "beta[x1]", "beta[x10]", "sigma"]


@pytest.mark.parametrize(
    ("text", "R", "q"),
    [
        ("beta[x1] = beta[x10]", [[0, 1, -1, 0]], [0]),
        ("beta[x10]", [[0, 0, 1, 0]], [0]),
        ("2*beta[x1] + beta[x10]/4 = 1", [[0, 2, 0.25, 0]], [1]),
        ("intercept - 3 = -(sigma)", [[1, 0, 0, 1]], [3]),
        ("beta[x1] = 0, sigma == 2", [[0, 1, 0, 0], [0, 0, 0, 1]], [0, 2]),
        (["beta[x1] = 0", "beta[x10] = 0; sigma = 1"], [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], [0, 0, 1]),
    ],
)
def test_equations_are_read_into_r_and_q(text, R, q):
    got_R, got_q, words = linear_hypotheses(text, LABELS)
    np.testing.assert_array_equal(got_R, np.array(R, dtype=float))
    np.testing.assert_array_equal(got_q, np.array(q, dtype=float))
    assert len(words) == len(R)


def test_a_matrix_and_a_pair_are_taken_as_they_are():
    R = np.array([[0.0, 1.0, -1.0, 0.0]])
    got_R, got_q, words = linear_hypotheses(R, LABELS)
    np.testing.assert_array_equal(got_R, R)
    np.testing.assert_array_equal(got_q, [0.0])
    assert words == ("beta[x1] - beta[x10] = 0",)
    _, got_q, _ = linear_hypotheses((R, [2.0]), LABELS)
    np.testing.assert_array_equal(got_q, [2.0])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (
            "beta[x2] = 0",
            r"'beta\[x2\] = 0' names 'beta\[x2\]', which is not a parameter label; the labels are",
        ),
        ("beta[x1] * sigma = 0", r"'beta\[x1\] \* sigma = 0' multiplies two parameters"),
        ("1 / sigma = 0", r"divides by a parameter"),
        ("beta[x1] / 0 = 1", r"divides by zero"),
        ("beta[x1] = 0 = 1", r"must hold one '=' per equation; got 'beta\[x1\] = 0 = 1'"),
        ("3 = 3", r"'3 = 3' involves no parameter"),
        ("beta[x1] = 0, 2*beta[x1] = 0", r"must be linearly independent; these 2 have rank 1"),
        ("", r"must name at least one equation"),
        ("beta[x1] +", r"could not read 'beta\[x1\] \+'"),
        (np.ones((1, 3)), r"one column per parameter \(4"),
        (np.array([[np.nan, 0, 0, 0]]), r"R and q must be finite"),
    ],
)
def test_bad_hypotheses_are_refused_by_name(bad, match):
    with pytest.raises(ValueError, match=match):
        linear_hypotheses(bad, LABELS)

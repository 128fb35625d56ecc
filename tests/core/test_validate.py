"""Every input rule of every family has a test that matches its message."""

import numpy as np
import pandas as pd
import pytest

import pplmle as pl

GOOD = np.array([1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: pl.Normal([]), r"`x` must not be empty; got shape \(0,\)"),
        (lambda: pl.Normal([[1.0, 2.0]]), r"`x` must be 1-dimensional; got an array with shape \(1, 2\)"),
        (lambda: pl.Normal(["a", "b"]), r"`x` must be numeric"),
        (lambda: pl.Normal([1.0, np.nan, 3.0]), r"`x` must be finite; found nan at index 1"),
        (lambda: pl.Normal([1.0, np.inf]), r"`x` must be finite; found inf at index 1"),
        (lambda: pl.Normal([5.0, 5.0]), r"at least two different values for Normal.*unbounded"),
        (lambda: pl.Normal([5.0]), r"at least two different values for Normal; got 1 value"),
        (lambda: pl.LogNormal([1.0, -2.0]), r"`x` must be positive for LogNormal; found -2.0 at index 1"),
        (lambda: pl.Gamma([1.0, 0.0]), r"`x` must be positive for Gamma; found 0.0 at index 1"),
        (lambda: pl.Bernoulli([0, 1, 2]), r"`y` must be 0 or 1 for Bernoulli; found 2.0 at index 2"),
        (lambda: pl.Poisson([1, -3]), r"`x` must be non-negative for Poisson; found -3.0 at index 1"),
        (lambda: pl.Poisson([1, 2.5]), r"`x` must be whole numbers for Poisson; found 2.5 at index 1"),
        (lambda: pl.Exponential([1.0, -1.0]), r"`x` must be non-negative for Exponential; found -1.0"),
        (lambda: pl.Exponential([0.0, 0.0]), r"must not be all zero for Exponential"),
        (lambda: pl.Binomial([1, 5], 4), r"`k` must be at most n for Binomial; found 5.0 at index 1"),
        (lambda: pl.Binomial([1, -1], 4), r"`k` must be non-negative for Binomial; found -1.0 at index 1"),
        (lambda: pl.Binomial([1, 2], 0), r"`n` must be at least 1 for Binomial; found 0.0 at index 0"),
        (lambda: pl.Binomial([1, 2], [3, 4, 5]), r"`n` must be a number or have the shape of `k`"),
        (
            lambda: pl.Categorical([0, 1, 5], k=3),
            r"`y` must be in 0..2 for Categorical; found 5.0 at index 2",
        ),
        (lambda: pl.Categorical([0, 1], k=1), r"`k` must be a whole number >= 2; got 1"),
        (lambda: pl.Categorical(["a", "a"]), r"at least two classes for Categorical; found \['a'\]"),
        (lambda: pl.Categorical([1.0, np.nan]), r"`y` must not contain missing values; found nan at index 1"),
    ],
)
def test_univariate_rules(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def _X(n=20, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 2))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: pl.LinearRegression(_X(), np.ones(19)),
            r"`X` and `y` must have the same number of rows; got 20 and 19",
        ),
        (lambda: pl.LinearRegression(np.ones((2, 2, 2)), np.ones(2)), r"`X` must be 2-dimensional"),
        (lambda: pl.LinearRegression(np.zeros((0, 2)), np.zeros(0)), r"`X` must not be empty"),
        (
            lambda: pl.LinearRegression(_X(3), np.ones(3)),
            r"more rows than coefficients; got 3 row\(s\) for 3",
        ),
        (
            lambda: pl.LinearRegression(np.column_stack([_X(), np.zeros(20)]), np.arange(20.0)),
            r"all-zero columns; column '2' is all zero",
        ),
        (
            lambda: pl.LinearRegression(
                pd.DataFrame({"a": _X()[:, 0], "b": 2 * _X()[:, 0]}), np.arange(20.0)
            ),
            r"`X` must have full column rank; the columns \['a', 'b'\] are collinear",
        ),
        (
            lambda: pl.LinearRegression(
                pd.DataFrame({"a": np.full(20, 3.0), "b": _X()[:, 1]}), np.arange(20.0)
            ),
            r"constant \(zero-variance\) columns with an intercept; column 'a' is 3.0 in every row",
        ),
        (
            lambda: pl.LinearRegression(np.where(np.eye(20, 2) == 1, np.nan, _X()), np.arange(20.0)),
            r"must not contain NaN; found NaN in row 0 \(2 row\(s\) in all\)",
        ),
        (
            lambda: pl.LogisticRegression(_X(), np.arange(20.0)),
            r"`y` must be 0 or 1 for LogisticRegression; found 2.0",
        ),
        (lambda: pl.PoissonRegression(_X(), -np.ones(20)), r"`y` must be non-negative for PoissonRegression"),
        (
            lambda: pl.PoissonRegression(_X(), np.ones(20), offset=np.ones(3)),
            r"`X` and `offset` must have the same",
        ),
        (lambda: pl.SoftmaxRegression(_X(), np.zeros(20)), r"at least two classes for SoftmaxRegression"),
    ],
)
def test_regression_rules(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_nan_policy_omit_drops_rows_and_leaves_inputs_alone():
    X = _X()
    y = X @ [1.0, -1.0] + np.random.default_rng(1).normal(0, 0.1, 20)
    X_nan, y_nan = X.copy(), y.copy()
    X_nan[3, 1] = np.nan
    y_nan[7] = np.nan
    keep_X, keep_y = X_nan.copy(), y_nan.copy()
    fam = pl.LinearRegression(X_nan, y_nan, nan_policy="omit")
    assert fam.n_obs == 18
    np.testing.assert_array_equal(X_nan, keep_X)
    np.testing.assert_array_equal(y_nan, keep_y)
    mask = np.ones(20, bool)
    mask[[3, 7]] = False
    ref = pl.mle(pl.LinearRegression(X[mask], y[mask]))
    np.testing.assert_allclose(pl.mle(fam).params["beta"], ref.params["beta"], rtol=1e-10)


def test_dataframe_input_is_not_modified():
    df = pd.DataFrame({"GPA": [3.1, 2.5, 3.9, 3.0, 2.2, 3.6], "GRE": [600.0, 520, 700, 580, 500, 640]})
    before = df.copy()
    fam = pl.LogisticRegression(df, [1, 0, 1, 0, 0, 1])
    fam.X[0, 0] = -99.0  # the family holds its own copy
    pd.testing.assert_frame_equal(df, before)

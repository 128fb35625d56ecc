"""Every input rule of every family has a test that matches its message."""

import numpy as np
import pandas as pd
import pytest

import pplmle as pl
from pplmle.core import validate as v

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


# -- inputs that NumPy or pandas would silently reinterpret --------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (
            pd.Series([1.0, 2.0, 3.0], index=[0, 1, 2]),
            pd.Series([1.0, 2.0, 3.0], index=[2, 0, 1]),
            r"`X` and `y` must have equal indexes \(the same labels in the same order\).*same labels in a "
            r"different order, first differing at position\(s\) 0 \(0 vs 2\), 1 \(1 vs 0\), 2 \(2 vs 1\)",
        ),
        (
            pd.DataFrame({"a": [1.0, 2.0, 3.0]}),
            pd.Series([1.0, 2.0, 3.0], index=[1, 2, 3]),
            r"labels only in `X`: \[0\]; only in `y`: \[3\]",
        ),
        (
            pd.Series(np.zeros(8)),
            pd.Series(np.zeros(8), index=range(10, 18)),
            r"only in `X`: \[0, 1, 2, 3, 4\] and 3 more; only in `y`: \[10, 11, 12, 13, 14\] and 3 more",
        ),
    ],
)
def test_check_same_index_names_the_labels_that_differ(a, b, match):
    with pytest.raises(ValueError, match=match):
        v.check_same_index({"X": a, "y": b})


def test_check_same_index_leaves_numpy_lists_and_equal_indexes_alone():
    s = pd.Series([1.0, 2.0], index=["a", "b"])
    v.check_same_index({"X": s, "y": pd.Series([3.0, 4.0], index=["a", "b"])})
    v.check_same_index({"X": s, "y": np.array([3.0, 4.0]), "offset": [1.0, 2.0]})  # paired by position
    v.check_same_index({"X": s, "y": pd.Series([1.0], index=["z"])})  # the row-count check says it
    v.check_same_index({"X": pd.Series([1.0, 2.0]), "y": pd.Series([1.0, 2.0], index=[0.0, 1.0])})


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (
            np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 1]),
            r"`x` is a masked array with 2 masked value\(s\) \(the first at index 1\); pplmle does not "
            r"read masks.*Pass `x.astype\(float\).filled\(np.nan\)` with nan_policy='omit'.*or drop",
        ),
        (np.array([1.0 + 2.0j, 3.0]), r"`x` must hold real numbers; got complex dtype complex128"),
        (np.array([1.0, 2.0j], dtype=object), r"found the complex value 2j at index 1 of an object array"),
        (
            np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"),
            r"`x` must hold real numbers; got datetime dtype datetime64\[D\] \(dates are not converted",
        ),
        (np.array([1, 2], dtype="timedelta64[s]"), r"got timedelta dtype timedelta64\[s\]"),
        (pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02"])), r"got datetime dtype datetime64\["),
        (
            pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02"])).dt.tz_localize("UTC"),
            r"got datetime dtype datetime64\[.*, UTC\]",
        ),
        ([1.0, pd.Timestamp("2020-01-01")], r"found the datetime value Timestamp\('2020-01-01.*at index 1"),
        (np.array([np.datetime64("2020-01-01"), 1.0], dtype=object), r"datetime value .* at index 0"),
        ([pd.Timedelta(1, "D"), 2.0], r"found the timedelta value Timedelta"),
        (np.datetime64("2020-01-01"), r"got datetime dtype datetime64\[D\]"),
    ],
)
def test_check_data_refuses_masks_complex_and_datetimes(x, match):
    with pytest.raises(ValueError, match=match):
        v.check_data("x", x)
    with pytest.raises(ValueError, match=match):
        v.as_float_array("x", x, ndim=np.ndim(x))


def test_check_data_names_the_dataframe_column():
    df = pd.DataFrame({"a": [1.0, 2.0], "when": pd.to_datetime(["2020-01-01", "2020-01-02"])})
    with pytest.raises(ValueError, match=r"`X` column 'when' must hold real numbers; got datetime dtype"):
        v.as_design(df)
    df = pd.DataFrame({"a": [1.0, 2.0], "z": np.array([1.0, 1j], dtype=object)})
    with pytest.raises(
        ValueError, match=r"`X` column 'z' must hold real numbers; found the complex value 1j"
    ):
        v.as_design(df)


def test_check_data_accepts_plain_numbers_and_unmasked_masked_arrays():
    for x in ([1, 2.5], np.arange(3), np.ma.masked_array([1.0, 2.0]), pd.Series([1.0, 2.0]), np.float64(1)):
        v.check_data("x", x)
    np.testing.assert_array_equal(v.check_vector("x", np.ma.masked_array([1.0, 2.0])), [1.0, 2.0])


@pytest.mark.parametrize("value", ["no", "False", 1, 0, None, 1.0, np.int64(1)])
def test_check_bool_refuses_everything_but_bools(value):
    with pytest.raises(ValueError, match=r"`intercept` must be True or False; got .* \("):
        v.check_bool("intercept", value)


def test_check_bool_accepts_python_and_numpy_bools():
    assert v.check_bool("intercept", np.bool_(False)) is False
    assert v.check_bool("intercept", True) is True


def test_duplicate_column_names_are_listed():
    df = pd.DataFrame(np.ones((3, 4)), columns=["a", "b", "a", "b"])
    with pytest.raises(
        ValueError, match=r"`X` must have distinct column names .*found duplicate\(s\) \['a', 'b'\]"
    ):
        v.as_design(df)
    # 1 and "1" would both label their coefficient "beta[1]"
    with pytest.raises(ValueError, match=r"duplicate\(s\) \['1'\]"):
        v.as_design(pd.DataFrame(np.ones((3, 2)), columns=[1, "1"]))


def test_check_params_requires_exactly_the_names_and_shapes():
    expected = {"mu": 1.0, "beta": np.zeros(2)}
    with pytest.raises(ValueError, match=r"exactly the parameters \['mu', 'beta'\]; missing \['beta'\] \(no"):
        v.check_params({"mu": 1.0}, expected)
    with pytest.raises(ValueError, match=r"missing \['beta'\], unknown \['tau'\]"):
        v.check_params({"mu": 1.0, "tau": 2.0}, expected)
    with pytest.raises(ValueError, match=r"; unknown \['tau'\]"):
        v.check_params({"mu": 1.0, "beta": [1.0, 2.0], "tau": 2.0}, expected)
    with pytest.raises(ValueError, match=r"`params\['beta'\]` must have shape \(2,\); got shape \(3,\)"):
        v.check_params({"mu": 1.0, "beta": [1.0, 2.0, 3.0]}, expected)
    with pytest.raises(ValueError, match=r"`params\['mu'\]` must have shape \(\); got shape \(1,\)"):
        v.check_params({"mu": [1.0], "beta": [1.0, 2.0]}, expected)
    with pytest.raises(ValueError, match=r"`params\['mu'\]` must be numeric; got 'a'"):
        v.check_params({"mu": "a", "beta": [1.0, 2.0]}, expected)
    with pytest.raises(TypeError, match="must be a mapping"):
        v.check_params([1.0, 2.0], expected)
    beta = np.array([1.0, 2.0])
    out = v.check_params({"beta": beta, "mu": 3}, expected)
    assert out == {"mu": 3.0, "beta": out["beta"]} and out["beta"] is not beta


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.nan, r"`fixed\['sigma'\]` must be finite; got nan\."),
        (np.inf, r"got inf\."),
        ([1.0, -np.inf], r"got -inf at index 1\."),
        ("a", r"`fixed\['sigma'\]` must be numeric; got 'a'"),
    ],
)
def test_check_finite_value(value, match):
    with pytest.raises(ValueError, match=match):
        v.check_finite_value("fixed['sigma']", value)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([1.0, 2.0, 0.0, 1.5], r"found 1.5 at index 3\.$"),
        ([[1.0, 2.0], [np.nan, 1.0]], r"found nan at index \(1, 0\)\.$"),
        (2.5, r"found 2.5\.$"),
    ],
)
def test_check_whole_observed(values, match):
    with pytest.raises(
        ValueError, match=r"`observed` values of the discrete variable 'y' must be whole numbers; " + match
    ):
        v.check_whole_observed("y", values)
    v.check_whole_observed("y", np.array([0.0, 3.0, -2.0]))

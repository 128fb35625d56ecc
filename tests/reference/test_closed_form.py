"""Closed forms against the textbook formulas, numpy.linalg.lstsq and the minimized hand-written NLL."""

import numpy as np
import pytest

from pplmle.pymc import families
from pplmle.reference import closed_form as cf
from pplmle.reference import handwritten as hw
from pplmle.reference.handwritten import minimize_nll

SEEDS = [1, 2, 3]
RTOL_FIT = 1e-7  # closed form vs minimize_nll (BFGS on the unconstrained scale)

#: the functions under test, by the family each one is the closed form of
FUNCTIONS = {
    "Normal": cf.normal,
    "LogNormal": cf.lognormal,
    "Bernoulli": cf.bernoulli,
    "Binomial": cf.binomial,
    "Poisson": cf.poisson,
    "Exponential": cf.exponential,
    "Categorical": cf.categorical,
    "LinearRegression": cf.linear_regression,
}


def _data(name, rng):
    """(args, kwargs, expected-by-formula) for each family with a closed form."""
    if name == "Normal":
        x = rng.normal(168.0, 5.0, size=40)
        return (x,), {}, {"mu": x.sum() / x.size, "sigma": np.sqrt(np.sum((x - x.mean()) ** 2) / x.size)}
    if name == "LogNormal":
        x = rng.lognormal(1.0, 0.5, size=60)
        lx = np.log(x)
        return (x,), {}, {"mu": lx.mean(), "sigma": np.sqrt(np.mean((lx - lx.mean()) ** 2))}
    if name == "Bernoulli":
        y = (rng.uniform(size=57) < 0.3).astype(int)
        return (y,), {}, {"p": np.count_nonzero(y) / y.size}
    if name == "Binomial":
        n = rng.integers(1, 30, size=25)
        k = rng.binomial(n, 0.35)
        return (k, n), {}, {"p": k.sum() / n.sum()}
    if name == "Poisson":
        x = rng.poisson(3.2, size=45)
        return (x,), {}, {"lam": x.sum() / x.size}
    if name == "Exponential":
        x = rng.exponential(2.0, size=50)
        return (x,), {}, {"lam": x.size / x.sum()}
    if name == "Categorical":
        codes = rng.choice(4, size=80, p=[0.1, 0.2, 0.3, 0.4])
        return (codes, 4), {}, {"p": np.array([np.mean(codes == j) for j in range(4)])}
    if name == "LinearRegression":
        X = rng.normal(size=(50, 2)) * [1.0, 10.0]
        y = 1.5 + X @ [2.0, -0.3] + rng.normal(0.0, 0.7, size=50)
        X1 = np.column_stack([np.ones(50), X])
        coef = np.linalg.lstsq(X1, y, rcond=None)[0]
        rss = np.sum((y - X1 @ coef) ** 2)
        return (X, y), {}, {"intercept": coef[0], "beta": coef[1:], "sigma": np.sqrt(rss / 50)}
    raise AssertionError(name)


def _assert_params(got, expected, rtol):
    assert list(got) == list(expected)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=rtol, atol=0, err_msg=name)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_formula(name, seed):
    args, kwargs, expected = _data(name, np.random.default_rng(seed))
    got = FUNCTIONS[name](*args, **kwargs)
    _assert_params(got, expected, rtol=1e-12)
    for key, value in got.items():
        assert type(value) is (np.ndarray if np.ndim(expected[key]) else float), key


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_matches_minimized_hand_nll(name, seed):
    args, kwargs, _ = _data(name, np.random.default_rng(seed))
    closed = FUNCTIONS[name](*args, **kwargs)
    fit = minimize_nll(getattr(hw, f"{name}NLL")(*args, **kwargs))
    assert fit.success, fit.message
    _assert_params(fit.params, closed, rtol=RTOL_FIT)
    # the closed form is the minimum: no point the optimizer found is lower beyond rounding
    hand = getattr(hw, f"{name}NLL")(*args, **kwargs)
    assert hand.nll(closed) <= fit.nll + 1e-12 * abs(fit.nll)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("intercept", [True, False])
def test_linear_regression_vs_lstsq(seed, intercept):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 3)) * [0.5, 1.0, 3.0]
    y = 2.0 + X @ [3.0, -1.0, 0.2] + rng.normal(size=200)
    X1 = np.column_stack([np.ones(200), X]) if intercept else X
    coef, rss, *_ = np.linalg.lstsq(X1, y, rcond=None)
    got = cf.linear_regression(X, y, intercept=intercept)
    assert list(got) == (["intercept"] if intercept else []) + ["beta", "sigma"]
    np.testing.assert_allclose(np.r_[got.get("intercept", []), got["beta"]], coef, rtol=1e-11)
    np.testing.assert_allclose(got["sigma"], np.sqrt(rss[0] / 200), rtol=1e-11)


@pytest.mark.parametrize("seed", SEEDS)
def test_linear_regression_columns_ten_orders_apart(seed):
    # Plain lstsq on this design (condition number ~1e10) is off in the 7th digit; QR on
    # unit-norm columns is not.  Reference: lstsq on the column-scaled design, then unscaled.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 3)) * [1e-4, 1.0, 1e6]
    y = 2.0 + X @ [3e4, -1.0, 2e-6] + rng.normal(size=200)
    X1 = np.column_stack([np.ones(200), X])
    scale = np.linalg.norm(X1, axis=0)
    coef = np.linalg.lstsq(X1 / scale, y, rcond=None)[0] / scale
    got = cf.linear_regression(X, y)
    np.testing.assert_allclose(np.r_[got["intercept"], got["beta"]], coef, rtol=1e-10)
    resid = y - X1 @ np.r_[got["intercept"], got["beta"]]
    # normal equations, each column scaled to unit norm: X1^T r = 0 up to rounding
    np.testing.assert_allclose((X1 / scale).T @ resid, 0.0, atol=1e-11 * np.linalg.norm(y))


def test_linear_regression_textbook_numbers():
    # x = 0..3, y = [1, 2.9, 5.1, 7]: slope 10.1 / 5 = 2.02, intercept 4 - 2.02 * 1.5 = 0.97
    got = cf.linear_regression([[0.0], [1.0], [2.0], [3.0]], [1.0, 2.9, 5.1, 7.0])
    np.testing.assert_allclose(got["intercept"], 0.97, rtol=1e-13)
    np.testing.assert_allclose(got["beta"], [2.02], rtol=1e-13)
    np.testing.assert_allclose(got["sigma"], np.sqrt(0.018 / 4), rtol=1e-12)


def test_boundary_maxima():
    np.testing.assert_array_equal(cf.categorical([0, 0, 2], k=4)["p"], [2 / 3, 0.0, 1 / 3, 0.0])
    assert cf.bernoulli([1, 1, 1]) == {"p": 1.0}
    assert cf.poisson([0, 0]) == {"lam": 0.0}
    assert cf.binomial([0, 0], [3, 5]) == {"p": 0.0}


def test_binomial_scalar_and_array_n_agree():
    k = [1, 4, 2]
    assert cf.binomial(k, 5) == cf.binomial(k, [5, 5, 5]) == {"p": 7 / 15}


def test_inputs_not_modified():
    x = np.array([3.0, 1.0, 2.0])
    X = np.array([[1.0], [3.0], [2.0], [5.0]])
    y = np.array([1.0, 2.0, 2.5, 4.0])
    before = (x.copy(), X.copy(), y.copy())
    cf.normal(x)
    cf.linear_regression(X, y)
    for a, b in zip((x, X, y), before, strict=True):
        np.testing.assert_array_equal(a, b)


def _family(name, args, kwargs):
    if name == "Categorical":
        return families.Categorical(args[0], k=args[1])
    return getattr(families, name)(*args, **kwargs)


def test_every_family_has_a_closed_form_or_says_why_not():
    closed = {cls.__name__ for cls in families.BUILT_IN if cls.no_closed_form is None}
    assert closed == set(FUNCTIONS)
    assert "digamma" in families.Gamma.no_closed_form
    for cls in families.BUILT_IN:
        text = cls.no_closed_form
        assert text is None or (text.endswith(".") and text.count(". ") == 0), cls.__name__


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_family_closed_form_is_the_function_with_the_family_layout(name):
    args, kwargs, _ = _data(name, np.random.default_rng(0))
    family = _family(name, args, kwargs)
    got = family.closed_form()
    # the keys of each closed form are the family's parameter names, in order
    assert tuple(got) == family.param_names
    _assert_params(got, FUNCTIONS[name](*args, **kwargs), rtol=0)


def test_families_without_a_closed_form_return_none():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    for family in (
        families.Gamma(rng.gamma(2.0, 1.0, 30)),
        families.LogisticRegression(X, rng.integers(0, 2, 30)),
        families.PoissonRegression(X, rng.poisson(2.0, 30)),
        families.SoftmaxRegression(X, rng.integers(0, 3, 30)),
    ):
        assert family.closed_form() is None and family.no_closed_form, family.name


# -- the MLE does not exist ----------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: cf.normal([5.0, 5.0, 5.0]), r"at least two different values for Normal.*unbounded"),
        (lambda: cf.normal([5.0]), r"at least two different values for Normal; got 1 value"),
        (lambda: cf.lognormal([2.0, 2.0]), r"at least two different values for LogNormal"),
        (lambda: cf.exponential([0.0, 0.0]), r"must not be all zero for Exponential.*does not exist"),
        (
            lambda: cf.linear_regression([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0]),
            r"fitted exactly by `X`.*does not exist",
        ),
    ],
)
def test_mle_does_not_exist(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- input rules: one test per rule -------------------------------------------------

X3 = [[0.0], [1.0], [3.0]]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: cf.normal([]), r"`x` must not be empty; got shape \(0,\)"),
        (lambda: cf.normal([[1.0, 2.0]]), r"`x` must be 1-dimensional; got an array with shape \(1, 2\)"),
        (lambda: cf.normal(["a", "b"]), r"`x` must be numeric"),
        (lambda: cf.normal([1.0, np.nan, 3.0]), r"`x` must be finite; found nan at index 1"),
        (lambda: cf.poisson([1.0, np.inf]), r"`x` must be finite; found inf at index 1"),
        (lambda: cf.lognormal([1.0, -2.0]), r"`x` must be positive for LogNormal; found -2.0 at index 1"),
        (lambda: cf.bernoulli([0, 1, 2]), r"`y` must be 0 or 1 for Bernoulli; found 2.0 at index 2"),
        (lambda: cf.poisson([1, -3]), r"`x` must be non-negative for Poisson; found -3.0 at index 1"),
        (lambda: cf.poisson([1, 2.5]), r"`x` must be whole numbers for Poisson; found 2.5 at index 1"),
        (lambda: cf.exponential([1.0, -1.0]), r"`x` must be non-negative for Exponential; found -1.0"),
        (lambda: cf.binomial([1, 5], 4), r"`k` must be at most n for Binomial; found 5.0 at index 1"),
        (lambda: cf.binomial([1, -1], 4), r"`k` must be non-negative for Binomial; found -1.0 at index 1"),
        (lambda: cf.binomial([1, 1.5], 4), r"`k` must be whole numbers for Binomial; found 1.5 at index 1"),
        (lambda: cf.binomial([1, 2], 0), r"`n` must be at least 1 for Binomial; found 0.0 at index 0"),
        (lambda: cf.binomial([1, 2], 3.5), r"`n` must be whole numbers for Binomial; found 3.5 at index 0"),
        (lambda: cf.binomial([1, 2], [3, np.nan]), r"`n` must be finite; found nan at index 1"),
        (lambda: cf.binomial([1, 2], [3, 4, 5]), r"`n` must be a number or have the shape of `k` \(2,\)"),
        (lambda: cf.binomial([1, 2], "many"), r"`n` must be numeric"),
        (
            lambda: cf.categorical([0, 1, 5], 3),
            r"`codes` must be in 0..2 for Categorical; found 5.0 at index 2",
        ),
        (lambda: cf.categorical([0, 1.5], 3), r"`codes` must be whole numbers for Categorical; found 1.5"),
        (lambda: cf.categorical([0, 1], 1), r"`k` must be a whole number >= 2; got 1"),
        (lambda: cf.categorical([0, 1], 2.0), r"`k` must be a whole number >= 2; got 2.0"),
        (lambda: cf.linear_regression([1.0, 2.0, 3.0], [1, 2, 3]), r"`X` must be 2-dimensional.*\(3,\)"),
        (lambda: cf.linear_regression(np.zeros((3, 0)), [1, 2, 3]), r"`X` must not be empty; got shape"),
        (lambda: cf.linear_regression([["a"], ["b"]], [1, 2]), r"`X` must be numeric"),
        (lambda: cf.linear_regression([[0.0], [np.inf], [1.0]], [1, 2, 3]), r"`X` must be finite; found inf"),
        (
            lambda: cf.linear_regression(X3, [1.0, 2.0]),
            r"`X` and `y` must have the same number of rows; got 3",
        ),
        (lambda: cf.linear_regression(X3, [1.0, np.nan, 2.0]), r"`y` must be finite; found nan at index 1"),
        (lambda: cf.linear_regression([[0.0], [1.0]], [1.0, 2.0]), r"more rows than coefficients; got 2"),
        (lambda: cf.linear_regression([[0.0, 1.0]] * 4, [1, 2, 3, 4]), r"all-zero columns; column '0'"),
        (
            lambda: cf.linear_regression([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0], [4.0, 8.0]], [1, 3, 2, 4]),
            r"`X` must have full column rank; the columns \['0', '1'\] are collinear",
        ),
        (
            lambda: cf.linear_regression([[2.0, 1.0], [2.0, 3.0], [2.0, 2.0], [2.0, 5.0]], [1, 3, 2, 4]),
            r"constant \(zero-variance\) columns with an intercept; column '0' is 2.0 in every row",
        ),
    ],
)
def test_input_rules(call, match):
    with pytest.raises(ValueError, match=match):
        call()

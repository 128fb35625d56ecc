"""Every family against its closed form (1e-8) or an independent Newton solve, and its SEs
against the analytic Fisher information."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from textbook import design, gamma_mle, logistic_mle, poisson_reg_mle, qr_lstsq, softmax_mle

import pplmle as pl

RTOL = 1e-8


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(20261122)


def fit(family):
    res = pl.mle(family, strict=True)
    assert res.converged
    return res


# -- closed forms ------------------------------------------------------------------


def test_normal_divide_by_n_and_fisher_se():
    x = np.random.default_rng(1).normal(168, 5, size=40)
    res = fit(pl.Normal(x))
    mu, s = x.mean(), np.sqrt(np.mean((x - x.mean()) ** 2))
    np.testing.assert_allclose([res.params["mu"], res.params["sigma"]], [mu, s], rtol=RTOL)
    np.testing.assert_allclose(res.se["mu"], s / np.sqrt(40), rtol=1e-7)
    np.testing.assert_allclose(res.se["sigma"], s / np.sqrt(80), rtol=1e-7)
    np.testing.assert_allclose(res.cov.loc["mu", "sigma"], 0.0, atol=1e-10)


def test_heights_textbook_numbers():
    res = fit(pl.Normal(pl.datasets.heights()))
    np.testing.assert_allclose(res.params["mu"], 168.0, rtol=1e-12)
    np.testing.assert_allclose(res.params["sigma"], np.sqrt(22.4), rtol=1e-10)
    # loglik = -n/2 log(2 pi sigma^2) - n/2 at the MLE
    np.testing.assert_allclose(res.loglik, -5 * np.log(2 * np.pi * 22.4) - 5, rtol=1e-12)


def test_lognormal(rng):
    x = rng.lognormal(1.0, 0.5, size=60)
    res = fit(pl.LogNormal(x))
    lx = np.log(x)
    np.testing.assert_allclose(res.params["mu"], lx.mean(), rtol=RTOL)
    np.testing.assert_allclose(res.params["sigma"], lx.std(), rtol=RTOL)
    np.testing.assert_allclose(res.se["sigma"], lx.std() / np.sqrt(120), rtol=1e-7)


def test_bernoulli_and_se(rng):
    y = (rng.uniform(size=57) < 0.3).astype(int)
    res = fit(pl.Bernoulli(y))
    p = y.mean()
    np.testing.assert_allclose(res.params["p"], p, rtol=RTOL)
    np.testing.assert_allclose(res.se["p"], np.sqrt(p * (1 - p) / 57), rtol=1e-7)


def test_binomial_with_varying_trials(rng):
    n = rng.integers(1, 20, size=30)
    k = rng.binomial(n, 0.6)
    res = fit(pl.Binomial(k, n))
    p = k.sum() / n.sum()
    np.testing.assert_allclose(res.params["p"], p, rtol=RTOL)
    np.testing.assert_allclose(res.se["p"], np.sqrt(p * (1 - p) / n.sum()), rtol=1e-7)


def test_binomial_scalar_trials(rng):
    k = rng.binomial(10, 0.25, size=25)
    np.testing.assert_allclose(fit(pl.Binomial(k, 10)).params["p"], k.sum() / 250, rtol=RTOL)


def test_poisson(rng):
    x = rng.poisson(3.5, size=80)
    res = fit(pl.Poisson(x))
    np.testing.assert_allclose(res.params["lam"], x.mean(), rtol=RTOL)
    np.testing.assert_allclose(res.se["lam"], np.sqrt(x.mean() / 80), rtol=1e-7)


def test_exponential_rate(rng):
    x = rng.exponential(scale=2.0, size=70)
    res = fit(pl.Exponential(x))
    np.testing.assert_allclose(res.params["lam"], 1 / x.mean(), rtol=RTOL)
    np.testing.assert_allclose(res.se["lam"], (1 / x.mean()) / np.sqrt(70), rtol=1e-7)


def test_categorical_simplex_and_multinomial_covariance(rng):
    y = rng.choice(["a", "b", "c"], p=[0.2, 0.5, 0.3], size=90)
    res = fit(pl.Categorical(y))
    counts = np.array([(y == c).sum() for c in "abc"])
    p = counts / 90
    np.testing.assert_allclose(res.params["p"], p, rtol=RTOL)
    np.testing.assert_allclose(res.cov.to_numpy(), (np.diag(p) - np.outer(p, p)) / 90, rtol=1e-6, atol=1e-12)
    assert res.n_params == 2
    assert res.labels == ["p[a]", "p[b]", "p[c]"]


def test_categorical_with_k_codes(rng):
    y = rng.integers(0, 4, size=50)
    res = fit(pl.Categorical(y, k=4))
    np.testing.assert_allclose(res.params["p"], np.bincount(y, minlength=4) / 50, rtol=RTOL)


def test_linear_regression_qr_and_covariance(rng):
    X = pd.DataFrame({"GPA": rng.normal(3, 0.4, 50), "GRE": rng.normal(600, 80, 50)})
    y = 1.0 + 2.0 * X["GPA"] + 0.01 * X["GRE"] + rng.normal(0, 0.5, 50)
    res = fit(pl.LinearRegression(X, y))
    X1 = design(X)
    b = qr_lstsq(X1, y.to_numpy())
    rss = np.sum((y.to_numpy() - X1 @ b) ** 2)
    sigma = np.sqrt(rss / 50)
    np.testing.assert_allclose(res.params["intercept"], b[0], rtol=RTOL)
    np.testing.assert_allclose(res.params["beta"], b[1:], rtol=RTOL)
    np.testing.assert_allclose(res.params["sigma"], sigma, rtol=RTOL)
    cov = sigma**2 * np.linalg.inv(X1.T @ X1)
    np.testing.assert_allclose(res.cov.iloc[:3, :3].to_numpy(), cov, rtol=1e-6)
    np.testing.assert_allclose(res.se["sigma"], sigma / np.sqrt(100), rtol=1e-7)
    assert res.labels == ["intercept", "beta[GPA]", "beta[GRE]", "sigma"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_regression_ill_conditioned_design(seed):
    r = np.random.default_rng(seed)
    n = 200
    X = np.column_stack([r.normal(0, 1e-5, n), r.normal(1e5, 1e3, n), r.normal(0, 1, n)])
    y = 3 + X @ np.array([2e5, 3e-5, -1.0]) + r.normal(0, 0.1, n)
    X1 = design(X)
    assert np.linalg.cond(X1) > 1e9
    res = fit(pl.LinearRegression(X, y))
    b = qr_lstsq(X1, y)
    est = np.concatenate([[res.params["intercept"]], res.params["beta"]])
    np.testing.assert_allclose(est, b, rtol=1e-7)
    sigma = np.sqrt(np.mean((y - X1 @ b) ** 2))
    se = sigma * np.sqrt(np.diag(np.linalg.inv(X1.T @ X1)))
    np.testing.assert_allclose(res.table()["se"].to_numpy()[:4], se, rtol=1e-5)


# -- no closed form: independent Newton ---------------------------------------------------


def test_gamma_against_newton(rng):
    x = rng.gamma(2.5, 1 / 1.5, size=120)
    res = fit(pl.Gamma(x))
    ref = gamma_mle(x)
    np.testing.assert_allclose(
        [res.params["alpha"], res.params["beta"]], [ref["alpha"], ref["beta"]], rtol=RTOL
    )


def test_logistic_regression_against_newton(rng):
    X = rng.normal(size=(150, 2)) * [1.0, 50.0]
    y = (rng.uniform(size=150) < expit(-0.5 + X @ [1.0, 0.02])).astype(float)
    res = fit(pl.LogisticRegression(X, y))
    X1 = design(X)
    b = logistic_mle(X1, y)
    est = np.concatenate([[res.params["intercept"]], res.params["beta"]])
    np.testing.assert_allclose(est, b, rtol=RTOL)
    p = expit(X1 @ b)
    se = np.sqrt(np.diag(np.linalg.inv((X1 * (p * (1 - p))[:, None]).T @ X1)))
    np.testing.assert_allclose(res.table()["se"].to_numpy(), se, rtol=1e-6)


def test_poisson_regression_with_offset_against_newton(rng):
    X = rng.normal(size=(100, 2))
    offset = np.log(rng.uniform(1, 5, 100))
    y = rng.poisson(np.exp(0.3 + X @ [0.5, -0.2] + offset))
    res = fit(pl.PoissonRegression(X, y, offset=offset))
    b = poisson_reg_mle(design(X), y, offset)
    est = np.concatenate([[res.params["intercept"]], res.params["beta"]])
    np.testing.assert_allclose(est, b, rtol=RTOL)


def test_softmax_regression_against_newton(rng):
    n = 120
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    logits = np.column_stack(
        [np.zeros(n), 0.5 + X.to_numpy() @ [1.0, -1.0], -0.3 + X.to_numpy() @ [-0.5, 0.8]]
    )
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array(["c", "a", "b"])[[rng.choice(3, p=p) for p in probs]]
    res = fit(pl.SoftmaxRegression(X, y))
    _, codes = np.unique(y, return_inverse=True)
    B = softmax_mle(design(X), codes, 3)
    assert res.params["intercept"].shape == (2,)
    assert res.params["beta"].shape == (2, 2)
    np.testing.assert_allclose(res.params["intercept"], B[0], rtol=RTOL)
    np.testing.assert_allclose(res.params["beta"], B[1:], rtol=RTOL)
    assert res.labels[:3] == ["intercept[b]", "intercept[c]", "beta[x1, b]"]


def test_regression_without_intercept(rng):
    X = rng.normal(size=(40, 2))
    y = X @ [1.5, -2.0] + rng.normal(0, 0.3, 40)
    res = fit(pl.LinearRegression(X, y, intercept=False))
    assert "intercept" not in res.params
    np.testing.assert_allclose(res.params["beta"], qr_lstsq(X, y), rtol=RTOL)


def test_tied_data_with_degenerate_iqr():
    # found by hypothesis: the IQR is ~1e-143, which once made a start at sigma ~ 1e-143
    x = np.array([0.0] * 15 + [9.56362871e-144] + [1.0] * 5)
    res = fit(pl.Normal(x))
    np.testing.assert_allclose(res.params["sigma"], x.std(), rtol=1e-8)
    np.testing.assert_allclose(res.params["mu"], x.mean(), rtol=1e-8)


# -- inputs that would be silently reinterpreted are refused --------------------------------------


def _frame(n=12, seed=3):
    r = np.random.default_rng(seed)
    X = pd.DataFrame(r.normal(size=(n, 2)), columns=["a", "b"], index=[f"r{i}" for i in range(n)])
    y = pd.Series(X["a"] - X["b"] + r.normal(0, 0.5, n), index=X.index)
    return X, y


REGRESSIONS = {
    "LinearRegression": lambda y: y,
    "LogisticRegression": lambda y: (y > 0).astype(int),
    "PoissonRegression": lambda y: np.floor(np.exp(y / 2)),
    "SoftmaxRegression": lambda y: pd.cut(y, 3, labels=["lo", "mid", "hi"]).astype(str),
}


@pytest.mark.parametrize("family", list(REGRESSIONS))
def test_regressions_refuse_pandas_x_and_y_with_different_indexes(family):
    X, y = _frame()
    y = REGRESSIONS[family](y)
    cls = getattr(pl, family)
    shuffled = y.sample(frac=1.0, random_state=0)
    with pytest.raises(
        ValueError,
        match=r"`X` and `y` must have equal indexes \(the same labels in the same order\): pplmle pairs "
        r"rows by position, pandas by label; the same labels in a different order, first differing at "
        r"position\(s\) 0 \('r0' vs ",
    ):
        cls(X, shuffled)
    shifted = y.set_axis(range(len(y)))
    with pytest.raises(
        ValueError, match=r"labels only in `X`: \['r0', 'r1', 'r2', 'r3', 'r4'\] and 7 more; "
    ):
        cls(X, shifted)
    assert cls(X, shuffled.loc[X.index]).n_obs == 12  # aligned: accepted
    assert cls(X, shifted.to_numpy()).n_obs == 12  # numpy: paired by position, as documented


def test_poisson_regression_refuses_an_offset_with_another_index():
    X, y = _frame()
    y = np.floor(np.exp(y / 2))
    offset = pd.Series(np.zeros(12), index=X.index[::-1])
    with pytest.raises(
        ValueError, match=r"`X` and `offset` must have equal indexes.*position\(s\) 0 \('r0' vs 'r11'\)"
    ):
        pl.PoissonRegression(X, y, offset=offset)
    with pytest.raises(ValueError, match=r"`y` and `offset` must have equal indexes"):
        pl.PoissonRegression(X.to_numpy(), y, offset=offset)
    assert pl.PoissonRegression(X, y, offset=offset.loc[X.index]).n_obs == 12


MASK_MATCH = r"is a masked array with 1 masked value\(s\).*filled\(np.nan\)` with nan_policy='omit'"


@pytest.mark.parametrize(
    "make",
    [
        lambda m: pl.Normal(m),
        lambda m: pl.Poisson(np.ma.masked_array([1, 2, 3, 4], mask=m.mask)),
        lambda m: pl.Bernoulli(np.ma.masked_array([0, 1, 1, 0], mask=m.mask)),
        lambda m: pl.Binomial(np.ma.masked_array([0, 1, 1, 0], mask=m.mask), 2),
        lambda m: pl.Binomial([0, 1, 1, 0], np.ma.masked_array([2, 2, 2, 2], mask=m.mask)),
        lambda m: pl.Categorical(np.ma.masked_array(["a", "b", "a", "c"], mask=m.mask)),
        lambda m: pl.Categorical(np.ma.masked_array([0, 1, 0, 2], mask=m.mask), k=3),
        lambda m: pl.LinearRegression(np.arange(4.0), m),
        lambda m: pl.LinearRegression(
            np.ma.masked_array(
                np.column_stack([np.arange(4.0), m.data]), mask=np.column_stack([0 * m.mask, m.mask])
            ),
            np.arange(4.0),
        ),
        lambda m: pl.SoftmaxRegression(np.arange(4.0), np.ma.masked_array(["a", "b", "a", "b"], mask=m.mask)),
        lambda m: pl.PoissonRegression(np.arange(4.0), [1, 2, 3, 4], offset=m),
        lambda m: pl.Normal([1.0, 2.0, 3.0, 4.0]).with_response(m),
        lambda m: pl.LinearRegression(np.arange(4.0), np.arange(4.0) ** 2).with_response(m),
    ],
)
def test_masked_arrays_are_refused_wherever_data_enter(make):
    masked = np.ma.masked_array([1.0, 2.0, 3.0, 5.0], mask=[0, 0, 1, 0])
    with pytest.raises(ValueError, match=MASK_MATCH):
        make(masked)


def test_masked_values_can_be_left_out_with_nan_policy_omit():
    masked = np.ma.masked_array([1.0, 2.0, 30.0, 5.0], mask=[0, 0, 1, 0])
    fam = pl.Normal(masked.astype(float).filled(np.nan), nan_policy="omit")
    np.testing.assert_array_equal(fam.x, [1.0, 2.0, 5.0])


DATES = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-08"])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: pl.Normal(np.array([1 + 1j, 2, 3, 5])),
            r"`x` must hold real numbers; got complex dtype complex128",
        ),
        (lambda: pl.Normal(DATES.to_numpy()), r"`x` must hold real numbers; got datetime dtype datetime64"),
        (
            lambda: pl.Exponential(pd.Series(DATES - DATES[0])),
            r"`x` must hold real numbers; got timedelta dtype",
        ),
        (lambda: pl.Normal(list(DATES)), r"`x` must hold real numbers; found the datetime value Timestamp"),
        (lambda: pl.Poisson(np.array([1, 2, 3 + 0j])), r"`x` must hold real numbers; got complex dtype"),
        (
            lambda: pl.LinearRegression(
                pd.DataFrame({"t": DATES, "a": [1.0, 3.0, 2.0, 5.0]}), np.arange(4.0)
            ),
            r"`X` column 't' must hold real numbers; got datetime dtype datetime64",
        ),
        (
            lambda: pl.LinearRegression(np.arange(4.0), pd.Series(DATES, dtype=object)),
            r"`y` must hold real numbers; found the datetime value Timestamp\('2024-01-01",
        ),
        (
            lambda: pl.PoissonRegression(np.arange(4.0), [1, 2, 3, 4], offset=np.zeros(4, dtype=complex)),
            r"`offset` must hold real numbers; got complex dtype",
        ),
    ],
)
def test_complex_data_and_datetimes_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("intercept", ["no", "False", 0, 1, None])
@pytest.mark.parametrize("family", list(REGRESSIONS))
def test_intercept_must_be_a_bool(family, intercept):
    X, y = _frame()
    with pytest.raises(ValueError, match=r"`intercept` must be True or False; got .* \((str|int|NoneType)\)"):
        getattr(pl, family)(X, REGRESSIONS[family](y), intercept=intercept)


def test_intercept_accepts_numpy_bools():
    X, y = _frame()
    fam = pl.LinearRegression(X, y, intercept=np.bool_(False))
    assert fam.intercept is False and fam.param_names == ("beta", "sigma")


def test_duplicate_column_names_are_refused():
    X, y = _frame()
    X2 = pd.concat([X, X["a"].rename("b") ** 2], axis=1)
    with pytest.raises(
        ValueError, match=r"`X` must have distinct column names.*found duplicate\(s\) \['b'\]"
    ):
        pl.LinearRegression(X2, y)


def test_refused_inputs_are_not_modified():
    X, y = _frame()
    shuffled = y.sample(frac=1.0, random_state=0)
    masked = np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    dup = pd.concat([X, X["a"].rename("b") ** 2], axis=1)
    before = X.copy(), shuffled.copy(), masked.copy(), dup.copy()
    for make in (
        lambda: pl.LinearRegression(X, shuffled),
        lambda: pl.Normal(masked),
        lambda: pl.LinearRegression(dup, y),
        lambda: pl.LinearRegression(X, y, intercept="no"),
    ):
        with pytest.raises(ValueError):
            make()
    pd.testing.assert_frame_equal(X, before[0])
    pd.testing.assert_series_equal(shuffled, before[1])
    np.testing.assert_array_equal(masked.data, before[2].data)
    np.testing.assert_array_equal(masked.mask, before[2].mask)
    pd.testing.assert_frame_equal(dup, before[3])

"""Existence and trust diagnostics: each has a minimal dataset that triggers it and a near miss that must not.

pytest runs with ``filterwarnings = error``, so a near miss that emitted any
warning would fail; the near misses also pin their estimates.
"""

import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytest

import pplmle as pl
from pplmle.reference.separation import find_separation, find_zero_separation


def _fit_quietly(model, category):
    """Fit, collecting exactly the warnings of `category` (any other warning fails)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", category)
        res = pl.mle(model)
    messages = [str(w.message) for w in caught if issubclass(w.category, category)]
    others = [w for w in caught if not issubclass(w.category, category) and "BLAS" not in str(w.message)]
    assert not others, [str(w.message) for w in others]
    return res, messages


# -- separation -----------------------------------------------------------------------


def test_complete_separation_in_logistic_regression_is_named_with_its_column():
    fam = pl.LogisticRegression(np.array([[1.0], [2.0], [3.0], [4.0]]), [0, 0, 1, 1])
    res, msgs = _fit_quietly(fam, pl.SeparationWarning)
    assert len(msgs) == 1
    assert (
        "The MLE does not exist: complete separation: the classes are separated by column '0' of X" in msgs[0]
    )
    assert res.diagnostics == ("separation",)
    assert not res.converged
    assert np.isnan(res.se["beta"][0]) and np.isnan(res.se["intercept"])
    table = res.table()
    assert table.loc["beta[0]", "flag"] == "separation: -> +inf"
    assert table.loc["intercept", "flag"] == "separation: -> -inf"
    assert "the MLE does not exist" in res.message


def test_quasi_complete_separation_is_named():
    fam = pl.LogisticRegression(pd.DataFrame({"dose": [1.0, 2.0, 3.0, 3.0, 4.0]}), [0, 0, 0, 1, 1])
    _, msgs = _fit_quietly(fam, pl.SeparationWarning)
    assert "quasi-complete separation: the classes are separated by column 'dose' of X" in msgs[0]


def test_overlapping_classes_near_miss_gives_a_clean_logistic_fit():
    fam = pl.LogisticRegression(np.array([[1.0], [2.0], [3.0], [3.0], [4.0]]), [0, 1, 0, 1, 1])
    res = pl.mle(fam, strict=True)
    assert res.diagnostics == () and res.converged
    assert np.all(np.isfinite(res.table()[["estimate", "se"]].to_numpy()))
    assert "flag" not in res.table()
    # score equations of the logistic MLE: X1^T (y - p) = 0
    X1 = np.column_stack([np.ones(5), [1.0, 2.0, 3.0, 3.0, 4.0]])
    p = 1 / (1 + np.exp(-(X1 @ np.r_[res.params["intercept"], res.params["beta"]])))
    np.testing.assert_allclose(X1.T @ (np.array([0, 1, 0, 1, 1]) - p), 0.0, atol=1e-8)


def test_softmax_separation_and_near_miss():
    x = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    _, msgs = _fit_quietly(pl.SoftmaxRegression(x, list("aabbcc")), pl.SeparationWarning)
    assert "complete separation: the classes are separated by column '0' of X" in msgs[0]
    res = pl.mle(pl.SoftmaxRegression(x, list("abcabc")), strict=True)
    assert res.diagnostics == ()


def test_separation_by_two_columns_jointly_lists_both():
    X1 = np.column_stack([np.ones(6), [0, 1, 1, 0, 2, 0], [0, 1, 0, 1, 0, 2]])
    sep = find_separation(X1, np.array([0, 1, 0, 0, 0, 0]), 2, ["(intercept)", "a", "b"])
    assert sep is not None and set(sep.columns) <= {"a", "b"}


def test_poisson_regression_with_an_all_zero_group_has_no_mle_and_near_miss_does():
    x = np.array([[0.0], [0.0], [0.0], [1.0], [1.0], [1.0]])
    res, msgs = _fit_quietly(pl.PoissonRegression(x, [2, 1, 3, 0, 0, 0]), pl.SeparationWarning)
    assert "the zero counts are separated by column '0' of X" in msgs[0]
    assert res.flags == {"beta[0]": "separation: -> -inf"}
    near = pl.mle(pl.PoissonRegression(x, [2, 1, 3, 0, 1, 0]), strict=True)
    np.testing.assert_allclose(near.params["beta"][0], np.log(1 / 3) - np.log(2), rtol=1e-9)
    assert (
        find_zero_separation(np.column_stack([np.ones(6), x]), np.array([2, 1, 3, 0, 1, 0]), ["i", "x"])
        is None
    )


# -- boundary ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "name", "value", "why"),
    [
        (pl.Bernoulli([0, 0, 0]), "p", 0.0, "every y is 0"),
        (pl.Bernoulli([1, 1]), "p", 1.0, "every y is 1"),
        (pl.Binomial([0, 0], 5), "p", 0.0, "there are no successes"),
        (pl.Poisson([0, 0, 0, 0]), "lam", 0.0, "every count is 0"),
    ],
)
def test_boundary_estimates_from_the_data_are_exact_and_flagged(family, name, value, why):
    res, msgs = _fit_quietly(family, pl.BoundaryWarning)
    assert msgs == [
        f"The MLE is on the boundary of the parameter space ({name} = {value:g}) because {why}. "
        "Wald standard errors and intervals assume an interior optimum and are not reported; "
        "use a profile interval or an exact method."
    ]
    assert res.params[name] == value  # exact, not 3e-15
    assert np.isnan(res.se[name])
    assert res.diagnostics == ("boundary",)
    assert res.table().loc[name, "flag"] == f"boundary: = {value:g}"


def test_categorical_class_that_never_occurs_is_a_boundary_and_others_keep_their_se():
    res, msgs = _fit_quietly(pl.Categorical([0, 0, 1, 1], k=3), pl.BoundaryWarning)
    assert "(p[2] = 0) because class(es) [2] never occur" in msgs[0]
    np.testing.assert_allclose(res.params["p"], [0.5, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(res.se["p"][:2], np.sqrt(0.25 / 4), rtol=1e-6)
    assert res.converged


@pytest.mark.parametrize("data", [[0, 0, 1], [1, 1, 0]])
def test_boundary_near_miss(data):
    res = pl.mle(pl.Bernoulli(data), strict=True)
    np.testing.assert_allclose(res.params["p"], np.mean(data), rtol=1e-10)
    np.testing.assert_allclose(res.se["p"], np.sqrt(np.mean(data) * (1 - np.mean(data)) / 3), rtol=1e-6)


def _binomial_model(k):
    with pm.Model() as model:
        p = pm.Beta("p", 2.0, 2.0)
        pm.Binomial("k", n=10, p=p, observed=np.array(k))
    return model


def test_boundary_in_a_user_model_is_found_by_probing():
    # the probe's receding boundary (p -> 1) is replaced by the refit exactly on the bound
    res, msgs = _fit_quietly(_binomial_model([10, 10]), pl.BoundaryWarning)
    assert len(msgs) == 1 and "The MLE is on the boundary of the support: p = 1 (its upper bound)" in msgs[0]
    assert res.flags == {"p": "boundary: = 1 (upper bound)"} and res.diagnostics == ("boundary",)
    assert res.params["p"] == 1.0 and np.isnan(res.se["p"]) and res.converged


def test_user_model_boundary_near_miss():
    res = pl.mle(_binomial_model([10, 9]), strict=True)
    np.testing.assert_allclose(res.params["p"], 0.95, rtol=1e-10)
    np.testing.assert_allclose(res.se["p"], np.sqrt(0.95 * 0.05 / 20), rtol=1e-6)


# -- degenerate likelihoods ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: pl.Normal([3.0, 3.0, 3.0]), r"at least two different values for Normal.*unbounded"),
        (lambda: pl.Normal([3.0]), r"at least two different values for Normal; got 1 value"),
        (
            lambda: pl.LinearRegression(pd.DataFrame({"a": [1.0] * 4, "b": [1.0, 2, 4, 3]}), [1, 2, 3, 5]),
            r"constant \(zero-variance\) columns with an intercept; column 'a' is 1.0 in every row",
        ),
        (
            lambda: pl.LogisticRegression(
                pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [2.0, 4, 6, 8]}), [0, 1, 0, 1]
            ),
            r"`X` must have full column rank; the columns \['a', 'b'\] are collinear",
        ),
    ],
)
def test_degenerate_family_data_is_refused_before_fitting(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def _normal_model(data):
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Normal("y", mu, sigma, observed=np.array(data))
    return model


def test_constant_data_in_a_user_model_is_an_unbounded_likelihood():
    res, msgs = _fit_quietly(_normal_model([3.0, 3.0, 3.0]), pl.UnboundedLikelihoodWarning)
    assert "The likelihood is unbounded: the NLL keeps falling without limit as ['sigma'] move" in msgs[0]
    assert res.diagnostics == ("unbounded likelihood",) and not res.converged
    assert res.params["sigma"] < 1e-100


def test_unbounded_near_miss_is_clean():
    res = pl.mle(_normal_model([3.0, 3.0, 3.5]), strict=True)
    np.testing.assert_allclose(res.params["sigma"], np.std([3.0, 3.0, 3.5]), rtol=1e-9)


# -- Hessian ----------------------------------------------------------------------------------


def test_flat_ridge_is_a_singular_hessian():
    with pm.Model() as model:
        a = pm.Normal("a", 0.0, 1.0)
        b = pm.Normal("b", 0.0, 1.0)
        pm.Normal("y", a + b, 1.0, observed=np.array([1.0, 2.0, 3.0]))
    with pytest.warns(pl.HessianWarning, match="not positive definite at the estimate .* not identified"):
        res = pl.mle(model)
    assert res.diagnostics == ("singular Hessian",)
    # a stationary point, but not a verified optimum: never converged (the old rule passed vacuously)
    assert not res.converged and res.message.startswith("not converged: a stationary point")
    np.testing.assert_allclose(res.params["a"] + res.params["b"], 2.0, rtol=1e-9)
    assert np.isnan(res.se["a"])


def test_identified_near_miss_has_finite_se():
    with pm.Model() as model:
        a = pm.Normal("a", 0.0, 1.0)
        b = pm.Normal("b", 0.0, 1.0)
        pm.Normal("y", a + b, 1.0, observed=np.array([1.0, 2.0, 3.0]))
        pm.Normal("z", a, 1.0, observed=np.array([0.5]))
    res = pl.mle(model, strict=True)
    np.testing.assert_allclose([res.params["a"], res.params["b"]], [0.5, 1.5], rtol=1e-9)
    # information [[4, 3], [3, 3]] -> covariance [[1, -1], [-1, 4/3]]
    np.testing.assert_allclose(res.cov.to_numpy(), [[1.0, -1.0], [-1.0, 4 / 3]], rtol=1e-7)


# -- drift --------------------------------------------------------------------------------------


def _logistic_model(x, y):
    with pm.Model() as model:
        a = pm.Normal("a", 0.0, 10.0)
        b = pm.Normal("b", 0.0, 10.0)
        pm.Bernoulli("y", logit_p=a + b * np.array(x), observed=np.array(y))
    return model


def test_drift_in_a_user_model_with_quasi_separated_data():
    res, msgs = _fit_quietly(_logistic_model([1.0, 2.0, 3.0, 3.0, 4.0], [0, 0, 0, 1, 1]), pl.DriftWarning)
    assert "The estimate keeps moving when the optimization is continued: ['a', 'b'] run off" in msgs[0]
    assert res.flags == {"a": "drift: -> -inf", "b": "drift: -> +inf"}
    assert not res.converged and np.isnan(res.se["b"])


def test_drift_near_miss_overlapping_data():
    res = pl.mle(_logistic_model([1.0, 2.0, 3.0, 3.0, 4.0], [0, 1, 0, 1, 1]), strict=True)
    fam = pl.mle(pl.LogisticRegression(np.array([[1.0], [2.0], [3.0], [3.0], [4.0]]), [0, 1, 0, 1, 1]))
    np.testing.assert_allclose(res.params["b"], fam.params["beta"][0], rtol=1e-8)


def test_strict_turns_a_diagnostic_into_an_error():
    with pytest.raises(pl.EstimationError, match="boundary of the parameter space"):
        pl.mle(pl.Poisson([0, 0]), strict=True)

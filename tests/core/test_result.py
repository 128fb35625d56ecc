"""MLEResult: table, intervals, information criteria, nllf and display."""

import numpy as np
import pymc as pm
import pytest
import scipy.stats

import pplmle as pl

X = pl.datasets.heights()


@pytest.fixture(scope="module")
def res():
    return pl.mle(pl.Normal(X), strict=True)


def test_information_criteria(res):
    ll = scipy.stats.norm.logpdf(X, 168.0, np.sqrt(22.4)).sum()
    np.testing.assert_allclose(res.loglik, ll, rtol=1e-12)
    np.testing.assert_allclose(res.nll, -ll, rtol=1e-12)
    np.testing.assert_allclose(res.aic, 2 * 2 - 2 * ll, rtol=1e-12)
    np.testing.assert_allclose(res.bic, 2 * np.log(10) - 2 * ll, rtol=1e-12)


def test_wald_interval(res):
    ci = res.conf_int(0.9)
    z = scipy.stats.norm.ppf(0.95)
    np.testing.assert_allclose(ci.loc["mu"].to_numpy(), 168.0 + np.array([-z, z]) * res.se["mu"], rtol=1e-12)
    assert list(ci.columns) == ["lower", "upper"]
    assert list(ci.index) == ["mu", "sigma"]


def test_table_layout(res):
    table = res.table()
    assert list(table.columns) == ["estimate", "se", "lower 95%", "upper 95%"]
    np.testing.assert_allclose(table.loc["sigma", "se"], np.sqrt(22.4) / np.sqrt(20), rtol=1e-8)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.2])
def test_level_validation(res, level):
    with pytest.raises(ValueError, match=r"`level` must be strictly between 0 and 1"):
        res.conf_int(level)


def test_method_validation(res):
    with pytest.raises(ValueError, match=r"`method` must be 'wald' or 'profile'; got 'bootstrap'"):
        res.conf_int(method="bootstrap")


def test_nllf_matches_scipy_anywhere(res):
    for mu, sigma in [(160.0, 3.0), (168.0, 5.0), (175.0, 9.0)]:
        np.testing.assert_allclose(
            res.nllf({"mu": mu, "sigma": sigma}), -scipy.stats.norm.logpdf(X, mu, sigma).sum(), rtol=1e-12
        )
    np.testing.assert_allclose(res.nllf(), res.nll, rtol=1e-12)


def test_nllf_for_a_regression_takes_user_scale_coefficients():
    rng = np.random.default_rng(0)
    Xd = rng.normal(size=(30, 2)) * [1.0, 100.0]
    y = 1.0 + Xd @ [0.5, 0.01] + rng.normal(0, 0.2, 30)
    r = pl.mle(pl.LinearRegression(Xd, y), strict=True)
    point = {"intercept": 0.9, "beta": np.array([0.4, 0.02]), "sigma": 0.3}
    mean = 0.9 + Xd @ point["beta"]
    np.testing.assert_allclose(r.nllf(point), -scipy.stats.norm.logpdf(y, mean, 0.3).sum(), rtol=1e-10)


def test_repr_and_html(res):
    text = repr(res)
    assert text.splitlines()[0] == "MLE of Normal: converged"
    assert "168" in text and "4.73286" in text
    html = res._repr_html_()
    assert "<table" in html and "4.73286" in html and "color:#b00020" not in html


def test_unconverged_result_is_marked_in_display():
    with pm.Model() as ridge:  # y ~ Normal(a + b, 1): a flat ridge, never a verified optimum
        a = pm.Normal("a", 0.0, 1.0)
        b = pm.Normal("b", 0.0, 1.0)
        pm.Normal("y", a + b, 1.0, observed=X)
    with pytest.warns(pl.HessianWarning):
        bad = pl.mle(ridge)
    assert repr(bad).splitlines()[0] == "MLE of pm.Model: NOT CONVERGED, singular Hessian"
    assert "color:#b00020" in bad._repr_html_()


def test_derived_quantities_are_marked_and_part_of_equality(res):
    import dataclasses

    # a result whose second parameter is reported as a derived quantity (a Deterministic)
    marked = dataclasses.replace(res, derived=("sigma",))
    assert marked.derived_labels == ["sigma"] and marked.free_labels == ["mu"]
    assert marked.table()["derived"].tolist() == [False, True]
    assert "derived" not in res.table().columns and res.derived_labels == []
    assert marked != res and marked == dataclasses.replace(res, derived=("sigma",))

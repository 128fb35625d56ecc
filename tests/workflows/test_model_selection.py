"""compare_models() and lr_test(): formulas, closed forms, refusals, warnings, LOO/WAIC from ArviZ."""

import dataclasses
import math

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
import scipy.stats

import pplmle as pl
from pplmle.workflows.model_selection import LRTest, compare_models, lr_test

X = pl.datasets.heights()
N = X.size
COLUMNS = ["loglik", "k", "n", "AIC", "AICc", "BIC", "dAIC", "weight"]
LOO_COLUMNS = ["elpd_loo", "p_loo", "se_loo", "elpd_waic", "p_waic", "se_waic"]

# ArviZ's own diagnostics about short chains / influential points: they pass through compare_models
# (test_arviz_warnings_pass_through pins that); the sampled fixtures may or may not trigger them.
# az.compare, called directly below, uses DataFrame.sort_values(inplace=True), deprecated in pandas 3.
arviz_diagnostics = pytest.mark.filterwarnings(
    "ignore:Estimated shape parameter of Pareto distribution:UserWarning",
    "ignore:For one or more samples the posterior variance:UserWarning",
    "ignore:The inplace keyword in DataFrame.sort_values",
)


@pytest.fixture(scope="module")
def heights_fits():
    return {
        "Normal": pl.mle(pl.Normal(X), strict=True),
        "LogNormal": pl.mle(pl.LogNormal(X), strict=True),
        "Gamma": pl.mle(pl.Gamma(X), strict=True),
    }


def _by_hand(fits):
    loglik = np.array([r.loglik for r in fits.values()])
    k = np.array([r.n_params for r in fits.values()], dtype=float)
    n = np.array([r.n_obs for r in fits.values()], dtype=float)
    aic = 2 * k - 2 * loglik
    aicc = aic + 2 * k * (k + 1) / (n - k - 1)
    bic = k * np.log(n) - 2 * loglik
    w = np.exp(-(aic - aic.min()) / 2)
    return pd.DataFrame(
        {"AIC": aic, "AICc": aicc, "BIC": bic, "dAIC": aic - aic.min(), "weight": w / w.sum()},
        index=list(fits),
    )


# ---------------------------------------------------------------------------------
# compare_models: numbers


def test_normal_loglik_on_heights_is_the_closed_form(heights_fits):
    table = compare_models(heights_fits)
    exact = -N / 2 * (np.log(2 * np.pi * 22.4) + 1)
    np.testing.assert_allclose(table.loc["Normal", "loglik"], exact, rtol=1e-12)
    np.testing.assert_allclose(table.loc["Normal", "AIC"], 2 * 2 - 2 * exact, rtol=1e-12)
    np.testing.assert_allclose(table.loc["Normal", "AICc"], 2 * 2 - 2 * exact + 12 / 7, rtol=1e-12)
    np.testing.assert_allclose(table.loc["Normal", "BIC"], 2 * np.log(10) - 2 * exact, rtol=1e-12)


def test_lognormal_and_gamma_logliks_on_heights(heights_fits):
    table = compare_models(heights_fits)
    logx = np.log(X)
    exact_lognormal = scipy.stats.norm.logpdf(logx, logx.mean(), logx.std()).sum() - logx.sum()
    np.testing.assert_allclose(table.loc["LogNormal", "loglik"], exact_lognormal, rtol=1e-10)
    # Gamma has no closed form: at least as high as SciPy's fit, or close.
    alpha, _, scale = scipy.stats.gamma.fit(X, floc=0)
    scipy_loglik = scipy.stats.gamma.logpdf(X, alpha, scale=scale).sum()
    assert table.loc["Gamma", "loglik"] >= scipy_loglik - 1e-8
    np.testing.assert_allclose(table.loc["Gamma", "loglik"], -29.73625045, atol=1e-7)


def test_table_matches_the_formulas_by_hand(heights_fits):
    table = compare_models(heights_fits)
    assert list(table.columns) == COLUMNS
    assert list(table.index) == ["Normal", "Gamma", "LogNormal"]  # AIC ascending
    assert table["AIC"].is_monotonic_increasing
    hand = _by_hand(heights_fits).loc[table.index]
    for col in ["AIC", "AICc", "BIC", "dAIC", "weight"]:
        np.testing.assert_allclose(table[col].to_numpy(), hand[col].to_numpy(), rtol=1e-12, atol=0)
    for name, res in heights_fits.items():
        assert table.loc[name, "loglik"] == res.loglik
        assert table.loc[name, "k"] == res.n_params == 2
        assert table.loc[name, "n"] == res.n_obs == N
        np.testing.assert_allclose(table.loc[name, "AIC"], res.aic, rtol=1e-12)
        np.testing.assert_allclose(table.loc[name, "BIC"], res.bic, rtol=1e-12)
    assert table.loc["Normal", "dAIC"] == 0.0
    np.testing.assert_allclose(table["weight"].sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(table["weight"].to_numpy(), [0.333928, 0.333407, 0.332665], atol=1e-6)


def test_compare_models_does_not_change_the_results(heights_fits):
    before = {name: dataclasses.replace(res) for name, res in heights_fits.items()}
    given = dict(heights_fits)
    compare_models(given)
    assert given == before


def test_weights_with_different_k_and_ties_keep_order():
    y = np.array([0.3, 1.9, 0.7, 2.6, 0.2, 1.1, 4.0, 0.5, 0.9, 1.6, 0.4, 2.2])
    fits = {
        "Exponential": pl.mle(pl.Exponential(y), strict=True),
        "Gamma": pl.mle(pl.Gamma(y), strict=True),
        "Exponential again": pl.mle(pl.Exponential(y), strict=True),
    }
    table = compare_models(fits)
    exact_exp = y.size * (np.log(1 / y.mean()) - 1)
    np.testing.assert_allclose(fits["Exponential"].loglik, exact_exp, rtol=1e-12)
    hand = _by_hand(fits).loc[table.index]
    for col in ["AIC", "AICc", "BIC", "dAIC", "weight"]:
        np.testing.assert_allclose(table[col].to_numpy(), hand[col].to_numpy(), rtol=1e-12, atol=0)
    assert list(table["k"]) == [fits[name].n_params for name in table.index]
    exp_rows = [name for name in table.index if name.startswith("Exponential")]
    assert exp_rows == ["Exponential", "Exponential again"]  # a tie keeps the given order


def test_aicc_is_infinite_when_n_minus_k_minus_1_is_not_positive():
    y = np.array([1.0, 2.0, 4.0])  # n = 3, k = 2: n - k - 1 = 0
    table = compare_models({"Normal": pl.mle(pl.Normal(y)), "LogNormal": pl.mle(pl.LogNormal(y))})
    assert np.all(np.isinf(table["AICc"])) and np.all(table["AICc"] > 0)
    assert np.all(np.isfinite(table[["AIC", "BIC", "weight"]].to_numpy()))
    exact = -1.5 * (np.log(2 * np.pi * y.var()) + 1)
    np.testing.assert_allclose(table.loc["Normal", "loglik"], exact, rtol=1e-12)


def test_a_fit_without_a_known_n_has_no_bic_or_aicc_and_a_note(heights_fits):
    # as a fit whose likelihood has a pm.Potential and no n_obs= reports itself
    note = pl.core.messages.n_obs_incomplete(["censored"], N)
    unknown = dataclasses.replace(heights_fits["Gamma"], n_obs_note=note)
    assert math.isnan(unknown.bic)
    table = compare_models({"Normal": heights_fits["Normal"], "Gamma": unknown})
    assert math.isnan(table.loc["Gamma", "BIC"]) and math.isnan(table.loc["Gamma", "AICc"])
    assert table.loc["Gamma", "note"] == note and table.loc["Normal", "note"] == ""
    np.testing.assert_allclose(table.loc["Normal", "BIC"], heights_fits["Normal"].bic, rtol=1e-12)
    assert np.isfinite(table.loc["Gamma", "AIC"])


# ---------------------------------------------------------------------------------
# compare_models: refusals


def test_refuses_different_data(heights_fits):
    shifted = pl.mle(pl.Normal(X + 1.0))
    with pytest.raises(ValueError, match=r"same data; `results\['Normal'\]` and `results\['shifted'\]`"):
        compare_models({"Normal": heights_fits["Normal"], "shifted": shifted})


def test_refuses_different_n(heights_fits):
    fewer = pl.mle(pl.Normal(X[:9]))
    with pytest.raises(ValueError, match=r"`results\['Normal'\]` has n=10 .* `results\['fewer'\]` has n=9"):
        compare_models({"Normal": heights_fits["Normal"], "fewer": fewer})


def test_refuses_a_map_result(heights_fits):
    with pm.Model() as model:
        mu = pm.Normal("mu", 160.0, 10.0)
        sigma = pm.HalfNormal("sigma", 10.0)
        pm.Normal("h", mu, sigma, observed=X)
    map_res = pl.map_estimate(model)
    assert map_res.data_key == heights_fits["Normal"].data_key
    with pytest.raises(
        ValueError, match=r"`results\['map'\]` must be a maximum-likelihood .* got method 'MAP'"
    ):
        compare_models({"mle": heights_fits["Normal"], "map": map_res})
    with pytest.raises(ValueError, match=r"`restricted` must be a maximum-likelihood .* got method 'MAP'"):
        lr_test(map_res, heights_fits["Normal"])


def test_refuses_fewer_than_two(heights_fits):
    with pytest.raises(
        ValueError, match=r"`results` must hold at least 2 models to compare; got 1: \['Normal'\]"
    ):
        compare_models({"Normal": heights_fits["Normal"]})
    with pytest.raises(ValueError, match=r"at least 2 models to compare; got 0"):
        compare_models({})


def test_refuses_wrong_types(heights_fits):
    with pytest.raises(ValueError, match=r"`results` must be a mapping of model name to MLEResult; got list"):
        compare_models(list(heights_fits.values()))
    with pytest.raises(ValueError, match=r"`results\['b'\]` must be an MLEResult .*; got float"):
        compare_models({"a": heights_fits["Normal"], "b": -29.7})
    with pytest.raises(ValueError, match=r"`full` must be an MLEResult .*; got str"):
        lr_test(heights_fits["Normal"], "Gamma")


def test_refuses_results_without_a_data_key_or_a_finite_loglik(heights_fits):
    blank = dataclasses.replace(heights_fits["Gamma"], data_key="")
    with pytest.raises(ValueError, match=r"`results\['blank'\]` must carry a fingerprint of its data"):
        compare_models({"Normal": heights_fits["Normal"], "blank": blank})
    bad = dataclasses.replace(heights_fits["Gamma"], loglik=math.nan)
    with pytest.raises(
        ValueError, match=r"`results\['bad'\]` must have a finite log-likelihood; got loglik=nan"
    ):
        compare_models({"Normal": heights_fits["Normal"], "bad": bad})


# ---------------------------------------------------------------------------------
# compare_models: untrusted fits


def test_unconverged_fit_warns_and_gets_a_note(heights_fits):
    with pytest.warns(pl.ConvergenceWarning):
        stuck = pl.mle(pl.Gamma(X), gtol=1e-300)  # the optimum, but declared not converged
    assert not stuck.converged
    fits = {"Normal": heights_fits["Normal"], "Gamma": stuck}
    with pytest.warns(pl.ConvergenceWarning, match=r"`results\['Gamma'\]` \(Gamma\) did not converge"):
        table = compare_models(fits)
    assert list(table.columns) == [*COLUMNS, "note"]
    assert table["note"].to_dict() == {"Normal": "", "Gamma": "not converged"}
    np.testing.assert_allclose(table.loc["Gamma", "loglik"], heights_fits["Gamma"].loglik, rtol=1e-12)


def test_diagnostics_warn_and_are_noted():
    zeros = np.zeros(6)
    with pytest.warns(pl.BoundaryWarning):
        boundary = pl.mle(pl.Poisson(zeros))  # lam_hat = 0: converged, on the boundary
    assert boundary.converged and boundary.diagnostics == ("boundary",)
    with pytest.warns(pl.ConvergenceWarning, match=r"`results\['b'\]` \(Poisson\) has diagnostics: boundary"):
        with pytest.warns(pl.ConvergenceWarning, match=r"`results\['a'\]` \(Poisson\) has diagnostics"):
            table = compare_models({"a": boundary, "b": boundary})
    assert table["note"].tolist() == ["boundary", "boundary"]
    np.testing.assert_allclose(table["loglik"].to_numpy(), 0.0, atol=1e-12)  # every P(0 | lam = 0) = 1


# ---------------------------------------------------------------------------------
# lr_test


@pytest.fixture(scope="module")
def nested_regressions():
    rng = np.random.default_rng(20240611)
    n = 60
    X2 = rng.normal(size=(n, 2))
    y = 1.0 + 0.8 * X2[:, 0] + 0.3 * X2[:, 1] + rng.normal(scale=1.5, size=n)
    restricted = pl.mle(pl.LinearRegression(X2[:, :1], y), strict=True)
    full = pl.mle(pl.LinearRegression(X2, y), strict=True)
    return X2, y, restricted, full


def _rss(X, y):
    X1 = np.column_stack([np.ones(len(y)), X])
    coef = np.linalg.lstsq(X1, y, rcond=None)[0]
    return float(np.sum((y - X1 @ coef) ** 2))


def test_lr_test_on_nested_linear_regressions_is_n_log_rss_ratio(nested_regressions):
    X2, y, restricted, full = nested_regressions
    assert restricted.data_key == full.data_key
    test = lr_test(restricted, full)
    assert isinstance(test, LRTest)
    exact = len(y) * np.log(_rss(X2[:, :1], y) / _rss(X2, y))
    np.testing.assert_allclose(test.statistic, exact, rtol=1e-8)
    assert test.df == 1
    np.testing.assert_allclose(test.p_value, scipy.stats.chi2.sf(exact, 1), rtol=1e-7)
    np.testing.assert_allclose(test.p_value, scipy.stats.chi2.sf(test.statistic, 1), rtol=1e-12)
    np.testing.assert_allclose(test.statistic, 1.314805, atol=1e-6)
    assert repr(test) == f"LRTest(statistic={test.statistic:.6g}, df=1, p_value={test.p_value:.4g})"
    with pytest.raises(dataclasses.FrozenInstanceError):
        test.statistic = 0.0


def test_lr_test_exponential_inside_gamma():
    y = np.array([0.3, 1.9, 0.7, 2.6, 0.2, 1.1, 4.0, 0.5, 0.9, 1.6, 0.4, 2.2])
    exp_fit = pl.mle(pl.Exponential(y), strict=True)  # Gamma with alpha = 1: nested
    gamma_fit = pl.mle(pl.Gamma(y), strict=True)
    test = lr_test(exp_fit, gamma_fit)
    alpha, _, scale = scipy.stats.gamma.fit(y, floc=0)
    scipy_stat = 2 * (scipy.stats.gamma.logpdf(y, alpha, scale=scale).sum() - exp_fit.loglik)
    assert test.df == 1
    np.testing.assert_allclose(test.statistic, 2 * (gamma_fit.loglik - exp_fit.loglik), rtol=1e-12)
    assert test.statistic >= scipy_stat - 1e-8
    np.testing.assert_allclose(test.statistic, scipy_stat, atol=1e-6)


def test_lr_test_swapped_order_is_refused(nested_regressions):
    _, _, restricted, full = nested_regressions
    with pytest.raises(
        ValueError, match=r"`full` must have more parameters than `restricted`; got k=3 and k=4"
    ):
        lr_test(full, restricted)
    with pytest.raises(ValueError, match=r"got k=4 and k=4"):
        lr_test(full, full)


def test_lr_test_non_nested_negative_statistic_is_refused():
    # Exponential (k=1) is not nested in Normal (k=2) and fits skewed data far better.
    y = np.random.default_rng(5).exponential(2.0, size=80)
    exp_fit = pl.mle(pl.Exponential(y), strict=True)
    normal_fit = pl.mle(pl.Normal(y), strict=True)
    assert normal_fit.loglik < exp_fit.loglik - 1.0
    with pytest.raises(
        ValueError, match=r"statistic must be non-negative; got -.*not nested or a fit did not"
    ):
        lr_test(exp_fit, normal_fit)


def test_lr_test_rounding_below_zero_becomes_zero(heights_fits):
    # The same likelihood with one more (useless) parameter: the statistic is 0 up to rounding.
    tiny = dataclasses.replace(
        heights_fits["Normal"], n_params=3, loglik=heights_fits["Normal"].loglik * (1 + 1e-9)
    )
    test = lr_test(heights_fits["Normal"], tiny)
    assert test.statistic == 0.0
    assert test.df == 1
    assert test.p_value == 1.0


def test_lr_test_refuses_different_data_and_n(nested_regressions, heights_fits):
    full = nested_regressions[3]
    with pytest.raises(ValueError, match=r"`restricted` has n=10 observations and `full` has n=60"):
        lr_test(heights_fits["Normal"], full)
    shifted = pl.mle(pl.Gamma(X + 1.0))
    exp_fit = pl.mle(pl.Exponential(X))
    with pytest.raises(ValueError, match=r"same data; `restricted` and `full` were fitted to different data"):
        lr_test(exp_fit, shifted)


def test_lr_test_warns_on_an_unconverged_fit():
    with pytest.warns(pl.ConvergenceWarning):
        stuck = pl.mle(pl.Gamma(X), gtol=1e-300)
    exp_fit = pl.mle(pl.Exponential(X), strict=True)
    with pytest.warns(pl.ConvergenceWarning, match=r"`full` \(Gamma\) did not converge: not converged"):
        test = lr_test(exp_fit, stuck)
    np.testing.assert_allclose(test.statistic, 2 * (stuck.loglik - exp_fit.loglik), rtol=1e-12)


# ---------------------------------------------------------------------------------
# LOO and WAIC from posterior samples

Y30 = np.random.default_rng(11).normal(1.0, 2.0, size=30)


def _normal_model():
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 10.0)
        pm.Normal("y", mu, sigma, observed=Y30)
    return model


def _student_model():
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 10.0)
        pm.StudentT("y", nu=4.0, mu=mu, sigma=sigma, observed=Y30)
    return model


@pytest.fixture(scope="module")
def sampled():
    fits, posteriors = {}, {}
    for name, build in [("normal", _normal_model), ("student", _student_model)]:
        model = build()
        with model:
            posteriors[name] = pm.sample(
                draws=300,
                tune=300,
                chains=2,
                cores=1,
                random_seed=1,
                progressbar=False,
                idata_kwargs={"log_likelihood": True},
            )
        fits[name] = pl.mle(model, strict=True)
    return fits, posteriors


def test_sampled_fixture_mle_matches_the_family(sampled):
    fits, _ = sampled
    family = pl.mle(pl.Normal(Y30), strict=True)
    assert fits["normal"].data_key == fits["student"].data_key == family.data_key
    np.testing.assert_allclose(fits["normal"].loglik, family.loglik, rtol=1e-10)
    exact = -15 * (np.log(2 * np.pi * Y30.var()) + 1)
    np.testing.assert_allclose(family.loglik, exact, rtol=1e-12)


@arviz_diagnostics
def test_loo_and_waic_columns_equal_arviz(sampled):
    fits, posteriors = sampled
    table = compare_models(fits, posteriors=posteriors)
    assert list(table.columns) == COLUMNS + LOO_COLUMNS
    assert set(table.index) == {"normal", "student"}
    assert table["AIC"].is_monotonic_increasing
    assert list(table.index) == sorted(fits, key=lambda name: fits[name].aic)
    for ic in ("loo", "waic"):
        direct = az.compare(posteriors, ic=ic)
        for col in (f"elpd_{ic}", f"p_{ic}"):
            np.testing.assert_allclose(
                table[col].to_numpy(), direct.loc[table.index, col].to_numpy(), rtol=1e-12
            )
        np.testing.assert_allclose(
            table[f"se_{ic}"].to_numpy(), direct.loc[table.index, "se"].to_numpy(), rtol=1e-12
        )
    for name in fits:
        loo = az.loo(posteriors[name])
        waic = az.waic(posteriors[name])
        np.testing.assert_allclose(
            table.loc[name, ["elpd_loo", "p_loo", "se_loo"]].to_numpy(dtype=float),
            [loo["elpd_loo"], loo["p_loo"], loo["se"]],
            rtol=1e-12,
        )
        np.testing.assert_allclose(
            table.loc[name, ["elpd_waic", "p_waic", "se_waic"]].to_numpy(dtype=float),
            [waic["elpd_waic"], waic["p_waic"], waic["se"]],
            rtol=1e-12,
        )
    # same data, flat-ish priors: LOO and AIC tell the same story on the deviance scale
    np.testing.assert_allclose(-2 * table["elpd_loo"], table["AIC"], rtol=0.05)


@arviz_diagnostics
def test_posteriors_for_some_models_leave_nan(sampled):
    fits, posteriors = sampled
    family = pl.mle(pl.Normal(Y30), strict=True)
    table = compare_models({**fits, "family": family}, posteriors={"student": posteriors["student"]})
    assert set(table.index) == {"normal", "student", "family"}
    assert table.loc[["normal", "family"], LOO_COLUMNS].isna().all().all()
    loo = az.loo(posteriors["student"])
    np.testing.assert_allclose(table.loc["student", "elpd_loo"], loo["elpd_loo"], rtol=1e-12)
    assert table.loc["student", LOO_COLUMNS].notna().all()


def test_posteriors_refusals(sampled, heights_fits):
    fits, posteriors = sampled
    with pytest.raises(ValueError, match=r"`posteriors` must name models in `results`; \['other'\] are not"):
        compare_models(fits, posteriors={"other": posteriors["normal"]})
    with pytest.raises(
        ValueError, match=r"`posteriors\['normal'\]` must be an arviz.InferenceData; got dict"
    ):
        compare_models(fits, posteriors={"normal": {}})
    no_loglik = az.from_dict(posterior={"mu": np.zeros((1, 10))})
    with pytest.raises(ValueError, match=r"`posteriors\['normal'\]` must have a `log_likelihood` group"):
        compare_models(fits, posteriors={"normal": no_loglik})
    with pytest.raises(ValueError, match=r"`posteriors` must name at least one model"):
        compare_models(fits, posteriors={})
    with pytest.raises(ValueError, match=r"30 pointwise values per draw, but `results\['Normal'\]` has n=10"):
        compare_models(heights_fits, posteriors={"Normal": posteriors["normal"]})


def _exact_normal_posterior(z, rng, draws=1000):
    """Draws from the exact posterior of Normal(mu, sigma) under p(mu, log sigma) flat, and their log-lik."""
    n = z.size
    sigma2 = (n - 1) * z.var(ddof=1) / rng.chisquare(n - 1, draws)
    mu = rng.normal(z.mean(), np.sqrt(sigma2 / n))
    loglik = scipy.stats.norm.logpdf(z[None, :], mu[:, None], np.sqrt(sigma2)[:, None])
    return mu, np.sqrt(sigma2), loglik


def test_arviz_warnings_pass_through():
    # An outlier makes the importance weights of its leave-one-out posterior heavy-tailed (k > 1).
    z = np.append(X, 230.0)
    rng = np.random.default_rng(0)
    mu, sigma, ll_normal = _exact_normal_posterior(z, rng)
    normal = az.from_dict(
        posterior={"mu": mu[None], "sigma": sigma[None]}, log_likelihood={"x": ll_normal[None]}
    )
    mu, sigma, ll_log = _exact_normal_posterior(np.log(z), rng)
    lognormal = az.from_dict(
        posterior={"mu": mu[None], "sigma": sigma[None]}, log_likelihood={"x": (ll_log - np.log(z))[None]}
    )
    fits = {"Normal": pl.mle(pl.Normal(z), strict=True), "LogNormal": pl.mle(pl.LogNormal(z), strict=True)}
    posteriors = {"Normal": normal, "LogNormal": lognormal}
    with pytest.warns(UserWarning, match="posterior variance of the log predictive densities"):
        with pytest.warns(UserWarning, match="Estimated shape parameter of Pareto distribution"):
            table = compare_models(fits, posteriors=posteriors)
    assert list(table.columns) == COLUMNS + LOO_COLUMNS
    with pytest.warns(UserWarning, match="Estimated shape parameter of Pareto distribution"):
        loo = az.loo(normal, pointwise=True)
    assert loo["pareto_k"].values[-1] > 1.0  # the outlier
    np.testing.assert_allclose(table.loc["Normal", "elpd_loo"], loo["elpd_loo"], rtol=1e-12)

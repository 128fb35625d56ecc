"""pplmle.pymc.bambi_adapter: ``pl.mle(bambi.Model)`` on the user's (uncentred) scale.

The references are statsmodels' fits of the same formulas on the same data (OLS, Poisson and
logistic GLMs), closed forms of the Gaussian linear model, and a hand-written NLL with its
analytic Hessian minimized by scipy. The optional ``bambi`` extra installs Bambi; without it
the module is skipped.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.special
import scipy.stats
import statsmodels.api as sm
import statsmodels.formula.api as smf

import pplmle as pl

bmb = pytest.importorskip("bambi")

# Bambi 0.17 calls DataFrame.select_dtypes(include="object"), which pandas 3 warns about
pytestmark = pytest.mark.filterwarnings("ignore:For backward compatibility, 'str' dtypes are")

N = 80


@pytest.fixture(scope="module")
def data():
    """Predictors with means far from 0, so that the centred intercept is far from the user's."""
    rng = np.random.default_rng(20240613)
    df = pd.DataFrame(
        {"x1": rng.normal(5.0, 2.0, N), "x2": rng.normal(-3.0, 1.0, N), "group": rng.choice(list("abc"), N)}
    )
    b = (df["group"] == "b").to_numpy()
    df["y"] = 1.0 + 0.5 * df.x1 - 0.3 * df.x2 + 0.7 * b + rng.normal(0.0, 1.0, N)
    df["count"] = rng.poisson(np.exp(-1.0 + 0.2 * df.x1 + 0.3 * b))
    df["z"] = rng.binomial(1, scipy.special.expit(-0.5 + 0.4 * df.x1 + 0.5 * df.x2))
    df["w"] = 1.0 + 0.5 * df.x1 + rng.normal(0.0, np.exp(-0.5 + 0.15 * df.x1))  # heteroscedastic
    return df


@pytest.fixture(scope="module")
def gaussian(data):
    model = bmb.Model("y ~ x1 + x2 + group", data)  # not built: mle() builds it
    return model, pl.mle(model, strict=True)


@pytest.fixture(scope="module")
def ols(data):
    return smf.ols("y ~ x1 + x2 + group", data).fit()


def _statsmodels_labels(names):
    """statsmodels' ``group[T.b]`` is Bambi's ``group[b]``."""
    return [name.replace("[T.", "[") for name in names]


def _compare(res, fit, se):
    """Estimates 1e-6 and standard errors 1e-4 relative to a statsmodels fit, label by label."""
    labels = _statsmodels_labels(fit.params.index)
    est = dict(zip(res.labels, res.vector(res.params), strict=True))
    ses = dict(zip(res.labels, res.vector(res.se), strict=True))
    np.testing.assert_allclose([est[k] for k in labels], fit.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose([ses[k] for k in labels], np.asarray(se), rtol=1e-4)


def test_gaussian_with_a_categorical_term_matches_ols_on_the_user_scale(gaussian, ols, data):
    _, res = gaussian
    assert res.converged and res.method == "MLE" and res.n_obs == N
    assert res.labels == ["sigma", "Intercept", "x1", "x2", "group[b]", "group[c]"]  # Bambi's order
    # pplmle's standard errors are the MLE's: sigma^2 = RSS / n, not statsmodels' RSS / (n - p)
    p = ols.params.size
    _compare(res, ols, ols.bse * np.sqrt((N - p) / N))
    sigma = np.sqrt(ols.ssr / N)
    np.testing.assert_allclose(res.params["sigma"], sigma, rtol=1e-6)
    np.testing.assert_allclose(res.se["sigma"], sigma / np.sqrt(2 * N), rtol=1e-4)
    np.testing.assert_allclose(res.loglik, ols.llf, rtol=1e-10)
    # Bambi's own Intercept is that of the centred design, mean(y) for least squares: far from this
    assert abs(res.params["Intercept"] - data["y"].mean()) > 5 * res.se["Intercept"]
    assert "y ~ x1 + x2 + group" in res.model_name


@pytest.fixture(scope="module")
def poisson(data):
    return pl.mle(bmb.Model("count ~ x1 + group", data, family="poisson"), strict=True)


def test_poisson_glm_matches_statsmodels(poisson, data):
    res = poisson
    glm = smf.glm("count ~ x1 + group", data, family=sm.families.Poisson()).fit()
    assert res.labels == ["Intercept", "x1", "group[b]", "group[c]"]
    _compare(res, glm, glm.bse)
    np.testing.assert_allclose(res.loglik, glm.llf, rtol=1e-10)


def test_logistic_regression_matches_statsmodels(data):
    res = pl.mle(bmb.Model("z ~ x1 + x2", data, family="bernoulli"), strict=True)
    glm = smf.glm("z ~ x1 + x2", data, family=sm.families.Binomial()).fit()
    assert res.labels == ["Intercept", "x1", "x2"]
    _compare(res, glm, glm.bse)
    np.testing.assert_allclose(res.loglik, glm.llf, rtol=1e-10)


def test_uncentred_bambi_model_gives_the_same_user_scale_estimates(poisson, data):
    centred = poisson  # (a Poisson model compiles faster than a Gaussian one: CI's time)
    model = bmb.Model("count ~ x1 + group", data, family="poisson", center_predictors=False)
    res = pl.mle(model, strict=True)
    assert res.labels == centred.labels
    np.testing.assert_allclose(res.vector(res.params), centred.vector(centred.params), rtol=1e-6)
    np.testing.assert_allclose(res.vector(res.se), centred.vector(centred.se), rtol=1e-4)


def test_the_intercept_of_every_distributional_component_is_uncentred(data):
    # y ~ N(a + b x1, exp(c + d x1)): Bambi centres both linear predictors
    res = pl.mle(bmb.Model(bmb.Formula("w ~ x1", "sigma ~ x1"), data), strict=True)
    assert res.labels == ["Intercept", "x1", "sigma_Intercept", "sigma_x1"]
    x, w = data["x1"].to_numpy(), data["w"].to_numpy()
    Z = np.column_stack([np.ones(N), x])

    def parts(theta):
        r = w - Z @ theta[:2]
        return r, np.exp(2 * Z @ theta[2:])

    def nll(theta):
        r, var = parts(theta)
        return float(np.sum(0.5 * np.log(var) + 0.5 * r**2 / var))

    def grad(theta):
        r, var = parts(theta)
        return np.concatenate([-Z.T @ (r / var), Z.T @ (1 - r**2 / var)])

    fits = [
        scipy.optimize.minimize(nll, s, jac=grad, method="BFGS", options={"gtol": 1e-11, "maxiter": 10000})
        for s in ([0, 0, 0, 0], [1, 0.5, -0.5, 0.1], [3, -1, 0.5, -0.2])
    ]
    best = min(fits, key=lambda f: f.fun).x
    np.testing.assert_allclose(res.vector(res.params), best, rtol=1e-6)
    r, var = parts(best)  # the observed information, by hand
    hess = np.block(
        [
            [Z.T @ (Z / var[:, None]), Z.T @ (Z * (2 * r / var)[:, None])],
            [Z.T @ (Z * (2 * r / var)[:, None]), Z.T @ (Z * (2 * r**2 / var)[:, None])],
        ]
    )
    np.testing.assert_allclose(res.vector(res.se), np.sqrt(np.diag(np.linalg.inv(hess))), rtol=1e-4)


def test_the_result_is_a_value_whose_likelihood_takes_user_scale_parameters(gaussian, ols):
    _, res = gaussian
    assert pickle.loads(pickle.dumps(res)) == res
    assert res.nllf() == pytest.approx(res.nll, rel=1e-12)
    # the NLL away from the estimate, by hand on statsmodels' (uncentred) design matrix
    moved = {**res.params, "Intercept": res.params["Intercept"] + 0.3, "x1": res.params["x1"] - 0.05}
    by_label = dict(zip(res.labels, res.vector(moved), strict=True))
    beta = np.array([by_label[k] for k in _statsmodels_labels(ols.params.index)])
    mu = ols.model.exog @ beta
    expected = -scipy.stats.norm.logpdf(ols.model.endog, mu, moved["sigma"]).sum()
    np.testing.assert_allclose(res.nllf(moved), expected, rtol=1e-10)


def test_profile_interval_of_the_intercept_is_the_linear_model_closed_form(gaussian, ols):
    # fixing one coefficient at c raises the residual sum of squares to RSS + (c - b)^2 / v, with
    # v its entry of (X'X)^-1, so the 95% interval is b -+ sqrt(v RSS (exp(chi2_1(0.95) / n) - 1))
    _, res = gaussian
    j = list(ols.params.index).index("Intercept")
    v = np.linalg.inv(ols.model.exog.T @ ols.model.exog)[j, j]
    half = np.sqrt(v * ols.ssr * np.expm1(scipy.stats.chi2.ppf(0.95, 1) / N))
    b = ols.params["Intercept"]
    ci = res.conf_int(method="profile", params="Intercept").loc["Intercept"]
    np.testing.assert_allclose([ci["lower"], ci["upper"]], [b - half, b + half], rtol=0, atol=1e-6 * half)


def test_an_unbuilt_model_is_built_its_pymc_model_kept_and_refits_reuse_the_copy(gaussian):
    model, res = gaussian
    assert model.built  # as bambi's fit() does
    pm_model = model.backend.model
    # Bambi's PyMC model keeps its variables, its centred intercept among them
    assert [rv.name for rv in pm_model.free_RVs] == ["sigma", "Intercept", "x1", "x2", "group"]
    assert res.context.source is not pm_model and model.backend.model is pm_model
    assert pl.mle(model, strict=True) == res  # the same copy, the same compiled engine


def test_a_centred_intercept_with_a_bounded_prior_is_refused(data):
    model = bmb.Model(
        "z ~ x1", data, family="bernoulli", priors={"Intercept": bmb.Prior("HalfNormal", sigma=1)}
    )
    with pytest.raises(ValueError, match="'Intercept' has a prior with a bounded support"):
        pl.mle(model)

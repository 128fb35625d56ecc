"""pplmle.pymc.structure: hierarchical and latent-variable models are detected, mle() refuses them
by default, and hierarchy="flatten" fits the flattened model with honest NaN for what it loses."""

import pickle
import warnings

import numpy as np
import pymc as pm
import pytest

import pplmle as pl
from pplmle.pymc.engine import flatten_priors
from pplmle.pymc.fitting import model_engine
from pplmle.pymc.structure import analyze

J, NJ = 8, 10  # 8 counties, 10 houses each
IDX = np.repeat(np.arange(J), NJ)
COUNTIES = [f"c{j}" for j in range(J)]
_rng = np.random.default_rng(20240613)
Y = _rng.normal(_rng.normal(1.5, 0.3, J)[IDX], 0.7)
GROUP_MEAN = np.array([Y[IDX == j].mean() for j in range(J)])
SIGMA_Y = np.sqrt(np.mean((Y - GROUP_MEAN[IDX]) ** 2))  # pooled, divisor n


def radon_model():
    with pm.Model(coords={"county": COUNTIES}) as model:
        mu_a = pm.Normal("mu_a", 0.0, 10.0)
        sigma_a = pm.HalfNormal("sigma_a", 1.0)
        a = pm.Normal("a", mu_a, sigma_a, dims="county")
        sigma_y = pm.HalfNormal("sigma_y", 1.0)
        pm.Normal("y", a[IDX], sigma_y, observed=Y)
    return model


@pytest.fixture(scope="module")
def radon():
    return radon_model()


@pytest.fixture(scope="module")
def flattened(radon):
    with pytest.warns(pl.NotIdentifiedWarning, match=r"`mu_a`, `sigma_a` do not enter the likelihood"):
        return pl.mle(radon, hierarchy="flatten")


def structure(model):
    return analyze(model, flatten_priors(model)[0])


# -- detection and refusal ------------------------------------------------------------------------


def test_partial_pooling_is_refused_naming_the_variables(radon):
    with pytest.raises(pl.HierarchicalModelError) as info:
        pl.mle(radon)
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "flattening the prior of `a` (which depends on `mu_a`, `sigma_a`) fits the no-pooling model" in msg
    assert "each `a[county]` by its own data, and `mu_a`, `sigma_a` do not enter the likelihood" in msg
    assert "integrated out" in msg and 'pm.do(model, {"mu_a": ..., "sigma_a": ...})' in msg
    assert 'hierarchy="flatten"' in msg


def test_refusal_reaches_the_workflows_before_anything_is_fitted(radon):
    for call in (
        lambda: pl.compare(radon),
        lambda: pl.surface(radon, {"sigma_y": [0.5, 0.6]}),
        lambda: pl.simulate(radon, {"sigma_y": 0.7}, reps=2, progressbar=False),
    ):
        with pytest.raises(
            pl.HierarchicalModelError, match=r"prior of `a` \(which depends on `mu_a`, `sigma_a`\)"
        ):
            call()


def test_map_estimate_is_not_refused(radon):
    engine, _ = model_engine(radon, "MAP", "raise")  # the MAP keeps the priors: nothing refused
    assert engine.model is radon


def test_bad_hierarchy_value(radon):
    with pytest.raises(ValueError, match=r"`hierarchy` must be one of \('refuse', 'flatten'\); got 'pool'"):
        pl.mle(radon, hierarchy="pool")
    with pytest.raises(ValueError, match="`hierarchy`"):
        pl.mle(pl.Normal(pl.datasets.heights()), hierarchy=None)


def test_random_walk_latent_is_refused():
    with pm.Model() as model:
        s = pm.HalfNormal("s", 1.0)
        z = pm.GaussianRandomWalk("z", sigma=s, shape=20, init_dist=pm.Normal.dist(0, 10))
        e = pm.HalfNormal("e", 1.0)
        pm.Normal("y", z, e, observed=np.cumsum(_rng.normal(size=20)))
    with pytest.raises(
        pl.HierarchicalModelError,
        match=r"prior of `z` \(which depends on `s`\) fits the no-pooling model: each element of `z` .*"
        r"`s` does not enter the likelihood",
    ):
        pl.mle(model)


def test_leftover_variable_is_refused():
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("z", 0.0, 1.0)
        pm.Normal("y", mu, 1.0, observed=np.array([1.0, 2.0, 4.0]))
    with pytest.raises(pl.HierarchicalModelError, match="`z` enters neither the likelihood nor the prior"):
        pl.mle(model)


def eight_schools():
    y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    s = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    with pm.Model(coords={"school": list("ABCDEFGH")}) as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta_tilde = pm.Normal("theta_tilde", 0.0, 1.0, dims="school")
        theta = pm.Deterministic("theta", mu + tau * theta_tilde, dims="school")
        pm.Normal("y", theta, s, observed=y)
    return model, y, s


def test_non_centred_eight_schools_is_refused():
    model, _, _ = eight_schools()
    with pytest.raises(
        pl.HierarchicalModelError, match="`theta_tilde` enters the likelihood only multiplied by `tau`"
    ) as info:
        pl.mle(model)
    assert str(info.value).count("enters the likelihood only multiplied") == 1  # the pair, said once


def test_detection_rules_on_the_graph():
    # a prior that depends on a variable that also enters the likelihood: an ordinary prior
    with pm.Model() as ordinary:
        sigma = pm.HalfNormal("sigma", 1.0)
        mu = pm.Normal("mu", 0.0, sigma)
        pm.Normal("y", mu, sigma, observed=np.array([1.0, 2.0, 4.0]))
    # a scale that also sets the noise is identified by it: not a standardized effect
    with pm.Model() as shared_scale:
        tau = pm.HalfNormal("tau", 1.0)
        z = pm.Normal("z", 0.0, 1.0, shape=3)
        pm.Normal("y", tau * z, tau, observed=np.array([1.0, 2.0, 4.0]))
    # a product with a factor that varies with the data is a nonlinear model, not a scale
    t = np.linspace(0.0, 1.0, 12)
    with pm.Model() as decay:
        amp = pm.Normal("A", 0.0, 10.0, shape=3)
        k = pm.HalfNormal("k", 1.0)
        pm.Normal("y", amp[np.repeat(np.arange(3), 4)] * pm.math.exp(-k * t), 0.1, observed=np.exp(-t))
    with pm.Model() as regression:
        b = pm.Normal("b", 0.0, 1.0, shape=2)
        pm.Normal(
            "y", pm.math.dot(np.column_stack([np.ones(5), np.arange(5.0)]), b), 1.0, observed=np.ones(5)
        )
    for model in (ordinary, shared_scale, decay, regression):
        found = structure(model)
        assert not found.refused, (found.hyper, found.leftover, dict(found.standardized))
    # a latent factor model: loadings and factors are each other's scale
    with pm.Model() as factors:
        lam = pm.Normal("lam", 0.0, 1.0, shape=4)
        f = pm.Normal("f", 0.0, 1.0, shape=30)
        pm.Normal("y", lam[:, None] * f[None, :], 1.0, observed=np.zeros((4, 30)))
    assert dict(structure(factors).standardized) == {"lam": ("f",), "f": ("lam",)}
    # a scale with a flat prior is not a prior that flattening removes
    with pm.Model() as flat_effect:
        tau = pm.HalfNormal("tau", 1.0)
        z = pm.Flat("z", shape=3)
        pm.Normal("y", tau * z, 1.0, observed=np.array([1.0, 2.0, 4.0]))
    assert dict(structure(flat_effect).standardized) == {"tau": ("z",)}
    # a bound of another variable's support is a hyperparameter, which cannot be held fixed: it
    # enters the likelihood on the optimizer's scale through that variable's transform
    with pm.Model() as bounded:
        b = pm.HalfNormal("b", 5.0)
        x = pm.Uniform("x", 0.0, b)
        pm.Normal("y", x, 1.0, observed=np.array([1.0, 2.0]))
    found = structure(bounded)
    assert found.hyper == ("b",) and found.held == ()
    # a chain of hyperparameters
    with pm.Model() as chain:
        m0 = pm.Normal("m0", 0.0, 1.0)
        mu_a = pm.Normal("mu_a", m0, 1.0)
        a = pm.Normal("a", mu_a, 1.0, shape=3)
        pm.Normal("y", a, 1.0, observed=np.zeros(3))
    found = structure(chain)
    assert found.hyper == ("m0", "mu_a") and found.held == ("m0", "mu_a")


# -- what is fitted: the ordinary prior, the flattened model, and the recommended MAP ---------------


def test_prior_depending_on_a_likelihood_parameter_is_fitted():
    y = np.array([1.0, 2.0, 4.0, 7.0])
    with pm.Model() as model:
        sigma = pm.HalfNormal("sigma", 1.0)
        mu = pm.Normal("mu", 0.0, sigma)
        pm.Normal("y", mu, sigma, observed=y)
    res = pl.mle(model, strict=True)
    np.testing.assert_allclose(res.params["mu"], y.mean(), rtol=1e-10)
    np.testing.assert_allclose(res.params["sigma"], y.std(), rtol=1e-9)
    assert res.converged and not res.flags


def test_flatten_gives_the_no_pooling_fit(flattened):
    res = flattened
    np.testing.assert_allclose(res.params["a"], GROUP_MEAN, rtol=1e-10)
    np.testing.assert_allclose(res.params["sigma_y"], SIGMA_Y, rtol=1e-9)
    # the closed-form standard errors: sigma_y / sqrt(n_j) for each mean, sigma_y / sqrt(2 n)
    np.testing.assert_allclose(res.se["a"], SIGMA_Y / np.sqrt(NJ), rtol=1e-7)
    np.testing.assert_allclose(res.se["sigma_y"], SIGMA_Y / np.sqrt(2 * J * NJ), rtol=1e-7)
    assert res.converged and res.n_params == J + 1
    for name in ("mu_a", "sigma_a"):
        assert np.isnan(res.params[name]) and np.isnan(res.se[name])
        assert res.flags[name] == "not identified: does not enter the likelihood"
    assert res.diagnostics == (pl.diagnostics.Diagnostic.NOT_IDENTIFIED,)
    table = res.table()
    assert table.loc["mu_a", "flag"] == "not identified: does not enter the likelihood"
    assert table.loc["a[c3]", "flag"] == ""
    np.testing.assert_allclose(res.loglik, -0.5 * J * NJ * (np.log(2 * np.pi * SIGMA_Y**2) + 1), rtol=1e-12)


def test_flattened_result_keeps_its_likelihood(flattened, radon):
    res = pickle.loads(pickle.dumps(flattened))  # its engine is found again from the model
    assert res == flattened
    np.testing.assert_allclose(res.nllf(), -flattened.loglik, rtol=1e-12)
    # start values of the held variables are accepted and change nothing
    with pytest.warns(pl.NotIdentifiedWarning):
        again = pl.mle(radon, hierarchy="flatten", start={"mu_a": 3.0, "sigma_y": 0.5}, optimizer="compiled")
    np.testing.assert_allclose(again.params["a"], GROUP_MEAN, rtol=1e-9)


def test_fixed_hyperparameters_with_map_give_the_shrunk_estimates(radon):
    # the message's advice: pm.do fixes mu_a, sigma_a; map_estimate keeps a's prior N(mu, s^2).
    # Reference by a fixed point (no pplmle): given sigma_y, each a_j is the precision-weighted
    # mean; given the a_j, sigma_y solves the mode equation with its HalfNormal(1) prior,
    # s^4 + n s^2 - RSS = 0 (jacobian=False: the natural scale).
    mu, s = 1.5, 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error", pl.PPLMLEWarning)
        res = pl.map_estimate(pm.do(radon, {"mu_a": mu, "sigma_a": s}))
    sy = 1.0
    for _ in range(200):
        a = (NJ * GROUP_MEAN / sy**2 + mu / s**2) / (NJ / sy**2 + 1 / s**2)
        rss = np.sum((Y - a[IDX]) ** 2)
        sy = np.sqrt((-J * NJ + np.sqrt((J * NJ) ** 2 + 4 * rss)) / 2)
    np.testing.assert_allclose(res.params["a"], a, rtol=1e-8)
    np.testing.assert_allclose(res.params["sigma_y"], sy, rtol=1e-8)
    assert res.converged
    # mle() of the same model is not refused: its group prior has no free parameters, so it is
    # an ordinary prior, and flattened it gives the no-pooling fit again
    assert not structure(pm.do(radon, {"mu_a": mu, "sigma_a": s})).refused


def test_fixed_scale_of_a_non_centred_model_with_map():
    # the advice for a standardized effect: fix the scale with pm.do, keep the priors with the MAP.
    # The negative log-posterior is then quadratic in (mu, theta_tilde): a linear system.
    model, y, s = eight_schools()
    tau = 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", pl.PPLMLEWarning)
        res = pl.map_estimate(pm.do(model, {"tau": tau}))
    design = np.column_stack([np.ones(8), tau * np.eye(8)])
    precision = design.T @ (design / s[:, None] ** 2) + np.diag([1 / 25.0] + [1.0] * 8)
    mode = np.linalg.solve(precision, design.T @ (y / s**2))
    np.testing.assert_allclose(res.params["mu"], mode[0], rtol=1e-9)
    np.testing.assert_allclose(res.params["theta_tilde"], mode[1:], rtol=1e-9, atol=1e-12)
    assert res.converged


def test_profile_interval_of_a_parameter_that_does_not_enter_the_likelihood_is_nan(flattened):
    ci = flattened.conf_int(method="profile", params=["mu_a", "a[c0]"])
    assert np.isnan(ci.loc["mu_a"]).all()
    lo, hi = ci.loc["a[c0]"]
    # the group mean's profile interval brackets it, about 1.96 standard errors on each side
    se = flattened.se["a"][0]
    assert lo < GROUP_MEAN[0] < hi
    np.testing.assert_allclose([GROUP_MEAN[0] - lo, hi - GROUP_MEAN[0]], 1.96 * se, rtol=0.1)


# -- dims: a parameter's length given by coords --------------------------------------------------


def test_many_parameters_with_dims_fit_and_refit_when_the_coords_change():
    """A vector of 40 group means declared with ``dims=`` (its length a shared variable that
    pm.set_dim can change) fits like one declared with ``shape=``: the Hessian is compiled on
    static shapes (a symbolic length once made its rewrites run for minutes and over 10 GB). When
    the coords and the data change, the next fit is of the new model."""
    rng = np.random.default_rng(7)

    def data(groups):
        idx = np.repeat(np.arange(groups), 5)
        return idx, rng.normal(np.linspace(-2.0, 2.0, groups)[idx], 0.5)

    idx, y = data(40)
    with pm.Model(coords={"group": [f"g{j}" for j in range(40)]}) as model:
        i = pm.Data("idx", idx)
        obs = pm.Data("y_obs", y)
        mu = pm.Normal("mu", 0.0, 10.0, dims="group")
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", mu[i], sigma, observed=obs)
    assert model["mu"].type.shape == (None,)  # the length is symbolic

    def check(res, idx, y, groups):
        means = np.bincount(idx, weights=y) / np.bincount(idx)
        s = np.sqrt(np.mean((y - means[idx]) ** 2))
        assert res.converged and res.n_params == groups + 1
        np.testing.assert_allclose(res.params["mu"], means, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.params["sigma"], s, rtol=1e-8)
        np.testing.assert_allclose(res.se["mu"], s / np.sqrt(5.0), rtol=1e-7)
        assert list(res.table().index[:2]) == ["mu[g0]", "mu[g1]"]

    check(pl.mle(model), idx, y, 40)
    idx2, y2 = data(45)
    model.set_dim("group", 45, coord_values=[f"g{j}" for j in range(45)])
    pm.set_data({"idx": idx2, "y_obs": y2}, model=model)
    check(pl.mle(model), idx2, y2, 45)

"""mle() and map_estimate() on user PyMC models: flattening, MAP, refusals, warnings, reuse."""

import pickle

import numpy as np
import pymc as pm
import pytensor
import pytest
import scipy.stats

import pplmle as pl

X = pl.datasets.heights()
MU_HAT, SIGMA_HAT = 168.0, np.sqrt(22.4)


@pytest.fixture(scope="module")
def informative_model():
    with pm.Model() as model:
        mu = pm.Normal("mu", 150.0, 2.0)  # a prior far from the data
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("h", mu, sigma, observed=X)
    return model


def _fingerprint(model):
    point = {"mu": np.array(160.0), "sigma_log__": np.array(0.3)}
    return (
        [v.name for v in model.free_RVs],
        [v.name for v in model.observed_RVs],
        sorted(model.named_vars),
        {k: float(v) for k, v in model.point_logps(point).items()},
        {rv.name: type(rv.owner.op).__name__ for rv in model.free_RVs},
    )


def test_user_model_with_informative_priors_gives_family_mle_and_is_unchanged(informative_model):
    before = _fingerprint(informative_model)
    res = pl.mle(informative_model, strict=True)
    fam = pl.mle(pl.Normal(X), strict=True)
    np.testing.assert_allclose(res.params["mu"], MU_HAT, rtol=1e-10)
    np.testing.assert_allclose(res.params["sigma"], SIGMA_HAT, rtol=1e-9)
    np.testing.assert_allclose(res.params["sigma"], fam.params["sigma"], rtol=1e-9)
    np.testing.assert_allclose(res.se["sigma"], SIGMA_HAT / np.sqrt(20), rtol=1e-7)
    np.testing.assert_allclose(res.loglik, scipy.stats.norm.logpdf(X, MU_HAT, SIGMA_HAT).sum(), rtol=1e-12)
    assert res.method == "MLE"
    assert res.n_obs == 10 and res.n_params == 2
    assert _fingerprint(informative_model) == before


def test_map_keeps_the_priors_conjugate_normal():
    # known sigma = 5, prior mu ~ N(150, 2): the posterior mode is the precision-weighted mean
    with pm.Model() as model:
        mu = pm.Normal("mu", 150.0, 2.0)
        pm.Normal("h", mu, 5.0, observed=X)
    res = pl.map_estimate(model, strict=True)
    prec_prior, prec_data = 1 / 4, 10 / 25
    mode = (150 * prec_prior + X.sum() / 25) / (prec_prior + prec_data)
    np.testing.assert_allclose(res.params["mu"], mode, rtol=1e-10)
    np.testing.assert_allclose(res.se["mu"], 1 / np.sqrt(prec_prior + prec_data), rtol=1e-8)
    # PyMC stores the literal 5.0 as a float32 constant and takes its log in float32,
    # so its log-likelihood differs from scipy's by about 1e-8 relative here.
    np.testing.assert_allclose(res.loglik, scipy.stats.norm.logpdf(X, mode, 5.0).sum(), rtol=2e-8)
    assert res.method == "MAP"
    mle_res = pl.mle(model, strict=True)
    np.testing.assert_allclose(mle_res.params["mu"], MU_HAT, rtol=1e-10)


def test_map_of_a_family_is_refused():
    with pytest.raises(ValueError, match="Families have flat priors, so their MAP is their MLE"):
        pl.map_estimate(pl.Normal(X))
    with pytest.raises(TypeError, match=r"must be a pplmle family or a pm\.Model; got list"):
        pl.mle([1.0, 2.0])


def test_flat_prior_keeps_support_of_bounded_priors():
    # Uniform(0, 2) prior on p: flattening keeps (0, 2), the Bernoulli likelihood caps p at 1 anyway;
    # the Beta prior keeps (0, 1) and the MLE is the sample mean.
    y = np.array([1, 0, 1, 1, 0, 1, 1, 1])
    with pm.Model() as model:
        p = pm.Beta("p", 20.0, 2.0)
        pm.Bernoulli("y", p, observed=y)
    np.testing.assert_allclose(pl.mle(model, strict=True).params["p"], 0.75, rtol=1e-9)


def test_hierarchical_bounds_depend_on_other_parameters():
    # the support of u depends on lo: its interval transform must follow lo
    z = np.array([1.0, 2.0, 3.5])
    with pm.Model() as model:
        lo = pm.Normal("lo", -5.0, 1.0)
        u = pm.Uniform("u", lower=lo, upper=10.0)
        pm.Normal("z", u, 1.0, observed=z)
        pm.Normal("w", lo, 1.0, observed=np.array([-4.0, -6.0]))
    res = pl.mle(model, strict=True)
    np.testing.assert_allclose([res.params["lo"], res.params["u"]], [-5.0, z.mean()], rtol=1e-9)


def test_nan_in_observed_data_is_refused_with_count():
    with pm.Model() as model:
        mu = pm.Normal("mu")
        sigma = pm.HalfNormal("sigma")
        with pytest.warns(UserWarning, match="[Ii]mput"):
            pm.Normal("h", mu, sigma, observed=np.array([*X, np.nan, np.nan]))
    with pytest.raises(ValueError, match=r"`h` has 2 missing value\(s\).*nan_policy='omit'"):
        pl.mle(model)
    res = pl.mle(model, nan_policy="omit", strict=True)
    np.testing.assert_allclose([res.params["mu"], res.params["sigma"]], [MU_HAT, SIGMA_HAT], rtol=1e-9)
    assert res.n_obs == 10
    assert list(res.params) == ["mu", "sigma"]


def test_bad_nan_policy():
    with pytest.raises(ValueError, match=r"`nan_policy` must be one of \('raise', 'omit'\); got 'drop'"):
        pl.Normal(X, nan_policy="drop")


def test_discrete_free_variables_are_refused():
    with pm.Model() as model:
        k = pm.Poisson("k", 3.0)
        pm.Normal("y", k, 1.0, observed=np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\['k'\] are discrete.*Marginalize"):
        pl.mle(model)


def test_model_without_free_variables_is_refused():
    with pm.Model() as model:
        pm.Normal("y", 0.0, 1.0, observed=np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="no free continuous variables"):
        pl.mle(model)


def test_budget_exhausted_is_flagged_not_hidden():
    with pytest.warns(pl.ConvergenceWarning, match="evaluation budget maxeval=2 was used up"):
        res = pl.mle(pl.Normal(X), maxeval=2, start={"mu": 0.0, "sigma": 1.0})
    assert res.converged is False
    assert res.message.startswith("not converged")
    with pytest.raises(pl.EstimationError, match="did not converge"):
        pl.mle(pl.Normal(X), maxeval=2, start={"mu": 0.0, "sigma": 1.0}, strict=True)


def test_non_finite_start_is_flagged():
    with pm.Model() as model:
        mu = pm.Normal("mu")
        pm.Uniform("y", mu - 1.0, mu + 1.0, observed=np.array([0.0, 5.0]))
    with pytest.warns(pl.ConvergenceWarning, match="not finite at the starting point"):
        res = pl.mle(model)
    assert res.converged is False and np.isnan(res.params["mu"])
    assert "non-finite start" in res.diagnostics


def test_singular_hessian_gives_nan_se_and_warning():
    with pm.Model() as model:
        a = pm.Normal("a")
        b = pm.Normal("b")
        pm.Normal("y", a + b, 1.0, observed=np.array([1.0, 2.0, 3.0]))
    with pytest.warns(pl.HessianWarning, match="not identified|not positive definite"):
        res = pl.mle(model)
    assert np.isnan(res.se["a"]) and np.isnan(res.se["b"])
    np.testing.assert_allclose(res.params["a"] + res.params["b"], 2.0, rtol=1e-8)
    assert "singular Hessian" in res.diagnostics


def test_n_starts_agree_on_a_unimodal_likelihood():
    res = pl.mle(pl.Normal(X), n_starts=4, seed=3, strict=True)
    assert res.n_starts == 4 and res.same_optimum is True
    np.testing.assert_allclose(res.params["mu"], MU_HAT, rtol=1e-10)


def test_n_starts_detect_two_optima():
    # Cauchy location with two clusters: a local optimum near each cluster
    y = np.array([-3.0, -3.0, -3.0, 3.0, 3.0, 3.0, 3.0])
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Cauchy("y", mu, 0.5, observed=y)
    with pytest.warns(pl.MultipleOptimaWarning, match="reached different optima"):
        res = pl.mle(model, n_starts=8, seed=1, start={"mu": -0.5})
    assert res.same_optimum is False
    np.testing.assert_allclose(res.params["mu"], 3.0, atol=0.1)  # the global optimum is kept


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_n_starts_validation(bad):
    with pytest.raises(ValueError, match=r"`n_starts` must be a whole number >= 1"):
        pl.mle(pl.Normal(X), n_starts=bad)


def test_unknown_optimizer_and_start_names():
    with pytest.raises(ValueError, match=r"`optimizer` must be one of \('find_MAP', 'compiled'\)"):
        pl.mle(pl.Normal(X), optimizer="adam")
    with pytest.raises(ValueError, match=r"`start` names unknown parameter\(s\) \['tau'\]"):
        pl.mle(pl.Normal(X), start={"tau": 1.0})


def test_start_outside_support():
    with pytest.raises(ValueError, match="outside the support"):
        pl.mle(pl.Normal(X), start={"sigma": -1.0})


def test_refit_on_new_data_does_not_recompile(monkeypatch):
    rng = np.random.default_rng(5)
    pl.mle(pl.Normal(rng.normal(size=30)))  # builds and compiles the Normal engine
    calls = []
    real = pytensor.function

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pytensor, "function", counting)
    for n in (30, 30, 55):
        x = rng.normal(2.0, 3.0, size=n)
        res = pl.mle(pl.Normal(x), optimizer="compiled", strict=True)
        np.testing.assert_allclose(res.params["mu"], x.mean(), rtol=1e-9)
        np.testing.assert_allclose(res.params["sigma"], x.std(), rtol=1e-9)
    assert calls == []


def test_user_model_pm_data_refit_does_not_recompile(monkeypatch):
    with pm.Model() as model:
        data = pm.Data("data", X)
        mu = pm.Normal("mu", 0.0, 100.0)
        sigma = pm.HalfNormal("sigma", 10.0)
        pm.Normal("h", mu, sigma, observed=data)
    pl.mle(model, optimizer="compiled")
    calls = []
    real = pytensor.function
    monkeypatch.setattr(pytensor, "function", lambda *a, **k: calls.append(1) or real(*a, **k))
    new = X + 10.0
    with model:
        pm.set_data({"data": new})
    res = pl.mle(model, optimizer="compiled", strict=True)
    np.testing.assert_allclose(res.params["mu"], MU_HAT + 10.0, rtol=1e-10)
    assert calls == []


def test_results_keep_their_own_data_for_nllf():
    a = pl.mle(pl.Normal(X))
    b = pl.mle(pl.Normal(X + 100.0), optimizer="compiled")
    # a's nllf still evaluates on a's data although the shared engine now holds b's
    expected = -scipy.stats.norm.logpdf(X, 170.0, 5.0).sum()
    np.testing.assert_allclose(a.nllf({"mu": 170.0, "sigma": 5.0}), expected, rtol=1e-12)
    np.testing.assert_allclose(b.nllf(), b.nll, rtol=1e-12)


def test_input_arrays_are_not_modified():
    x = np.array([*X, np.nan])
    copy = x.copy()
    res = pl.mle(pl.Normal(x, nan_policy="omit"))
    np.testing.assert_array_equal(x, copy)
    np.testing.assert_allclose(res.params["mu"], MU_HAT, rtol=1e-10)


def test_family_model_is_readable_and_flat():
    fam = pl.Normal(X)
    model = fam.model
    assert [rv.name for rv in model.free_RVs] == ["mu", "sigma"]
    assert fam.param_names == ("mu", "sigma")
    # flat priors: the log-density with jacobian=False is exactly the log-likelihood
    logp = model.compile_logp(jacobian=False)({"mu": 170.0, "sigma_log__": np.log(5.0)})
    np.testing.assert_allclose(logp, scipy.stats.norm.logpdf(X, 170.0, 5.0).sum(), rtol=1e-12)


def test_result_is_frozen_and_picklable_parts():
    res = pl.mle(pl.Normal(X))
    with pytest.raises(AttributeError):
        res.converged = False
    table = pickle.loads(pickle.dumps(res.table()))
    np.testing.assert_allclose(table.loc["mu", "estimate"], MU_HAT, rtol=1e-12)

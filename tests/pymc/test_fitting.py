"""pplmle.pymc.fitting: mle() and map_estimate() on user PyMC models: flattening, MAP, refusals, reuse."""

import pickle

import numpy as np
import pymc as pm
import pytest
import scipy.optimize
import scipy.special
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


def test_a_short_find_map_budget_is_made_up_by_the_kernel():
    # find_MAP stops after 2 evaluations far from the optimum; the kernel goes on from there
    res = pl.mle(pl.Normal(X), maxeval=2, start={"mu": 0.0, "sigma": 1.0}, strict=True)
    np.testing.assert_allclose([res.params["mu"], res.params["sigma"]], [MU_HAT, SIGMA_HAT], rtol=1e-12)
    assert res.converged


def test_exhausted_newton_is_counted_as_exhausted():
    from pplmle.pymc import kernel
    from pplmle.pymc.fitting import family_engine

    fam = pl.Normal(X)
    engine = family_engine(fam)
    engine.set_data(fam.data())
    u0 = engine.to_unconstrained(fam.to_free({"mu": 0.0, "sigma": 1e-3}))
    fit = kernel.newton(engine.single, u0[None, :], maxiter=1)
    assert fit.status.tolist() == [kernel.EXHAUSTED]
    assert not engine.info(fit.U[0])["ok"]


def test_input_arrays_are_not_modified():
    x = np.array([*X, np.nan])
    copy = x.copy()
    res = pl.mle(pl.Normal(x, nan_policy="omit"))
    np.testing.assert_array_equal(x, copy)
    np.testing.assert_allclose(res.params["mu"], MU_HAT, rtol=1e-10)


def test_family_model_is_readable_and_flat():
    fam = pl.Normal(X)
    model = fam.model
    # fitted in units of a power of two (exact), reported as Deterministics in the units of x
    assert fam.unit == 256.0
    assert [rv.name for rv in model.free_RVs] == ["mu_std", "sigma_std"]
    assert [d.name for d in model.deterministics] == ["mu", "sigma"]
    assert fam.param_names == ("mu", "sigma")
    # flat priors: the log-density with jacobian=False is exactly the log-likelihood of x
    point = {"mu_std": 170.0 / fam.unit, "sigma_std_log__": np.log(5.0 / fam.unit)}
    logp = model.compile_logp(jacobian=False)(point)
    np.testing.assert_allclose(logp, scipy.stats.norm.logpdf(X, 170.0, 5.0).sum(), rtol=1e-12)


def test_result_is_frozen_and_picklable_parts():
    res = pl.mle(pl.Normal(X))
    with pytest.raises(AttributeError):
        res.converged = False
    table = pickle.loads(pickle.dumps(res.table()))
    np.testing.assert_allclose(table.loc["mu", "estimate"], MU_HAT, rtol=1e-12)


# -- refusals: non-integer discrete observations -----------------------


def test_discrete_likelihood_observed_through_pm_data_must_be_whole_numbers():
    with pm.Model() as model:
        lam = pm.HalfNormal("lam", 5.0)
        counts = pm.Data("counts", np.array([1.0, 2.0, 0.0, 1.5, 3.0]))
        pm.Poisson("y", lam, observed=counts)
    message = (
        r"^`observed` values of the discrete variable 'y' must be whole numbers; found 1.5 at index 3\.$"
    )
    with pytest.raises(ValueError, match=message):
        pl.mle(model)
    with pytest.raises(ValueError, match=message):
        pl.map_estimate(model)
    np.testing.assert_array_equal(counts.get_value(), [1.0, 2.0, 0.0, 1.5, 3.0])  # not modified
    pm.set_data({"counts": np.array([1.0, 2.0, 0.0, 1.0, 3.0])}, model=model)
    np.testing.assert_allclose(pl.mle(model, strict=True).params["lam"], 1.4, rtol=1e-9)


@pytest.mark.parametrize(
    "likelihood",
    [
        lambda p, d: pm.Bernoulli("y", p, observed=d),
        lambda p, d: pm.Binomial("y", 3, p, observed=d),
        lambda p, d: pm.NegativeBinomial("y", n=2.0, p=p, observed=d),
        lambda p, d: pm.Categorical("y", p=pm.math.stack([p, 1 - p]), observed=d),
    ],
)
def test_every_discrete_likelihood_is_checked(likelihood):
    with pm.Model() as model:
        p = pm.Beta("p", 1.0, 1.0)
        likelihood(p, pm.Data("d", np.array([0.0, 1.0, 0.5, 1.0])))
    with pytest.raises(
        ValueError, match=r"discrete variable 'y' must be whole numbers; found 0.5 at index 2\."
    ):
        pl.mle(model)


def test_discrete_data_given_as_an_array_are_already_integers_in_the_model():
    # the documented limit: PyMC casts an array of observations when the model is built, so the
    # 1.5 is already 1 there, and no check can see it (a pm.Data container keeps it: see above)
    with pm.Model() as model:
        lam = pm.HalfNormal("lam", 5.0)
        pm.Poisson("y", lam, observed=np.array([1.0, 2.0, 1.5]))
    assert model.rvs_to_values[model["y"]].data.tolist() == [1, 2, 1]


# -- nllf takes exactly the parameters of the result


@pytest.fixture(scope="module")
def normal_fit():
    return pl.mle(pl.Normal(X), strict=True)


@pytest.fixture(scope="module")
def regression_fit():
    rng = np.random.default_rng(5)
    Xr = rng.normal(size=(30, 2))
    return pl.mle(pl.LinearRegression(Xr, Xr @ [1.0, -0.5] + rng.normal(0, 0.3, 30)), strict=True)


def test_nllf_requires_exactly_the_parameters_of_the_result(normal_fit):
    with pytest.raises(
        ValueError,
        match=r"`params` must give exactly the parameters \['mu', 'sigma'\]; missing \['sigma'\] "
        r"\(no parameter is filled in from a default\)",
    ):
        normal_fit.nllf({"mu": 168.0})
    with pytest.raises(ValueError, match=r"exactly the parameters \['mu', 'sigma'\]; unknown \['tau'\]"):
        normal_fit.nllf({"mu": 168.0, "sigma": 4.0, "tau": 1.0})
    with pytest.raises(ValueError, match=r"missing \['sigma'\], unknown \['s'\]"):
        normal_fit.nllf({"mu": 168.0, "s": 4.0})
    with pytest.raises(ValueError, match=r"`params\['mu'\]` must have shape \(\); got shape \(2,\)"):
        normal_fit.nllf({"mu": [168.0, 1.0], "sigma": 4.0})
    expected = -scipy.stats.norm.logpdf(X, 168.0, 4.0).sum()
    np.testing.assert_allclose(normal_fit.nllf({"mu": 168.0, "sigma": 4.0}), expected, rtol=1e-12)
    np.testing.assert_allclose(normal_fit.nllf(), normal_fit.nll, rtol=1e-12)


def test_nllf_checks_the_shapes_of_vector_parameters_and_leaves_them_alone(regression_fit):
    params = {k: np.array(v, copy=True) for k, v in regression_fit.params.items()}
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(ValueError, match=r"`params\['beta'\]` must have shape \(2,\); got shape \(3,\)"):
        regression_fit.nllf({**params, "beta": np.zeros(3)})
    with pytest.raises(ValueError, match=r"missing \['intercept'\]"):
        regression_fit.nllf({"beta": params["beta"], "sigma": params["sigma"]})
    np.testing.assert_allclose(regression_fit.nllf(params), regression_fit.nll, rtol=1e-12)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


# -- labels from coords ------------------------------------------------------------------------------


def test_labels_use_coordinate_values_numbers_strings_and_indices():
    from pplmle.pymc.fitting import labels_for, model_engine

    y = np.arange(6.0)
    with pm.Model(coords={"year": [2019, 2020], "level": ["lo", "lo"]}) as model:
        model.add_coord("group", length=3)  # a dim without coordinate values
        pm.Normal("trend", dims="year")  # numeric coordinate values
        pm.Normal("level_effect", dims="level")  # values that do not tell the elements apart
        pm.Normal("group_effect", dims="group")
        pm.Normal("w", shape=2)  # no dims: integer indices, as before
        s = pm.HalfNormal("s")
        pm.Normal("y", 0.0, s, observed=y)
    # the effects enter nothing (mle() refuses such a model): "flatten" holds them fixed, labelled
    engine, _ = model_engine(model, "MLE", "raise", "flatten")
    engine.compile()
    assert labels_for(engine, None) == [
        "trend[2019]",
        "trend[2020]",
        "level_effect[0]",
        "level_effect[1]",
        "group_effect[0]",
        "group_effect[1]",
        "group_effect[2]",
        "w[0]",
        "w[1]",
        "s",
    ]


# -- initvals and the default start ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ordinal_data():
    """Three ordered categories from a latent logistic regression (cutpoints -0.5 and 0.8)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    p_above = scipy.special.expit(1.2 * x[:, None] - np.array([-0.5, 0.8])[None, :])
    y = (rng.uniform(size=300)[:, None] < p_above).sum(axis=1)
    return x, y


@pytest.fixture(scope="module")
def ordered_logistic(ordinal_data):
    # initval on the slope; the cutpoints' prior means are equal, so PyMC's initial point of the
    # ordered transform is log(0) = -inf: the default start must still lie inside the support
    x, y = ordinal_data
    with pm.Model() as model:
        b = pm.Normal("b", 0.0, 5.0, initval=0.3)
        c = pm.Normal("c", 0.0, 10.0, shape=2, transform=pm.distributions.transforms.ordered)
        pm.OrderedLogistic("y", eta=b * x, cutpoints=c, observed=y)
    return model


def test_ordered_logistic_with_an_initval_matches_statsmodels(ordinal_data, ordered_logistic):
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    x, y = ordinal_data
    res = pl.mle(ordered_logistic, strict=True)
    ref = OrderedModel(y, x[:, None], distr="logit").fit(method="newton", tol=1e-12, disp=False)
    # statsmodels: slope, first cutpoint, log of the increment to the second
    b, t0, t1 = ref.params
    cov = ref.cov_params()
    grad = np.array(
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, np.exp(t1)]]
    )  # (b, c0, c1) from (b, t0, t1)
    se = np.sqrt(np.diag(grad @ cov @ grad.T))
    np.testing.assert_allclose([res.params["b"], *res.params["c"]], [b, t0, t0 + np.exp(t1)], rtol=1e-6)
    np.testing.assert_allclose([res.se["b"], *res.se["c"]], se, rtol=1e-4)
    np.testing.assert_allclose(res.loglik, ref.llf, rtol=1e-10)
    assert res.labels == ["b", "c[0]", "c[1]"]


def test_initvals_are_the_start_and_an_explicit_start_wins(ordered_logistic):
    from pplmle.pymc.fitting import model_engine

    engine, _ = model_engine(ordered_logistic, "MLE", "raise")
    default = engine.natural_from_u(engine.to_unconstrained({}))
    assert float(default["b"]) == 0.3  # the initval
    np.testing.assert_allclose(default["c"], [0.0, 1.0])  # inside the support: increments of 1
    given = engine.natural_from_u(engine.to_unconstrained({"b": 2.0}))
    assert float(given["b"]) == 2.0
    assert ordered_logistic.rvs_to_initial_values[ordered_logistic["b"]] == 0.3  # the model is unchanged


def test_initval_of_the_ordered_cutpoints_is_kept(ordinal_data):
    from pplmle.pymc.fitting import model_engine

    x, y = ordinal_data
    with pm.Model() as model:
        b = pm.Normal("b", 0.0, 5.0)
        c = pm.Normal(
            "c", 0.0, 10.0, shape=2, transform=pm.distributions.transforms.ordered, initval=[-2.0, 3.0]
        )
        pm.OrderedLogistic("y", eta=b * x, cutpoints=c, observed=y)
    engine, _ = model_engine(model, "MLE", "raise")
    np.testing.assert_allclose(engine.natural_from_u(engine.to_unconstrained({}))["c"], [-2.0, 3.0])


# -- n_obs: what is counted --------------------------------------------------------------------------


def test_observation_count_counts_time_steps_and_multivariate_vectors():
    from pplmle.pymc.fitting import observation_count

    walk = np.cumsum(np.random.default_rng(5).normal(size=50))
    with pm.Model() as model:
        s = pm.HalfNormal("s")
        pm.GaussianRandomWalk("walk", sigma=s, init_dist=pm.Normal.dist(0.0, 10.0), observed=walk)  # 50
        pm.MvNormal("rows", np.zeros(3), np.eye(3) * s, observed=np.zeros((7, 3)))  # 7 vectors
        pm.Normal("plain", 0.0, s, observed=np.zeros((2, 4)))  # 8 values
    assert observation_count(model) == 50 + 7 + 8


@pytest.fixture(scope="module")
def ar1_series():
    rng = np.random.default_rng(8)
    y = np.empty(200)
    y[0] = rng.normal(0.0, 2.0)
    for t in range(1, 200):
        y[t] = 0.6 * y[t - 1] + rng.normal(0.0, 1.5)
    return y


def test_ar1_counts_its_time_steps_and_matches_conditional_least_squares(ar1_series):
    y = ar1_series
    with pm.Model() as model:
        rho = pm.Normal("rho", 0.0, 1.0, shape=1)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.AR("y", rho=rho, sigma=sigma, init_dist=pm.Normal.dist(0.0, 10.0), observed=y)
    res = pl.mle(model, strict=True)
    assert res.n_obs == 200 and res.n_obs_note == ""
    # the init_dist term of y[0] has no parameter: the MLE is conditional least squares
    rho_hat = y[1:] @ y[:-1] / (y[:-1] @ y[:-1])
    sigma_hat = np.sqrt(np.mean((y[1:] - rho_hat * y[:-1]) ** 2))
    np.testing.assert_allclose([res.params["rho"][0], res.params["sigma"]], [rho_hat, sigma_hat], rtol=1e-9)
    loglik = (
        scipy.stats.norm.logpdf(y[0], 0.0, 10.0)
        + scipy.stats.norm.logpdf(y[1:], rho_hat * y[:-1], sigma_hat).sum()
    )
    # (PyMC evaluates the init_dist term in lower precision, as in the MAP test above: ~1e-10 relative)
    np.testing.assert_allclose(res.loglik, loglik, rtol=1e-9)
    np.testing.assert_allclose(res.bic, 2 * np.log(200) - 2 * res.loglik, rtol=1e-12)


@pytest.fixture(scope="module")
def survival():
    """Weibull lifetimes (shape 1.5, scale 10), right-censored at 12."""
    t = 10.0 * np.random.default_rng(9).weibull(1.5, size=80)
    return np.minimum(t, 12.0), t >= 12.0


def _weibull_nll(theta, time, censored):
    alpha, beta = np.exp(theta)
    logpdf = scipy.stats.weibull_min.logpdf(time[~censored], alpha, scale=beta).sum()
    return -(logpdf + scipy.stats.weibull_min.logsf(time[censored], alpha, scale=beta).sum())


@pytest.fixture(scope="module")
def survival_reference(survival):
    time, censored = survival
    fit = scipy.optimize.minimize(
        _weibull_nll,
        [0.0, 2.0],
        args=(time, censored),
        method="Nelder-Mead",
        options={"xatol": 1e-12, "fatol": 1e-12, "maxiter": 20000},
    )
    return np.exp(fit.x), -fit.fun


def test_censoring_through_a_potential_has_no_bic_unless_n_obs_is_given(survival, survival_reference):
    time, censored = survival
    with pm.Model() as model:
        alpha = pm.HalfNormal("alpha", 5.0)
        beta = pm.HalfNormal("beta", 20.0)
        pm.Weibull("t", alpha, beta, observed=time[~censored])
        # the censored rows: log S(t) = -(t / beta)^alpha
        pm.Potential("censored", -pm.math.sum((time[censored] / beta) ** alpha))
    res = pl.mle(model, strict=True)
    (alpha_ref, beta_ref), loglik = survival_reference
    np.testing.assert_allclose([res.params["alpha"], res.params["beta"]], [alpha_ref, beta_ref], rtol=1e-6)
    np.testing.assert_allclose(res.loglik, loglik, rtol=1e-10)
    assert res.n_obs == int((~censored).sum()) and np.isnan(res.bic)
    assert "['censored']" in res.n_obs_note and "n_obs=" in res.n_obs_note
    assert res.n_obs_note in repr(res)
    given = pl.mle(model, n_obs=time.size, strict=True)
    assert given.n_obs == time.size and given.n_obs_note == ""
    np.testing.assert_allclose(given.bic, 2 * np.log(time.size) - 2 * given.loglik, rtol=1e-12)


def test_censored_distribution_counts_every_row(survival, survival_reference):
    time, _ = survival
    with pm.Model() as model:
        alpha = pm.HalfNormal("alpha", 5.0)
        beta = pm.HalfNormal("beta", 20.0)
        pm.Censored("t", pm.Weibull.dist(alpha, beta), lower=None, upper=12.0, observed=time)
    res = pl.mle(model, strict=True)
    (alpha_ref, beta_ref), loglik = survival_reference
    np.testing.assert_allclose([res.params["alpha"], res.params["beta"]], [alpha_ref, beta_ref], rtol=1e-6)
    np.testing.assert_allclose(res.loglik, loglik, rtol=1e-10)
    assert res.n_obs == time.size and res.n_obs_note == ""


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "80"])
def test_n_obs_must_be_a_positive_whole_number(bad):
    with pytest.raises(ValueError, match=r"`n_obs` must be None or a positive whole number; got"):
        pl.mle(pl.Normal(X), n_obs=bad)
    with pm.Model() as model:
        mu = pm.Normal("mu")
        pm.Normal("h", mu, 1.0, observed=X)
    with pytest.raises(ValueError, match=r"`n_obs` must be None or a positive whole number; got"):
        pl.map_estimate(model, n_obs=bad)

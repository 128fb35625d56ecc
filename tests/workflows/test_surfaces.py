"""Likelihood surfaces: values against scipy.stats, the textbook sweep, chunking, profiles, ArviZ."""

import arviz as az
import numpy as np
import pymc as pm
import pytest
import scipy.optimize
import scipy.special
import scipy.stats

import pplmle as pl

X = pl.datasets.heights()
MUS = np.arange(160.0, 181.0)


@pytest.fixture(scope="module")
def sweep():
    return pl.surface(pl.Normal(X), {"mu": MUS}, {"sigma": 5.0})


def test_textbook_sweep_peaks_at_the_sample_mean(sweep):
    ref = scipy.stats.norm.logpdf(X[None, :], MUS[:, None], 5.0).sum(axis=1)
    np.testing.assert_allclose(sweep.loglik.values, ref, rtol=1e-10)
    np.testing.assert_allclose(sweep.nll.values, -ref, rtol=1e-10)
    np.testing.assert_allclose(sweep.likelihood.values, np.exp(ref - ref.max()), rtol=1e-10)
    assert sweep.argmax() == {"mu": 168.0}
    for var, pick in (("likelihood", np.argmax), ("loglik", np.argmax), ("nll", np.argmin)):
        assert MUS[pick(sweep.dataset[var].values)] == 168.0
    assert sweep.dataset.attrs["fixed"] == "{'sigma': 5.0}"


def test_two_dimensional_surface_matches_scipy_and_chunking_does_not_matter():
    res = pl.mle(pl.Normal(X))
    mu, sigma = np.linspace(160, 176, 17), np.linspace(2, 10, 9)
    s1 = pl.surface(res, {"mu": mu, "sigma": sigma})
    s2 = pl.surface(res, {"mu": mu, "sigma": sigma}, chunk_size=7)
    ref = scipy.stats.norm.logpdf(X[None, None, :], mu[:, None, None], sigma[None, :, None]).sum(-1)
    np.testing.assert_allclose(s1.loglik.values, ref, rtol=1e-10)
    np.testing.assert_array_equal(s1.loglik.values, s2.loglik.values)
    assert s1.names == ["mu", "sigma"] and s1.loglik.shape == (17, 9)


def test_profile_surface_equals_the_closed_form_profile():
    res = pl.mle(pl.Normal(X))
    s = pl.surface(res, {"mu": MUS[::4]}, profile=True)
    S = np.sum((X - 168.0) ** 2)
    expected = res.loglik - 5 * np.log(1 + 10 * (168.0 - MUS[::4]) ** 2 / S)
    np.testing.assert_allclose(s.loglik.values, expected, rtol=1e-10)
    assert s.dataset.attrs["fixed"] == "{'sigma': 'profiled'}"


def test_regression_surface_and_default_fixed_at_the_mle():
    rng = np.random.default_rng(0)
    Xr = rng.normal(size=(50, 2))
    y = rng.binomial(1, 1 / (1 + np.exp(-(Xr @ [1.0, -1.0]))))
    res = pl.mle(pl.LogisticRegression(Xr, y))
    b0, b1 = np.linspace(-1, 2, 5), np.linspace(-2, 0, 4)
    s = pl.surface(pl.LogisticRegression(Xr, y), {"beta[0]": b0, "beta[1]": b1})
    B0, B1 = np.meshgrid(b0, b1, indexing="ij")
    eta = res.params["intercept"] + Xr[:, 0] * B0[..., None] + Xr[:, 1] * B1[..., None]
    ref = scipy.stats.bernoulli.logpmf(y, scipy.special.expit(eta)).sum(-1)
    np.testing.assert_allclose(s.loglik.values, ref, rtol=1e-10)


def test_user_model_surface_and_outside_support_is_nan():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 100.0)
        sg = pm.HalfNormal("sg", 10.0)
        pm.Normal("h", mu, sg, observed=X)
    s = pl.surface(m, {"sg": np.array([-1.0, 0.0, 5.0])}, {"mu": 168.0})
    assert np.isnan(s.loglik.values[0]) and np.isnan(s.loglik.values[1])
    np.testing.assert_allclose(s.loglik.values[2], scipy.stats.norm.logpdf(X, 168.0, 5.0).sum(), rtol=1e-12)


def test_raw_product_of_densities_underflows_but_the_surface_does_not():
    x = np.random.default_rng(0).normal(size=3000)
    assert np.prod(scipy.stats.norm.pdf(x)) == 0.0
    s = pl.surface(pl.Normal(x), {"mu": np.linspace(-0.1, 0.1, 5)}, {"sigma": 1.0})
    assert np.all(s.likelihood.values > 0.0) and np.max(s.likelihood.values) == 1.0


def test_surface_inference_data_works_with_arviz():
    fine = pl.surface(pl.Normal(X), {"mu": np.arange(160.0, 176.0, 0.05)}, {"sigma": 5.0})
    idata = fine.to_inference_data(draws=20000, seed=1)
    assert set(idata.groups()) == {"posterior", "likelihood_surface"}
    summ = az.summary(idata, kind="stats", round_to="none")
    # flat-prior posterior of mu with sigma known: N(168, 5 / sqrt(10))
    np.testing.assert_allclose(summ.loc["mu", "mean"], 168.0, atol=0.05)
    np.testing.assert_allclose(summ.loc["mu", "sd"], 5 / np.sqrt(10), rtol=0.03)
    hdi = az.hdi(idata, hdi_prob=0.95)["mu"].values
    np.testing.assert_allclose(hdi, [168 - 1.96 * 5 / np.sqrt(10), 168 + 1.96 * 5 / np.sqrt(10)], atol=0.1)


def test_result_inference_data_groups():
    res = pl.mle(pl.Normal(X))
    idata = res.to_inference_data(draws=10000, seed=2)
    assert set(idata.groups()) == {"posterior", "mle", "likelihood_surface"}
    np.testing.assert_allclose(idata.mle["estimate"].values, [168.0, np.sqrt(22.4)], rtol=1e-9)
    np.testing.assert_allclose(idata.mle["cov"].values, res.cov.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(float(idata.posterior["mu"].mean()), 168.0, atol=0.1)
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(40, 3))
    big = pl.mle(pl.LinearRegression(Xr, Xr @ [1.0, 2.0, 3.0] + rng.normal(size=40)))
    idata = big.to_inference_data(draws=20000, seed=0)
    assert idata.posterior.attrs["source"] == "large-sample normal approximation N(MLE, cov)"
    np.testing.assert_allclose(
        idata.posterior["beta"].std(("chain", "draw")).values, big.se["beta"], rtol=0.03
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid": {"tau": [1.0]}}, r"`grid` names unknown parameter 'tau'"),
        ({"grid": {}}, r"`grid` must map one or two parameter names"),
        ({"grid": {"mu": []}}, r"`grid\['mu'\]` must be a non-empty array of finite numbers"),
        ({"grid": {"mu": [1.0]}, "fixed": {"tau": 1.0}}, r"`fixed` names unknown parameter 'tau'"),
        ({"grid": {"mu": [1.0]}, "fixed": {"tau": np.nan}}, r"`fixed` names unknown parameter 'tau'"),
        (
            {"grid": {"mu": [1.0]}, "fixed": {"sigma": np.nan}},
            r"^`fixed\['sigma'\]` must be finite; got nan\.$",
        ),
        (
            {"grid": {"mu": [1.0]}, "fixed": {"sigma": np.inf}},
            r"^`fixed\['sigma'\]` must be finite; got inf\.$",
        ),
        (
            {"grid": {"mu": [1.0]}, "fixed": {"sigma": "five"}},
            r"`fixed\['sigma'\]` must be numeric; got 'five'",
        ),
        ({"grid": {"mu": [1.0]}, "chunk_size": 0}, r"`chunk_size` must be a whole number >= 1; got 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pl.surface(pl.Normal(X), **kwargs)


def test_non_finite_fixed_values_of_vector_parameters_are_refused_by_name_and_label():
    rng = np.random.default_rng(2)
    Xr = rng.normal(size=(20, 2))
    fam = pl.LinearRegression(Xr, Xr @ [1.0, -1.0] + rng.normal(0, 0.5, 20))
    fixed = {"beta": np.array([1.0, np.nan]), "sigma": 0.5}
    before = {k: np.array(v, copy=True) for k, v in fixed.items()}
    with pytest.raises(ValueError, match=r"`fixed\['beta'\]` must be finite; got nan at index 1\."):
        pl.surface(fam, {"intercept": [0.0, 0.1]}, fixed)
    with pytest.raises(ValueError, match=r"`fixed\['beta\[1\]'\]` must be finite; got -inf\."):
        pl.surface(fam, {"intercept": [0.0, 0.1]}, {"beta[1]": -np.inf})
    for k, v in fixed.items():  # the user's dict and arrays are not modified
        np.testing.assert_array_equal(v, before[k])
    assert set(fixed) == {"beta", "sigma"}


def test_categorical_element_grid_is_refused():
    with pytest.raises(ValueError, match=r"grid over 'p\[a\]' alone is not defined"):
        pl.surface(pl.Categorical(list("aabc")), {"p[a]": [0.2, 0.5]})


# --- joint_region: the numbers contour() draws --------------------------------------------------------

N, S = X.size, float(np.sum((X - X.mean()) ** 2))
SIGMA_HAT = np.sqrt(S / N)


@pytest.fixture(scope="module")
def normal():
    return pl.mle(pl.Normal(X))


@pytest.fixture(scope="module")
def region(normal):
    return pl.joint_region(normal, "mu", "sigma")


def relative_closed_form(mu, sigma):
    """Normal log-likelihood minus its maximum: -n log(s / s_hat) - (S + n (xbar - mu)^2) / (2 s^2) + n/2."""
    return -N * np.log(sigma / SIGMA_HAT) - (S + N * (X.mean() - mu) ** 2) / (2 * sigma**2) + N / 2


def test_joint_region_relative_loglik_is_the_closed_form_on_the_whole_grid(normal, region):
    mu, sigma = region.grid["mu"], region.grid["sigma"]
    assert region.relative.dims == ("mu", "sigma") and region.relative.shape == (60, 60)
    expected = relative_closed_form(mu[:, None], sigma[None, :])
    np.testing.assert_allclose(region.relative.values, expected, rtol=1e-10, atol=1e-10)
    # and against the result's own NLL at a few grid points
    for i, j in [(0, 0), (17, 42), (30, 11), (59, 59)]:
        direct = -normal.nllf({"mu": mu[i], "sigma": sigma[j]}) - normal.loglik
        assert region.relative.values[i, j] == pytest.approx(direct, rel=1e-10, abs=1e-10)
    np.testing.assert_array_equal(region.relative.values, region.surface.loglik.values - normal.loglik)
    assert region.loglik_max == normal.loglik


def test_joint_region_cutoff_boundary_and_default_grid(normal, region):
    # chi2 with 2 degrees of freedom: -chi2_2(level) / 2 = log(1 - level)
    assert region.cutoff == pytest.approx(np.log(0.05), rel=1e-12)
    assert region.level == 0.95 and (region.x, region.y) == ("mu", "sigma")
    assert region.estimate == pytest.approx((168.0, SIGMA_HAT), rel=1e-9)
    assert region.fixed == {} and region.truncated is False
    # the default grid: est +/- 3.5 se, grown by 1.75 se at the top of sigma, where the region reached
    se_mu, se_sigma = normal.se["mu"], normal.se["sigma"]
    np.testing.assert_allclose(region.grid["mu"], 168.0 + np.linspace(-3.5, 3.5, 60) * se_mu, rtol=1e-12)
    np.testing.assert_allclose(
        region.grid["sigma"], SIGMA_HAT + np.linspace(-3.5, 5.25, 60) * se_sigma, rtol=1e-12
    )
    # the region's boundary: at sigma = s it spans |mu - xbar| <= s sqrt(2 (r(s) - cut) / n), where
    # r(s) = -n log(s / s_hat) - S / (2 s^2) + n / 2 is the relative log-likelihood at mu = xbar
    mu, sigma = region.grid["mu"], region.grid["sigma"]
    r0 = relative_closed_form(X.mean(), sigma)
    half = sigma * np.sqrt(2 * np.clip(r0 - region.cutoff, 0.0, None) / N)
    predicted = np.abs(mu[:, None] - X.mean()) < half[None, :]
    margin = np.abs(relative_closed_form(mu[:, None], sigma[None, :]) - region.cutoff) > 1e-8
    inside = region.relative.values > region.cutoff
    np.testing.assert_array_equal(inside[margin], predicted[margin])
    assert inside.sum() > 500 and not inside[[0, -1], :].any() and not inside[:, [0, -1]].any()
    # the top of the region, on the line mu = xbar, lies inside the grown grid
    top = scipy.optimize.brentq(lambda s: relative_closed_form(X.mean(), s) - region.cutoff, SIGMA_HAT, 20.0)
    assert SIGMA_HAT + 3.5 * se_sigma < top < sigma[-1]


def test_joint_region_wald_ellipse_is_the_closed_form_ellipse(normal, region):
    ell = region.ellipse
    assert ell.shape == (361, 2)
    np.testing.assert_allclose(ell[0], ell[-1], atol=1e-12)  # closed
    d = ell - np.array(region.estimate)
    q = scipy.stats.chi2.ppf(0.95, 2)
    quad = np.einsum("ni,ij,nj->n", d, np.linalg.inv(normal.cov.to_numpy()), d)
    np.testing.assert_allclose(quad, q, rtol=1e-10)
    # the Normal's information at the MLE is diag(n / s^2, 2 n / s^2): semi-axes s sqrt(q / n), s sqrt(q / 2n)
    closed = d[:, 0] ** 2 * N / SIGMA_HAT**2 + d[:, 1] ** 2 * 2 * N / SIGMA_HAT**2
    np.testing.assert_allclose(closed, q, rtol=1e-6)
    np.testing.assert_allclose(np.ptp(ell, axis=0) / 2, SIGMA_HAT * np.sqrt(q / N / [1, 2]), rtol=1e-6)


def test_joint_region_with_another_parameter_fixed_at_the_mle():
    rng = np.random.default_rng(0)
    Xr = rng.normal(size=(50, 2))
    y = rng.binomial(1, 1 / (1 + np.exp(-(Xr @ [1.0, -1.0]))))
    res = pl.mle(pl.LogisticRegression(Xr, y))
    grid = {"beta[0]": np.linspace(-1.5, 2.5, 21), "beta[1]": np.linspace(-3.0, 1.0, 17)}
    reg = pl.joint_region(res, "beta[0]", "beta[1]", level=0.9, grid=grid)
    assert reg.fixed == {"intercept": pytest.approx(res.params["intercept"], rel=1e-12)}
    assert reg.cutoff == pytest.approx(np.log(0.1), rel=1e-12) and reg.truncated is False
    np.testing.assert_array_equal(reg.grid["beta[0]"], grid["beta[0]"])
    b0, b1 = np.meshgrid(grid["beta[0]"], grid["beta[1]"], indexing="ij")
    eta = res.params["intercept"] + Xr[:, 0] * b0[..., None] + Xr[:, 1] * b1[..., None]
    ll = scipy.stats.bernoulli.logpmf(y, scipy.special.expit(eta)).sum(-1)
    np.testing.assert_allclose(reg.relative.values, ll - res.loglik, rtol=1e-9, atol=1e-9)
    # the ellipse of the fixed-intercept surface: the (beta) block of the inverse covariance
    d = reg.ellipse - np.asarray(res.params["beta"])
    precision = np.linalg.inv(res.cov.to_numpy())[1:, 1:]
    np.testing.assert_allclose(
        np.einsum("ni,ij,nj->n", d, precision, d), scipy.stats.chi2.ppf(0.9, 2), rtol=1e-10
    )


def test_joint_region_warns_when_the_grid_cuts_the_region(normal):
    grid = {"mu": np.linspace(166.0, 170.0, 9), "sigma": np.linspace(3.0, 7.0, 9)}
    with pytest.warns(pl.PPLMLEWarning, match=r"95% joint region of \(mu, sigma\) reaches the edge") as rec:
        reg = pl.joint_region(normal, "mu", "sigma", grid=grid)
    assert str(rec[0].message).endswith("is cut off there; widen `grid`.")
    assert rec[0].filename == __file__  # it points at the caller, not inside pplmle
    assert reg.truncated is True
    assert (reg.relative.values[0] > reg.cutoff).any()  # mu = 166 is inside the region
    # through the figure, the warning still points at the user's line
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with pytest.warns(pl.PPLMLEWarning, match=r"reaches the edge of the grid") as rec:
        ax = pl.plots.contour(normal, "mu", "sigma", grid=grid)
    assert rec[0].filename == __file__
    plt.close(ax.figure)


def test_joint_region_is_a_value(normal, region):
    import dataclasses
    import pickle

    again = pl.joint_region(normal, "mu", "sigma")
    assert again == region and again is not region
    assert pickle.loads(pickle.dumps(region)) == region
    assert pl.joint_region(normal, "mu", "sigma", level=0.5) != region
    with pytest.raises(dataclasses.FrozenInstanceError):
        region.level = 0.5
    with pytest.raises(TypeError, match="unhashable"):
        hash(region)
    assert repr(region).startswith(
        "JointRegion of (mu, sigma) at level 0.95: cut-off -2.99573 on a 60 x 60 grid"
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": "mu", "y": "mu"}, r"`x` and `y` must be different parameters; both are 'mu'"),
        ({"y": "tau"}, r"`y` must be one of the result's parameters \['mu', 'sigma'\]; got 'tau'"),
        ({"x": "tau"}, r"`x` must be one of the result's parameters \['mu', 'sigma'\]; got 'tau'"),
        ({"grid": {"mu": [1.0, 2.0]}}, r"`grid` must map exactly 'mu' and 'sigma' to values"),
        ({"n": 1}, r"`n` must be a whole number >= 2; got 1"),
        ({"width": -1}, r"`width` must be a positive number; got -1"),
        ({"level": 1.0}, r"`level` must be strictly between 0 and 1; got 1.0"),
    ],
)
def test_joint_region_refuses_bad_arguments(normal, kwargs, match):
    kwargs = {"x": "mu", "y": "sigma", **kwargs}
    with pytest.raises(ValueError, match=match):
        pl.joint_region(normal, **kwargs)


# --- candidate_likelihoods: the numbers candidates() draws --------------------------------------------


def test_candidate_likelihoods_are_products_of_normal_densities():
    import pickle

    from pplmle.workflows.surfaces import candidate_likelihoods

    params = [{"mu": 160, "sigma": 5}, {"mu": 168.0, "sigma": 4.0}, {"mu": 175, "sigma": 7}]
    c = candidate_likelihoods(X, params)
    for i, p in enumerate(params):
        dens = scipy.stats.norm.pdf(X, p["mu"], p["sigma"])
        np.testing.assert_allclose(c.density[i], dens, rtol=1e-14)
        assert c.loglik[i] == pytest.approx(np.log(np.prod(dens)), rel=1e-13)
    # closed form: -n log(sigma sqrt(2 pi)) - (S + n (xbar - mu)^2) / (2 sigma^2)
    mu, sigma = np.array([160.0, 168.0, 175.0]), np.array([5.0, 4.0, 7.0])
    closed = -N * np.log(sigma * np.sqrt(2 * np.pi)) - (S + N * (X.mean() - mu) ** 2) / (2 * sigma**2)
    np.testing.assert_allclose(c.loglik, closed, rtol=1e-13)
    assert c.best == 1
    t = np.linspace(150.0, 190.0, 7)
    np.testing.assert_allclose(c.pdf(t)[2], scipy.stats.norm.pdf(t, 175.0, 7.0), rtol=1e-14)
    assert c == candidate_likelihoods(X, params) and pickle.loads(pickle.dumps(c)) == c
    assert c != candidate_likelihoods(X, params[:2])
    with pytest.raises(ValueError, match=r"`params\[0\]\['sigma'\]` must be positive and finite; got -2.0"):
        candidate_likelihoods(X, [{"mu": 1.0, "sigma": -2.0}])

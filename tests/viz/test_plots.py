"""Figures: numbers read back from the Axes against closed forms and scipy.stats."""

import matplotlib

matplotlib.use("Agg")

import subprocess
import sys
from decimal import Decimal

import matplotlib.pyplot as plt
import numpy as np
import pymc as pm
import pytest
import scipy.optimize
import scipy.stats
from arviz.stats.density_utils import kde

import pplmle as pl
from pplmle.viz import plots

X = pl.datasets.heights()
N, S = X.size, float(np.sum((X - X.mean()) ** 2))
SIGMA_HAT = np.sqrt(S / N)
CUT_1 = -1.920729410347062  # -chi2_1(0.95) / 2
CUT_2 = -2.995732273553991  # -chi2_2(0.95) / 2


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def normal():
    return pl.mle(pl.Normal(X))


@pytest.fixture(scope="module")
def logistic():
    rng = np.random.default_rng(0)
    Xr = rng.normal(size=(50, 2))
    y = rng.binomial(1, 1 / (1 + np.exp(-(Xr @ [1.0, -1.0]))))
    return pl.mle(pl.LogisticRegression(Xr, y)), Xr, y


@pytest.fixture(scope="module")
def comparison():
    with pm.Model() as model:
        mu = pm.Normal("mu", 160.0, 5.0)
        sigma = pm.HalfNormal("sigma", 10.0)
        pm.Normal("x", mu, sigma, observed=X)
    return pl.bayes_vs_mle(model, draws=400, tune=400, chains=2, random_seed=3)


def lines(ax, gid):
    return [line for line in ax.lines if line.get_gid() == gid]


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def profile_closed_form(name, c):
    """Normal profile log-likelihood minus its maximum, for mu or sigma."""
    c = np.asarray(c, dtype=float)
    if name == "mu":
        return -N / 2 * np.log1p(N * (X.mean() - c) ** 2 / S)
    return -N * np.log(c / SIGMA_HAT) - S / (2 * c**2) + N / 2


def test_chi2_constants():
    assert CUT_1 == pytest.approx(-scipy.stats.chi2.ppf(0.95, 1) / 2, rel=1e-14)
    assert CUT_2 == pytest.approx(-scipy.stats.chi2.ppf(0.95, 2) / 2, rel=1e-14)


# --- surface_plot -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["likelihood", "loglik", "nll"])
def test_surface_1d_marks_the_best_grid_point_at_the_sample_mean(kind):
    mus = np.arange(160.0, 181.0)
    s = pl.surface(pl.Normal(X), {"mu": mus}, {"sigma": 5.0})
    ax = plots.surface_plot(s, kind=kind)
    ll = scipy.stats.norm.logpdf(X[None, :], mus[:, None], 5.0).sum(axis=1)
    expected = {"likelihood": np.exp(ll - ll.max()), "loglik": ll, "nll": -ll}[kind]
    curve, best = ax.lines[0], [line for line in ax.lines if line.get_label().startswith("best grid point")]
    np.testing.assert_allclose(curve.get_xdata(), mus, rtol=0, atol=0)
    np.testing.assert_allclose(curve.get_ydata(), expected, rtol=1e-10)
    assert len(best) == 1
    np.testing.assert_allclose(best[0].get_xydata(), [[168.0, expected[8]]], rtol=1e-12)
    assert best[0].get_label() == "best grid point: mu = 168"
    assert ax.get_xlabel() == "mu"
    assert ax.get_ylabel() == {"likelihood": "relative likelihood L / max L", "loglik": "log-likelihood",
                               "nll": "negative log-likelihood"}[kind]  # fmt: skip
    assert ax.get_title() == f"Normal: {ax.get_ylabel()} over mu\nfixed: sigma = 5"


def test_surface_1d_profile_says_so(normal):
    s = pl.surface(normal, {"mu": np.linspace(164.0, 172.0, 9)}, profile=True)
    ax = s.plot("loglik")
    assert ax.get_ylabel() == "profile log-likelihood"
    assert ax.get_title().endswith("sigma re-optimized at every point (profile)")
    np.testing.assert_allclose(
        ax.lines[0].get_ydata() - normal.loglik,
        profile_closed_form("mu", np.linspace(164, 172, 9)),
        atol=1e-8,
    )


@pytest.mark.parametrize("kind", ["likelihood", "loglik", "nll"])
def test_surface_2d_filled_contours_colorbar_and_best_point(normal, kind):
    mu, sigma = np.linspace(160.0, 176.0, 33), np.linspace(2.0, 10.0, 41)
    ax = pl.surface(normal, {"mu": mu, "sigma": sigma}).plot(kind)
    ll = scipy.stats.norm.logpdf(X[None, None, :], mu[:, None, None], sigma[None, :, None]).sum(-1)
    i, j = np.unravel_index(np.argmax(ll), ll.shape)
    (best,) = [line for line in ax.lines if line.get_label().startswith("best grid point")]
    np.testing.assert_allclose(best.get_xydata(), [[mu[i], sigma[j]]], rtol=1e-12)
    np.testing.assert_allclose([mu[i], sigma[j]], [168.0, 4.8], rtol=1e-12)
    (filled,) = ax.collections
    if kind == "likelihood":
        np.testing.assert_allclose(filled.levels, np.linspace(0.0, 1.0, 11), atol=1e-15)
        assert filled.extend == "neither"
    else:  # round levels over the top 20 log units; the rest (sigma near 2) beyond the colorbar's end
        levels = filled.levels if kind == "loglik" else -filled.levels[::-1]
        assert levels[-1] >= ll.max() and ll.max() - 20 - 1 <= levels[0] <= ll.max() - 20
        np.testing.assert_allclose(np.diff(levels), 1.0, rtol=1e-12)
        assert filled.extend == {"loglik": "min", "nll": "max"}[kind]
    (cbar_ax,) = [a for a in ax.figure.axes if a is not ax]
    label = {"likelihood": "relative likelihood L / max L", "loglik": "log-likelihood"}
    assert cbar_ax.get_ylabel() == label.get(kind, "negative log-likelihood")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("mu", "sigma")
    assert ax.get_title().endswith("over mu and sigma\nno other parameters")


def test_surface_2d_on_given_axes_with_fixed_parameter_in_title(logistic):
    res, _, _ = logistic
    _, ax = plt.subplots()
    s = pl.surface(
        res, {"beta[0]": np.linspace(-1, 2, 7), "beta[1]": np.linspace(-2, 0, 5)}, {"intercept": 0.5}
    )
    assert plots.surface_plot(s, "loglik", ax=ax) is ax
    assert ax.get_title().endswith("\nfixed: intercept = 0.5")


def test_surface_plot_rejects_an_unknown_kind_and_a_non_surface(normal):
    s = pl.surface(normal, {"mu": [167.0, 168.0]})
    match = r"`kind` must be one of \('likelihood', 'loglik', 'nll'\); got 'density'\."
    with pytest.raises(ValueError, match=match):
        plots.surface_plot(s, kind="density")
    with pytest.raises(ValueError, match=match):
        s.plot("density")
    with pytest.raises(TypeError, match=r"`surface` must be a LikelihoodSurface .*got <class 'dict'>"):
        plots.surface_plot({"mu": [1.0]})


# --- profile_plot -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mu", "sigma"])
def test_profile_plot_cutoff_intervals_and_curves(normal, name):
    ax = plots.profile_plot(normal, name, unit="cm")
    (cut,) = lines(ax, "cut-off")
    np.testing.assert_allclose(cut.get_ydata(), [CUT_1, CUT_1], rtol=1e-12)
    prof_ci = normal.conf_int(0.95, "profile").loc[name].to_numpy()
    wald_ci = normal.conf_int(0.95, "wald").loc[name].to_numpy()
    np.testing.assert_allclose(
        [line.get_xdata()[0] for line in lines(ax, "profile interval")], prof_ci, rtol=1e-12
    )
    np.testing.assert_allclose(
        [line.get_xdata()[0] for line in lines(ax, "Wald interval")], wald_ci, rtol=1e-12
    )
    assert all(line.get_linestyle() == "--" for line in lines(ax, "Wald interval"))
    est, se = normal.params[name], normal.se[name]
    (mle,) = lines(ax, "MLE")
    np.testing.assert_allclose(mle.get_xydata(), [[est, 0.0]], rtol=1e-12)
    profile_curve, wald_curve = ax.lines[0], ax.lines[1]
    c = profile_curve.get_xdata()
    np.testing.assert_allclose(profile_curve.get_ydata(), profile_closed_form(name, c), atol=1e-8)
    np.testing.assert_allclose(wald_curve.get_ydata(), -((c - est) ** 2) / (2 * se**2), rtol=1e-12)
    assert wald_curve.get_linestyle() == "--"
    # the default grid shows both intervals with room on each side
    assert c.min() < min(prof_ci[0], wald_ci[0]) and c.max() > max(prof_ci[1], wald_ci[1])
    # the profile crosses the cut-off exactly at the profile interval ends
    np.testing.assert_allclose(profile_closed_form(name, prof_ci), [CUT_1, CUT_1], atol=1e-9)
    texts = legend_texts(ax)
    assert "cut-off −χ²₁(0.95)/2 = -1.9207" in texts
    assert f"95% profile interval [{prof_ci[0]:.4g}, {prof_ci[1]:.4g}]" in texts
    assert f"95% Wald interval [{wald_ci[0]:.4g}, {wald_ci[1]:.4g}]" in texts
    assert ax.get_xlabel() == f"{name} (cm)"
    assert ax.get_ylabel() == "log-likelihood − its maximum"
    assert ax.get_title() == f"Normal: profile likelihood of {name}, 95% intervals"


def test_profile_plot_at_another_level_on_given_values(normal):
    values = np.linspace(166.0, 170.0, 5)
    ax = plots.profile_plot(normal, "mu", level=0.5, values=values)
    (cut,) = lines(ax, "cut-off")
    assert cut.get_ydata()[0] == pytest.approx(-0.2274682115597864, rel=1e-12)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), values)
    np.testing.assert_allclose(
        [line.get_xdata()[0] for line in lines(ax, "profile interval")],
        normal.conf_int(0.5, "profile").loc["mu"].to_numpy(),
        rtol=1e-12,
    )


def test_profile_plot_rejects_bad_arguments(normal):
    with pytest.raises(ValueError, match=r"`level` must be strictly between 0 and 1; got 95"):
        plots.profile_plot(normal, "mu", level=95)
    with pytest.raises(
        ValueError, match=r"`name` must be one of the result's parameters \['mu', 'sigma'\]; got 'tau'"
    ):
        plots.profile_plot(normal, "tau")


# --- contour ----------------------------------------------------------------------------------------


def test_contour_mle_joint_region_and_wald_ellipse(normal):
    ax = plots.contour(normal, "mu", "sigma", units={"mu": "cm", "sigma": "cm"})
    (mle,) = lines(ax, "MLE")
    np.testing.assert_allclose(mle.get_xydata(), [[168.0, SIGMA_HAT]], rtol=1e-9)
    (region,) = [c for c in ax.collections if len(c.levels) == 1]
    assert region.levels[0] == pytest.approx(CUT_2, rel=1e-12)
    # the drawn contour lies where the closed-form log-likelihood is max - chi2_2(0.95) / 2
    pts = np.concatenate(region.allsegs[0])
    ll = scipy.stats.norm.logpdf(X[None, :], pts[:, :1], pts[:, 1:]).sum(axis=1)
    np.testing.assert_allclose(ll - normal.loglik, CUT_2, atol=0.03)  # linear interpolation on the grid
    (ellipse,) = lines(ax, "Wald ellipse")
    d = ellipse.get_xydata() - [168.0, SIGMA_HAT]
    quad = np.einsum("ni,ij,nj->n", d, np.linalg.inv(normal.cov.to_numpy()), d)
    np.testing.assert_allclose(quad, scipy.stats.chi2.ppf(0.95, 2), rtol=1e-10)
    assert ellipse.get_linestyle() == "--"
    # the default grid, est +/- 3.5 se, grew by 1.75 se at the top, where the region reached
    se_mu, se_sigma = normal.se["mu"], normal.se["sigma"]
    assert ax.get_xlim() == pytest.approx((168.0 - 3.5 * se_mu, 168.0 + 3.5 * se_mu), rel=1e-12)
    assert ax.get_ylim() == pytest.approx(
        (SIGMA_HAT - 3.5 * se_sigma, SIGMA_HAT + 5.25 * se_sigma), rel=1e-12
    )
    top = scipy.optimize.brentq(lambda s: profile_closed_form("sigma", s) - CUT_2, SIGMA_HAT, 20.0)
    assert top > SIGMA_HAT + 3.5 * se_sigma  # beyond the first grid
    assert pts[:, 1].max() == pytest.approx(top, abs=0.01)  # the region's top (at mu = 168), now inside
    texts = legend_texts(ax)
    assert texts == [
        "95% joint region (χ²₂ cut-off -2.996)",
        "95% Wald ellipse (from cov)",
        "MLE (168, 4.733)",
    ]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("mu (cm)", "sigma (cm)")
    assert ax.get_title() == "Normal: 95% joint likelihood region of (mu, sigma)\nno other parameters"


def test_contour_with_other_parameters_fixed_at_the_mle(logistic):
    res, Xr, y = logistic
    ax = plots.contour(res, "beta[0]", "beta[1]", level=0.9, n=40)
    assert ax.get_title().endswith(f"\nothers fixed at the MLE: intercept = {res.params['intercept']:.4g}")
    (region,) = [c for c in ax.collections if len(c.levels) == 1]
    assert region.levels[0] == pytest.approx(-scipy.stats.chi2.ppf(0.9, 2) / 2, rel=1e-12)
    pts = np.concatenate(region.allsegs[0])
    eta = res.params["intercept"] + Xr @ pts.T
    ll = scipy.stats.bernoulli.logpmf(y[:, None], scipy.special.expit(eta)).sum(axis=0)
    np.testing.assert_allclose(ll - res.loglik, region.levels[0], atol=0.02)
    # the ellipse of the same fixed-intercept surface: the (beta0, beta1) block of the inverse covariance
    (ellipse,) = lines(ax, "Wald ellipse")
    est = np.asarray(res.params["beta"])
    d = ellipse.get_xydata() - est
    precision = np.linalg.inv(res.cov.to_numpy())[1:, 1:]
    quad = np.einsum("ni,ij,nj->n", d, precision, d)
    np.testing.assert_allclose(quad, scipy.stats.chi2.ppf(0.9, 2), rtol=1e-10)
    assert "90% Wald ellipse (from cov, others fixed)" in legend_texts(ax)


def test_contour_warns_when_the_region_is_cut_by_the_grid(normal):
    grid = {"mu": np.linspace(166.0, 170.0, 9), "sigma": np.linspace(3.0, 7.0, 9)}
    with pytest.warns(
        pl.PPLMLEWarning, match=r"95% joint region of \(mu, sigma\) reaches the edge of the grid"
    ):
        ax = plots.contour(normal, "mu", "sigma", grid=grid)
    (region,) = [c for c in ax.collections if len(c.levels) == 1]
    assert np.concatenate(region.allsegs[0])[:, 0].min() == pytest.approx(166.0, abs=1e-12)  # cut off


def test_contour_rejects_bad_arguments(normal):
    with pytest.raises(ValueError, match=r"`x` and `y` must be different parameters; both are 'mu'"):
        plots.contour(normal, "mu", "mu")
    with pytest.raises(ValueError, match=r"`y` must be one of the result's parameters .*; got 'tau'"):
        plots.contour(normal, "mu", "tau")
    with pytest.raises(ValueError, match=r"`grid` must map exactly 'mu' and 'sigma' to values"):
        plots.contour(normal, "mu", "sigma", grid={"mu": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"`n` must be a whole number >= 2; got 1"):
        plots.contour(normal, "mu", "sigma", n=1)
    with pytest.raises(ValueError, match=r"`width` must be a positive number; got -1"):
        plots.contour(normal, "mu", "sigma", width=-1)
    with pytest.raises(ValueError, match=r"`level` must be strictly between 0 and 1; got 1.0"):
        plots.contour(normal, "mu", "sigma", level=1.0)


# --- candidates -------------------------------------------------------------------------------------

CANDIDATES = [{"mu": 160, "sigma": 5}, {"mu": 168, "sigma": 5}, {"mu": 175, "sigma": 5}]


def test_candidates_legend_gives_each_likelihood_and_marks_the_best():
    ax = plots.candidates(X, CANDIDATES, unit="cm")
    texts = legend_texts(ax)
    assert len(texts) == 4 and texts[3] == "data (n = 10)"
    for cand, text in zip(CANDIDATES, texts, strict=False):
        dens = scipy.stats.norm.pdf(X, cand["mu"], cand["sigma"])
        lik = np.prod(dens)
        assert f"L = {lik:.2e}" in text
        assert f"log L = {np.log(lik):.2f}" in text
        assert text.startswith(f"μ = {cand['mu']}, σ = 5:")
    assert texts[1] == "μ = 168, σ = 5: L = 1.19e-13, log L = -29.76 (best)"
    assert [t.endswith("(best)") for t in texts] == [False, True, False, False]
    curves = [line for line in ax.lines if line.get_label().startswith("μ")]
    assert [line.get_linewidth() for line in curves] == [1.3, 3.0, 1.3]
    # each data point's density is marked on each curve
    markers = [line for line in ax.lines if line.get_marker() == "o"]
    for cand, line in zip(CANDIDATES, markers, strict=True):
        np.testing.assert_array_equal(line.get_xdata(), X)
        np.testing.assert_allclose(line.get_ydata(), scipy.stats.norm.pdf(X, cand["mu"], 5), rtol=1e-12)
    (rug,) = [line for line in ax.lines if line.get_marker() == "|"]
    np.testing.assert_array_equal(rug.get_xydata(), np.column_stack([X, np.zeros(N)]))
    assert ax.get_xlabel() == "x (cm)"
    assert ax.get_ylabel() == "density f(x | μ, σ) (1/cm)"
    assert ax.get_title().startswith("Which normal distribution explains the 10 observations best?")


def test_candidates_formats_an_underflowing_likelihood_from_its_logarithm():
    x = np.random.default_rng(1).normal(size=2000)
    ax = plots.candidates(x, [{"mu": 0.0, "sigma": 1.0}, {"mu": 0.5, "sigma": 2.0}])
    texts = legend_texts(ax)
    for (mu, sigma), text in zip([(0.0, 1.0), (0.5, 2.0)], texts, strict=False):
        ll = float(np.sum(scipy.stats.norm.logpdf(x, mu, sigma)))
        assert np.exp(ll) == 0.0  # the product itself underflows
        assert f"L = {Decimal(ll).exp():.2e}" in text
    assert texts[0].endswith("(best)") and ax.get_xlabel() == "x"


@pytest.mark.parametrize(
    ("x", "params", "match"),
    [
        ([], CANDIDATES, r"`x` must not be empty; got shape \(0,\)"),
        ([[1.0, 2.0]], CANDIDATES, r"`x` must be 1-dimensional; got an array with shape \(1, 2\)"),
        ([1.0, np.nan], CANDIDATES, r"`x` must be finite; found nan at index 1"),
        ([1.0, "a"], CANDIDATES, r"`x` must be numeric"),
        (X, [], r"`params` must be a non-empty list of dicts with keys 'mu' and 'sigma'; got \[\]"),
        (X, {"mu": 1.0, "sigma": 1.0}, r"`params` must be a non-empty list of dicts .*got \{'mu': 1.0"),
        (X, [{"mu": 1.0}], r"`params\[0\]` must be a dict with keys 'mu' and 'sigma'; got \{'mu': 1.0\}"),
        (
            X,
            [{"mu": 1.0, "sigma": 1.0}, {"mu": 1.0, "sigma": 0}],
            r"`params\[1\]\['sigma'\]` must be positive",
        ),
        (X, [{"mu": 1.0, "sigma": -2.0}], r"`params\[0\]\['sigma'\]` must be positive and finite; got -2.0"),
        (X, [{"mu": np.inf, "sigma": 1.0}], r"`params\[0\]\['mu'\]` must be finite; got inf"),
        (X, [{"mu": "a", "sigma": 1.0}], r"`params\[0\]` must hold numbers for 'mu' and 'sigma'"),
    ],
)
def test_candidates_rejects_bad_inputs(x, params, match):
    with pytest.raises(ValueError, match=match):
        plots.candidates(x, params)


# --- posterior_vs_likelihood ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mu", "sigma"])
def test_posterior_vs_likelihood(comparison, name):
    ax = comparison.plot(name)
    draws = comparison.idata.posterior[name].values.ravel()
    (post,) = lines(ax, "posterior")
    grid, pdf = kde(draws)
    np.testing.assert_allclose(post.get_xydata(), np.column_stack([grid, pdf]), rtol=1e-12)
    (lik,) = lines(ax, "profile likelihood")
    c, dens = lik.get_xdata(), lik.get_ydata()
    assert np.trapezoid(dens, c) == pytest.approx(1.0, rel=1e-12)
    closed = profile_closed_form(name, c)
    np.testing.assert_allclose(dens / dens.max(), np.exp(closed - closed.max()), rtol=1e-7, atol=1e-12)
    # the grid reaches where the likelihood is negligible on both sides
    assert dens[0] / dens.max() < 1e-5 and dens[-1] / dens.max() < 1e-5
    (mle,) = lines(ax, "MLE")
    (map_,) = lines(ax, "MAP")
    assert mle.get_xdata()[0] == pytest.approx(comparison.mle.params[name], rel=1e-12)
    assert map_.get_xdata()[0] == pytest.approx(comparison.map.params[name], rel=1e-12)
    assert comparison.map.params[name] != pytest.approx(
        comparison.mle.params[name], rel=1e-3
    )  # the prior pulls
    texts = legend_texts(ax)
    assert f"MLE {name} = {comparison.mle.params[name]:.4g}" in texts
    assert f"posterior (KDE of {draws.size} draws)" in texts
    assert ax.get_ylabel() == "density" and ax.get_xlabel() == name


def test_posterior_vs_likelihood_from_parts_and_bad_names(comparison):
    from types import SimpleNamespace

    parts = SimpleNamespace(idata=comparison.idata, mle=comparison.mle, map=comparison.map, level=0.9)
    ax = plots.posterior_vs_likelihood(parts, "mu", unit="cm")
    assert ax.get_xlabel() == "mu (cm)" and ax.get_ylabel() == "density (1/cm)"
    assert any(t.startswith("90% HDI [") for t in legend_texts(ax))
    with pytest.raises(ValueError, match=r"`name` must be one of the result's parameters \['mu', 'sigma'\]"):
        plots.posterior_vs_likelihood(parts, "tau")


# --- likelihood_curve and the module ----------------------------------------------------------------


def test_likelihood_curve_still_marks_the_best_grid_point(normal):
    ax = plots.likelihood_curve(normal, "mu", np.arange(160.0, 181.0), fixed={"sigma": 5.0}, unit="cm")
    (best,) = [line for line in ax.lines if line.get_label().startswith("best on grid")]
    assert best.get_xdata()[0] == 168.0 and ax.get_xlabel() == "mu (cm)"


def test_importing_draws_nothing():
    code = (
        "import matplotlib.pyplot as plt, pplmle; before = dict(plt.rcParams); import pplmle.viz.plots; "
        "print(plt.get_fignums(), dict(plt.rcParams) == before)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[] True"


def test_sampling_distribution_draws_the_estimates_truth_and_claimed_normal():
    sim = pl.simulate(pl.Normal, true={"mu": 170.0, "sigma": 5.0}, n=10, reps=300, seed=1, progressbar=False)
    ax = sim.plot("sigma", square=True, unit="cm²")
    heights = [p.get_height() * p.get_width() for p in ax.patches]
    assert sum(heights) == pytest.approx(1.0, rel=1e-9)  # a density histogram
    vlines = [line.get_xdata()[0] for line in ax.lines if len(line.get_xdata()) == 2]
    sigma2 = sim.estimates["sigma"].to_numpy() ** 2
    assert vlines == pytest.approx([25.0, sigma2.mean()], rel=1e-12)
    assert ax.get_title() == r"Sampling distribution of $\hat{\sigma}^2$ (300 replicates, n = 10)"
    with pytest.raises(ValueError, match=r"`name` must be one of the simulated parameters \['mu', 'sigma'\]"):
        sim.plot("tau")
    plt.close("all")

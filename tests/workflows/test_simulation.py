"""simulate() and MLEResult.bootstrap(): sampling distributions pinned against theory."""

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import scipy.stats

import pplmle as pl
from pplmle.pymc import batch as _batch
from pplmle.workflows import simulation

SIGMA, N10, REPS = 2.0, 10, 2000


@pytest.fixture(scope="module")
def teaching():
    """The teaching-sized study of the issue: Normal, n = 10, 2000 replicates."""
    return pl.simulate(
        pl.Normal, true={"mu": 5.0, "sigma": SIGMA}, n=N10, reps=REPS, seed=2026, progressbar=False
    )


def test_sigma2_bias_factor_is_n_minus_1_over_n(teaching):
    """E[sigma_hat^2] = sigma^2 (n - 1) / n, within 4 Monte Carlo standard errors."""
    est = teaching.estimates
    assert est["converged"].all()
    ratio = est["sigma"].to_numpy() ** 2 / SIGMA**2
    mcse = ratio.std(ddof=1) / np.sqrt(REPS)
    assert abs(ratio.mean() - (N10 - 1) / N10) <= 4 * mcse
    # and it is distinguishable from the unbiased factor 1: the lesson of the study
    assert ratio.mean() < 1 - 4 * mcse
    # Var(sigma_hat^2 / sigma^2) = 2 (n - 1) / n^2; its sample sd is within 10% of sqrt of that
    assert ratio.std(ddof=1) == pytest.approx(np.sqrt(2 * (N10 - 1)) / N10, rel=0.1)


def test_each_replicate_equals_the_closed_form(teaching):
    for i in (0, 1, 17, 999, REPS - 1):
        x = teaching.dataset(i).x
        row = teaching.estimates.loc[i]
        assert row["mu"] == pytest.approx(x.mean(), rel=1e-10)
        assert row["sigma"] == pytest.approx(x.std(), rel=1e-10)
        assert teaching.se.loc[i, "mu"] == pytest.approx(x.std() / np.sqrt(N10), rel=1e-8)
        # likelihood-ratio statistic at the truth: n log(1 + n (xbar - mu0)^2 / S)
        S = ((x - x.mean()) ** 2).sum()
        lr = N10 * np.log1p(N10 * (x.mean() - 5.0) ** 2 / S)
        assert teaching.lr.loc[i, "mu"] == pytest.approx(lr, rel=1e-7, abs=1e-10)


def test_coverage_matches_the_exact_t_probabilities(teaching):
    """Both coverages of mu have exact values through Student's t with n - 1 df."""
    summary = teaching.summary(0.95)
    t = scipy.stats.t(N10 - 1)
    z, q = scipy.stats.norm.ppf(0.975), scipy.stats.chi2.ppf(0.95, 1)
    # Wald: |xbar - mu| <= z sigma_hat / sqrt(n)  <=>  |T| <= z sqrt((n - 1) / n)
    wald = 2 * t.cdf(z * np.sqrt((N10 - 1) / N10)) - 1
    # profile: n log(1 + T^2 / (n - 1)) <= q  <=>  |T| <= sqrt((n - 1) (exp(q / n) - 1))
    prof = 2 * t.cdf(np.sqrt((N10 - 1) * np.expm1(q / N10))) - 1
    tol = 4 * np.sqrt(0.95 * 0.05 / REPS)
    assert summary.loc["mu", "wald coverage"] == pytest.approx(wald, abs=tol)
    assert summary.loc["mu", "profile coverage"] == pytest.approx(prof, abs=tol)
    assert wald < prof < 0.95  # the order the course teaches at n = 10
    assert summary.loc["mu", "used"] == REPS
    assert summary.loc["mu", "bias"] == pytest.approx(0.0, abs=4 * summary.loc["mu", "bias mcse"])


def test_summary_arithmetic(teaching):
    est = teaching.estimates["sigma"].to_numpy()
    summary = teaching.summary()
    assert summary.loc["sigma", "mean"] == pytest.approx(est.mean(), rel=1e-12)
    assert summary.loc["sigma", "rmse"] == pytest.approx(np.sqrt(np.mean((est - SIGMA) ** 2)), rel=1e-12)
    assert summary.loc["sigma", "se / sd"] == pytest.approx(
        teaching.se["sigma"].mean() / est.std(ddof=1), rel=1e-12
    )
    with pytest.raises(ValueError, match=r"`level` must be strictly between 0 and 1; got 1.5"):
        teaching.summary(1.5)
    with pytest.raises(ValueError, match=r"`i` must be a replicate number in 0..1999; got 2000"):
        teaching.dataset(REPS)


def test_same_seed_same_estimates_and_chunks_do_not_matter():
    kw = {"true": {"mu": 0.0, "sigma": 1.0}, "n": 20, "reps": 60, "seed": 5, "progressbar": False}
    a = pl.simulate(pl.Normal, **kw)
    b = pl.simulate(pl.Normal, chunk_size=7, **kw)
    pd.testing.assert_frame_equal(a.estimates, b.estimates)
    pd.testing.assert_frame_equal(a.lr, b.lr)
    c = pl.simulate(pl.Normal, **{**kw, "seed": 6})
    assert not np.allclose(a.estimates["mu"], c.estimates["mu"])


def test_process_pool_gives_identical_estimates_and_compiles_once_per_worker():
    kw = {
        "true": {"mu": 1.0, "sigma": 3.0},
        "n": 26,  # a shape no other test compiles, so the worker cannot inherit it
        "reps": 400,
        "seed": 9,
        "progressbar": False,
        "chunk_size": 50,
    }
    with ProcessPoolExecutor(max_workers=1) as pool:
        before = pool.submit(_compiled_in_worker).result()
        pooled = pl.simulate(pl.Normal, executor=pool, **kw)
        after = pool.submit(_compiled_in_worker).result()
    serial = pl.simulate(pl.Normal, **kw)
    pd.testing.assert_frame_equal(serial.estimates, pooled.estimates)
    pd.testing.assert_frame_equal(serial.se, pooled.se)
    pd.testing.assert_frame_equal(serial.lr, pooled.lr)
    # eight chunks ran in the worker; it compiled the two batch functions (value+gradient, full) once
    assert after - before == 2


def _compiled_in_worker() -> int:
    return _batch.COMPILED


def test_dask_cluster_gives_identical_estimates():
    distributed = pytest.importorskip("distributed")
    kw = {
        "true": {"p": 0.3},
        "n": 40,
        "reps": 200,
        "seed": 3,
        "progressbar": False,
        "chunk_size": 50,
    }
    serial = pl.simulate(pl.Bernoulli, **kw)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        dasked = pl.simulate(pl.Bernoulli, executor=client.get_executor(), **kw)
    pd.testing.assert_frame_equal(serial.estimates, dasked.estimates)
    pd.testing.assert_frame_equal(serial.lr, dasked.lr)
    # p_hat = k / n exactly, replicate by replicate
    for i in (0, 99, 199):
        assert dasked.estimates.loc[i, "p"] == pytest.approx(serial.dataset(i).y.mean(), rel=1e-10)


def test_boundary_replicates_are_flagged_and_counted():
    with pytest.warns(pl.BoundaryWarning, match=r"of 300 replicates raised BoundaryWarning"):
        sim = pl.simulate(pl.Bernoulli, true={"p": 0.1}, n=8, reps=300, seed=1, progressbar=False)
    est = sim.estimates
    zeros = np.array([sim.dataset(i).y.sum() == 0 for i in range(300)])
    flagged = est["diagnostics"].str.contains("boundary").to_numpy()
    np.testing.assert_array_equal(flagged, zeros)
    assert (est.loc[flagged, "p"] == 0.0).all()  # the exact boundary value
    assert sim.se.loc[flagged, "p"].isna().all()
    summary = sim.summary()
    assert summary.loc["p", "used"] == 300  # a boundary MLE is an MLE
    # P(no success in 8 trials) = 0.9^8 = 0.43
    assert zeros.mean() == pytest.approx(0.9**8, abs=4 * np.sqrt(0.43 * 0.57 / 300))


def test_replicates_without_an_mle_are_left_out():
    X = np.linspace(-1, 1, 12)[:, None]
    with pytest.warns(pl.SeparationWarning, match=r"of 100 replicates raised SeparationWarning"):
        sim = pl.simulate(
            pl.LogisticRegression,
            true={"intercept": 0.0, "beta": [4.0]},
            reps=100,
            seed=0,
            progressbar=False,
            X=X,
        )
    est = sim.estimates
    separated = est["diagnostics"].str.contains("separation")
    assert 0 < separated.sum() < 100
    assert est.loc[separated, ["intercept", "beta[0]"]].isna().all().all()
    assert not est.loc[separated, "converged"].any()
    assert sim.summary().loc["beta[0]", "used"] == 100 - separated.sum()


def test_pm_model_with_data_containers_equals_least_squares():
    rng = np.random.default_rng(4)
    x = rng.normal(size=30)
    with pm.Model() as model:
        xd = pm.Data("x", x)
        yd = pm.Data("y", 1 + 2 * x + rng.normal(size=30))
        a = pm.Normal("a", 0, 10)
        b = pm.Normal("b", 0, 10)
        s = pm.HalfNormal("s", 5)
        pm.Normal("obs", a + b * xd, s, observed=yd)
    before = yd.get_value().copy()
    sim = pl.simulate(model, true={"a": 1.0, "b": 2.0, "s": 0.5}, reps=100, seed=2, progressbar=False)
    X1 = np.column_stack([np.ones(30), x])
    for i in (0, 50, 99):
        data = sim.dataset(i)
        np.testing.assert_array_equal(data["x"], x)  # covariates stay
        coef, *_ = np.linalg.lstsq(X1, data["y"], rcond=None)
        row = sim.estimates.loc[i]
        np.testing.assert_allclose([row["a"], row["b"]], coef, rtol=1e-9)
        assert row["s"] == pytest.approx(np.sqrt(np.mean((data["y"] - X1 @ coef) ** 2)), rel=1e-9)
    np.testing.assert_array_equal(yd.get_value(), before)  # the user's data untouched


def test_regression_family_keeps_its_design_and_input():
    X = np.random.default_rng(0).normal(size=(50, 2))
    X_before = X.copy()
    sim = pl.simulate(
        pl.PoissonRegression,
        true={"intercept": 0.5, "beta": [0.3, -0.2]},
        n=50,
        reps=50,
        seed=1,
        progressbar=False,
        X=X,
    )
    np.testing.assert_array_equal(X, X_before)
    fam = sim.dataset(10)
    np.testing.assert_array_equal(fam.X, X)
    ref = pl.mle(fam)
    np.testing.assert_allclose(
        sim.estimates.loc[10, sim.labels].to_numpy(float), ref.vector(ref.params), rtol=1e-8
    )


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"`true` must give every parameter, \['mu', 'sigma'\]; missing"):
        pl.simulate(pl.Normal, true={"mu": 0.0}, n=10, reps=10)
    with pytest.raises(
        ValueError, match=r"`true` lies outside the parameters' support: \{mu: 0.0, sigma: -1.0"
    ):
        pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": -1.0}, n=10, reps=10)
    with pytest.raises(ValueError, match=r"`true\['p'\]` must have shape \(3,\); got \(2,\)"):
        pl.simulate(pl.Categorical, true={"p": [0.5, 0.5]}, n=10, reps=10, k=3)
    with pytest.raises(ValueError, match=r"`reps` must be a whole number >= 2; got 1"):
        pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": 1.0}, n=10, reps=1)
    with pytest.raises(ValueError, match=r"`n` \(the size of each dataset\) is required"):
        pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": 1.0}, reps=10)
    with pytest.raises(TypeError, match=r"Normal takes no keyword arguments besides `n`; got \['k'\]"):
        pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": 1.0}, n=10, reps=10, k=3)
    with pytest.raises(TypeError, match=r"Categorical needs `k=`: the number of classes"):
        pl.simulate(pl.Categorical, true={"p": [0.5, 0.5]}, n=10, reps=10)
    with pytest.raises(ValueError, match=r"`n` must be a whole number >= 1; got 0"):
        pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": 1.0}, n=0, reps=10)
    with pytest.raises(ValueError, match=r"`seed` must be a non-negative whole number or None; got -1"):
        pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": 1.0}, n=10, reps=10, seed=-1)
    with pytest.raises(ValueError, match=r"`chunk_size` must be a whole number >= 1; got 0"):
        pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": 1.0}, n=10, reps=10, chunk_size=0)
    with pytest.raises(ValueError, match=r"`n` must be None or the number of rows of `X` \(5\); got 6"):
        pl.simulate(pl.LinearRegression, true={}, n=6, reps=10, X=np.arange(5.0))
    with pytest.raises(TypeError, match=r"Binomial needs `trials=`"):
        pl.simulate(pl.Binomial, true={"p": 0.5}, n=10, reps=10)
    with pytest.raises(TypeError, match=r"`executor` must be a concurrent.futures.Executor"):
        pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": 1.0}, n=10, reps=10, executor="dask")
    with pytest.raises(TypeError, match=r"family class such as pl.Normal \(not an instance\)"):
        pl.simulate(pl.Normal([1.0, 2.0]), true={"mu": 0.0, "sigma": 1.0}, n=10, reps=10)
    with pm.Model() as fixed:
        mu = pm.Normal("mu")
        pm.Normal("y", mu, 1.0, observed=np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"observed values of `y` must be a pm.Data container"):
        pl.simulate(fixed, true={"mu": 0.0}, reps=10, progressbar=False)


def test_progress_bar_stays_off_without_a_terminal(capsys):
    pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": 1.0}, n=10, reps=20, seed=0, progressbar=True)
    assert capsys.readouterr().err == ""


# -- bootstrap ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heights_fit():
    return pl.mle(pl.Normal(pl.datasets.heights()))


@pytest.mark.parametrize("kind", ["parametric", "nonparametric"])
def test_bootstrap_se_of_the_mean_is_sigma_hat_over_sqrt_n(heights_fit, kind):
    """For both kinds, Var*(xbar*) = sigma_hat^2 / n exactly; 4000 replicates pin it to ~1.1%."""
    boot = heights_fit.bootstrap(reps=4000, kind=kind, seed=0, progressbar=False)
    table = boot.table
    expected = heights_fit.params["sigma"] / np.sqrt(10)
    assert table.loc["mu", "se"] == pytest.approx(expected, rel=0.05)
    assert table.loc["mu", "mle se"] == pytest.approx(expected, rel=1e-8)
    # percentile interval of a symmetric statistic: about xbar +/- 1.96 se
    assert table.loc["mu", "lower 95%"] == pytest.approx(168.0 - 1.96 * expected, abs=0.15 * expected)
    assert table.loc["mu", "upper 95%"] == pytest.approx(168.0 + 1.96 * expected, abs=0.15 * expected)
    # sigma_hat is biased down by about sigma (1 - sqrt((n-1)/n) E[chi]) in resamples
    assert table.loc["sigma", "bias"] < 0
    assert list(table.columns[:4]) == list(heights_fit.table().columns)
    assert heights_fit.params["mu"] == pytest.approx(168.0)  # the result is unchanged


def test_nonparametric_rows_are_refits_of_resamples():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2))
    fam = pl.LinearRegression(pd.DataFrame(X, columns=["a", "b"]), X @ [1.0, -2.0] + rng.normal(size=40))
    boot = pl.mle(fam).bootstrap(reps=50, seed=4, progressbar=False)
    for i in (0, 49):
        sample = boot.dataset(i)
        assert sample.columns == ["a", "b"]
        ref = pl.mle(sample)
        np.testing.assert_allclose(
            boot.estimates.loc[i, boot.result.labels].to_numpy(float), ref.vector(ref.params), rtol=1e-8
        )
    again = pl.mle(fam).bootstrap(reps=50, seed=4, progressbar=False)
    pd.testing.assert_frame_equal(boot.estimates, again.estimates)


def test_bootstrap_refuses_what_it_cannot_do(heights_fit):
    with pytest.raises(ValueError, match=r"`kind` must be one of \('parametric', 'nonparametric'\)"):
        heights_fit.bootstrap(reps=10, kind="jackknife")
    with pytest.raises(ValueError, match=r"`level` must be strictly between 0 and 1; got 95"):
        heights_fit.bootstrap(reps=10, level=95)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("y", mu, 1.0, observed=np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"Only an MLE from pl.mle\(\) can be bootstrapped"):
        pl.map_estimate(model).bootstrap(reps=10)
    with pytest.warns(pl.SeparationWarning):
        separated = pl.mle(pl.LogisticRegression([[1.0], [2.0], [3.0], [4.0]], [0, 0, 1, 1]))
    with pytest.raises(ValueError, match=r"The estimate does not exist \(separation\)"):
        separated.bootstrap(reps=10)


def test_chunks_cover_every_replicate_once():
    chunks = simulation._chunks(23, 5)
    assert [i for c in chunks for i in c] == list(range(23))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 3]


def test_bootstrap_of_a_pm_model_and_its_data():
    rng = np.random.default_rng(8)
    with pm.Model() as model:
        yd = pm.Data("y", rng.normal(2.0, 1.5, size=25))
        mu = pm.Normal("mu", 0, 10)
        sigma = pm.HalfNormal("sigma", 5)
        pm.Normal("obs", mu, sigma, observed=yd)
    res = pl.mle(model)
    boot = res.bootstrap(reps=2000, seed=3, progressbar=False)
    y = yd.get_value()
    assert boot.table.loc["mu", "se"] == pytest.approx(y.std() / np.sqrt(25), rel=0.06)
    for i in (0, 1999):
        sample = boot.dataset(i)["y"]
        assert boot.estimates.loc[i, "mu"] == pytest.approx(sample.mean(), rel=1e-10)
    pm.set_data({"y": y + 1.0}, model=model)
    with pytest.raises(ValueError, match=r"observed data changed \(pm.set_data\) since this estimate"):
        res.bootstrap(reps=10)


def test_estimate_distribution_is_what_the_histogram_draws():
    import pickle

    from pplmle.workflows.simulation import estimate_distribution

    sim = pl.simulate(pl.Normal, true={"mu": 170.0, "sigma": 5.0}, n=10, reps=300, seed=1, progressbar=False)
    est, se = sim.estimates, sim.se
    keep = est["converged"].to_numpy()
    d = estimate_distribution(sim, "sigma")
    np.testing.assert_array_equal(d.values, est.loc[keep, "sigma"].to_numpy(float))
    np.testing.assert_array_equal(d.se, se.loc[keep, "sigma"].to_numpy(float))
    assert (d.truth, d.square) == (5.0, False) and d.mean_se == pytest.approx(np.nanmean(d.se), rel=1e-15)
    sq = estimate_distribution(sim, "sigma", square=True)
    np.testing.assert_allclose(sq.values, d.values**2, rtol=1e-15)
    np.testing.assert_allclose(sq.se, 2 * d.values * d.se, rtol=1e-15)  # delta method
    assert sq.truth == 25.0 and sq.bias == pytest.approx(np.mean(d.values**2) - 25.0, rel=1e-12)
    t = np.linspace(0.0, 60.0, 7)
    np.testing.assert_allclose(sq.claimed_pdf(t), scipy.stats.norm.pdf(t, 25.0, sq.mean_se), rtol=1e-14)
    assert sq == estimate_distribution(sim, "sigma", square=True) and sq != d
    assert pickle.loads(pickle.dumps(sq)) == sq
    with pytest.raises(ValueError, match=r"`name` must be one of the simulated parameters \['mu', 'sigma'\]"):
        estimate_distribution(sim, "tau")

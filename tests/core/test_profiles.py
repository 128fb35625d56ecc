"""Profile likelihood and profile intervals against exact formulas."""

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.stats

import pplmle as pl

X = pl.datasets.heights()
N, S = X.size, float(np.sum((X - X.mean()) ** 2))


@pytest.fixture(scope="module")
def normal():
    return pl.mle(pl.Normal(X))


@pytest.mark.parametrize("level", [0.5, 0.95, 0.99])
def test_normal_mu_profile_interval_is_the_exact_lr_interval(normal, level):
    q = scipy.stats.chi2.ppf(level, 1)

    def h(mu):  # n log(1 + n (xbar - mu)^2 / S) = chi2_1(level) at the ends
        return N * np.log(1 + N * (X.mean() - mu) ** 2 / S) - q

    exact = [scipy.optimize.brentq(h, 150, 168, xtol=1e-14), scipy.optimize.brentq(h, 168, 190, xtol=1e-14)]
    ci = normal.conf_int(level, method="profile").loc["mu"].to_numpy()
    np.testing.assert_allclose(ci, exact, rtol=1e-10)


def test_normal_sigma_profile_interval_is_asymmetric_and_exact(normal):
    q = scipy.stats.chi2.ppf(0.95, 1)

    def h(s):  # profile over mu is at xbar: 2 (l_hat - l(s)) = n log(s^2 / s_hat^2) + S / s^2 - n
        return N * np.log(s**2 / (S / N)) + S / s**2 - N - q

    exact = [scipy.optimize.brentq(h, 1.0, 4.73), scipy.optimize.brentq(h, 4.74, 20.0)]
    lo, hi = normal.conf_int(0.95, method="profile").loc["sigma"]
    np.testing.assert_allclose([lo, hi], exact, rtol=1e-10)
    est = normal.params["sigma"]
    assert hi - est > 1.5 * (est - lo)  # skewed to the right, unlike Wald


@pytest.mark.parametrize("y", [[1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 1, 1, 1, 1, 1, 1]])
def test_bernoulli_profile_interval_matches_lr_roots(y):
    y = np.array(y)
    k, n = y.sum(), y.size
    p_hat = k / n
    q = scipy.stats.chi2.ppf(0.95, 1)

    def g(p):
        def ll(t):
            return k * np.log(t) + (n - k) * np.log1p(-t)

        return 2 * (ll(p_hat) - ll(p)) - q

    exact = [
        scipy.optimize.brentq(g, 1e-12, p_hat, xtol=1e-15),
        scipy.optimize.brentq(g, p_hat, 1 - 1e-12, xtol=1e-15),
    ]
    ci = pl.mle(pl.Bernoulli(y)).conf_int(0.95, method="profile").loc["p"].to_numpy()
    np.testing.assert_allclose(ci, exact, atol=1e-6)
    np.testing.assert_allclose(ci, exact, rtol=1e-9)


def test_profile_curve_equals_the_closed_form_profile(normal):
    mus = np.array([160.0, 165.0, 168.0, 171.5])
    prof = pl.profile(normal, "mu", mus)
    expected = normal.loglik - N / 2 * np.log(1 + N * (168.0 - mus) ** 2 / S)
    np.testing.assert_allclose(prof.values, expected, rtol=1e-12)
    assert prof.dims == ("mu",) and prof.attrs["estimate"] == pytest.approx(168.0, rel=1e-12)


def test_profile_of_a_regression_coefficient_maximizes_over_the_rest():
    rng = np.random.default_rng(4)
    X2 = rng.normal(size=(60, 2))
    y = 1.0 + X2 @ np.array([0.5, -0.3]) + rng.normal(0, 0.5, 60)
    res = pl.mle(pl.LinearRegression(X2, y))
    b = 0.2
    prof = pl.profile(res, "beta[0]", [b])
    # exact: regress y - b x0 on [1, x1], sigma^2 = RSS / n
    A = np.column_stack([np.ones(60), X2[:, 1]])
    r = y - b * X2[:, 0] - A @ np.linalg.lstsq(A, y - b * X2[:, 0], rcond=None)[0]
    expected = -30 * (np.log(2 * np.pi * np.mean(r**2)) + 1)
    np.testing.assert_allclose(prof.values[0], expected, rtol=1e-10)


def test_table_shows_wald_and_profile_side_by_side(normal):
    tab = normal.table(0.95, profile=True)
    assert list(tab.columns) == [
        "estimate",
        "se",
        "lower 95%",
        "upper 95%",
        "profile lower 95%",
        "profile upper 95%",
    ]
    np.testing.assert_allclose(tab.loc["mu", "lower 95%"], 168 - 1.959964 * np.sqrt(22.4 / 10), rtol=1e-6)


def test_profile_outside_the_support_is_nan_and_bad_names_are_refused(normal):
    prof = pl.profile(normal, "sigma", [-1.0, 0.0, 5.0])
    assert np.isnan(prof.values[0]) and np.isnan(prof.values[1])
    np.testing.assert_allclose(prof.values[2], scipy.stats.norm.logpdf(X, 168.0, 5.0).sum(), rtol=1e-10)
    with pytest.raises(
        ValueError, match=r"`name` must be one of the scalar parameters \['mu', 'sigma'\]; got 'tau'"
    ):
        pl.profile(normal, "tau")
    with pytest.raises(ValueError, match=r"`values` must be a non-empty array of finite numbers"):
        pl.profile(normal, "mu", [np.nan])
    with pytest.raises(ValueError, match=r"`method='profile'` needs an MLE result"):
        import pymc as pm

        with pm.Model() as m:
            mu = pm.Normal("mu", 0.0, 1.0)
            pm.Normal("y", mu, 1.0, observed=np.array([1.0, 2.0]))
        pl.map_estimate(m).conf_int(method="profile")


# --- profile_curve: the numbers profile_plot() draws --------------------------------------------------


def profile_closed_form(name, c):
    """Normal profile log-likelihood minus its maximum, for mu or sigma."""
    c = np.asarray(c, dtype=float)
    if name == "mu":
        return -N / 2 * np.log1p(N * (X.mean() - c) ** 2 / S)
    sigma_hat = np.sqrt(S / N)
    return -N * np.log(c / sigma_hat) - S / (2 * c**2) + N / 2


@pytest.mark.parametrize("name", ["mu", "sigma"])
def test_profile_curve_default_grid_intervals_and_wald_quadratic(normal, name):
    from pplmle.core.profiles import profile_curve

    curve = profile_curve(normal, name)
    prof_ci = normal.conf_int(0.95, "profile").loc[name].to_numpy()
    wald_ci = normal.conf_int(0.95, "wald").loc[name].to_numpy()
    assert curve.profile_interval == tuple(prof_ci) and curve.wald_interval == tuple(wald_ci)
    assert curve.cutoff == pytest.approx(-1.920729410347062, rel=1e-14)  # -chi2_1(0.95) / 2
    est, se = normal.params[name], normal.se[name]
    assert (curve.estimate, curve.se) == (est, se)
    # default grid: 81 points over both intervals and the estimate, a third of that width each side
    lo, hi = min(prof_ci[0], wald_ci[0]), max(prof_ci[1], wald_ci[1])
    c = curve.profile[name].values
    np.testing.assert_allclose(c, np.linspace(lo - (hi - lo) / 3, hi + (hi - lo) / 3, 81), rtol=1e-14)
    np.testing.assert_allclose(curve.relative.values, profile_closed_form(name, c), atol=1e-8)
    np.testing.assert_allclose(curve.wald.values, -((c - est) ** 2) / (2 * se**2), rtol=1e-12)
    # the profile crosses the cut-off at the interval ends
    np.testing.assert_allclose(profile_closed_form(name, prof_ci), curve.cutoff, atol=1e-9)


def test_profile_curve_on_given_values_at_another_level_is_a_value(normal):
    import pickle

    from pplmle.core.profiles import profile_curve

    values = np.linspace(166.0, 170.0, 5)
    curve = profile_curve(normal, "mu", level=0.5, values=values)
    np.testing.assert_array_equal(curve.profile["mu"].values, values)
    assert curve.cutoff == pytest.approx(-scipy.stats.chi2.ppf(0.5, 1) / 2, rel=1e-14)
    assert curve.profile_interval == tuple(normal.conf_int(0.5, "profile").loc["mu"])
    assert curve == profile_curve(normal, "mu", level=0.5, values=values)
    assert pickle.loads(pickle.dumps(curve)) == curve
    assert curve != profile_curve(normal, "mu", level=0.9, values=values)
    with pytest.raises(ValueError, match=r"`level` must be strictly between 0 and 1; got 95"):
        profile_curve(normal, "mu", level=95)
    with pytest.raises(
        ValueError, match=r"`name` must be one of the result's parameters \['mu', 'sigma'\]; got 'tau'"
    ):
        profile_curve(normal, "tau")


# --- conf_int(params=...) and table(profile=True, params=...): profile only the chosen labels -------


def exact_sigma_interval(level=0.95):
    q = scipy.stats.chi2.ppf(level, 1)

    def h(s):  # 2 (l_hat - l_p(s)) = n log(s^2 / s_hat^2) + S / s^2 - n (mu profiled out at xbar)
        return N * np.log(s**2 / (S / N)) + S / s**2 - N - q

    return [scipy.optimize.brentq(h, 1.0, 4.73, xtol=1e-14), scipy.optimize.brentq(h, 4.74, 20.0, xtol=1e-14)]


@pytest.fixture(scope="module")
def fresh():
    """A fit whose cache starts empty (the module's `normal` is shared by other tests)."""
    return pl.mle(pl.Normal(X))


@pytest.fixture(scope="module")
def regression():
    """Two fits of one regression (4 parameters): one profiled in full, one for one label only."""
    rng = np.random.default_rng(11)
    Xr = rng.normal(size=(50, 2))
    y = 0.5 + Xr @ np.array([1.0, -0.4]) + rng.normal(0, 0.7, 50)
    return pl.mle(pl.LinearRegression(Xr, y)), pl.mle(pl.LinearRegression(Xr, y))


def test_params_profiles_one_label_computes_it_once_and_all_adds_only_the_rest(fresh, monkeypatch):
    import pplmle.core.result as result_module

    asked = []
    real = result_module.profile_intervals

    def spy(result, level, labels=None):
        asked.append(list(labels))
        return real(result, level, labels)

    monkeypatch.setattr(result_module, "profile_intervals", spy)
    one = fresh.conf_int(0.95, method="profile", params="sigma")
    assert list(one.index) == ["sigma"]
    np.testing.assert_allclose(one.loc["sigma"].to_numpy(), exact_sigma_interval(), rtol=1e-10)
    np.testing.assert_allclose(one.loc["sigma"].to_numpy(), [3.23, 7.9], atol=0.005)
    keys = [k for k in fresh.context.cache if k[0] == "profile interval"]
    assert keys == [("profile interval", "sigma", 0.95)]
    again = fresh.conf_int(0.95, method="profile", params=["sigma"])
    assert asked == [["sigma"]]  # the second call did no profiling
    pd.testing.assert_frame_equal(again, one)
    both = fresh.conf_int(0.95, method="profile")
    assert asked == [["sigma"], ["mu"]]  # all labels: only mu was still missing
    assert set(fresh.context.cache) >= {("profile interval", "sigma", 0.95), ("profile interval", "mu", 0.95)}
    assert list(both.index) == ["mu", "sigma"]
    pd.testing.assert_frame_equal(both.loc[["sigma"]], one)
    fresh.conf_int(0.5, method="profile", params="mu")
    assert asked[-1] == ["mu"] and ("profile interval", "mu", 0.5) in fresh.context.cache


def test_params_rows_come_in_the_order_given_for_both_methods(normal):
    full = normal.conf_int(0.9, method="profile")
    chosen = normal.conf_int(0.9, method="profile", params=["sigma", "mu", "sigma"])
    assert list(chosen.index) == ["sigma", "mu"]  # the order given, repeats dropped
    pd.testing.assert_frame_equal(chosen, full.loc[["sigma", "mu"]])
    wald = normal.conf_int(0.9, params="sigma")
    pd.testing.assert_frame_equal(wald, normal.conf_int(0.9).loc[["sigma"]])


def test_params_with_one_label_of_a_regression_equals_that_row_of_the_full_profile(regression):
    full_fit, one_fit = regression
    assert len(full_fit.labels) == 4
    label = full_fit.labels[1]
    full = full_fit.conf_int(0.95, method="profile")
    one = one_fit.conf_int(0.95, method="profile", params=[label])
    assert list(one.index) == [label]
    np.testing.assert_allclose(one.loc[label].to_numpy(), full.loc[label].to_numpy(), rtol=1e-10, atol=1e-10)
    assert [k[1] for k in one_fit.context.cache if k[0] == "profile interval"] == [label]


def test_table_with_params_profiles_those_rows_and_leaves_nan_elsewhere(fresh, normal):
    tab = normal.table(0.95, profile=True, params="sigma")
    assert list(tab.index) == ["mu", "sigma"]
    assert np.isnan(tab.loc["mu", "profile lower 95%"]) and np.isnan(tab.loc["mu", "profile upper 95%"])
    np.testing.assert_allclose(
        tab.loc["sigma", ["profile lower 95%", "profile upper 95%"]].to_numpy(dtype=float),
        exact_sigma_interval(),
        rtol=1e-10,
    )
    pd.testing.assert_frame_equal(tab[["estimate", "se", "lower 95%", "upper 95%"]], normal.table(0.95))


def test_params_must_name_known_labels(normal):
    with pytest.raises(
        ValueError,
        match=r"`params` names unknown parameter\(s\) \['tau'\]; the parameters are \['mu', 'sigma'\]",
    ):
        normal.conf_int(0.95, method="profile", params=["mu", "tau"])
    with pytest.raises(ValueError, match=r"`params` names unknown parameter\(s\) \[3\]"):
        normal.conf_int(0.95, params=[3])
    with pytest.raises(ValueError, match=r"`params` names unknown parameter\(s\) \['Sigma'\]"):
        normal.table(profile=True, params="Sigma")
    with pytest.raises(ValueError, match=r"`params` must name at least one parameter"):
        normal.conf_int(0.95, method="profile", params=[])
    with pytest.raises(ValueError, match=r"`params` chooses the rows that get profile intervals"):
        normal.table(params="sigma")

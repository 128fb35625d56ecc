"""compare(): find_MAP vs closed form vs hand-written NLL, for every family and for user models."""

import numpy as np
import pymc as pm
import pytest
import scipy.stats

import pplmle as pl
from pplmle.pymc.families import BUILT_IN


def _data(name, seed):
    rng = np.random.default_rng(seed)
    n = 80
    X = rng.normal(size=(n, 2))
    eta = 0.3 + X @ np.array([0.8, -0.5])
    k = rng.integers(0, 3, n)
    makers = {
        "Normal": lambda: pl.Normal(rng.normal(5.0, 2.0, n)),
        "LogNormal": lambda: pl.LogNormal(rng.lognormal(0.5, 0.7, n)),
        "Bernoulli": lambda: pl.Bernoulli(rng.binomial(1, 0.35, n)),
        "Binomial": lambda: pl.Binomial(rng.binomial(12, 0.4, n), 12),
        "Poisson": lambda: pl.Poisson(rng.poisson(3.5, n)),
        "Exponential": lambda: pl.Exponential(rng.exponential(2.0, n)),
        "Gamma": lambda: pl.Gamma(rng.gamma(2.5, 1.5, n)),
        "Categorical": lambda: pl.Categorical(np.array(list("abcd"))[rng.integers(0, 4, n)]),
        "LinearRegression": lambda: pl.LinearRegression(X, eta + rng.normal(0, 0.7, n)),
        "LogisticRegression": lambda: pl.LogisticRegression(X, rng.binomial(1, 1 / (1 + np.exp(-eta)))),
        "PoissonRegression": lambda: pl.PoissonRegression(X, rng.poisson(np.exp(eta))),
        "SoftmaxRegression": lambda: pl.SoftmaxRegression(
            X, np.where(X[:, 0] + rng.normal(size=n) > 0, k, 0)
        ),
    }
    return makers[name]()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(cls.__name__ for cls in BUILT_IN))
def test_compare_agrees_for_every_family(name, seed):
    cmp = pl.compare(_data(name, seed))
    cmp.assert_agree()
    assert cmp.agree and cmp.equivalent is True and cmp.mismatch is None
    table = cmp.table
    # a thousandth of a standard error is the default rule; the routes land far closer
    assert np.nanmax(table["max |diff| / se"].drop("NLL").to_numpy()) < 1e-5
    nll = table.loc["NLL", [c for c in ("find_MAP", "closed_form", "scipy") if c in table]]
    np.testing.assert_allclose(nll.to_numpy(dtype=float), nll["find_MAP"], rtol=1e-12)
    family = getattr(pl, name)
    expected = {"find_MAP", "scipy"} | ({"closed_form"} if family.no_closed_form is None else set())
    assert expected <= set(table.columns)
    if family.no_closed_form is not None:
        assert f"No closed form for {name}: {family.no_closed_form}" in cmp.notes


def test_heights_table_shows_the_divide_by_n_variance():
    cmp = pl.compare(pl.Normal(pl.datasets.heights()))
    assert list(cmp.table.index) == ["mu", "sigma", "NLL"]
    np.testing.assert_allclose(
        cmp.table.loc["sigma", ["find_MAP", "closed_form", "scipy"]] ** 2, 22.4, rtol=1e-9
    )
    np.testing.assert_allclose(
        cmp.table.loc["NLL", "closed_form"], 5 * np.log(2 * np.pi * 22.4) + 5, rtol=1e-12
    )
    assert cmp.best == "find_MAP" or cmp.nll_by_method[cmp.best] <= cmp.nll_by_method["find_MAP"]


def test_a_wrong_closed_form_is_caught_with_a_readable_diff():
    x = pl.datasets.heights()
    wrong = pl.compare(
        pl.Normal(x), closed_form=lambda: {"mu": float(np.mean(x)), "sigma": float(np.std(x, ddof=1))}
    )
    assert not wrong.agree
    assert wrong.worst["parameter"] == "sigma" and wrong.worst["method"] == "closed_form"
    np.testing.assert_allclose(
        wrong.worst["diff / se"], (np.sqrt(22.4 * 10 / 9) - np.sqrt(22.4)) / np.sqrt(22.4 / 20)
    )
    with pytest.raises(AssertionError, match=r"sigma: find_MAP 4.73286\d+ vs closed_form 4.98887\d+"):
        wrong.assert_agree()
    assert wrong.best in ("find_MAP", "scipy")
    assert 'style="background:#fdd"' in wrong._repr_html_()


def test_a_wrong_nll_that_drops_a_term_is_caught_before_fitting():
    x = pl.datasets.heights()

    def nll_without_constant(p):  # forgets n/2 log(2 pi): same argmin, different likelihood
        return np.sum((x - p["mu"]) ** 2) / (2 * p["sigma"] ** 2) + x.size * np.log(p["sigma"])

    with pytest.warns(pl.LikelihoodMismatchWarning, match=r"not minus PyMC's log-likelihood: at \{'mu'"):
        cmp = pl.compare(pl.Normal(x), nll=nll_without_constant)
    assert cmp.equivalent is False and not cmp.agree
    np.testing.assert_allclose(
        cmp.mismatch["minus_hand_nll"] - cmp.mismatch["pymc_loglik"],
        x.size / 2 * np.log(2 * np.pi),
        rtol=1e-9,
    )
    with pytest.raises(AssertionError, match="the likelihoods differ at"):
        cmp.assert_agree()


def test_an_nll_in_another_parameterization_is_caught():
    x = pl.datasets.heights()

    def nll_in_variance(p):  # treats the reported sigma as a variance
        return 0.5 * np.sum(np.log(2 * np.pi * p["sigma"]) + (x - p["mu"]) ** 2 / p["sigma"])

    with pytest.warns(pl.LikelihoodMismatchWarning):
        cmp = pl.compare(pl.Normal(x), nll=nll_in_variance)
    assert not cmp.agree
    np.testing.assert_allclose(cmp.estimates["scipy"]["sigma"], 22.4, rtol=1e-5)  # the variance, not sigma


def _user_normal(x):
    with pm.Model() as model:
        mu = pm.Normal("mu", 150.0, 30.0)
        sigma = pm.HalfNormal("sigma", 10.0)
        pm.Normal("h", mu, sigma, observed=x)
    return model


def test_user_model_with_its_own_nll_and_closed_form_agrees():
    x = pl.datasets.heights()

    def nll(p):
        return (
            x.size / 2 * np.log(2 * np.pi)
            + x.size * np.log(p["sigma"])
            + np.sum((x - p["mu"]) ** 2) / (2 * p["sigma"] ** 2)
        )

    def closed(data):
        h = data["h"]
        return {"mu": h.mean(), "sigma": h.std()}

    cmp = pl.compare(_user_normal(x), nll=nll, closed_form=closed)
    cmp.assert_agree()
    np.testing.assert_allclose(cmp.table.loc["mu", "scipy"], 168.0, rtol=1e-8)


def test_user_model_without_nll_says_what_it_skipped():
    cmp = pl.compare(
        _user_normal(pl.datasets.heights()), closed_form=lambda: {"mu": 168.0, "sigma": np.sqrt(22.4)}
    )
    assert cmp.agree and cmp.equivalent is None
    assert any("scipy route and the equivalence check are skipped" in n for n in cmp.notes)


def test_separation_is_never_a_clean_comparison():
    fam = pl.LogisticRegression(np.array([[1.0], [2.0], [3.0], [4.0]]), [0, 0, 1, 1])
    with pytest.warns(pl.SeparationWarning):
        cmp = pl.compare(fam)
    assert not cmp.agree and not cmp.exists
    assert "gradient_descent" not in cmp.table
    with pytest.raises(AssertionError, match=r"the MLE does not exist \(separation\)"):
        cmp.assert_agree()


def test_boundary_estimates_agree_through_the_likelihood():
    with pytest.warns(pl.BoundaryWarning):
        cmp = pl.compare(pl.Bernoulli([0, 0, 0, 0, 0]))
    assert cmp.table.loc["p", "find_MAP"] == 0.0 and cmp.table.loc["p", "closed_form"] == 0.0
    assert cmp.table.loc["p", "scipy"] < 1e-8  # the logit scale cannot reach 0 exactly
    assert cmp.agree


def test_gradient_descent_reports_its_learning_rate_and_iterations():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 1))
    y = rng.binomial(1, 1 / (1 + np.exp(-(0.5 + X[:, 0]))))
    fast = pl.compare(pl.LogisticRegression(X, y))
    assert fast.gradient_descent.converged
    np.testing.assert_allclose(
        fast.table["gradient_descent"].drop("NLL"), fast.table["scipy"].drop("NLL"), rtol=1e-4
    )
    short = pl.compare(pl.LogisticRegression(X, y), gradient_descent={"max_iter": 20, "learning_rate": 0.1})
    assert not short.gradient_descent.converged and short.gradient_descent.n_iter == 20
    assert short.agree  # gradient descent is shown, not checked
    note = next(n for n in short.notes if n.startswith("Gradient descent"))
    assert "learning rate 0.1, 20 iterations" in note and "NOT converged" in note


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rtol": -1.0}, r"`rtol` and `atol` must be >= 0; got rtol=-1.0"),
        ({"n_check": 1.5}, r"`n_check` must be a whole number >= 0; got 1.5"),
        ({"nll": 3.0}, r"`nll` must be a callable; got float"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pl.compare(pl.Normal([1.0, 2.0, 4.0]), **kwargs)


def test_compare_does_not_modify_the_data():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    before = x.copy()
    pl.compare(pl.Normal(x))
    np.testing.assert_array_equal(x, before)


# --- the equivalence check's rounding tolerance, and start= ---------------------------------------


def _student_t_data():
    rng = np.random.default_rng(5)
    x = rng.normal(size=200)
    return x, 1.0 + 0.5 * x + 0.8 * rng.standard_t(4.0, size=200)


def _user_student_t():
    x, y = _student_t_data()
    with pm.Model() as model:
        nu = pm.Gamma("nu", 2.0, 0.1)
        a = pm.Normal("a", 0.0, 10.0)
        b = pm.Normal("b", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.StudentT("y", nu=nu, mu=a + b * x, sigma=sigma, observed=y)
    return model


def _student_t_nll(p, offset=0.0):
    x, y = _student_t_data()
    logpdf = scipy.stats.t.logpdf(y, df=p["nu"], loc=p["a"] + p["b"] * x, scale=p["sigma"])
    return -np.sum(logpdf - offset)


# the check's points are the start +/- 0.5 on the log scale of nu: nu from 1.8e6 to 5e6, where PyMC's
# gammaln((nu + 1) / 2) - gammaln(nu / 2) loses ~1e-9 per observation to rounding
HUGE_NU = {"nu": 3e6, "a": 1.0, "b": 0.5, "sigma": 0.8}


@pytest.fixture(scope="module")
def student_t():
    return _user_student_t()


def test_a_correct_student_t_nll_passes_the_check_despite_rounding(student_t):
    far = pl.compare(student_t, nll=_student_t_nll, start=HUGE_NU)
    assert far.equivalent is True and far.mismatch is None
    assert far.table.loc["nu", "find_MAP"] < 10  # find_MAP started at nu = 3e6 (BFGS on finite
    # differences stalls on the way from there, so the routes are compared from the default start)
    near = pl.compare(student_t, nll=_student_t_nll)
    assert near.equivalent is True
    near.assert_agree()
    np.testing.assert_allclose(near.table.loc["nu"].iloc[:2], far.table.loc["nu", "find_MAP"], rtol=1e-6)


def test_the_rounding_differences_are_real_and_the_old_rule_called_them_mismatches(student_t):
    from pplmle.pymc.fitting import model_engine
    from pplmle.workflows.comparison import equivalence_tolerance

    engine, _ = model_engine(student_t, "MLE", "raise")
    with engine.lock:
        info = engine.info(engine.to_unconstrained({**HUGE_NU, "nu": 5e6}))
        point = engine.unflatten(info["reported"])
    diff = abs(info["loglik"] + _student_t_nll(point))
    assert 1e-10 * 200 < diff < equivalence_tolerance(info["loglik"], 200)  # > 1e-10 per observation
    assert not np.isclose(info["loglik"], -_student_t_nll(point), rtol=1e-9, atol=1e-9)
    assert equivalence_tolerance(info["loglik"], 200) == pytest.approx(1e-8 * abs(info["loglik"]))
    assert equivalence_tolerance(-50.0, 200) == pytest.approx(2e-6)  # 1e-8 per observation at least


def test_an_nll_off_by_a_thousandth_per_observation_fails_the_check(student_t):
    with pytest.warns(pl.LikelihoodMismatchWarning, match=r"float rounding over 200 observations explains"):
        cmp = pl.compare(student_t, nll=lambda p: _student_t_nll(p, offset=1e-3))
    assert cmp.equivalent is False and not cmp.agree
    m = cmp.mismatch
    np.testing.assert_allclose(m["minus_hand_nll"] - m["pymc_loglik"], -0.2, rtol=1e-6)
    assert m["tolerance"] < 1e-4


def test_start_moves_every_route_and_unknown_names_are_refused(student_t):
    x = pl.datasets.heights()

    def nll(p):
        return -np.sum(scipy.stats.norm.logpdf(x, p["mu"], p["sigma"]))

    here = pl.compare(_user_normal(x), nll=nll, start={"mu": 160.0, "sigma": 3.0})
    here.assert_agree()
    np.testing.assert_allclose(here.table.loc[["mu", "sigma"], "scipy"], [168.0, np.sqrt(22.4)], rtol=1e-7)
    fam = pl.compare(pl.Normal(x), start={"mu": 150.0})
    fam.assert_agree()
    np.testing.assert_allclose(fam.estimates["scipy"]["mu"], 168.0, rtol=1e-9)
    own = pl.compare(pl.Normal(x), nll=nll, start={"sigma": 2.0})  # the family's map, the user's NLL
    own.assert_agree()
    np.testing.assert_allclose(own.estimates["scipy"]["sigma"], np.sqrt(22.4), rtol=1e-7)
    with pytest.raises(
        ValueError, match=r"`start` names unknown parameter\(s\) \['tau'\]; the parameters are"
    ):
        pl.compare(pl.Normal(x), start={"tau": 1.0})
    with pytest.raises(ValueError, match=r"`start` names unknown parameter\(s\) \['mu2'\]"):
        pl.compare(student_t, nll=_student_t_nll, start={"mu2": 1.0})
    with pytest.raises(ValueError, match=r"`start` must be a dict of values by parameter name; got list"):
        pl.compare(pl.Normal(x), start=[1.0])

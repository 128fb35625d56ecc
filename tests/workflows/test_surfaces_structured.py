"""Surfaces of models with structured vector parameters: ordered cutpoints, a simplex, a packed
Cholesky factor, a vector with coordinate labels; `fixed=` as whole arrays or single elements,
`start=`, and the checks of bad input.

Every reference is written here from the densities (scipy.special.expit, scipy.stats) at values
computed independently of pplmle (closed forms) or, where the brief asks for a fixed-at-the-MLE
surface, at the result's own estimates.
"""

import ast

import numpy as np
import pymc as pm
import pytest
import scipy.optimize
import scipy.special
import scipy.stats

import pplmle as pl

# -- an ordered-logistic model: slope b, three ordered cutpoints ----------------------------------

RNG = np.random.default_rng(13)
N_ORD = 80
X_ORD = RNG.normal(size=N_ORD)
CUT_TRUE = np.array([-1.0, 0.2, 1.3])


def _ordered_probs(b, cut, x):
    """P(y = k) = expit(c_k - b x) - expit(c_{k-1} - b x), c_{-1} = -inf, c_K = +inf."""
    upper = scipy.special.expit(np.asarray(cut)[None, :] - b * x[:, None])
    ones, zeros = np.ones((x.size, 1)), np.zeros((x.size, 1))
    return np.diff(np.hstack([zeros, upper, ones]), axis=1)


Y_ORD = np.array([RNG.choice(4, p=p) for p in _ordered_probs(1.2, CUT_TRUE, X_ORD)])


def ordered_loglik(b, cut):
    """The hand-written ordered-logistic log-likelihood at slope `b` and cutpoints `cut`."""
    p = _ordered_probs(b, cut, X_ORD)
    return float(np.sum(np.log(p[np.arange(N_ORD), Y_ORD])))


def ordered_model():
    with pm.Model() as m:
        b = pm.Normal("b", 0.0, 10.0)
        cut = pm.Normal(
            "cutpoints", 0.0, 10.0, shape=3, transform=pm.distributions.transforms.ordered, initval=[-1, 0, 1]
        )
        pm.OrderedLogistic("y", eta=b * X_ORD, cutpoints=cut, observed=Y_ORD)
    return m


@pytest.fixture(scope="module")
def ordered():
    res = pl.mle(ordered_model())
    assert res.converged
    return res


def test_ordered_grid_over_the_slope_is_finite_and_the_hand_written_likelihood(ordered):
    b_hat, cut_hat = ordered.params["b"], ordered.params["cutpoints"]
    grid = np.sort(np.append(np.linspace(0.3, 2.2, 9), b_hat))
    s = pl.surface(ordered, {"b": grid})
    assert np.all(np.isfinite(s.loglik.values))
    at_mle = s.loglik.sel(b=b_hat).item()
    assert at_mle == pytest.approx(ordered.loglik, rel=1e-12)
    ref = [ordered_loglik(b, cut_hat) for b in grid]
    np.testing.assert_allclose(s.loglik.values, ref, rtol=1e-10)
    assert s.argmax() == {"b": b_hat}
    # the fixed values are the whole MLE vector, one label per element
    fixed = ast.literal_eval(s.dataset.attrs["fixed"])  # a str of a dict of floats
    assert fixed == {f"cutpoints[{i}]": pytest.approx(c, rel=1e-15) for i, c in enumerate(cut_hat)}


def test_ordered_grid_over_one_cutpoint_is_nan_only_where_the_order_breaks(ordered):
    b_hat, cut_hat = ordered.params["b"], ordered.params["cutpoints"]
    grid = np.linspace(cut_hat[0] - 0.5, cut_hat[2] + 0.5, 15)
    s = pl.surface(ordered, {"cutpoints[1]": grid})
    inside = (grid > cut_hat[0]) & (grid < cut_hat[2])
    assert inside.sum() >= 8 and (~inside).sum() >= 4
    assert np.all(np.isfinite(s.loglik.values[inside])) and np.all(np.isnan(s.loglik.values[~inside]))
    ref = [ordered_loglik(b_hat, [cut_hat[0], c, cut_hat[2]]) for c in grid[inside]]
    np.testing.assert_allclose(s.loglik.values[inside], ref, rtol=1e-10)


def test_ordered_fixed_by_label_and_by_whole_vector(ordered):
    cut_hat = ordered.params["cutpoints"]
    grid = np.linspace(0.5, 1.5, 5)
    by_label = pl.surface(ordered, {"b": grid}, {"cutpoints[1]": 0.3})
    ref = [ordered_loglik(b, [cut_hat[0], 0.3, cut_hat[2]]) for b in grid]
    np.testing.assert_allclose(by_label.loglik.values, ref, rtol=1e-10)
    cut = np.array([-1.1, 0.1, 1.0])
    before = cut.copy()
    whole = pl.surface(ordered, {"b": grid}, {"cutpoints": cut})
    np.testing.assert_allclose(whole.loglik.values, [ordered_loglik(b, cut) for b in grid], rtol=1e-10)
    np.testing.assert_array_equal(cut, before)  # the user's array is not modified
    # a whole vector with one element on the grid: the grid's values replace that element
    mixed = pl.surface(ordered, {"cutpoints[0]": [-1.5, -0.5, 0.5]}, {"cutpoints": cut, "b": 1.0})
    expected = [ordered_loglik(1.0, [c0, 0.1, 1.0]) for c0 in (-1.5, -0.5)]
    np.testing.assert_allclose(mixed.loglik.values[:2], expected, rtol=1e-10)
    assert np.isnan(mixed.loglik.values[2])  # 0.5 > cutpoints[1] = 0.1


def test_ordered_profile_surface_with_start(ordered):
    b = np.array([0.6, ordered.params["b"], 1.6])
    prof = pl.surface(ordered, {"b": b}, profile=True, start={"cutpoints": [-2.0, 0.0, 2.0]})
    assert prof.loglik.values[1] == pytest.approx(ordered.loglik, abs=1e-8)
    # an independent profile: scipy maximizes the hand-written likelihood over increasing cutpoints
    for bi, value in zip(b, prof.loglik.values, strict=True):

        def nll(z, bi=bi):
            return -ordered_loglik(bi, np.cumsum([z[0], np.exp(z[1]), np.exp(z[2])]))

        best = min(
            (scipy.optimize.minimize(nll, z0, method="BFGS") for z0 in ([-1, 0, 0], [0, -1, 1])),
            key=lambda r: r.fun,
        )
        assert value == pytest.approx(-best.fun, abs=1e-6)
    fixed = pl.surface(ordered, {"b": b})
    assert np.all(prof.loglik.values >= fixed.loglik.values - 1e-9)


def test_contour_of_the_ordered_surface_has_its_nan_region(ordered, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cut_hat = ordered.params["cutpoints"]
    s = pl.surface(
        ordered,
        {"b": np.linspace(0.4, 1.8, 15), "cutpoints[1]": np.linspace(cut_hat[0] - 0.3, cut_hat[2] + 0.3, 17)},
    )
    c1 = s.dataset["cutpoints[1]"].values
    inside = (c1 > cut_hat[0]) & (c1 < cut_hat[2])
    assert np.all(np.isfinite(s.loglik.values[:, inside])) and np.all(np.isnan(s.loglik.values[:, ~inside]))
    ax = s.plot("loglik")
    ax.figure.savefig(tmp_path / "ordered.png")
    plt.close(ax.figure)


# -- a simplex: Multinomial counts with Poisson totals ------------------------------------------

RNG_M = np.random.default_rng(7)
TOTALS = RNG_M.poisson(12.0, size=25)
COUNTS = np.array([RNG_M.multinomial(n, [0.5, 0.3, 0.2]) for n in TOTALS])
P_HAT = COUNTS.sum(axis=0) / COUNTS.sum()  # the closed-form MLE of p
LAM_HAT = TOTALS.mean()  # and of the Poisson rate


@pytest.fixture(scope="module")
def multinomial():
    with pm.Model() as m:
        lam = pm.HalfNormal("lam", 50.0)
        p = pm.Dirichlet("p", a=np.ones(3))
        pm.Poisson("total", lam, observed=TOTALS)
        pm.Multinomial("counts", n=TOTALS, p=p, observed=COUNTS)
    return m, pl.mle(m)


def multinomial_loglik(lam, p):
    return float(
        scipy.stats.poisson.logpmf(TOTALS, lam).sum()
        + scipy.stats.multinomial.logpmf(COUNTS, TOTALS, p).sum()
    )


def test_simplex_fixed_at_the_mle_while_the_grid_moves_another_parameter(multinomial):
    m, res = multinomial
    np.testing.assert_allclose(res.params["p"], P_HAT, rtol=1e-6)
    grid = np.linspace(8.0, 16.0, 9)
    s = pl.surface(res, {"lam": grid})
    assert np.all(np.isfinite(s.loglik.values))
    ref = [multinomial_loglik(lam, res.params["p"]) for lam in grid]
    np.testing.assert_allclose(s.loglik.values, ref, rtol=1e-10)
    # from the model (the MLE computed inside), against the closed-form p
    s2 = pl.surface(m, {"lam": grid})
    np.testing.assert_allclose(s2.loglik.values, [multinomial_loglik(lam, P_HAT) for lam in grid], rtol=1e-8)
    # a whole simplex fixed by the user
    p = np.array([0.4, 0.4, 0.2])
    s3 = pl.surface(res, {"lam": grid}, {"p": p})
    np.testing.assert_allclose(s3.loglik.values, [multinomial_loglik(lam, p) for lam in grid], rtol=1e-10)


def test_simplex_element_grid_and_off_simplex_values_are_refused(multinomial):
    _, res = multinomial
    with pytest.raises(
        ValueError, match=r"A grid over 'p\[0\]' alone is not defined: the elements of 'p' are tied"
    ):
        pl.surface(res, {"p[0]": [0.3, 0.5]})
    with pytest.raises(
        ValueError,
        match=r"^`fixed\['p'\]` puts 'p' outside its support: it must be positive elements summing to 1; "
        r"got \[0\.5, 0\.4, 0\.2\]\.$",
    ):
        pl.surface(res, {"lam": [10.0]}, {"p": [0.5, 0.4, 0.2]})
    with pytest.raises(
        ValueError, match=r"`fixed\['p\[0\]'\]` puts 'p' outside its support: .* got 1\.5 \(so p = "
    ):
        pl.surface(res, {"lam": [10.0]}, {"p[0]": 1.5})
    with pytest.raises(
        ValueError, match=r"`fixed\['p'\]` must be an array of shape \(3,\), .* got shape \(2,\)"
    ):
        pl.surface(res, {"lam": [10.0]}, {"p": [0.5, 0.5]})


# -- an LKJ Cholesky covariance: a bivariate normal -----------------------------------------------

RNG_L = np.random.default_rng(3)
Y_MV = RNG_L.multivariate_normal([1.0, -1.0], [[1.0, 0.6], [0.6, 2.0]], size=40)
MU_HAT, SIGMA_HAT = Y_MV.mean(axis=0), np.cov(Y_MV.T, bias=True)  # closed-form MLEs
PACKED = "chol"  # the free variable: the packed lower triangle [L00, L10, L11]


@pytest.fixture(scope="module")
def lkj():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 10.0, shape=2)
        chol, _, _ = pm.LKJCholeskyCov("chol", n=2, eta=2.0, sd_dist=pm.Exponential.dist(1.0, shape=2))
        pm.MvNormal("y", mu, chol=chol, observed=Y_MV)
    return pl.mle(m)


def test_lkj_grid_over_the_mean_is_the_multivariate_normal_at_the_mle_covariance(lkj):
    assert lkj.converged
    np.testing.assert_allclose(lkj.params["mu"], MU_HAT, rtol=1e-6, atol=1e-8)
    grid = np.linspace(0.0, 2.0, 11)
    s = pl.surface(lkj, {"mu[0]": grid})
    assert np.all(np.isfinite(s.loglik.values))
    ref = [scipy.stats.multivariate_normal([g, MU_HAT[1]], SIGMA_HAT).logpdf(Y_MV).sum() for g in grid]
    np.testing.assert_allclose(s.loglik.values, ref, rtol=1e-8)


def test_lkj_grid_over_a_cholesky_element_is_nan_where_the_diagonal_is_not_positive(lkj):
    packed = np.asarray(lkj.params[PACKED])
    grid = np.array([-0.5, 0.0, 0.5, packed[0], 1.5])
    s = pl.surface(lkj, {f"{PACKED}[0]": grid})
    assert np.all(np.isnan(s.loglik.values[:2])) and np.all(np.isfinite(s.loglik.values[2:]))
    assert s.loglik.values[3] == pytest.approx(lkj.loglik, rel=1e-12)
    rows, cols = np.tril_indices(2)
    for g, value in zip(grid[2:], s.loglik.values[2:], strict=True):
        L = np.zeros((2, 2))
        L[rows, cols] = [g, packed[1], packed[2]]
        ref = scipy.stats.multivariate_normal(lkj.params["mu"], L @ L.T).logpdf(Y_MV).sum()
        assert value == pytest.approx(ref, rel=1e-10)


# -- a vector with coordinate labels: beta[age] ---------------------------------------------------

RNG_B = np.random.default_rng(5)
XB = RNG_B.normal(size=(30, 2))
YB = 0.5 + XB @ [1.0, -0.7] + RNG_B.normal(0.0, 0.8, 30)
DESIGN = np.column_stack([np.ones(30), XB])
COEF_HAT = np.linalg.lstsq(DESIGN, YB, rcond=None)[0]  # least squares: the MLE of the coefficients
S_HAT = np.sqrt(np.mean((YB - DESIGN @ COEF_HAT) ** 2))


def beta_model():
    with pm.Model(coords={"pred": ["age", "income"]}) as m:
        a = pm.Normal("a", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, dims="pred")
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Normal("y", a + pm.math.dot(XB, beta), sigma, observed=YB)
    return m


@pytest.fixture(scope="module")
def regression():
    return pl.mle(beta_model())


def normal_loglik(a, beta, sigma):
    return float(scipy.stats.norm.logpdf(YB, a + XB @ np.asarray(beta), sigma).sum())


def test_grid_over_one_labelled_element_varies_that_element_only(regression):
    assert regression.labels == ["a", "beta[age]", "beta[income]", "sigma"]
    np.testing.assert_allclose(regression.params["beta"], COEF_HAT[1:], rtol=1e-6)
    grid = np.linspace(0.5, 1.5, 7)
    s = pl.surface(regression, {"beta[age]": grid})
    ref = [normal_loglik(COEF_HAT[0], [g, COEF_HAT[2]], S_HAT) for g in grid]
    np.testing.assert_allclose(s.loglik.values, ref, rtol=1e-8)
    s2 = pl.surface(regression, {"beta[age]": grid, "sigma": [0.6, 0.9]}, {"beta[income]": -0.5, "a": 0.4})
    ref2 = [[normal_loglik(0.4, [g, -0.5], sd) for sd in (0.6, 0.9)] for g in grid]
    np.testing.assert_allclose(s2.loglik.values, ref2, rtol=1e-10)
    with pytest.raises(
        ValueError,
        match=r"^`fixed\['sigma'\]` puts 'sigma' outside its support: it must be positive; got -1\.0\.$",
    ):
        pl.surface(regression, {"beta[age]": grid}, {"sigma": -1.0})


def test_start_gives_the_fit_its_starting_point_and_is_checked():
    m = beta_model()
    grid = np.linspace(0.5, 1.5, 5)
    s = pl.surface(m, {"beta[age]": grid}, start={"a": 0.0, "beta": [0.0, 0.0], "sigma": 2.0})
    ref = [normal_loglik(COEF_HAT[0], [g, COEF_HAT[2]], S_HAT) for g in grid]
    np.testing.assert_allclose(s.loglik.values, ref, rtol=1e-8)
    with pytest.raises(ValueError, match=r"`start` names unknown parameter\(s\) \['tau'\]"):
        pl.surface(m, {"beta[age]": grid}, start={"tau": 1.0})
    with pytest.raises(ValueError, match=r"`start` must be a dict of values by parameter name; got list"):
        pl.surface(m, {"beta[age]": grid}, start=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"^`start` lies outside the support of the parameters"):
        pl.surface(m, {"beta[age]": grid}, start={"sigma": -1.0})
    with pytest.raises(ValueError, match=r"`start\['beta'\]` must have shape \(2,\); got \(3,\)"):
        pl.surface(m, {"beta[age]": grid}, start={"beta": [0.0, 0.0, 0.0]})


def test_profile_surface_of_a_family_from_a_start():
    x = pl.datasets.heights()
    s = pl.surface(
        pl.Normal(x), {"mu": [164.0, 168.0, 172.0]}, profile=True, start={"mu": 150.0, "sigma": 20.0}
    )
    S = np.sum((x - x.mean()) ** 2)
    best = -5 * np.log(2 * np.pi * S / 10) - 5  # the Normal's maximized log-likelihood, n = 10
    expected = best - 5 * np.log(1 + 10 * (168.0 - np.array([164.0, 168.0, 172.0])) ** 2 / S)
    np.testing.assert_allclose(s.loglik.values, expected, rtol=1e-10)


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"fixed": {"cutpoints": 0.5}},
            r"^`fixed\['cutpoints'\]` must be an array of shape \(3,\), the shape of the parameter; "
            r"got shape \(\)\.$",
        ),
        ({"fixed": {"cutpoints": [0.1, 0.2]}}, r"`fixed\['cutpoints'\]` must be an array of shape \(3,\)"),
        ({"fixed": {"b": [1.0]}}, r"^`fixed\['b'\]` must be a single number, the shape of the parameter"),
        ({"fixed": {"cutpoints[1]": [0.1, 0.2]}}, r"`fixed\['cutpoints\[1\]'\]` must be a single number"),
        (
            {"fixed": {"cutpoints": [0.0, 2.0, 1.0]}},
            r"^`fixed\['cutpoints'\]` puts 'cutpoints' outside its support: it must be strictly increasing; "
            r"got \[0\.0, 2\.0, 1\.0\]\.$",
        ),
        (
            {"fixed": {"cutpoints[1]": 5.0}},
            r"^`fixed\['cutpoints\[1\]'\]` puts 'cutpoints' outside its support: it must be strictly "
            r"increasing; got 5\.0 \(so cutpoints = \[-?\d",
        ),
        (
            {"fixed": {"cutpoints[0]": 1.0, "cutpoints[2]": 0.0}},
            r"^`fixed` puts 'cutpoints' outside its support: .* "
            r"got cutpoints\[0\]=1\.0, cutpoints\[2\]=0\.0 \(so",
        ),
        ({"fixed": {"cutpoints[1]": np.nan}}, r"^`fixed\['cutpoints\[1\]'\]` must be finite; got nan\.$"),
        (
            {"fixed": {"cutpoints": [0.0, np.nan, 1.0]}},
            r"`fixed\['cutpoints'\]` must be finite; got nan at index 1",
        ),
        ({"fixed": {"cutpoints[3]": 0.0}}, r"`fixed` names unknown parameter 'cutpoints\[3\]'"),
        ({"fixed": {"b[0]": 0.0}}, r"`fixed` names unknown parameter 'b\[0\]'"),
        (
            {"fixed": {"cutpoints": [-1.0, 0.0, 1.0], "cutpoints[1]": 0.3}},
            r"^`fixed` gives 'cutpoints\[1\]' twice: on its own and inside 'cutpoints'; give it once\.$",
        ),
        ({"fixed": "cutpoints"}, r"^`fixed` must be a dict of values by parameter name or label; got str\.$"),
        ({"fixed": {"b": 1.0}}, r"`fixed` and `grid` both name \['b'\]"),
        (
            {"grid": {"b": [1.0], "cutpoints[0]": [0.0]}, "profile": True},
            r"^A profile surface \(`profile=True`\) is over one parameter .* "
            r"`grid` names \['b', 'cutpoints\[0\]'\]",
        ),
        (
            {"profile": True, "fixed": {"cutpoints[0]": -1.0}},
            r"^`fixed` cannot be combined with `profile=True`: .* got fixed values for \['cutpoints\[0\]'\]",
        ),
        (
            {"start": {"beta": 1.0}},
            r"`start` names unknown parameter\(s\) \['beta'\]; the parameters are \['b', 'cutpoints'\]",
        ),
    ],
)
def test_bad_input_is_refused_by_argument_rule_and_value(ordered, kwargs, match):
    kwargs = {"grid": {"b": [1.0, 1.1]}, **kwargs}
    with pytest.raises(ValueError, match=match):
        pl.surface(ordered, **kwargs)


def test_a_surface_with_no_finite_point_warns(ordered):
    with pytest.warns(
        pl.PPLMLEWarning, match=r"None of the 3 grid point\(s\) has a finite log-likelihood"
    ) as rec:
        s = pl.surface(ordered, {"cutpoints[1]": [5.0, 6.0, 7.0]})
    assert rec[0].filename == __file__
    assert np.all(np.isnan(s.loglik.values)) and np.all(np.isnan(s.likelihood.values))
    assert "(best grid point: none, no finite log-likelihood)" in repr(s)
    with pytest.raises(ValueError, match=r"^The surface has no best grid point: none of its 3 point\(s\)"):
        s.argmax()

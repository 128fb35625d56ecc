"""Hand-written NLLs against scipy.stats, their gradients against finite differences, the
minimizer against score equations and independent Newton solves, and gradient descent."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from scipy import stats
from scipy.special import digamma, expit, softmax
from textbook import gamma_mle, logistic_mle, poisson_reg_mle, softmax_mle

from pplmle.pymc import families
from pplmle.reference import handwritten as hw

# -- one case per family: the hand NLL, scipy's log-likelihood and random parameter points


@dataclass
class Case:
    hand: hw.HandNLL
    loglik: Any  # params -> sum of scipy.stats logpdf / logpmf
    draw: Any  # rng -> a random natural-scale parameter point


def _X1(X, intercept):
    return np.column_stack([np.ones(len(X)), X]) if intercept else X


def _coef(p):
    beta = np.asarray(p["beta"])
    return (
        np.concatenate([np.reshape(p["intercept"], (1, *beta.shape[1:])), beta]) if "intercept" in p else beta
    )


def make_case(name, rng, intercept=True):
    if name == "Normal":
        x = rng.normal(3.0, 2.0, size=40)
        return Case(
            hw.NormalNLL(x),
            lambda p: stats.norm.logpdf(x, p["mu"], p["sigma"]).sum(),
            lambda r: {"mu": r.normal(3.0, 1.0), "sigma": r.uniform(0.5, 4.0)},
        )
    if name == "LogNormal":
        x = rng.lognormal(0.5, 0.7, size=40)
        return Case(
            hw.LogNormalNLL(x),
            lambda p: stats.lognorm.logpdf(x, s=p["sigma"], scale=np.exp(p["mu"])).sum(),
            lambda r: {"mu": r.normal(0.5, 0.5), "sigma": r.uniform(0.3, 2.0)},
        )
    if name == "Bernoulli":
        y = np.r_[0, 1, (rng.uniform(size=48) < 0.35)].astype(int)
        return Case(
            hw.BernoulliNLL(y),
            lambda p: stats.bernoulli.logpmf(y, p["p"]).sum(),
            lambda r: {"p": r.uniform(0.05, 0.95)},
        )
    if name == "Binomial":
        n = rng.integers(1, 20, size=30)
        k = rng.binomial(n, 0.3)
        return Case(
            hw.BinomialNLL(k, n),
            lambda p: stats.binom.logpmf(k, n, p["p"]).sum(),
            lambda r: {"p": r.uniform(0.05, 0.95)},
        )
    if name == "Poisson":
        x = rng.poisson(3.5, size=50)
        return Case(
            hw.PoissonNLL(x),
            lambda p: stats.poisson.logpmf(x, p["lam"]).sum(),
            lambda r: {"lam": r.uniform(0.5, 8.0)},
        )
    if name == "Exponential":
        x = rng.exponential(2.0, size=40)
        return Case(
            hw.ExponentialNLL(x),
            lambda p: stats.expon.logpdf(x, scale=1 / p["lam"]).sum(),
            lambda r: {"lam": r.uniform(0.1, 2.0)},
        )
    if name == "Gamma":
        x = rng.gamma(2.5, 1 / 1.5, size=40)
        return Case(
            hw.GammaNLL(x),
            lambda p: stats.gamma.logpdf(x, a=p["alpha"], scale=1 / p["beta"]).sum(),
            lambda r: {"alpha": r.uniform(0.5, 5.0), "beta": r.uniform(0.3, 4.0)},
        )
    if name == "Categorical":
        codes = np.r_[0:4, rng.choice(4, size=56, p=[0.1, 0.2, 0.3, 0.4])]
        onehot = np.eye(4)[codes]
        return Case(
            hw.CategoricalNLL(codes, 4),
            lambda p: stats.multinomial.logpmf(onehot, 1, p["p"]).sum(),
            lambda r: {"p": r.dirichlet(np.full(4, 3.0))},
        )
    if name == "LinearRegression":
        X = rng.normal(size=(50, 2))
        y = 1.0 + X @ [2.0, -1.0] + rng.normal(0.0, 0.8, size=50)
        X1 = _X1(X, intercept)

        def draw(r):
            p = {"intercept": r.normal(1.0, 0.5)} if intercept else {}
            return {**p, "beta": r.normal([2.0, -1.0], 0.5), "sigma": r.uniform(0.5, 2.0)}

        return Case(
            hw.LinearRegressionNLL(X, y, intercept=intercept),
            lambda p: stats.norm.logpdf(y, X1 @ _coef(p), p["sigma"]).sum(),
            draw,
        )
    if name == "LogisticRegression":
        X = rng.normal(size=(80, 2))
        y = (rng.uniform(size=80) < expit(0.3 + X @ [1.0, -0.5])).astype(int)
        X1 = _X1(X, intercept)

        def draw(r):
            p = {"intercept": r.normal(0.0, 1.0)} if intercept else {}
            return {**p, "beta": r.normal(0.0, 1.0, size=2)}

        return Case(
            hw.LogisticRegressionNLL(X, y, intercept=intercept),
            lambda p: stats.bernoulli.logpmf(y, expit(X1 @ _coef(p))).sum(),
            draw,
        )
    if name == "PoissonRegression":
        X = rng.normal(size=(60, 2))
        offset = np.log(rng.uniform(0.5, 2.0, size=60))
        y = rng.poisson(np.exp(0.5 + X @ [0.4, -0.3] + offset))
        X1 = _X1(X, intercept)

        def draw(r):
            p = {"intercept": r.normal(0.5, 0.3)} if intercept else {}
            return {**p, "beta": r.normal([0.4, -0.3], 0.3)}

        return Case(
            hw.PoissonRegressionNLL(X, y, intercept=intercept, offset=offset),
            lambda p: stats.poisson.logpmf(y, np.exp(X1 @ _coef(p) + offset)).sum(),
            draw,
        )
    if name == "SoftmaxRegression":
        X = rng.normal(size=(90, 2))
        B = np.array([[0.2, -0.4], [1.0, 0.5], [-0.5, 1.0]])
        logits = np.column_stack([np.zeros(90), _X1(X, True) @ B])
        codes = np.array([rng.choice(3, p=row) for row in softmax(logits, axis=1)])
        codes[:3] = [0, 1, 2]
        onehot = np.eye(3)[codes]
        X1 = _X1(X, intercept)

        def loglik(p):
            eta = np.column_stack([np.zeros(90), X1 @ _coef(p)])
            return stats.multinomial.logpmf(onehot, 1, softmax(eta, axis=1)).sum()

        def draw(r):
            p = {"intercept": r.normal(0.0, 0.5, size=2)} if intercept else {}
            return {**p, "beta": r.normal(0.0, 0.7, size=(2, 2))}

        return Case(hw.SoftmaxRegressionNLL(X, codes, 3, intercept=intercept), loglik, draw)
    raise AssertionError(name)


NAMES = [cls.__name__ for cls in families.BUILT_IN]
REGRESSIONS = ["LinearRegression", "LogisticRegression", "PoissonRegression", "SoftmaxRegression"]
# every family once, and each regression once more without an intercept
CASES = [(name, True) for name in NAMES] + [(name, False) for name in REGRESSIONS]
IDS = [f"{n}{'' if i else '-no-intercept'}" for n, i in CASES]


def central_diff(f, x, rel=1e-6):
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    for i in range(x.size):
        h = rel * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def flat(params):
    return np.concatenate([np.ravel(v) for v in params.values()])


def unflat(template, vec):
    out, i = {}, 0
    for k, v in template.items():
        size = np.size(v)
        piece = vec[i : i + size]
        out[k] = float(piece[0]) if np.ndim(v) == 0 else piece.reshape(np.shape(v))
        i += size
    return out


# -- the NLL is minus scipy's log-likelihood ----------------------------------------


@pytest.mark.parametrize(("name", "intercept"), CASES, ids=IDS)
def test_nll_equals_minus_scipy_loglik(name, intercept):
    rng = np.random.default_rng(101)
    case = make_case(name, rng, intercept)
    for _ in range(3):
        p = case.draw(rng)
        np.testing.assert_allclose(case.hand.nll(p), -case.loglik(p), rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["LogNormal", "Binomial", "Categorical"])
def test_nll_equals_minus_pymc_loglik(name):
    # the families' PyMC models, likelihood term only (the flat priors' constants excluded)
    rng = np.random.default_rng(5)
    case = make_case(name, rng)
    data = {
        "LogNormal": lambda h: families.LogNormal(h.x),
        "Binomial": lambda h: families.Binomial(h.k, h.n),
        "Gamma": lambda h: families.Gamma(h.x),
        "Categorical": lambda h: families.Categorical(h.codes, k=h.k),
        "Poisson": lambda h: families.Poisson(h.x),
    }[name](case.hand)
    model = data.model
    p = case.draw(rng)
    point = {}
    for rv in model.free_RVs:
        transform = model.rvs_to_transforms[rv]
        value = np.asarray(p[rv.name])
        if transform is not None:
            value = transform.forward(value, *rv.owner.inputs).eval()
        point[model.rvs_to_values[rv].name] = value
    loglik = model.compile_logp(vars=model.observed_RVs, jacobian=False)(point)
    np.testing.assert_allclose(case.hand.nll(p), -loglik, rtol=1e-12)


# -- gradients and the unconstrained map --------------------------------------------


@pytest.mark.parametrize(("name", "intercept"), CASES, ids=IDS)
def test_natural_gradient_vs_finite_differences(name, intercept):
    rng = np.random.default_rng(202)
    case = make_case(name, rng, intercept)
    for _ in range(2):
        p = case.draw(rng)
        g = case.hand.grad(p)
        assert list(g) == list(p)
        for key in p:
            assert np.shape(g[key]) == np.shape(p[key]), key
        if name == "Categorical":
            # along the simplex: directional derivatives in zero-sum directions
            assert abs(np.sum(g["p"])) < 1e-10 * np.max(np.abs(g["p"]))
            for _ in range(3):
                d = rng.normal(size=4)
                d -= d.mean()
                h = 1e-6
                fd = (case.hand.nll({"p": p["p"] + h * d}) - case.hand.nll({"p": p["p"] - h * d})) / (2 * h)
                np.testing.assert_allclose(g["p"] @ d, fd, rtol=1e-6)
            continue
        fd = central_diff(lambda v, p=p: case.hand.nll(unflat(p, v)), flat(p))
        np.testing.assert_allclose(flat(g), fd, rtol=1e-6, atol=1e-7 * np.max(np.abs(fd)))


@pytest.mark.parametrize(("name", "intercept"), CASES, ids=IDS)
def test_unconstrained_gradient_vs_finite_differences(name, intercept):
    rng = np.random.default_rng(303)
    case = make_case(name, rng, intercept)
    hand = case.hand
    for _ in range(2):
        u = hand.to_unconstrained(case.draw(rng))
        assert u.shape == (hand.n_free,)
        f, g = hand.nll_and_grad_unconstrained(u)
        assert f == hand.nll(hand.from_unconstrained(u))
        fd = central_diff(lambda v: hand.nll_and_grad_unconstrained(v)[0], u)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * np.max(np.abs(fd)))


@pytest.mark.parametrize(("name", "intercept"), CASES, ids=IDS)
def test_unconstrained_round_trip(name, intercept):
    rng = np.random.default_rng(404)
    case = make_case(name, rng, intercept)
    p = case.draw(rng)
    back = case.hand.from_unconstrained(case.hand.to_unconstrained(p))
    assert list(back) == list(case.hand.param_names) == list(p)
    for key in p:
        assert type(back[key]) is (float if np.ndim(p[key]) == 0 else np.ndarray)
        np.testing.assert_allclose(back[key], p[key], rtol=1e-13, atol=1e-15)


def test_unconstrained_parameterizations():
    h = hw.CategoricalNLL([0, 1, 2, 2], 3)
    np.testing.assert_allclose(h.to_unconstrained({"p": [0.25, 0.25, 0.5]}), [0.0, np.log(2.0)], rtol=1e-15)
    np.testing.assert_allclose(h.from_unconstrained([0.0, np.log(2.0)])["p"], [0.25, 0.25, 0.5], rtol=1e-15)
    np.testing.assert_allclose(
        hw.BernoulliNLL([0, 1]).to_unconstrained({"p": 0.8}), [np.log(4.0)], rtol=1e-15
    )
    u = hw.NormalNLL([1.0, 2.0]).to_unconstrained({"mu": -3.0, "sigma": 2.0})
    np.testing.assert_allclose(u, [-3.0, np.log(2.0)], rtol=1e-15)
    h = hw.SoftmaxRegressionNLL([[0.0], [1.0], [2.0], [3.0]], [0, 1, 2, 1], 3)
    p = {"intercept": np.array([1.0, 2.0]), "beta": np.array([[3.0, 4.0]])}
    np.testing.assert_array_equal(h.to_unconstrained(p), [1.0, 2.0, 3.0, 4.0])


# -- names and layouts match the families ---------------------------------------------


@pytest.mark.parametrize(("name", "intercept"), CASES, ids=IDS)
def test_layout_matches_family(name, intercept):
    case = make_case(name, np.random.default_rng(7), intercept)
    hand = case.hand
    assert hand.family == name
    if name in REGRESSIONS:
        y = hand.codes if name == "SoftmaxRegression" else hand.y
        extra = {"offset": hand.offset} if name == "PoissonRegression" else {}
        family = getattr(families, name)(hand.X, y, intercept=intercept, **extra)
    elif name == "Binomial":
        family = families.Binomial(hand.k, hand.n)
    elif name == "Categorical":
        family = families.Categorical(hand.codes, k=hand.k)
    else:
        family = getattr(families, name)(hand.y if name == "Bernoulli" else hand.x)
    assert hand.param_names == family.param_names
    assert hand.n_obs == family.n_obs
    # the family's own hand-written NLL is this class on the same data
    own = family.hand_nll()
    assert type(own) is type(hand)
    p = case.draw(np.random.default_rng(8))
    np.testing.assert_allclose(own.nll(p), hand.nll(p), rtol=1e-14)
    start = hand.start()
    assert list(start) == list(hand.param_names)
    assert np.isfinite(hand.nll(start))


def test_every_built_in_family_has_a_hand_written_nll():
    assert {cls.__name__ for cls in families.BUILT_IN} == set(families.__all__) - {"Family"}
    hand_classes = {name for name in hw.__all__ if name.endswith("NLL") and name != "HandNLL"}
    assert hand_classes == {f"{cls.__name__}NLL" for cls in families.BUILT_IN}


# -- numerically stable at extreme parameter values ----------------------------------


def test_logistic_and_softmax_stable_for_large_linear_predictors():
    X = [[-1.0], [0.0], [1.0], [2.0]]
    h = hw.LogisticRegressionNLL(X, [0, 1, 0, 1])
    # eta = 1000 x: one point misclassified by 1000, one at eta = 0, two right by a mile
    p = {"intercept": 0.0, "beta": np.array([1000.0])}
    assert h.nll(p) == pytest.approx(1000.0 + np.log(2.0), rel=1e-15)
    np.testing.assert_allclose(flat(h.grad(p)), [0.5, 1.0], rtol=1e-15)
    s = hw.SoftmaxRegressionNLL(X, [0, 1, 2, 2], 3)
    q = {"intercept": np.array([0.0, 0.0]), "beta": np.array([[800.0, -800.0]])}
    # logits [0, 800 x, -800 x]; codes 0, 1, 2, 2 cost 800, log 3, 1600 and 3200
    assert s.nll(q) == pytest.approx(800.0 + np.log(3.0) + 1600.0 + 3200.0, rel=1e-15)
    assert np.all(np.isfinite(flat(s.grad(q))))


def test_boundary_values_of_closed_supports():
    assert hw.BernoulliNLL([0, 0, 0]).nll({"p": 0.0}) == 0.0
    assert hw.BernoulliNLL([0, 1]).nll({"p": 1.0}) == np.inf
    assert hw.PoissonNLL([0, 0]).nll({"lam": 0.0}) == 0.0
    np.testing.assert_allclose(hw.CategoricalNLL([0, 0, 2], 3).nll({"p": [0.5, 0.0, 0.5]}), 3 * np.log(2.0))
    with pytest.raises(ValueError, match=r"`p` must be in \(0, 1\); got 0.0"):
        hw.BernoulliNLL([0, 0, 1]).grad({"p": 0.0})
    with pytest.raises(
        ValueError, match=r"`p` must be positive \(interior of the simplex\); got 0.0 at index 1"
    ):
        hw.CategoricalNLL([0, 0, 2], 3).to_unconstrained({"p": [0.5, 0.0, 0.5]})


def test_overflowing_unconstrained_points_are_rejected_without_warnings():
    # exp(800) overflows, expit(40) rounds to 1, exp(eta) overflows: (inf, nan), no RuntimeWarning
    for hand, u in [
        (hw.NormalNLL([1.0, 2.0]), [0.0, 800.0]),
        (hw.NormalNLL([1.0, 2.0]), [0.0, -800.0]),
        (hw.BernoulliNLL([0, 1]), [40.0]),
        (hw.PoissonRegressionNLL([[0.0], [1.0], [2.0]], [1, 0, 3]), [0.0, 800.0]),
    ]:
        f, g = hand.nll_and_grad_unconstrained(np.array(u))
        assert f == np.inf and np.all(np.isnan(g))


# -- minimize_nll: score equations and independent Newton solves -----------------------


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_gamma_score_equations(seed):
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.5, 1 / 1.5, size=80)
    fit = hw.minimize_nll(hw.GammaNLL(x))
    assert fit.success, fit.message
    a, b = fit.params["alpha"], fit.params["beta"]
    # the residual is -(g_alpha + g_beta / mean x) of the mean NLL; with |g_u| <= gtol = 1e-10
    # on u = (log alpha, log beta) and beta ~ alpha / mean x, it is at most about 2 gtol / alpha
    assert abs(np.log(a) - digamma(a) - (np.log(x.mean()) - np.log(x).mean())) < 2e-10 / a
    np.testing.assert_allclose(b, a / x.mean(), rtol=1e-10)
    ref = gamma_mle(x)
    np.testing.assert_allclose([a, b], [ref["alpha"], ref["beta"]], rtol=1e-9)
    assert fit.grad_norm < 1e-7


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_logistic_score_equations(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 2))
    y = (rng.uniform(size=120) < expit(-0.5 + X @ [1.0, 0.7])).astype(float)
    fit = hw.minimize_nll(hw.LogisticRegressionNLL(X, y))
    assert fit.success, fit.message
    X1 = _X1(X, True)
    coef = _coef(fit.params)
    assert np.max(np.abs(X1.T @ (y - expit(X1 @ coef)))) < 1e-7
    np.testing.assert_allclose(coef, logistic_mle(X1, y), rtol=1e-8)
    assert fit.grad_norm < 1e-7


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_poisson_regression_score_equations(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(100, 2))
    offset = np.log(rng.uniform(1.0, 3.0, size=100))
    y = rng.poisson(np.exp(0.3 + X @ [0.5, -0.2] + offset))
    fit = hw.minimize_nll(hw.PoissonRegressionNLL(X, y, offset=offset))
    assert fit.success, fit.message
    X1 = _X1(X, True)
    coef = _coef(fit.params)
    assert np.max(np.abs(X1.T @ (y - np.exp(X1 @ coef + offset)))) < 1e-7
    np.testing.assert_allclose(coef, poisson_reg_mle(X1, y, offset), rtol=1e-8)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_softmax_score_equations(seed):
    rng = np.random.default_rng(seed)
    case = make_case("SoftmaxRegression", rng)
    hand = case.hand
    fit = hw.minimize_nll(hand)
    assert fit.success, fit.message
    X1 = _X1(hand.X, True)
    B = _coef(fit.params)  # (q, k-1)
    P = softmax(np.column_stack([np.zeros(hand.n_obs), X1 @ B]), axis=1)
    score = X1.T @ (np.eye(3)[hand.codes] - P)[:, 1:]
    assert np.max(np.abs(score)) < 1e-7
    np.testing.assert_allclose(B, np.reshape(softmax_mle(X1, hand.codes, 3), B.shape), rtol=1e-8)


@pytest.mark.parametrize(
    "name", ["Normal", "Gamma", "Categorical", "LogisticRegression", "SoftmaxRegression"]
)
def test_lbfgsb_agrees_with_bfgs(name):
    hand = make_case(name, np.random.default_rng(21)).hand
    a = hw.minimize_nll(hand, method="BFGS")
    b = hw.minimize_nll(hand, method="L-BFGS-B")
    assert a.success and b.success, (a.message, b.message)
    assert b.method == "L-BFGS-B"
    np.testing.assert_allclose(flat(b.params), flat(a.params), rtol=1e-7, atol=1e-9)


def test_minimize_from_a_given_start_and_reports_counts():
    hand = hw.NormalNLL([1.0, 2.0, 4.0])
    fit = hw.minimize_nll(hand, {"mu": 100.0, "sigma": 0.01})
    assert fit.success and fit.n_iter >= 1 and fit.n_eval >= fit.n_iter
    np.testing.assert_allclose([fit.params["mu"], fit.params["sigma"]], [7 / 3, np.sqrt(14 / 9)], rtol=1e-9)
    np.testing.assert_allclose(fit.nll, 1.5 * np.log(2 * np.pi * 14 / 9) + 1.5, rtol=1e-13)
    assert "at most gtol" in fit.message


def test_minimize_reports_failure_when_the_iteration_limit_stops_it():
    fit = hw.minimize_nll(make_case("Gamma", np.random.default_rng(3)).hand, maxiter=2)
    assert not fit.success
    assert "above gtol" in fit.message
    assert fit.grad_norm > 1e-3


def test_boundary_mle_is_approached_with_a_small_unconstrained_gradient():
    # class 3 never occurs: the MLE has p[3] = 0, u[2] -> -inf; the mean-NLL gradient vanishes
    fit = hw.minimize_nll(hw.CategoricalNLL([0, 1, 1, 2, 2, 2], 4))
    assert fit.success, fit.message
    np.testing.assert_allclose(fit.params["p"], [1 / 6, 2 / 6, 3 / 6, 0.0], rtol=1e-8, atol=1e-9)


# -- gradient descent ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_logistic():
    rng = np.random.default_rng(8)
    x = rng.normal(size=100)
    x = (x - x.mean()) / x.std()
    y = (rng.uniform(size=100) < expit(0.4 + 1.2 * x)).astype(int)
    return hw.LogisticRegressionNLL(x[:, None], y)


def test_gradient_descent_converges_to_the_mle(small_logistic):
    gd = hw.gradient_descent(small_logistic, learning_rate=1.0, tol=1e-9)
    ref = hw.minimize_nll(small_logistic)
    assert gd.converged and ref.success
    assert 10 < gd.n_iter < 2000
    assert gd.grad_norm < gd.tol == 1e-9 and gd.learning_rate == 1.0
    np.testing.assert_allclose(flat(gd.params), flat(ref.params), rtol=1e-5)
    np.testing.assert_allclose(gd.nll, ref.nll, rtol=1e-12)
    assert gd.history[0] == pytest.approx(np.log(2.0), rel=1e-15)  # zeros: p = 1/2 for everyone
    assert gd.history[-1] == pytest.approx(ref.nll / 100, rel=1e-12)
    assert np.all(np.diff(gd.history) <= 0)  # a stable step size never raises the NLL
    assert gd.history_iter[-1] == gd.n_iter and gd.message.startswith("Converged")


def test_gradient_descent_stops_at_max_iter(small_logistic):
    gd = hw.gradient_descent(small_logistic, learning_rate=0.1, max_iter=5)
    assert not gd.converged and gd.n_iter == 5
    assert gd.grad_norm > gd.tol
    assert "Stopped at max_iter = 5" in gd.message
    np.testing.assert_array_equal(gd.history_iter, [0, 1, 2, 3, 4, 5])


def test_gradient_descent_history_is_bounded(small_logistic):
    gd = hw.gradient_descent(small_logistic, learning_rate=1e-4, max_iter=3000, tol=1e-12)
    assert not gd.converged and gd.n_iter == 3000
    assert len(gd.history) == len(gd.history_iter) == 1001
    np.testing.assert_array_equal(gd.history_iter[:3], [0, 3, 6])


def test_gradient_descent_too_large_learning_rate_oscillates(small_logistic):
    # curvature of the mean NLL at the MLE is about 0.2, so steps of 50 overshoot every time
    gd = hw.gradient_descent(small_logistic, learning_rate=50.0, max_iter=2000)
    assert not gd.converged
    assert gd.grad_norm > 1e-2
    assert np.ptp(gd.history[-100:]) > 0.1  # still jumping around after 2000 steps


def test_gradient_descent_blow_up_is_reported():
    h = hw.LogisticRegressionNLL([[-3000.0], [-1000.0], [1000.0], [2000.0]], [0, 1, 0, 1])
    gd = hw.gradient_descent(h, learning_rate=1e307)
    assert not gd.converged and gd.nll == np.inf and gd.n_iter == 1
    assert gd.message.startswith("Diverged: the NLL became non-finite at iteration 1")


def test_gradient_descent_softmax_converges():
    hand = make_case("SoftmaxRegression", np.random.default_rng(9)).hand
    gd = hw.gradient_descent(hand, learning_rate=2.0, tol=1e-9, max_iter=20_000)
    ref = hw.minimize_nll(hand)
    assert gd.converged, gd.message
    np.testing.assert_allclose(flat(gd.params), flat(ref.params), rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"learning_rate": 0.0}, r"`learning_rate` must be a positive finite number; got 0.0"),
        ({"learning_rate": np.inf}, r"`learning_rate` must be a positive finite number; got inf"),
        ({"learning_rate": "fast"}, r"`learning_rate` must be a positive finite number; got 'fast'"),
        ({"max_iter": 0}, r"`max_iter` must be a whole number >= 1; got 0"),
        ({"max_iter": 10.5}, r"`max_iter` must be a whole number >= 1; got 10.5"),
        ({"tol": -1e-6}, r"`tol` must be a positive finite number; got -1e-06"),
    ],
)
def test_gradient_descent_argument_rules(small_logistic, kwargs, match):
    with pytest.raises(ValueError, match=match):
        hw.gradient_descent(small_logistic, **kwargs)


def test_gradient_descent_refuses_other_families():
    with pytest.raises(TypeError, match=r"`hand` must be a LogisticRegressionNLL or SoftmaxRegressionNLL"):
        hw.gradient_descent(hw.NormalNLL([1.0, 2.0]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "Nelder-Mead"}, r"`method` must be one of \('BFGS', 'L-BFGS-B'\); got 'Nelder-Mead'"),
        ({"gtol": 0.0}, r"`gtol` must be a positive finite number; got 0.0"),
        ({"maxiter": 0}, r"`maxiter` must be a whole number >= 1; got 0"),
    ],
)
def test_minimize_argument_rules(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hw.minimize_nll(hw.NormalNLL([1.0, 2.0]), **kwargs)


# -- parameter and data rules: one test per rule -------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda h: h.nll({"mu": 1.0}), r"exactly the keys \['mu', 'sigma'\] for Normal; missing \['sigma'\]"),
        (lambda h: h.nll({"mu": 1.0, "sigma": 1.0, "tau": 2}), r"unknown \['tau'\]"),
        (
            lambda h: h.nll({"mu": [1.0, 2.0], "sigma": 1.0}),
            r"`mu` must have shape \(\) for Normal; got \(2,\)",
        ),
        (lambda h: h.nll({"mu": "a", "sigma": 1.0}), r"`mu` must be numeric; got 'a'"),
        (lambda h: h.nll({"mu": np.nan, "sigma": 1.0}), r"`mu` must be finite; got nan"),
        (lambda h: h.nll({"mu": 1.0, "sigma": -1.0}), r"`sigma` must be positive; got -1.0"),
        (lambda h: h.grad({"mu": 1.0, "sigma": 0.0}), r"`sigma` must be positive; got 0.0"),
        (lambda h: h.from_unconstrained([1.0]), r"`u` must be a 1-dimensional array of length 2; got shape"),
    ],
)
def test_parameter_rules(call, match):
    with pytest.raises(ValueError, match=match):
        call(hw.NormalNLL([1.0, 2.0, 4.0]))


def test_parameter_rules_probabilities():
    with pytest.raises(ValueError, match=r"`p` must be in \[0, 1\]; got 1.5"):
        hw.BernoulliNLL([0, 1]).nll({"p": 1.5})
    with pytest.raises(ValueError, match=r"`p` must sum to 1; got sum 0.9"):
        hw.CategoricalNLL([0, 1], 2).nll({"p": [0.5, 0.4]})
    with pytest.raises(ValueError, match=r"`p` must be non-negative; got -0.5 at index 0"):
        hw.CategoricalNLL([0, 1], 2).nll({"p": [-0.5, 1.5]})
    with pytest.raises(TypeError, match=r"`params` must be a mapping"):
        hw.BernoulliNLL([0, 1]).nll([0.5])


X4 = [[0.0], [1.0], [2.0], [4.0]]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: hw.NormalNLL([]), r"`x` must not be empty; got shape \(0,\)"),
        (lambda: hw.NormalNLL([[1.0, 2.0]]), r"`x` must be 1-dimensional; got an array with shape \(1, 2\)"),
        (lambda: hw.NormalNLL(["a", "b"]), r"`x` must be numeric"),
        (lambda: hw.NormalNLL([1.0, np.nan]), r"`x` must be finite; found nan at index 1"),
        (lambda: hw.NormalNLL([5.0, 5.0]), r"at least two different values for Normal.*unbounded"),
        (lambda: hw.LogNormalNLL([1.0, -2.0]), r"`x` must be positive for LogNormal; found -2.0 at index 1"),
        (lambda: hw.LogNormalNLL([3.0, 3.0]), r"at least two different values for LogNormal"),
        (lambda: hw.GammaNLL([1.0, 0.0]), r"`x` must be positive for Gamma; found 0.0 at index 1"),
        (lambda: hw.GammaNLL([2.0, 2.0]), r"at least two different values for Gamma"),
        (lambda: hw.BernoulliNLL([0, 1, 2]), r"`y` must be 0 or 1 for Bernoulli; found 2.0 at index 2"),
        (lambda: hw.PoissonNLL([1, -3]), r"`x` must be non-negative for Poisson; found -3.0 at index 1"),
        (lambda: hw.PoissonNLL([1, 2.5]), r"`x` must be whole numbers for Poisson; found 2.5 at index 1"),
        (lambda: hw.ExponentialNLL([1.0, -1.0]), r"`x` must be non-negative for Exponential; found -1.0"),
        (lambda: hw.ExponentialNLL([0.0, 0.0]), r"must not be all zero for Exponential"),
        (lambda: hw.BinomialNLL([1, 5], 4), r"`k` must be at most n for Binomial; found 5.0 at index 1"),
        (lambda: hw.BinomialNLL([1, 2], 0), r"`n` must be at least 1 for Binomial; found 0.0 at index 0"),
        (lambda: hw.BinomialNLL([1, 2], [3, 4, 5]), r"`n` must be a number or have the shape of `k`"),
        (lambda: hw.CategoricalNLL([0, 1, 5], 3), r"`codes` must be in 0..2 for Categorical; found 5.0"),
        (lambda: hw.CategoricalNLL([0, 1], True), r"`k` must be a whole number >= 2; got True"),
        (lambda: hw.LinearRegressionNLL([1.0, 2.0, 3.0], [1, 2, 3]), r"`X` must be 2-dimensional"),
        (
            lambda: hw.LinearRegressionNLL(X4, [1.0, 2.0, 3.0]),
            r"`X` and `y` must have the same number of rows",
        ),
        (lambda: hw.LinearRegressionNLL(X4, [1.0, np.inf, 2.0, 0.0]), r"`y` must be finite; found inf"),
        (lambda: hw.LinearRegressionNLL([[0.0], [1.0]], [1.0, 2.0]), r"more rows than coefficients"),
        (
            lambda: hw.LinearRegressionNLL([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0], [5.0, 10.0]], [1, 2, 3, 0]),
            r"full column rank; the columns \['0', '1'\] are collinear",
        ),
        (
            lambda: hw.LinearRegressionNLL([[1.0, 2.0], [1.0, 4.0], [1.0, 6.0], [1.0, 9.0]], [1, 2, 3, 0]),
            r"constant \(zero-variance\) columns with an intercept; column '0' is 1.0 in every row",
        ),
        (lambda: hw.LogisticRegressionNLL(X4, [0, 1, 2, 1]), r"`y` must be 0 or 1 for LogisticRegression"),
        (
            lambda: hw.PoissonRegressionNLL(X4, [0, 1, -2, 1]),
            r"`y` must be non-negative for PoissonRegression",
        ),
        (
            lambda: hw.PoissonRegressionNLL(X4, [0, 1, 0.5, 1]),
            r"`y` must be whole numbers for PoissonRegression",
        ),
        (lambda: hw.PoissonRegressionNLL(X4, [0, 1, 2, 1], offset=[0.0, 1.0]), r"`X` and `offset` must have"),
        (
            lambda: hw.PoissonRegressionNLL(X4, [0, 1, 2, 1], offset=[0, 0, np.nan, 0]),
            r"`offset` must be finite",
        ),
        (
            lambda: hw.SoftmaxRegressionNLL(X4, [0, 1, 3, 1], 3),
            r"`codes` must be in 0..2 for SoftmaxRegression",
        ),
        (lambda: hw.SoftmaxRegressionNLL(X4, [0, 1, 0, 1], 3), r"every class 0..2.*class 2 never occurs"),
        (
            lambda: hw.SoftmaxRegressionNLL(X4, [0, 1, 2], 3),
            r"`X` and `codes` must have the same number of rows",
        ),
    ],
)
def test_data_rules(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_inputs_are_copied_not_modified():
    x = np.array([1.0, 2.0, 4.0])
    h = hw.NormalNLL(x)
    before = h.nll({"mu": 2.0, "sigma": 1.0})
    x[0] = 100.0
    assert h.nll({"mu": 2.0, "sigma": 1.0}) == before
    X, y = np.array(X4), np.array([0.0, 1.0, 0.0, 1.0])
    params = {"intercept": 0.1, "beta": np.array([0.2])}
    kept = params["beta"].copy()
    hw.LogisticRegressionNLL(X, y).grad(params)
    hw.minimize_nll(hw.LogisticRegressionNLL(X, y), params)
    np.testing.assert_array_equal(params["beta"], kept)
    np.testing.assert_array_equal(X, X4)

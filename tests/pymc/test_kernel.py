"""The numerical kernel on what users bring: realistic scales, far starts, many parameters, float32.

Each of the failures that the kernel was rewritten for is pinned here to the right number:
responses in the thousands or millions (find_MAP stopped far away and a probe then called the
likelihood unbounded), extreme units (under- and overflowing standard errors), models with
many coefficients (which used a Scan), and float32 models.
"""

import warnings

import numpy as np
import pymc as pm
import pytensor
import pytest
import scipy.linalg
import statsmodels.api as sm

import pplmle as pl
from pplmle.core import messages
from pplmle.pymc import kernel


def strict_fit(model, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", pl.PPLMLEWarning)
        return pl.mle(model, strict=True, **kw)


def qr_lstsq(X1, y):
    """Least squares by QR on the column-scaled design (the textbook reference)."""
    scale = np.linalg.norm(X1, axis=0)
    Q, R = np.linalg.qr(X1 / scale)
    coef = scipy.linalg.solve_triangular(R, Q.T @ y) / scale
    # the residuals on the orthonormal basis (X1 @ coef cancels catastrophically when X1 is
    # ill-conditioned)
    return coef, np.sqrt(np.mean((y - Q @ (Q.T @ y)) ** 2))


# -- the examples of the issue -------------------------------------------------------------------


def test_birth_weights_in_grams():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10000, 2))
    y = 3300 + 500 * (X @ [0.2, 0.1] + rng.normal(size=10000))
    res = strict_fit(pl.LinearRegression(X, y))
    coef, sigma = qr_lstsq(np.column_stack([np.ones(len(y)), X]), y)
    assert res.converged and res.diagnostics == ()
    np.testing.assert_allclose(res.params["intercept"], coef[0], rtol=1e-12)
    np.testing.assert_allclose(res.params["beta"], coef[1:], rtol=1e-10)
    np.testing.assert_allclose(res.params["sigma"], sigma, rtol=1e-10)
    ols = sm.OLS(y, sm.add_constant(X)).fit()
    # statsmodels divides by n - p; the MLE by n
    np.testing.assert_allclose(res.se["beta"], ols.bse[1:] * np.sqrt((len(y) - 3) / len(y)), rtol=1e-6)


def test_normal_family_in_millions():
    x = np.array([1, 2, 4, 7, 3]) * 1e6
    res = strict_fit(pl.Normal(x))
    np.testing.assert_allclose(res.params["mu"], 3.4e6, rtol=1e-13)
    np.testing.assert_allclose(res.params["sigma"], x.std(), rtol=1e-12)
    assert res.converged and res.diagnostics == ()


def test_user_normal_model_near_3e5_from_its_prior_mean():
    x = np.random.default_rng(1).normal(3e5, 1e3, size=50)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)  # find_MAP starts at mu = 0, 300 SDs of the data away
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", mu, sigma, observed=x)
    res = strict_fit(model)
    np.testing.assert_allclose(res.params["mu"], x.mean(), rtol=1e-13)
    np.testing.assert_allclose(res.params["sigma"], x.std(), rtol=1e-10)
    np.testing.assert_allclose(res.se["mu"], x.std() / np.sqrt(50), rtol=1e-8)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_gamma_at_the_edges_of_float64(scale):
    x0 = np.random.default_rng(2).gamma(3.0, 1.0, size=40)
    ref = strict_fit(pl.Gamma(x0))
    res = strict_fit(pl.Gamma(x0 * scale))
    np.testing.assert_allclose(res.params["alpha"], ref.params["alpha"], rtol=1e-10)
    np.testing.assert_allclose(res.params["beta"], ref.params["beta"] / scale, rtol=1e-10)
    np.testing.assert_allclose(res.se["alpha"], ref.se["alpha"], rtol=1e-8)
    np.testing.assert_allclose(res.se["beta"], ref.se["beta"] / scale, rtol=1e-8)
    assert 0 < res.se["beta"] < np.inf


@pytest.mark.parametrize("scale", [1e-8, 1e-300, 1e200, 1e300])
def test_normal_at_any_scale(scale):
    x0 = np.array([1.0, 2.0, 4.0, 7.0, 3.0])
    res = strict_fit(pl.Normal(x0 * scale))  # no singular Hessian, no "start outside the support"
    np.testing.assert_allclose(res.params["mu"], 3.4 * scale, rtol=1e-12)
    np.testing.assert_allclose(res.params["sigma"], x0.std() * scale, rtol=1e-12)
    np.testing.assert_allclose(res.se["mu"], x0.std() * scale / np.sqrt(5), rtol=1e-9)
    np.testing.assert_allclose(res.se["sigma"], x0.std() * scale / np.sqrt(10), rtol=1e-9)


# -- convergence is verified, never vacuous ----------------------------------------------------------


def test_decrement_bounds_every_parameter_in_standard_errors():
    # for a quadratic NLL the Newton step is the exact distance to the optimum
    H = np.array([[[4.0, 3.0], [3.0, 3.0]]])
    g = np.array([[1e-3, -2e-3]])
    c = kernel.curvature(H)
    step, dec = kernel.newton_step(c, g)
    np.testing.assert_allclose(step[0], -np.linalg.solve(H[0], g[0]), rtol=1e-12)
    se = np.sqrt(np.diag(np.linalg.inv(H[0])))
    np.testing.assert_allclose(dec[0], np.sqrt(g[0] @ np.linalg.solve(H[0], g[0])), rtol=1e-12)
    assert np.all(np.abs(step[0]) <= dec[0] * se * (1 + 1e-12))


def test_scaled_singularity_test_ignores_units():
    # a well-identified 2-parameter Hessian with entries 1e-280 and 1e280 (raw condition number
    # 1e560): scaled to a unit diagonal it is [[1, 0.5], [0.5, 1]], condition number 3
    H = np.array([[[1e-280, 0.5], [0.5, 1e280]]])
    c = kernel.curvature(H)
    assert c.pd[0]
    np.testing.assert_allclose(c.cond[0], 3.0, rtol=1e-12)


class _Broken:
    """A NumPy objective (the NLL of a Normal sample in (mu, log sigma), at 2**400 times the data's
    units) whose compiled Hessian, as PyTensor's does there, has left float64."""

    def __init__(self, x):
        self.x = np.asarray(x, dtype=float)

    def value_grad(self, U, rows):
        mu, ls = U[:, :1], U[:, 1:]
        z = (self.x[None, :] - mu) / np.exp(ls)
        f = self.x.size * ls[:, 0] + 0.5 * np.sum(z**2, axis=1)
        g = np.column_stack([-np.sum(z, axis=1) / np.exp(ls[:, 0]), self.x.size - np.sum(z**2, axis=1)])
        return f, g

    def full(self, U, rows):
        f, g = self.value_grad(U, rows)
        H = np.full((U.shape[0], 2, 2), np.nan)
        H[:, 0, 0] = np.inf
        return {"objective": f, "grad": g, "hess": H}


def test_hessian_from_differences_of_the_gradient_where_the_compiled_one_fails():
    x = 2.0**400 * (np.arange(10.0) - 3.0)
    mu, sigma = x.mean(), x.std()
    U = np.array([[mu, np.log(sigma)]])
    fun = _Broken(x)
    H, differences, untrusted = kernel.hessians(fun, U, np.zeros(1, dtype=int), fun.full(U, None))
    assert differences[0] and not untrusted[0]
    true = np.array([[x.size / sigma**2, 0.0], [0.0, 2.0 * x.size]])
    D = 1.0 / np.sqrt(np.diag(true))
    np.testing.assert_allclose(D[:, None] * H[0] * D[None, :], np.eye(2), rtol=0, atol=1e-10)
    res = kernel.assess(_with_reported(fun), U)
    assert res["ok"][0] and res["differences"][0]
    np.testing.assert_allclose(
        res["se"][0], [sigma / np.sqrt(x.size), 1.0 / np.sqrt(2.0 * x.size)], rtol=1e-10
    )


def test_differences_that_disagree_give_no_standard_errors():
    # |u_0| has a kink at the point: the differences at h, 2h and 4h disagree, so the Hessian is
    # untrusted, never positive definite, and the verdict says why
    class Kink:
        def value_grad(self, U, rows):
            return np.abs(U[:, 0]) + U[:, 1] ** 2, np.column_stack([np.sign(U[:, 0]), 2.0 * U[:, 1]])

        def full(self, U, rows):
            f, g = self.value_grad(U, rows)
            return {"objective": f, "grad": g, "hess": np.full((U.shape[0], 2, 2), np.inf)}

    U = np.zeros((1, 2))
    res = kernel.assess(_with_reported(Kink()), U)
    assert res["differences"][0] and not res["ok"][0] and not res["curv"].pd[0]
    assert kernel.hessian_problem(res["curv"], 0) == messages.hessian_differences_inconsistent()


def _with_reported(fun):
    """`fun` with the reported values the parameters themselves."""

    class WithReported:
        def value_grad(self, U, rows):
            return fun.value_grad(U, rows)

        def full(self, U, rows):
            out = dict(fun.full(U, rows))
            out["loglik"] = -out["objective"]
            out["reported"] = U.copy()
            out["jac"] = np.broadcast_to(np.eye(U.shape[1]), (U.shape[0], U.shape[1], U.shape[1])).copy()
            return out

    return WithReported()


# -- many parameters: no Scan ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def wide_regression():
    rng = np.random.default_rng(3)
    n, p = 400, 40  # many parameters with a symbolic shape
    X = rng.normal(size=(n, p))
    y = 2.0 + X @ rng.uniform(-1, 1, size=p) + rng.normal(size=n)
    with pm.Model(coords={"col": [f"x{j}" for j in range(p)]}) as model:
        a = pm.Normal("a", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, dims="col")  # symbolic shape
        sigma = pm.HalfNormal("sigma", 10.0)
        pm.Normal("y", a + pm.math.dot(X, beta), sigma, observed=y)
    return model, X, y


def test_user_regression_with_many_coefficients_and_dims_matches_least_squares(wide_regression):
    model, X, y = wide_regression
    res = strict_fit(model)
    coef, sigma = qr_lstsq(np.column_stack([np.ones(len(y)), X]), y)
    np.testing.assert_allclose(res.params["a"], coef[0], rtol=1e-10)
    np.testing.assert_allclose(res.params["beta"], coef[1:], rtol=1e-9)
    np.testing.assert_allclose(res.params["sigma"], sigma, rtol=1e-10)
    ols = sm.OLS(y, sm.add_constant(X)).fit()
    n, q = X.shape[0], X.shape[1] + 1
    np.testing.assert_allclose(res.se["beta"], ols.bse[1:] * np.sqrt((n - q) / n), rtol=1e-6)


# -- float32 ---------------------------------------------------------------------------------------


def test_float32_models_fit_and_report_in_float64():
    x = np.random.default_rng(4).normal(50.0, 3.0, size=30)
    with pytensor.config.change_flags(floatX="float32"):
        with pm.Model() as model:
            mu = pm.Normal("mu", 0.0, 100.0)
            sigma = pm.HalfNormal("sigma", 10.0)
            pm.Normal("y", mu, sigma, observed=x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pl.ConvergenceWarning)  # float32 rounding may stop it early
            res = pl.mle(model)
    assert isinstance(res.params["mu"], float)
    # float32 arithmetic: about 1e-6 relative, far inside a standard error
    np.testing.assert_allclose(res.params["mu"], x.mean(), rtol=1e-5)
    np.testing.assert_allclose(res.params["sigma"], x.std(), rtol=1e-4)
    np.testing.assert_allclose(res.se["mu"], x.std() / np.sqrt(30), rtol=1e-3)


def test_float32_entry_points_that_need_float64_say_so():
    x = np.random.default_rng(4).normal(50.0, 3.0, size=30)
    with pytensor.config.change_flags(floatX="float32"):
        with pm.Model() as model:
            data = pm.Data("x", x)
            mu = pm.Normal("mu", 0.0, 100.0)
            sigma = pm.HalfNormal("sigma", 10.0)
            pm.Normal("y", mu, sigma, observed=data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pl.ConvergenceWarning)
            res = pl.mle(model)
            surf = pl.surface(model, {"mu": np.linspace(48.0, 52.0, 5)}, {"sigma": 3.0})
        assert np.all(np.isfinite(surf.loglik.values))
        with pytest.raises(
            ValueError, match=r"constrained fit .* float64; the free variable\(s\) \['mu', 'sigma'\]"
        ):
            res.conf_int(method="profile")
        with pytest.raises(ValueError, match=r"\(simulate, bootstrap\) needs a model built in float64"):
            pl.simulate(model, true={"mu": 50.0, "sigma": 3.0}, reps=5, seed=1, progressbar=False)


# -- regressions at any scale and conditioning ------------------------------------------------------


def _design(n, cond, rng):
    """A design whose column-scaled version has condition number `cond`."""
    p = 4
    U, _ = np.linalg.qr(rng.normal(size=(n, p)))
    V, _ = np.linalg.qr(rng.normal(size=(p, p)))
    X = U @ np.diag(np.logspace(0, -np.log10(cond), p)) @ V.T
    return X / np.linalg.norm(X, axis=0)


@pytest.mark.parametrize("optimizer", ["find_MAP", "compiled"])
@pytest.mark.parametrize(("cond", "magnitude"), [(1e3, 1e9), (1e8, 1e3), (1e12, 1.0), (1e12, 1e9)])
def test_linear_regression_matches_qr_least_squares(optimizer, cond, magnitude):
    rng = np.random.default_rng(int(np.log10(cond)) + 7)
    n = 200
    X = _design(n, cond, rng) * [1.0, 1e3, 1e-4, 10.0]  # columns in different units
    beta = np.array([1.0, -2.0e-3, 5e3, 0.3])
    y = magnitude * (1.0 + X @ beta + 0.1 * rng.normal(size=n))
    res = strict_fit(pl.LinearRegression(X, y), optimizer=optimizer)
    X1 = np.column_stack([np.ones(n), X])
    coef, sigma = qr_lstsq(X1, y)
    # at condition number 1e12 float64 itself cannot pin the solution to 1e-9: two backward-stable
    # solvers (QR, and the SVD's gelsd) differ by up to cond * eps. Demand 1e-9 relative, or
    # agreement with QR as close as the SVD solution comes to it
    scale = np.linalg.norm(X1, axis=0)
    svd = scipy.linalg.lstsq(X1 / scale, y, lapack_driver="gelsd")[0] / scale
    tol = np.maximum(1e-9 * np.abs(coef), 10 * np.abs(svd - coef))
    est = np.concatenate([[res.params["intercept"]], res.params["beta"]])
    assert np.all(np.abs(est - coef) <= tol), (est - coef, tol)
    if cond <= 1e8:
        np.testing.assert_allclose(est, coef, rtol=1e-9)
    np.testing.assert_allclose(res.params["sigma"], sigma, rtol=1e-9)  # well conditioned at any cond


def _gn_model(kind: str) -> pm.Model:
    x = np.linspace(0.0, 4.0, 30)
    y = 2.0 * np.exp(-0.7 * x) + 0.01 * np.random.default_rng(3).normal(size=x.size)
    with pm.Model() as model:
        a, k = pm.Flat("a"), pm.Flat("k")
        if kind == "normal":
            pm.Normal("y", a * pm.math.exp(-k * x), pm.HalfFlat("sigma"), observed=y)
        elif kind == "student":
            pm.StudentT("y", nu=4, mu=a * pm.math.exp(-k * x), sigma=pm.HalfFlat("sigma"), observed=y)
        elif kind == "potential":
            pm.Normal("y", a * pm.math.exp(-k * x), pm.HalfFlat("sigma"), observed=y)
            pm.Potential("pull", -0.5 * a**2)
        elif kind == "wide":
            c = pm.Flat("c", shape=15)
            pm.Normal("y", a * pm.math.exp(-k * x) + c.sum(), pm.HalfFlat("sigma"), observed=y)
    return model


@pytest.mark.parametrize(
    ("kind", "offered"), [("normal", True), ("student", False), ("potential", False), ("wide", False)]
)
def test_gauss_newton_route_only_for_small_normal_response_models(kind, offered):
    from pplmle.pymc.engine import Engine, flatten_priors

    engine = Engine(flatten_priors(_gn_model(kind))[0])
    assert engine.has_gauss_newton is offered
    if not offered:
        with pytest.raises(ValueError, match="gauss_newton=True` needs a model whose likelihood is Normal"):
            engine.optimize(engine.u_default, use_find_map=False, gauss_newton=True)


def test_gauss_newton_curvature_is_the_fisher_information_of_the_normal_observations():
    from pplmle.pymc.engine import Engine, _GaussNewton, flatten_priors

    model = _gn_model("normal")
    engine = Engine(flatten_priors(model)[0])
    u = engine.to_unconstrained({"a": 1.5, "k": 0.5, "sigma": 0.2})
    F = _GaussNewton(engine).full(u[None], np.arange(1))["hess"][0]
    # by hand: d mu / d(a, k) and d log sigma / d(sigma_log__) = 1, per observation
    x = np.linspace(0.0, 4.0, 30)
    J = np.stack([np.exp(-0.5 * x), -1.5 * x * np.exp(-0.5 * x)], axis=1) / 0.2
    order = [name for name, _, _ in engine.point_map]
    expected = np.zeros((3, 3))
    ia, ik, isg = order.index("a"), order.index("k"), order.index("sigma_log__")
    expected[np.ix_([ia, ik], [ia, ik])] = J.T @ J
    expected[isg, isg] = 2.0 * x.size
    np.testing.assert_allclose(F, expected, rtol=1e-12, atol=1e-9)


class _NormalNLL:
    """The NLL of a Normal sample in (mu, log sigma), with its exact Hessian (NumPy)."""

    def __init__(self, x):
        self.x = np.asarray(x, dtype=float)
        self.n_full = 0

    def value_grad(self, U, rows):
        return _Broken.value_grad(self, U, rows)  # type: ignore[arg-type]

    def full(self, U, rows):
        self.n_full += U.shape[0]
        f, g = self.value_grad(U, rows)
        mu, ls = U[:, 0], U[:, 1]
        z = (self.x[None, :] - mu[:, None]) / np.exp(ls)[:, None]
        H = np.empty((U.shape[0], 2, 2))
        H[:, 0, 0] = self.x.size / np.exp(2 * ls)
        H[:, 0, 1] = H[:, 1, 0] = 2.0 * np.sum(z, axis=1) / np.exp(ls)
        H[:, 1, 1] = 2.0 * np.sum(z**2, axis=1)
        return {"objective": f, "grad": g, "hess": H}


def test_a_route_stops_once_it_joins_a_verified_optimum():
    x = np.random.default_rng(3).normal(50.0, 4.0, size=400)
    opt = np.array([x.mean(), np.log(x.std())])
    fun = _NormalNLL(x)
    alone = kernel.newton(fun, np.array([[0.0, 0.0]]))
    n_alone = fun.n_full
    assert alone.status[0] == kernel.CONVERGED
    np.testing.assert_allclose(alone.U[0], opt, rtol=1e-12)

    target = fun.full(opt[None, :], None)
    H = target["hess"][0]

    def join_at(u, f):
        D = 1.0 / np.sqrt(np.diag(H))
        return kernel.Join(u=u, f=f, L=np.linalg.cholesky(D[:, None] * H * D[None, :]), D=D)

    join = join_at(opt, float(target["objective"][0]))
    fun.n_full = 0
    joined = kernel.newton(fun, np.array([[0.0, 0.0]]), join=join)
    assert joined.status[0] == kernel.JOINED
    assert fun.n_full < n_alone  # the last, quadratically convergent iterations are left out
    d = joined.U[0] - opt
    assert np.sqrt(d @ H @ d) <= kernel.JOIN_TOL  # within 0.1 SE of the optimum
    # a target the route never comes near changes nothing
    far = join_at(opt + np.array([100.0, 3.0]), join.f)
    fun.n_full = 0
    other = kernel.newton(fun, np.array([[0.0, 0.0]]), join=far)
    assert other.status[0] == kernel.CONVERGED and fun.n_full == n_alone
    np.testing.assert_array_equal(other.U, alone.U)
    # the basin, as the optimum's quadratic model describes it: at 0.5 SE, the model's objective
    # and gradient are reached; a lower objective, a gradient that the model does not predict (a
    # stationary point there) or a point beyond 2 SE are not
    d = 0.5 * np.array([1.0, 0.0]) / np.sqrt(H[0, 0])
    f_model, g_model = join.f + 0.5 * d @ H @ d, H @ d
    at = (opt + d)[None, :]
    assert join.reached(at, np.array([f_model]), g_model[None, :])[0]
    assert not join.reached(at, np.array([join.f - 1e-6]), g_model[None, :])[0]
    assert not join.reached(at, np.array([f_model]), np.zeros((1, 2)))[0]
    beyond = (opt + 5 * d)[None, :]  # 2.5 SE, on the quadratic model
    assert not join.reached(beyond, np.array([join.f + 12.5 * d @ H @ d]), 5 * g_model[None, :])[0]


class _NoChord(kernel.Join):
    """A target whose chord steps are never tried (their landing put infinitely far)."""

    def chord(self, U, f, G):
        landing, worth = super().chord(U, f, G)
        return landing, np.zeros_like(worth)


def test_a_route_joins_where_a_step_on_the_optimums_hessian_lands_in_its_basin():
    x = np.random.default_rng(3).normal(50.0, 4.0, size=400)
    opt = np.array([x.mean(), np.log(x.std())])
    fun = _NormalNLL(x)
    target = fun.full(opt[None, :], None)
    H, f_opt = target["hess"][0], float(target["objective"][0])
    D = 1.0 / np.sqrt(np.diag(H))
    L = np.linalg.cholesky(D[:, None] * H * D[None, :])
    join = kernel.Join(u=opt, f=f_opt, L=L, D=D)
    # the chord step is -H^-1 g (solved here by NumPy's LU), and the model's miss of the gradient
    # is the distance of its landing point from the optimum in SEs, exactly so on the quadratic
    # model itself
    u = opt + np.array([[0.3, -0.05], [-0.2, 0.08]])
    f_u, g = fun.value_grad(u, None)
    landing, worth = join.chord(u, f_u, g)
    np.testing.assert_allclose(landing, u - np.linalg.solve(H, g.T).T, rtol=1e-13)
    d = landing - opt
    miss = join._measure(u, g)[2]
    assert miss == pytest.approx(np.sqrt(np.einsum("bi,ij,bj->b", d, H, d)), rel=1e-10)
    assert worth.all() and (miss <= kernel.JOIN_TOL).all()
    quad = H @ (u - opt).T  # on the quadratic model the chord lands on the optimum
    assert np.all(join._measure(u, quad.T)[2] < 1e-12)
    np.testing.assert_allclose(join.chord(u, f_u, quad.T)[0], np.tile(opt, (2, 1)), rtol=1e-13)
    # farther out, a step is worth trying where the model predicts the objective's rise and puts
    # the landing at most WALK_RATIO of the distance away; not where it mispredicts the rise
    far = opt + np.array([[3.0, 0.1]])
    f_far, g_far = fun.value_grad(far, None)
    dist, half, miss = join._measure(far, g_far)
    assert kernel.JOIN_TOL < miss[0] <= kernel.WALK_RATIO * dist[0]
    assert abs(f_far[0] - f_opt - half[0]) <= 0.5 * half[0]
    assert join.chord(far, f_far, g_far)[1][0]
    assert not join.chord(far, f_opt + 3 * half, g_far)[1][0]
    # from a poor start, an iterate whose chord step lands in the basin ends the route there: one
    # Newton iteration fewer than the route needs to come within 2 SE by itself
    fun.n_full = 0
    hop = kernel.newton(fun, np.array([[0.0, 0.0]]), join=join)
    n_hop = fun.n_full
    fun.n_full = 0
    walk = kernel.newton(fun, np.array([[0.0, 0.0]]), join=_NoChord(u=opt, f=f_opt, L=L, D=D))
    assert hop.status[0] == walk.status[0] == kernel.JOINED
    assert n_hop < fun.n_full and hop.iters[0] < walk.iters[0]
    for end in (hop.U[0], walk.U[0]):
        d = end - opt
        assert np.sqrt(d @ H @ d) <= kernel.JOIN_TOL
    # a landing point with a lower objective than the optimum's is not taken as its basin
    assert not join.reached(landing[:1], np.array([f_opt - 1e-3]), g[:1])[0]
    # nor a point whose gradient is not finite (an iterate at a bound of the support): no error
    bad = np.array([[np.inf, 0.0], [np.nan, 1.0]])
    assert not join.reached(u, np.array([f_opt, f_opt]), bad).any()
    assert not join.chord(u, np.array([f_opt, f_opt]), bad)[1].any()  # inf or NaN: never tried


def test_routes_join_on_a_users_model_with_dims_data_in_millions_and_a_poor_start():
    """The join on what users bring: coefficients with dims, a response near 2.5e6 and sigma
    started at 1 (the residual scale is 4e4). Both later routes stop in the first route's basin,
    and the fit is the least-squares one, converged."""
    from pplmle.pymc import fitting

    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 3))
    y = 2.5e6 + X @ np.array([3e5, -1e5, 5e4]) + 4e4 * rng.normal(size=500)
    with pm.Model(coords={"col": ["a", "b", "c"]}) as model:
        a = pm.Normal("a", 0.0, 1.0)
        b = pm.Normal("b", 0.0, 1.0, dims="col")
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("y", a + pm.math.dot(X, b), s, observed=y)
    start = {"a": 0.0, "s": 1.0}
    res = strict_fit(model, start=start)
    coef, sigma = qr_lstsq(np.column_stack([np.ones(len(y)), X]), y)
    assert res.converged
    np.testing.assert_allclose(np.r_[res.params["a"], res.params["b"]], coef, rtol=1e-12)
    np.testing.assert_allclose(res.params["s"], sigma, rtol=1e-12)
    engine, _ = fitting.model_engine(model, "MLE", "raise")
    u0 = engine.to_unconstrained(start)
    with engine.lock, engine.single.remembering():
        first = engine.optimize(u0, use_find_map=True)
        join = fitting._join(engine, first, kernel.GTOL)
        assert join is not None
        for gauss_newton in (False, True):
            other = engine.optimize(u0, use_find_map=False, gauss_newton=gauss_newton, join=join)
            assert other.status == kernel.JOINED
            d = (other.u - first.u) / join.D @ join.L
            assert np.sqrt(d @ d) <= kernel.JOIN_TOL


class _LastFull(_NormalNLL):
    """The Normal NLL, remembering where its Hessian was last computed."""

    def full(self, U, rows):
        self.last = U.copy()
        return super().full(U, rows)


def test_near_the_optimum_chord_steps_put_the_last_hessian_at_the_end_point(monkeypatch):
    """After a Newton step close to the optimum, chord steps on its Hessian (values and gradients
    only) reach the rounding floor, so the Hessian computed next is the one at the reported point:
    no final step moves the point after its Hessian, and one Hessian fewer is computed than with
    the chord steps turned off."""
    x = np.random.default_rng(5).normal(-3.0, 0.02, size=300)
    opt = np.array([x.mean(), np.log(x.std())])
    start = opt + np.array([[0.6 * x.std() / np.sqrt(x.size), 0.03]])  # about 0.6 and 0.5 SE away
    fun = _LastFull(x)
    res = kernel.newton(fun, start)
    n_chord = fun.n_full
    assert res.status[0] == kernel.CONVERGED and res.decrement[0] <= kernel.FINAL_STEP_MIN
    np.testing.assert_array_equal(fun.last[0], res.U[0])  # the last Hessian is the end point's
    np.testing.assert_allclose(res.U[0], opt, rtol=1e-13, atol=1e-15)
    monkeypatch.setattr(kernel, "CHORD_STEPS", 0)
    fun = _LastFull(x)
    plain = kernel.newton(fun, start)
    assert plain.status[0] == kernel.CONVERGED
    assert n_chord < fun.n_full
    np.testing.assert_allclose(plain.U[0], res.U[0], rtol=1e-13, atol=1e-15)


def test_a_large_hessian_decomposed_again_is_looked_up_and_cannot_be_changed():
    """A route's end point is assessed again with the same Hessian; at a thousand parameters each
    eigen-decomposition costs about 0.2 s, so the same entries and flags give the same (read-only)
    decomposition, and anything else a fresh one."""
    A = np.random.default_rng(8).standard_normal((60, 60))
    H = (A @ A.T + 60.0 * np.eye(60))[None]
    first = kernel.curvature(H)
    again = kernel.curvature(H.copy())
    assert again is first
    np.testing.assert_array_equal(first.w, kernel._curvature(H).w)
    with pytest.raises(ValueError, match="read-only"):
        first.w[0, 0] = 1.0
    untrusted = kernel.curvature(H, np.array([True]), np.array([True]))
    assert untrusted is not first and not untrusted.pd[0] and first.pd[0]
    nudged = H.copy()
    nudged[0, 0, 0] *= 1.0 + 1e-15
    assert kernel.curvature(nudged) is not first
    # a batch (a simulation's many Hessians) is never kept: it could hold any amount of memory
    batch = np.concatenate([H, H])
    assert kernel.curvature(batch) is not kernel.curvature(batch)

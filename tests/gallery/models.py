"""The gallery: real models from the public PyMC examples and docs, in the project's own versions.

Each :class:`Entry` names a model, the notebook it is taken from, a builder returning a fresh
``pm.Model`` (data simulated here with a fixed seed, or small public data embedded), and what
pplmle must report for it: a reference computed independently (closed forms, statsmodels, or the
hand-written likelihoods of :mod:`gallery.reference`, never pplmle), the parameter labels, the
number of observations, the diagnostics; or the refusal it must raise.

The models are written for pplmle's MLE: the priors are the notebooks' (they are flattened by
``pl.mle``), the data are at realistic scales (survival times and a regression response in the
thousands), and the Weibull model starts far from its optimum (times of thousands of days with
the initial scale ``beta = 1``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import scipy.special as sp
import statsmodels.api as sm
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.tsa.ar_model import AutoReg

from gallery import reference as ref

EXAMPLES = "https://github.com/pymc-devs/pymc-examples/blob/main/examples/"
PYMC_DOCS = "https://github.com/pymc-devs/pymc/blob/main/docs/source/"


@dataclass(frozen=True)
class Reference:
    """Independent estimates and standard errors by label (the labels pplmle must report)."""

    estimates: dict[str, float]
    se: dict[str, float]
    note: str = ""


@dataclass(frozen=True)
class Entry:
    """One gallery model and what pplmle must say about it."""

    name: str
    source: str
    build: Callable[[], pm.Model]
    #: the independent reference (None for a model that must be refused)
    reference: Callable[[], Reference] | None
    labels: tuple[str, ...] = ()
    n_obs: int | None = None
    #: the Deterministics pl.mle reports by default (after the free parameters)
    derived: tuple[str, ...] = ()
    fit_kwargs: dict[str, Any] = field(default_factory=dict)
    #: diagnostics the fit must report (empty: a clean fit) and whether it must be converged
    diagnostics: tuple[str, ...] = ()
    converged: bool = True
    #: (exception type, or the name of one in pplmle, and a regex on its message) when pl.mle
    #: must refuse the model
    refusal: tuple[type[BaseException] | str, str] | None = None
    #: names of the pplmle warnings the fit must emit (no other PPLMLEWarning may be emitted)
    warns: tuple[str, ...] = ()
    kind: str = ""


# ---------------------------------------------------------------------------------------------
# data (fixed seeds; public data embedded)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# Coal-mining disasters in the UK, 1851-1961 (Jarrett 1979), as in PyMC's overview notebook.
DISASTERS = np.array(
    [
        *(4, 5, 4, 0, 1, 4, 3, 4, 0, 6, 3, 3, 4, 0, 2, 6, 3, 3, 5, 4, 5, 3, 1, 4, 4, 1, 5, 5, 3, 4, 2, 5),
        *(2, 2, 3, 4, 2, 1, 3, 2, 2, 1, 1, 1, 1, 3, 0, 0, 1, 0, 1, 1, 0, 0, 3, 1, 0, 3, 2, 2, 0, 1, 1),
        *(1, 0, 1, 0, 1, 0, 0, 0, 2, 1, 0, 0, 0, 1, 1, 0, 2, 3, 3, 1, 1, 2, 1, 1, 1, 1, 2, 4, 2, 0, 0),
        *(1, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1),
    ]
)
YEARS = np.arange(1851, 1962)


@functools.cache
def linear_data():
    rng = _rng(11)
    n = 500
    age = rng.uniform(20, 65, n)
    income = rng.normal(50, 15, n)
    y = 1500 + 20 * age + 10 * income + rng.normal(0, 200, n)  # monthly spending, in the thousands
    return np.column_stack([np.ones(n), age, income]), y


@functools.cache
def sneeze_data(seed: int = 12, n_per_group: int = 200):
    """The negative-binomial notebook's design: sneezes by alcohol and medication (and both)."""
    rng = _rng(seed)
    alcohol = np.repeat([0, 1, 0, 1], n_per_group)
    nomeds = np.repeat([0, 0, 1, 1], n_per_group)
    X = np.column_stack([np.ones(alcohol.size), alcohol, nomeds, alcohol * nomeds]).astype(float)
    return X, rng


@functools.cache
def nb_data():
    X, rng = sneeze_data(12)
    mu = np.exp(X @ np.array([0.0, np.log(3.0), np.log(6.0), np.log(2.0)]))  # means 1, 3, 6, 36
    alpha = 10.0
    y = rng.negative_binomial(alpha, alpha / (alpha + mu))
    return X, y


@functools.cache
def poisson_data():
    X, rng = sneeze_data(13, 150)
    y = rng.poisson(np.exp(X @ np.array([0.0, np.log(3.0), np.log(6.0), np.log(2.0)])))
    return X, y


@functools.cache
def robust_data():
    """The robust-regression notebook's line with outliers, larger."""
    rng = _rng(14)
    x = np.linspace(0, 1, 300)
    y = 1.0 + 2.0 * x + rng.normal(0, 0.5, x.size)
    out = rng.choice(x.size, 12, replace=False)
    y[out] += rng.uniform(4, 8, out.size)
    return x, y


COUNTIES = ("AITKIN", "ANOKA", "BECKER", "BELTRAMI", "BENTON", "BIG STONE", "BLUE EARTH", "BROWN")


@functools.cache
def radon_data():
    rng = _rng(15)
    sizes = np.array([4, 52, 3, 7, 4, 3, 14, 4])
    county = np.repeat(np.arange(len(sizes)), sizes)
    floor = (rng.uniform(size=county.size) < 0.25).astype(float)
    a = rng.normal(1.4, 0.3, len(sizes))
    y = a[county] - 0.6 * floor + rng.normal(0, 0.75, county.size)
    return county, floor, y


@functools.cache
def mixture_data():
    rng = _rng(16)
    n = 600
    z = rng.uniform(size=n) < 0.35
    return np.where(z, rng.normal(-1.5, 0.8, n), rng.normal(2.0, 0.8, n))


@functools.cache
def tobit_data():
    """The truncated/censored regression notebook's design: slope 1, intercept 0, sigma 2, bounds +-5."""
    rng = _rng(17)
    x = rng.uniform(-10, 10, 500)
    y = 1.0 * x + 0.0 + rng.normal(0, 2.0, x.size)
    return x, y


@functools.cache
def weibull_data():
    rng = _rng(18)
    n = 500
    t = 2500.0 * rng.weibull(1.2, n)  # days to death
    follow_up = rng.uniform(1000, 5000, n)
    event = t <= follow_up
    return np.minimum(t, follow_up), event


@functools.cache
def ar_data(order: int):
    rng = _rng(19 + order)
    T = {1: 500, 2: 800}[order]
    phi = {1: [0.6], 2: [0.5, -0.3]}[order]
    y = np.zeros(T + 100)
    for t in range(order, y.size):
        y[t] = 1.0 + sum(p * y[t - 1 - k] for k, p in enumerate(phi)) + rng.normal(0, 0.8)
    return y[100:]


@functools.cache
def mvnormal_data():
    rng = _rng(21)
    cov = np.array([[1.0, 0.6, -0.3], [0.6, 2.0, 0.4], [-0.3, 0.4, 0.5]])
    return rng.multivariate_normal([1.0, -2.0, 0.5], cov, size=400)


@functools.cache
def ordinal_data():
    rng = _rng(22)
    n = 1000
    X = np.column_stack([rng.normal(size=n), (rng.uniform(size=n) < 0.4).astype(float)])
    eta = X @ np.array([0.8, -0.5])
    cuts = np.array([-1.0, 0.5, 2.0])
    u = rng.logistic(size=n)
    y = np.searchsorted(cuts, eta + u)  # category k when cut_{k-1} < eta + u <= cut_k
    return X, y


@functools.cache
def zip_data():
    rng = _rng(23)
    n = 1000
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    y = np.where(rng.uniform(size=n) < 0.7, rng.poisson(np.exp(0.5 + 0.8 * x)), 0)
    return X, y


@functools.cache
def logistic_data(seed: int = 24, n: int = 800):
    rng = _rng(seed)
    x = rng.normal(size=(n, 2))
    p = sp.expit(-0.5 + x @ np.array([1.2, -0.7]))
    return x, (rng.uniform(size=n) < p).astype(float)


CITIES = ("Berlin", "Paris", "Rome")
MONTHS = ("Jan", "Feb", "Mar", "Apr")


@functools.cache
def city_data():
    rng = _rng(25)
    means = np.array([[0.5, 1.5, 5.0, 9.0], [5.0, 6.0, 9.5, 12.5], [8.0, 9.0, 11.5, 14.5]])
    sizes = rng.integers(20, 41, size=means.shape)
    city = np.repeat(np.repeat(np.arange(3), 4), sizes.ravel())
    month = np.repeat(np.tile(np.arange(4), 3), sizes.ravel())
    y = means[city, month] + rng.normal(0, 2.0, city.size)
    return city, month, y


@functools.cache
def rw_data():
    rng = _rng(26)
    latent = np.cumsum(rng.normal(0, 0.1, 200))
    return latent + rng.normal(0, 0.3, 200)


# ---------------------------------------------------------------------------------------------
# the models and their references


def _as_reference(labels, est, se, note="") -> Reference:
    return Reference(
        dict(zip(labels, map(float, est), strict=True)), dict(zip(labels, map(float, se), strict=True)), note
    )


PREDICTORS = ("intercept", "age", "income")


def build_linear() -> pm.Model:
    X, y = linear_data()
    with pm.Model(coords={"predictor": list(PREDICTORS)}) as model:
        beta = pm.Normal("beta", 0.0, 1000.0, dims="predictor")
        sigma = pm.HalfCauchy("sigma", 10.0)
        pm.Normal("spending", pt.dot(X, beta), sigma, observed=y)
    return model


def ref_linear() -> Reference:
    X, y = linear_data()
    o = ref.ols(X, y)
    sm_fit = sm.OLS(y, X).fit()
    assert np.allclose(sm_fit.params, o["beta"], rtol=1e-10)  # statsmodels agrees on the estimates
    labels = [f"beta[{p}]" for p in PREDICTORS] + ["sigma"]
    return _as_reference(labels, [*o["beta"], o["sigma"]], [*o["beta_se"], o["sigma_se"]], "closed form")


SNEEZE_TERMS = ("Intercept", "alcohol", "nomeds", "alcohol:nomeds")


def build_negbin() -> pm.Model:
    X, y = nb_data()
    with pm.Model(coords={"term": list(SNEEZE_TERMS)}) as model:
        beta = pm.Normal("beta", 0.0, 5.0, dims="term")
        alpha = pm.Exponential("alpha", 0.5)
        pm.NegativeBinomial("sneezes", mu=pm.math.exp(pt.dot(X, beta)), alpha=alpha, observed=y)
    return model


def ref_negbin() -> Reference:
    """statsmodels' NB2 (var = mu + a mu^2): PyMC's alpha is 1 / a, its SE a's SE / a^2."""
    X, y = nb_data()
    res = sm.NegativeBinomial(y, X, loglike_method="nb2").fit(
        method="newton", disp=False, tol=1e-12, maxiter=100
    )
    a, a_se = res.params[-1], res.bse[-1]
    est = [*res.params[:-1], 1.0 / a]
    se = [*res.bse[:-1], a_se / a**2]
    labels = [f"beta[{t}]" for t in SNEEZE_TERMS] + ["alpha"]
    return _as_reference(labels, est, se, "statsmodels NegativeBinomial nb2")


def build_student_t() -> pm.Model:
    x, y = robust_data()
    with pm.Model() as model:
        intercept = pm.Normal("intercept", 0.0, 20.0)
        slope = pm.Normal("slope", 0.0, 20.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        nu = pm.Gamma("nu", 2.0, 0.1)
        pm.StudentT("y", nu=nu, mu=intercept + slope * x, sigma=sigma, observed=y)
    return model


def ref_student_t() -> Reference:
    x, y = robust_data()

    def nll(t):
        a, b, s, nu = t
        z = (y - a - b * x) / s
        c = sp.loggamma((nu + 1) / 2) - sp.loggamma(nu / 2) - 0.5 * np.log(nu * np.pi) - np.log(s)
        return -np.sum(c - (nu + 1) / 2 * np.log1p(z * z / nu))

    f = ref.fit(
        nll,
        starts=[[1.0, 2.0, 0.5, 5.0], [0.0, 0.0, 2.0, 30.0], [3.0, 1.0, 1.0, 2.0]],
        to_natural=lambda u: np.array([u[0], u[1], np.exp(u[2]), np.exp(u[3])]),
        to_free=lambda t: np.array([t[0], t[1], np.log(t[2]), np.log(t[3])]),
    )
    assert f.spread < 1e-8
    return _as_reference(["intercept", "slope", "sigma", "nu"], f.theta, f.se, "scipy, 3 starts")


def _radon_no_pooling(model_name: str = "") -> pm.Model:
    county, floor, y = radon_data()
    with pm.Model(coords={"county": list(COUNTIES)}, name=model_name) as model:
        alpha = pm.Normal("alpha", 0.0, 10.0, dims="county")
        beta = pm.Normal("beta", 0.0, 10.0)
        sigma = pm.Exponential("sigma", 1.0)
        pm.Normal("log_radon", alpha[county] + beta * floor, sigma, observed=y)
    return model


def build_radon_no_pooling() -> pm.Model:
    return _radon_no_pooling()


def ref_radon_no_pooling() -> Reference:
    county, floor, y = radon_data()
    X = np.column_stack([np.eye(len(COUNTIES))[county], floor])
    o = ref.ols(X, y)
    labels = [f"alpha[{c}]" for c in COUNTIES] + ["beta", "sigma"]
    return _as_reference(labels, [*o["beta"], o["sigma"]], [*o["beta_se"], o["sigma_se"]], "closed form")


def build_radon_partial_pooling() -> pm.Model:
    county, floor, y = radon_data()
    with pm.Model(coords={"county": list(COUNTIES)}) as model:
        mu_alpha = pm.Normal("mu_alpha", 0.0, 10.0)
        sigma_alpha = pm.HalfNormal("sigma_alpha", 1.0)
        alpha = pm.Normal("alpha", mu_alpha, sigma_alpha, dims="county")
        beta = pm.Normal("beta", 0.0, 10.0)
        sigma = pm.Exponential("sigma", 1.0)
        pm.Normal("log_radon", alpha[county] + beta * floor, sigma, observed=y)
    return model


COMPONENTS = ("low", "high")


def build_mixture() -> pm.Model:
    y = mixture_data()
    with pm.Model(coords={"component": list(COMPONENTS)}) as model:
        w = pm.Dirichlet("w", np.ones(2), dims="component")
        mu = pm.Normal(
            "mu",
            0.0,
            10.0,
            dims="component",
            transform=pm.distributions.transforms.ordered,
            initval=[-1.0, 1.0],
        )
        sigma = pm.HalfNormal("sigma", 2.0)
        pm.NormalMixture("y", w=w, mu=mu, sigma=sigma, observed=y)
    return model


def ref_mixture() -> Reference:
    """Two Normals with a common sigma (bounded likelihood: the MLE exists), weights (p, 1 - p)."""
    y = mixture_data()

    def nll(t):
        p, m1, m2, s = t
        d1 = np.exp(-0.5 * ((y - m1) / s) ** 2)
        d2 = np.exp(-0.5 * ((y - m2) / s) ** 2)
        return -np.sum(np.log(p * d1 + (1 - p) * d2)) + y.size * np.log(s * np.sqrt(2 * np.pi))

    f = ref.fit(
        nll,
        starts=[[0.5, -1.0, 1.0, 1.0], [0.3, -2.0, 3.0, 0.5], [0.6, 0.0, 2.5, 2.0]],
        to_natural=lambda u: np.array([1 / (1 + np.exp(-u[0])), u[1], u[2], np.exp(u[3])]),
        to_free=lambda t: np.array([np.log(t[0] / (1 - t[0])), t[1], t[2], np.log(t[3])]),
    )
    assert f.spread < 1e-8
    p, m1, m2, s = f.theta
    se = f.se
    return _as_reference(
        ["w[low]", "w[high]", "mu[low]", "mu[high]", "sigma"],
        [p, 1 - p, m1, m2, s],
        [se[0], se[0], se[1], se[2], se[3]],
        "scipy, 3 starts",
    )


LOWER, UPPER = -5.0, 5.0


def build_censored() -> pm.Model:
    x, y = tobit_data()
    with pm.Model() as model:
        slope = pm.Normal("slope", 0.0, 1.0)
        intercept = pm.Normal("intercept", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Censored(
            "obs",
            pm.Normal.dist(mu=slope * x + intercept, sigma=sigma),
            lower=LOWER,
            upper=UPPER,
            observed=np.clip(y, LOWER, UPPER),
        )
    return model


def _tobit_fit(truncated: bool) -> ref.Fit:
    x, y = tobit_data()
    keep = (y > LOWER) & (y < UPPER)
    if truncated:
        x, y = x[keep], y[keep]
    else:
        y = np.clip(y, LOWER, UPPER)
    lo, hi = y <= LOWER, y >= UPPER
    mid = ~(lo | hi)

    def nll(t):
        b, a, s = t
        mu = a + b * x
        z = (y - mu) / s
        out = np.sum(0.5 * z[mid] ** 2 + np.log(s)) + 0.5 * np.log(2 * np.pi) * np.sum(mid)
        if truncated:
            mass = sp.ndtr((UPPER - mu) / s) - sp.ndtr((LOWER - mu) / s)
            if np.any(np.real(mass) <= 0):  # rounded to 0 far from the data: outside the domain
                return np.inf
            return out + np.sum(np.log(mass))
        return out - np.sum(sp.log_ndtr((LOWER - mu[lo]) / s)) - np.sum(sp.log_ndtr((mu[hi] - UPPER) / s))

    f = ref.fit(
        nll,
        starts=[[1.0, 0.0, 2.0], [0.5, 1.0, 1.0], [1.5, -1.0, 4.0]],
        to_natural=lambda u: np.array([u[0], u[1], np.exp(u[2])]),
        to_free=lambda t: np.array([t[0], t[1], np.log(t[2])]),
    )
    assert f.spread < 1e-8
    return f


def ref_censored() -> Reference:
    f = _tobit_fit(truncated=False)
    return _as_reference(["slope", "intercept", "sigma"], f.theta, f.se, "scipy Tobit, 3 starts")


def build_truncated() -> pm.Model:
    x, y = tobit_data()
    keep = (y > LOWER) & (y < UPPER)
    with pm.Model() as model:
        slope = pm.Normal("slope", 0.0, 1.0)
        intercept = pm.Normal("intercept", 0.0, 1.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Truncated(
            "obs",
            pm.Normal.dist(mu=slope * x[keep] + intercept, sigma=sigma),
            lower=LOWER,
            upper=UPPER,
            observed=y[keep],
        )
    return model


def ref_truncated() -> Reference:
    f = _tobit_fit(truncated=True)
    return _as_reference(["slope", "intercept", "sigma"], f.theta, f.se, "scipy truncated Normal, 3 starts")


def build_coal_discrete() -> pm.Model:
    with pm.Model() as model:
        switchpoint = pm.DiscreteUniform("switchpoint", lower=YEARS.min(), upper=YEARS.max())
        early_rate = pm.Exponential("early_rate", 1.0)
        late_rate = pm.Exponential("late_rate", 1.0)
        rate = pm.math.switch(switchpoint >= YEARS, early_rate, late_rate)
        pm.Poisson("disasters", rate, observed=DISASTERS)
    return model


def coal_switchpoint() -> int:
    """The year that maximizes the profile likelihood of the switchpoint (closed form per year)."""

    def profile(tau):
        early, late = DISASTERS[YEARS <= tau], DISASTERS[YEARS > tau]
        return sum(np.sum(sp.xlogy(d, d.mean())) - d.sum() for d in (early, late))

    return int(max(YEARS[:-1], key=profile))


def build_coal_continuous() -> pm.Model:
    """The overview's model with a continuous switchpoint: the likelihood is a step function of
    it (flat between two years), so no strict optimum exists and no SE can be given."""
    with pm.Model() as model:
        switchpoint = pm.Uniform("switchpoint", lower=YEARS.min(), upper=YEARS.max())
        early_rate = pm.Exponential("early_rate", 1.0)
        late_rate = pm.Exponential("late_rate", 1.0)
        rate = pm.math.switch(switchpoint >= YEARS, early_rate, late_rate)
        pm.Poisson("disasters", rate, observed=DISASTERS)
    return model


def build_coal_fixed() -> pm.Model:
    tau = coal_switchpoint()
    with pm.Model() as model:
        early_rate = pm.Exponential("early_rate", 1.0)
        late_rate = pm.Exponential("late_rate", 1.0)
        rate = pm.math.switch(tau >= YEARS, early_rate, late_rate)
        pm.Poisson("disasters", rate, observed=DISASTERS)
    return model


def ref_coal_fixed() -> Reference:
    tau = coal_switchpoint()
    early, late = DISASTERS[YEARS <= tau], DISASTERS[YEARS > tau]
    est = [early.mean(), late.mean()]
    se = [np.sqrt(early.mean() / early.size), np.sqrt(late.mean() / late.size)]
    return _as_reference(["early_rate", "late_rate"], est, se, f"closed form, switchpoint {tau}")


def build_weibull() -> pm.Model:
    t, event = weibull_data()
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 100.0)
        a0 = pm.Normal("a0", 0.0, 0.1)
        alpha = pm.Deterministic("alpha", pt.exp(10.0 * a0))
        beta = pm.Deterministic("beta", pt.exp(mu / alpha))
        pm.Weibull("y_obs", alpha=alpha, beta=beta, observed=t[event])
        pm.Potential("y_cens", -((t[~event] / beta) ** alpha))  # log S(t) of the censored times
    return model


def _weibull_nll(theta, natural: bool):
    t, event = weibull_data()
    if natural:  # (alpha, beta)
        alpha, beta = theta
    else:  # the model's (mu, a0)
        alpha = np.exp(10.0 * theta[1])
        beta = np.exp(theta[0] / alpha)
    z = t / beta
    return -(np.sum(np.log(alpha / beta) + (alpha - 1) * np.log(z[event])) - np.sum(z**alpha))


@functools.cache
def weibull_fits() -> tuple[ref.Fit, ref.Fit]:
    """The censored Weibull MLE in (mu, a0) and, fitted separately, in (alpha, beta)."""
    free = ref.fit(  # optimized over (log alpha, log beta), where BFGS's first steps are sane
        lambda th: _weibull_nll(th, natural=False),
        starts=[[9.0, 0.0], [10.0, 0.03], [8.5, 0.01]],
        to_natural=lambda u: np.array([np.exp(u[0]) * u[1], u[0] / 10.0]),
        to_free=lambda th: np.array([10.0 * th[1], th[0] / np.exp(10.0 * th[1])]),
    )
    nat = ref.fit(
        lambda th: _weibull_nll(th, natural=True),
        starts=[[1.0, 2000.0], [2.0, 4000.0], [0.7, 1000.0]],
        to_natural=lambda u: np.exp(u),
        to_free=lambda th: np.log(th),
    )
    assert free.spread < 1e-8 and nat.spread < 1e-8, (free, nat)
    return free, nat


def ref_weibull() -> Reference:
    free, _ = weibull_fits()
    return _as_reference(["mu", "a0"], free.theta, free.se, "scipy censored Weibull, 3 starts")


def _build_ar(order: int) -> pm.Model:
    y = ar_data(order)
    coef = ["constant"] + [f"phi{k + 1}" for k in range(order)]
    with pm.Model(coords={"coef": coef}) as model:
        rho = pm.Normal("rho", 0.0, 1.0, dims="coef")
        sigma = pm.HalfNormal("sigma", 3.0)
        pm.AR(
            "y",
            rho=rho,
            sigma=sigma,
            constant=True,
            init_dist=pm.Normal.dist(0.0, 10.0, shape=order),
            ar_order=order,
            observed=y,
        )
    return model


def _ref_ar(order: int) -> Reference:
    """Conditional least squares on the lagged design (the init values' density is fixed, so it
    does not enter the MLE); statsmodels' AutoReg gives the same coefficients."""
    y = ar_data(order)
    T = y.size
    X = np.column_stack([np.ones(T - order)] + [y[order - 1 - k : T - 1 - k] for k in range(order)])
    o = ref.ols(X, y[order:])
    ar = AutoReg(y, lags=order, trend="c").fit()
    assert np.allclose(ar.params, o["beta"], rtol=1e-9)
    labels = ["rho[constant]"] + [f"rho[phi{k + 1}]" for k in range(order)] + ["sigma"]
    return _as_reference(
        labels, [*o["beta"], o["sigma"]], [*o["beta_se"], o["sigma_se"]], "AutoReg / closed form"
    )


def build_ar1() -> pm.Model:
    return _build_ar(1)


def build_ar2() -> pm.Model:
    return _build_ar(2)


AXES = ("x", "y", "z")


def build_mvnormal() -> pm.Model:
    data = mvnormal_data()
    with pm.Model(coords={"axis": list(AXES)}) as model:
        mu = pm.Normal("mu", 0.0, 10.0, dims="axis")
        chol, _, _ = pm.LKJCholeskyCov(
            "chol", n=3, eta=2.0, sd_dist=pm.Exponential.dist(1.0, shape=3), compute_corr=True
        )
        pm.MvNormal("obs", mu, chol=chol, observed=data)
    return model


def mvnormal_closed_form() -> dict[str, np.ndarray]:
    """Sample mean, covariance with divisor n, its Cholesky factor packed row by row (PyMC's
    order), the standard deviations and correlations."""
    data = mvnormal_data()
    n = len(data)
    mean = data.mean(axis=0)
    S = (data - mean).T @ (data - mean) / n
    L = np.linalg.cholesky(S)
    stds = np.sqrt(np.diag(S))
    return {
        "mean": mean,
        "S": S,
        "packed": L[np.tril_indices(3)],
        "stds": stds,
        "corr": S / np.outer(stds, stds),
    }


def ref_mvnormal() -> Reference:
    data = mvnormal_data()
    cf = mvnormal_closed_form()
    rows, cols = np.tril_indices(3)

    def nll(t):
        mu, packed = t[:3], t[3:]
        L = np.zeros((3, 3), dtype=packed.dtype)
        L[rows, cols] = packed
        z = np.linalg.solve(L, (data - mu).T)
        return len(data) * np.sum(np.log(np.diag(L))) + 0.5 * np.sum(z * z)

    theta = np.concatenate([cf["mean"], cf["packed"]])
    g = ref.grad(nll, theta)
    assert np.max(np.abs(g)) < 1e-8 * len(data)  # the closed form is the optimum
    se = np.sqrt(np.diag(np.linalg.inv(ref.hessian(nll, theta))))
    labels = [f"mu[{a}]" for a in AXES] + [f"chol[{k}]" for k in range(6)]
    return _as_reference(labels, theta, se, "closed form (divisor n)")


ORD_TERMS = ("salary", "work_from_home")


def build_ordered() -> pm.Model:
    X, y = ordinal_data()
    with pm.Model(coords={"term": list(ORD_TERMS)}) as model:
        beta = pm.Normal("beta", 0.0, 1.0, dims="term")
        cutpoints = pm.Normal(
            "cutpoints",
            0.0,
            5.0,
            shape=3,
            transform=pm.distributions.transforms.ordered,
            initval=[-1.0, 0.0, 1.0],
        )
        pm.OrderedLogistic("rating", cutpoints=cutpoints, eta=pt.dot(X, beta), observed=y)
    return model


def ref_ordered() -> Reference:
    """statsmodels' OrderedModel (logit) for the estimates; the SEs from the Hessian of the
    hand-written NLL in (beta, cutpoints), at the optimum polished by Newton's method."""
    X, y = ordinal_data()
    om = OrderedModel(y, X, distr="logit")
    res = om.fit(method="bfgs", disp=False, maxiter=2000, gtol=1e-7)
    cuts = om.transform_threshold_params(res.params)[1:-1]
    onehot = np.eye(4)[y]

    def nll(t):
        beta, c = t[:2], t[2:]
        eta = X @ beta
        cdf = [np.zeros(len(y))] + [1 / (1 + np.exp(-(ck - eta))) for ck in c] + [np.ones(len(y))]
        probs = np.column_stack([cdf[k + 1] - cdf[k] for k in range(4)])
        return -np.sum(np.log(np.sum(onehot * probs, axis=1)))

    start = np.concatenate([res.params[:2], cuts])
    theta = ref.newton(nll, start)
    assert np.allclose(theta, start, rtol=1e-4, atol=1e-6)  # statsmodels agrees
    se = np.sqrt(np.diag(np.linalg.inv(ref.hessian(nll, theta))))
    labels = [f"beta[{t}]" for t in ORD_TERMS] + [f"cutpoints[{k}]" for k in range(3)]
    return _as_reference(labels, theta, se, "statsmodels OrderedModel + Newton")


def build_zip() -> pm.Model:
    X, y = zip_data()
    with pm.Model(coords={"term": ["Intercept", "x"]}) as model:
        psi = pm.Beta("psi", 1.0, 1.0)
        beta = pm.Normal("beta", 0.0, 5.0, dims="term")
        pm.ZeroInflatedPoisson("count", psi=psi, mu=pm.math.exp(pt.dot(X, beta)), observed=y)
    return model


def ref_zip() -> Reference:
    """statsmodels' ZeroInflatedPoisson (logit inflation; PyMC's psi is 1 - its zero probability),
    polished by Newton's method on the hand-written NLL in (psi, beta), which gives the SEs."""
    X, y = zip_data()
    res = sm.ZeroInflatedPoisson(y, X, exog_infl=np.ones((len(y), 1)), inflation="logit").fit(
        method="bfgs", disp=False, maxiter=2000, gtol=1e-7
    )
    zero = y == 0

    def nll(t):
        psi, beta = t[0], t[1:]
        lam = np.exp(X @ beta)
        ll0 = np.log(1 - psi + psi * np.exp(-lam[zero]))
        llp = np.log(psi) + y[~zero] * np.log(lam[~zero]) - lam[~zero] - sp.loggamma(y[~zero] + 1.0)
        return -(np.sum(ll0) + np.sum(llp))

    start = np.array([1 - sp.expit(res.params[0]), *res.params[1:]])
    theta = ref.newton(nll, start)
    assert np.allclose(theta, start, rtol=1e-4, atol=1e-6)  # statsmodels agrees
    se = np.sqrt(np.diag(np.linalg.inv(ref.hessian(nll, theta))))
    return _as_reference(["psi", "beta[Intercept]", "beta[x]"], theta, se, "statsmodels ZIP + Newton")


def build_poisson() -> pm.Model:
    X, y = poisson_data()
    with pm.Model(coords={"term": list(SNEEZE_TERMS)}) as model:
        beta = pm.Normal("beta", 0.0, 5.0, dims="term")
        pm.Poisson("sneezes", mu=pm.math.exp(pt.dot(X, beta)), observed=y)
    return model


def ref_poisson() -> Reference:
    X, y = poisson_data()
    res = sm.GLM(y, X, family=sm.families.Poisson()).fit(tol=1e-13)
    return _as_reference([f"beta[{t}]" for t in SNEEZE_TERMS], res.params, res.bse, "statsmodels GLM Poisson")


LOGIT_TERMS = ("Intercept", "x1", "x2")


def build_logistic(x: np.ndarray | None = None, y: np.ndarray | None = None) -> pm.Model:
    """Logistic regression on ``pm.Data`` (refit on new data with ``pm.set_data``)."""
    if x is None or y is None:
        x, y = logistic_data()
    with pm.Model(coords={"term": list(LOGIT_TERMS)}) as model:
        x_data = pm.Data("x", x)
        y_data = pm.Data("y", y)
        beta = pm.Normal("beta", 0.0, 2.5, dims="term")
        eta = beta[0] + beta[1] * x_data[:, 0] + beta[2] * x_data[:, 1]
        pm.Bernoulli("outcome", logit_p=eta, observed=y_data, shape=x_data.shape[0])
    return model


def ref_logistic(x: np.ndarray | None = None, y: np.ndarray | None = None) -> Reference:
    if x is None or y is None:
        x, y = logistic_data()
    res = sm.Logit(y, sm.add_constant(x)).fit(method="newton", disp=False, tol=1e-13, maxiter=100)
    return _as_reference([f"beta[{t}]" for t in LOGIT_TERMS], res.params, res.bse, "statsmodels Logit")


def build_city_month() -> pm.Model:
    city, month, y = city_data()
    with pm.Model(coords={"city": list(CITIES), "month": list(MONTHS)}) as model:
        x = pm.Normal("x", 10.0, 10.0, dims=("city", "month"))
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Normal("temperature", x[city, month], sigma, observed=y)
    return model


def ref_city_month() -> Reference:
    city, month, y = city_data()
    cell = city * 4 + month
    X = np.eye(12)[cell]
    o = ref.ols(X, y)
    labels = [f"x[{c}, {m}]" for c in CITIES for m in MONTHS] + ["sigma"]
    return _as_reference(
        labels, [*o["beta"], o["sigma"]], [*o["beta_se"], o["sigma_se"]], "closed form (cell means)"
    )


def build_random_walk() -> pm.Model:
    y = rw_data()
    with pm.Model() as model:
        sigma = pm.Exponential("sigma", 10.0)
        latent = pm.GaussianRandomWalk(
            "latent", sigma=sigma, init_dist=pm.Normal.dist(0.0, 10.0), shape=y.size
        )
        obs_sigma = pm.HalfNormal("obs_sigma", 1.0)
        pm.Normal("y", latent, obs_sigma, observed=y)
    return model


GALLERY: tuple[Entry, ...] = (
    Entry(
        "linear_regression",
        EXAMPLES + "generalized_linear_models/GLM-linear.ipynb",
        build_linear,
        ref_linear,
        labels=("beta[intercept]", "beta[age]", "beta[income]", "sigma"),
        n_obs=500,
        kind="linear regression with coords",
    ),
    Entry(
        "negative_binomial",
        EXAMPLES + "generalized_linear_models/GLM-negative-binomial-regression.ipynb",
        build_negbin,
        ref_negbin,
        labels=(*(f"beta[{t}]" for t in SNEEZE_TERMS), "alpha"),
        n_obs=800,
        kind="negative binomial regression",
    ),
    Entry(
        "robust_student_t",
        EXAMPLES + "generalized_linear_models/GLM-robust.ipynb",
        build_student_t,
        ref_student_t,
        labels=("intercept", "slope", "sigma", "nu"),
        n_obs=300,
        kind="robust Student-t regression",
    ),
    Entry(
        "radon_no_pooling",
        EXAMPLES + "case_studies/multilevel_modeling.ipynb",
        build_radon_no_pooling,
        ref_radon_no_pooling,
        labels=(*(f"alpha[{c}]" for c in COUNTIES), "beta", "sigma"),
        n_obs=91,
        kind="radon, no pooling",
    ),
    Entry(
        "radon_partial_pooling",
        EXAMPLES + "case_studies/multilevel_modeling.ipynb",
        build_radon_partial_pooling,
        None,
        refusal=("HierarchicalModelError", r"mu_alpha.*sigma_alpha|sigma_alpha.*mu_alpha"),
        kind="radon, partial pooling (refused)",
    ),
    Entry(
        "gaussian_mixture",
        EXAMPLES + "mixture_models/gaussian_mixture_model.ipynb",
        build_mixture,
        ref_mixture,
        labels=("w[low]", "w[high]", "mu[low]", "mu[high]", "sigma"),
        n_obs=600,
        kind="Gaussian mixture (NormalMixture, ordered means)",
    ),
    Entry(
        "censored_regression",
        EXAMPLES + "generalized_linear_models/GLM-truncated-censored-regression.ipynb",
        build_censored,
        ref_censored,
        labels=("slope", "intercept", "sigma"),
        n_obs=500,
        kind="censored data (pm.Censored)",
    ),
    Entry(
        "truncated_regression",
        EXAMPLES + "generalized_linear_models/GLM-truncated-censored-regression.ipynb",
        build_truncated,
        ref_truncated,
        labels=("slope", "intercept", "sigma"),
        n_obs=int(np.sum((tobit_data()[1] > LOWER) & (tobit_data()[1] < UPPER))),
        kind="truncated data (pm.Truncated)",
    ),
    Entry(
        "coal_mining_discrete",
        PYMC_DOCS + "learn/core_notebooks/pymc_overview.ipynb",
        build_coal_discrete,
        None,
        refusal=(ValueError, r"\['switchpoint'\] are discrete"),
        kind="coal-mining switchpoint, discrete (refused)",
    ),
    Entry(
        "coal_mining_continuous_switchpoint",
        PYMC_DOCS + "learn/core_notebooks/pymc_overview.ipynb",
        build_coal_continuous,
        None,
        labels=("switchpoint", "early_rate", "late_rate"),
        n_obs=111,
        diagnostics=("singular Hessian",),
        converged=False,
        warns=("HessianWarning",),
        kind="coal-mining, continuous switchpoint (flat in it: flagged)",
    ),
    Entry(
        "coal_mining_fixed_switchpoint",
        PYMC_DOCS + "learn/core_notebooks/pymc_overview.ipynb",
        build_coal_fixed,
        ref_coal_fixed,
        labels=("early_rate", "late_rate"),
        n_obs=111,
        kind="coal-mining, switchpoint fixed at its profile MLE",
    ),
    Entry(
        "weibull_survival",
        EXAMPLES + "survival_analysis/weibull_aft.ipynb",
        build_weibull,
        ref_weibull,
        labels=("mu", "a0"),
        derived=("alpha", "beta"),
        n_obs=500,
        fit_kwargs={"n_obs": 500},
        kind="Weibull survival, pm.Potential censoring",
    ),
    Entry(
        "ar1",
        EXAMPLES + "time_series/AR.ipynb",
        build_ar1,
        lambda: _ref_ar(1),
        labels=("rho[constant]", "rho[phi1]", "sigma"),
        n_obs=500,
        kind="AR(1), conditional likelihood",
    ),
    Entry(
        "ar2",
        EXAMPLES + "time_series/AR.ipynb",
        build_ar2,
        lambda: _ref_ar(2),
        labels=("rho[constant]", "rho[phi1]", "rho[phi2]", "sigma"),
        n_obs=800,
        kind="AR(2), conditional likelihood",
    ),
    Entry(
        "mvnormal_lkj",
        EXAMPLES + "howto/LKJ.ipynb",
        build_mvnormal,
        ref_mvnormal,
        labels=tuple(f"mu[{a}]" for a in AXES) + tuple(f"chol[{k}]" for k in range(6)),
        derived=("chol_corr", "chol_stds"),
        n_obs=400,
        kind="MvNormal with LKJCholeskyCov",
    ),
    Entry(
        "ordered_logistic",
        EXAMPLES + "generalized_linear_models/GLM-ordinal-regression.ipynb",
        build_ordered,
        ref_ordered,
        labels=tuple(f"beta[{t}]" for t in ORD_TERMS) + tuple(f"cutpoints[{k}]" for k in range(3)),
        n_obs=1000,
        kind="ordered logistic",
    ),
    Entry(
        "zero_inflated_poisson",
        PYMC_DOCS + "api/distributions/generated/pymc.ZeroInflatedPoisson.rst",
        build_zip,
        ref_zip,
        labels=("psi", "beta[Intercept]", "beta[x]"),
        n_obs=1000,
        kind="zero-inflated Poisson",
    ),
    Entry(
        "poisson_regression",
        EXAMPLES + "generalized_linear_models/GLM-poisson-regression.ipynb",
        build_poisson,
        ref_poisson,
        labels=tuple(f"beta[{t}]" for t in SNEEZE_TERMS),
        n_obs=600,
        kind="Poisson GLM",
    ),
    Entry(
        "logistic_regression_data",
        EXAMPLES + "fundamentals/data_container.ipynb",
        build_logistic,
        ref_logistic,
        labels=tuple(f"beta[{t}]" for t in LOGIT_TERMS),
        n_obs=800,
        kind="logistic GLM on pm.Data (pm.set_data refit)",
    ),
    Entry(
        "city_month_2d",
        EXAMPLES + "fundamentals/data_container.ipynb",
        build_city_month,
        ref_city_month,
        labels=(*(f"x[{c}, {m}]" for c in CITIES for m in MONTHS), "sigma"),
        n_obs=int(city_data()[2].size),
        kind='2-D dims ("city", "month")',
    ),
    Entry(
        "random_walk_latent",
        EXAMPLES + "case_studies/stochastic_volatility.ipynb",
        build_random_walk,
        None,
        refusal=("HierarchicalModelError", r"sigma"),
        kind="Gaussian random walk latent (refused as hierarchical)",
    ),
)

BY_NAME = {e.name: e for e in GALLERY}

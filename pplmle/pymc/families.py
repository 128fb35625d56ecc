"""Built-in model families: data checked at construction, PyMC models with flat priors.

Each family binds its data, validates it (a ``ValueError`` naming the argument,
the rule and the first bad value) and declares a PyMC model whose priors are
flat on each parameter's support, so ``pm.find_MAP`` on it gives the MLE.  Data
live in ``pm.Data`` containers: the compiled functions of a family are shared by
every instance with the same structure, and a new dataset never recompiles.

Use :func:`pplmle.mle` to fit a family; ``family.model`` is a readable PyMC
model of its own for inspection or sampling.  :class:`Family` is the abstract base
class, with the short contract a family of your own implements; each built-in
family also owns its reference routes, ``closed_form()`` (or ``no_closed_form``,
why there is none) and ``hand_nll()``, from :mod:`pplmle.reference`.

Regressions are estimated on an orthonormal basis of the design: with
``X1 = [1, X]`` scaled to unit column norms by ``D`` and ``X1 D^-1 = Q R``, the
model's free coefficients are ``gamma`` on ``Q`` and the reported coefficients
are ``D^-1 R^-1 gamma``.  The optimizer then works on a problem whose Hessian is
well conditioned even when the columns of ``X`` differ by ten orders of
magnitude; standard errors are mapped back exactly (the map is linear).
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import scipy.special
import scipy.stats
from pytensor.tensor.slinalg import solve_triangular

from pplmle.core import diagnostics as dg
from pplmle.core.validate import (
    as_design,
    as_float_array,
    check_binary,
    check_binomial,
    check_bool,
    check_codes,
    check_counts,
    check_data,
    check_finite,
    check_identified,
    check_integer,
    check_nan_policy,
    check_not_all_zero,
    check_not_constant,
    check_not_masked,
    check_same_index,
    check_same_length,
    check_support,
    check_vector,
    nan_rows,
    plain,
    unbounded,
)
from pplmle.reference import closed_form as cf
from pplmle.reference import handwritten as hw
from pplmle.reference.handwritten import HandNLL
from pplmle.reference.separation import find_separation, find_zero_separation

__all__ = [
    "Bernoulli",
    "Binomial",
    "Categorical",
    "Exponential",
    "Family",
    "Gamma",
    "LinearRegression",
    "LogNormal",
    "LogisticRegression",
    "Normal",
    "Poisson",
    "PoissonRegression",
    "SoftmaxRegression",
]


class Family(abc.ABC):
    """A likelihood with its data, declared as a PyMC model with flat priors.

    A subclass checks and stores its data in ``__init__`` (with the checks of
    :mod:`pplmle.core.validate`, which raise ``ValueError`` naming the argument,
    the rule and the first bad value), calls ``super().__init__()`` and
    implements the contract below; ``pl.mle(family)`` then fits it.  The README
    ("Writing your own family") has a complete example.

    Notes
    -----
    Abstract, a subclass must define them:

    * ``param_names`` -- names of the reported parameters, in order.
    * ``n_obs`` -- property: the number of observations.
    * ``data()`` -- the values of the ``pm.Data`` containers, by name.
    * ``declare(data)`` -- declare the free variables with flat priors
      (``pm.Flat``, ``pm.HalfFlat``, ``pm.Uniform(0, 1)``) and the likelihood,
      inside the active ``pm.Model``; `data` holds the containers by name.
    * ``start()`` -- a rough natural-scale starting point for the free
      variables (not the MLE).

    Optional, with defaults:

    * ``closed_form()`` -- the closed-form MLE as a parameter dict; None (the
      default) when there is none, and the class attribute ``no_closed_form``
      says why.
    * ``hand_nll()`` -- a hand-written NLL for :func:`pplmle.compare`: a
      :class:`~pplmle.reference.handwritten.HandNLL`, or a callable taking the
      parameter dict and returning the NLL with all constants; None by default.
    * ``labels()`` -- the label of each scalar element, per parameter
      (default: the parameter names).
    * ``findings()`` -- problems known from the data alone, such as a boundary
      MLE (default: none).
    * ``to_free(params)``, ``free_batch(params)`` -- free-variable values from
      reported ones, for one point or a batch (default: they are the same).
    * ``compile_key()`` -- what must agree for two instances to share compiled
      functions (default: the class).
    * ``template(n, **kwargs)`` (a classmethod) and ``with_response(y)`` for
      :func:`pplmle.simulate` and the parametric bootstrap, ``resample(rows)``
      for the nonparametric bootstrap (default: ``NotImplementedError``).
    """

    #: Why the MLE has no closed form (None for a family whose ``closed_form()`` gives one).
    no_closed_form: ClassVar[str | None] = None

    #: the label of a residual scale with an unbiased version (``summary(unbiased_sigma=True)``)
    scale_param: ClassVar[str] = ""

    def summary_info(self, n_params: int) -> dict[str, Any]:
        """What :meth:`MLEResult.summary` reports beyond the fit: the response's name, the residual
        degrees of freedom and the null and saturated log-likelihoods where they are defined."""
        null = self.null_model()
        return {
            "dep_var": getattr(self, "response_name", "y"),
            "df_resid": int(self.n_obs - n_params),
            "null_loglik": float("nan") if null is None else float(null[0]),
            "null_n_params": 0 if null is None else int(null[1]),
            "saturated_loglik": float(self.saturated_loglik()),
            "scale_param": self.scale_param,
        }

    def null_model(self) -> tuple[float, int] | None:
        """Log-likelihood and parameter count of the intercept-only model (None: not defined)."""
        return None

    def saturated_loglik(self) -> float:
        """Log-likelihood of the saturated model (one mean per observation), NaN where undefined."""
        return float("nan")

    def predict(
        self, params: Mapping[str, Any], cov: pd.DataFrame, new_data: Any, level: float, interval: str
    ):
        """Predicted means with delta-method errors (the regression families)."""
        raise ValueError(
            f"`predict` needs a regression (or a pm.Model with pm.Data); {type(self).__name__} "
            "has no covariates."
        )

    def __init__(self) -> None:
        self._model: pm.Model | None = None

    # -- the contract: what a subclass must provide ---------------------------------
    @property
    @abc.abstractmethod
    def param_names(self) -> tuple[str, ...]:
        """Names of the reported parameters, in order (a class attribute in most families)."""

    @property
    @abc.abstractmethod
    def n_obs(self) -> int:
        """Number of observations in the likelihood."""

    @abc.abstractmethod
    def data(self) -> dict[str, np.ndarray]:
        """Values of the ``pm.Data`` containers, by name."""

    @abc.abstractmethod
    def declare(self, data: Mapping[str, Any]) -> None:
        """Declare the model's variables inside an active ``pm.Model`` context."""

    @abc.abstractmethod
    def start(self) -> dict[str, Any]:
        """A rough natural-scale starting point for the free variables (not the MLE)."""

    # -- optional: the reference routes of pl.compare -----------------------------------
    def closed_form(self) -> dict[str, Any] | None:
        """The closed-form MLE, keyed like the parameters; None when there is none (``no_closed_form``)."""
        return None

    def hand_nll(self) -> HandNLL | Callable[[Mapping[str, Any]], float] | None:
        """A hand-written NLL of this family's data (a :class:`HandNLL` or a callable); None by default."""
        return None

    # -- optional: labels, findings, parameterization, sharing ---------------------------
    def findings(self) -> list:
        """Problems known from the data alone (separation, boundary MLE): findings of the diagnostics."""
        return []

    def compile_key(self) -> tuple:
        """What must agree for two instances to share compiled functions."""
        return (type(self),)

    def labels(self) -> dict[str, list[str]]:
        """Label of each scalar element, per reported parameter (scalars: the name)."""
        return {name: [name] for name in self.param_names}

    def to_free(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Free-variable values (natural scale) from reported parameter values."""
        return {k: params[k] for k in self.param_names if k in params}

    def free_batch(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Like :meth:`to_free` for arrays with a leading batch dimension (one row per point)."""
        return {k: params[k] for k in self.param_names}

    # -- optional: repeated fits (pplmle.simulate, MLEResult.bootstrap) -------------------
    @classmethod
    def template(cls, n: int | None, **kwargs: Any) -> Family:
        """An instance with `n` placeholder responses: the shapes and covariates of a simulation."""
        raise NotImplementedError(
            f"{cls.__name__} does not support simulation: a family supports it by implementing "
            "`template` and `with_response`."
        )

    def with_response(self, y: np.ndarray) -> Family:
        """The same family and covariates with the response `y` (validated)."""
        raise NotImplementedError(
            f"{self.name} does not support simulation or the parametric bootstrap: a family supports "
            "them by implementing `template` and `with_response`."
        )

    def resample(self, rows: np.ndarray) -> Family:
        """The family on the observations `rows` (with repeats): a nonparametric bootstrap sample."""
        raise NotImplementedError(
            f"{self.name} does not support the nonparametric bootstrap: a family supports it by "
            "implementing `resample`."
        )

    def __getstate__(self) -> dict:
        # the PyMC model is rebuilt on demand; workers of a pool need only the data
        return {**self.__dict__, "_model": None}

    # -- shared machinery -------------------------------------------------------
    def build_model(self, data: Mapping[str, Any]) -> pm.Model:
        with pm.Model(name="") as model:
            containers = {name: pm.Data(name, value) for name, value in data.items()}
            self.declare(containers)
        return model

    @property
    def model(self) -> pm.Model:
        """A PyMC model of this family with flat priors and this instance's data."""
        if self._model is None:
            self._model = self.build_model(self.data())
        return self._model

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"{self.name}(n_obs={self.n_obs})"


# ---------------------------------------------------------------------------------
# helpers


def _template_args(cls: type, n: int | None, kwargs: dict, **required: str) -> dict[str, Any]:
    """Check a simulation template's arguments: `n` and exactly the keywords in `required`
    (name -> what it is); return those keywords."""
    unknown = sorted(set(kwargs) - set(required))
    if unknown:
        allowed = ", ".join(f"`{k}`" for k in required) or "no keyword arguments"
        raise TypeError(f"{cls.__name__} takes {allowed} besides `n`; got {unknown}.")
    for name, what in required.items():
        if kwargs.get(name) is None:
            raise TypeError(f"{cls.__name__} needs `{name}=`: {what}.")
    if n is None:
        raise ValueError(f"`n` (the size of each dataset) is required for {cls.__name__}.")
    return kwargs


def _moments(x: np.ndarray, *, overwrite: bool = False) -> tuple[float, float]:
    """The mean and the standard deviation (divisor n) of the vector `x`, the latter 1 where it is
    0 or not finite (a start must lie inside the support). The sum of squares is one BLAS dot
    product of the centred values (``np.std`` squares them into another array first: 4.3 ms
    against 1.6 ms at n = 10^6); with `overwrite`, they are centred in place in `x` (a temporary)."""
    if x.size == 0:
        return float("nan"), 1.0
    mu = float(np.mean(x))
    d = np.subtract(x, mu, out=x if overwrite else None)
    sd = float(np.sqrt(float(d @ d) / d.size))
    return mu, (sd if np.isfinite(sd) and sd > 0 else 1.0)


class _Univariate(Family):
    """One vector of i.i.d. observations `x`."""

    _arg = "x"

    def __init__(self, x: Any, *, nan_policy: str = "raise"):
        super().__init__()
        self.x = check_vector(self._arg, x, nan_policy)
        self._check(self.x)

    def _check(self, x: np.ndarray) -> None:
        pass

    @property
    def n_obs(self) -> int:
        return int(self.x.size)

    def data(self) -> dict[str, np.ndarray]:
        return {self._arg: self.x}

    @staticmethod
    def _placeholder(n: int) -> np.ndarray:
        return np.arange(1.0, n + 1.0)

    @classmethod
    def template(cls, n, **kwargs):
        _template_args(cls, n, kwargs)
        return cls(cls._placeholder(n))

    def with_response(self, y):
        return type(self)(y)

    def resample(self, rows):
        return type(self)(self.x[rows])


def _power_of_two(x: np.ndarray) -> float:
    """The power of two nearest above max |x| (1 for all-zero data): dividing by it is exact."""
    top = max(float(np.max(x)), -float(np.min(x))) if x.size else 0.0  # no array of |x|
    return float(np.ldexp(1.0, np.frexp(top)[1])) if top > 0 and np.isfinite(top) else 1.0


class _UnitScaled(_Univariate):
    """A univariate family fitted on ``x / unit``, `unit` a power of two near max |x|.

    The model's free variables are the parameters in those units (``mu_std``, ...), so every
    derivative the optimizer and the covariance need is of order one whatever the units of `x`
    (a Normal on data near 1e300 has d^2 NLL / d mu^2 = n / sigma^2 = 1e-600, which float64 cannot
    hold). The reported parameters are Deterministics ``unit**power * free``, exact (a power of
    two), and a Potential restores the log-likelihood of `x` itself (``-n log unit`` for a
    density).
    """

    #: the power of `unit` by which each reported parameter scales (mu: 1, a rate: -1)
    _powers: ClassVar[dict[str, int]] = {}

    def __init__(self, x: Any, *, nan_policy: str = "raise"):
        super().__init__(x, nan_policy=nan_policy)
        self.unit = _power_of_two(self.x)

    def data(self) -> dict[str, np.ndarray]:
        return {self._arg: self.x / self.unit, "unit": np.asarray(self.unit)}

    def _factor(self, name: str) -> float:
        return float(self.unit) ** self._powers[name]

    def _declare_scaled(self, d, **free) -> dict[str, Any]:
        """Declare the free variables `free` (name -> pm distribution class) in the scaled units,
        their reported Deterministics and the Jacobian Potential; return the free variables."""
        out = {}
        for name, dist in free.items():
            out[name] = dist(f"{name}_std")
            pm.Deterministic(name, out[name] * d["unit"] ** self._powers[name])
        pm.Potential("unit_jacobian", -pt.cast(d[self._arg].shape[0], "float64") * pt.log(d["unit"]))
        return out

    def to_free(self, params):
        return {
            f"{k}_std": np.asarray(params[k], dtype=float) / self._factor(k)
            for k in self.param_names
            if k in params
        }

    def free_batch(self, params):
        return {f"{k}_std": np.asarray(params[k], dtype=float) / self._factor(k) for k in self.param_names}

    def _scaled_start(self, params: Mapping[str, float]) -> dict[str, Any]:
        return self.to_free(params)

    def with_response(self, y):
        # a simulation draws the container, that is x / unit: keep this instance's unit
        check_data(self._arg, y)
        new = type(self)(np.asarray(y, dtype=float) * self.unit)
        new.unit = self.unit
        return new

    def resample(self, rows):
        new = type(self)(self.x[rows])
        new.unit = self.unit
        return new


class Normal(_UnitScaled):
    """``x_i ~ Normal(mu, sigma)``; closed form ``mu = mean(x)``, ``sigma^2 = mean((x - mu)^2)``.

    Examples
    --------
    >>> import pplmle as pl
    >>> res = pl.mle(pl.Normal([1.0, 2.0, 4.0]))
    >>> round(res.params["mu"], 6), round(res.params["sigma"], 6)
    (2.333333, 1.247219)
    """

    param_names = ("mu", "sigma")

    def _check(self, x):
        check_not_constant("x", x, "Normal", unbounded("sigma"))

    _powers: ClassVar[dict[str, int]] = {"mu": 1, "sigma": 1}

    def declare(self, d):
        v = self._declare_scaled(d, mu=pm.Flat, sigma=pm.HalfFlat)
        pm.Normal("obs", mu=v["mu"], sigma=v["sigma"], observed=d["x"])

    def start(self):
        # the moments, which are the MLE: two passes over the data (no sort), and find_MAP and
        # Newton's method then only verify. In units: np.std(x) overflows for x ~ 1e200
        mu, sigma = _moments(self.x / self.unit, overwrite=True)
        return self._scaled_start({"mu": mu * self.unit, "sigma": sigma * self.unit})

    def closed_form(self):
        return cf.normal(self.x)

    def hand_nll(self):
        return hw.NormalNLL(self.x)


class LogNormal(_Univariate):
    """``log x_i ~ Normal(mu, sigma)``, x > 0."""

    param_names = ("mu", "sigma")

    def _check(self, x):
        check_support("x", x, "positive", x > 0, "LogNormal")
        check_not_constant("x", x, "LogNormal", unbounded("sigma"))

    def declare(self, d):
        mu = pm.Flat("mu")
        sigma = pm.HalfFlat("sigma")
        pm.LogNormal("obs", mu=mu, sigma=sigma, observed=d["x"])

    def start(self):
        mu, sigma = _moments(np.log(self.x), overwrite=True)  # the MLE, as for Normal
        return {"mu": mu, "sigma": sigma}

    def closed_form(self):
        return cf.lognormal(self.x)

    def hand_nll(self):
        return hw.LogNormalNLL(self.x)


class Bernoulli(_Univariate):
    """``y_i ~ Bernoulli(p)``, y in {0, 1}; closed form ``p = mean(y)``."""

    _arg = "y"
    param_names = ("p",)

    def _check(self, y):
        check_support("y", y, "0 or 1", (y == 0) | (y == 1), "Bernoulli")

    @property
    def y(self) -> np.ndarray:
        return self.x

    @staticmethod
    def _placeholder(n):
        return np.arange(n) % 2.0

    def declare(self, d):
        p = pm.Uniform("p", 0.0, 1.0)  # density 1 on (0, 1): flat
        pm.Bernoulli("obs", p=p, observed=d["y"])

    def findings(self):
        if np.all(self.y == self.y[0]):
            return [dg.boundary({"p": float(self.y[0])}, f"every y is {int(self.y[0])}")]
        return []

    def start(self):
        return {"p": 0.5}

    def closed_form(self):
        return cf.bernoulli(self.y)

    def saturated_loglik(self):
        return 0.0

    def hand_nll(self):
        return hw.BernoulliNLL(self.y)


class Poisson(_Univariate):
    """``x_i ~ Poisson(lam)``, x = 0, 1, 2, ...; closed form ``lam = mean(x)``."""

    param_names = ("lam",)

    def _check(self, x):
        check_support("x", x, "non-negative", x >= 0, "Poisson")
        check_integer("x", x, "Poisson")

    @staticmethod
    def _placeholder(n):
        return np.arange(n) % 3.0

    def declare(self, d):
        lam = pm.HalfFlat("lam")
        pm.Poisson("obs", mu=lam, observed=d["x"])

    def findings(self):
        if np.all(self.x == 0):
            return [dg.boundary({"lam": 0.0}, "every count is 0")]
        return []

    def start(self):
        m = float(np.mean(self.x))  # the closed form (0.5 when every count is 0: a boundary)
        return {"lam": m if m > 0 else 0.5}

    def closed_form(self):
        return cf.poisson(self.x)

    def saturated_loglik(self):
        return _poisson_saturated(self.x)

    def hand_nll(self):
        return hw.PoissonNLL(self.x)


class Exponential(_UnitScaled):
    """``x_i ~ Exponential(lam)`` with rate `lam`, x >= 0; closed form ``lam = 1 / mean(x)``."""

    param_names = ("lam",)

    def _check(self, x):
        check_support("x", x, "non-negative", x >= 0, "Exponential")
        check_not_all_zero("x", x, "Exponential", unbounded("lam"))

    _powers: ClassVar[dict[str, int]] = {"lam": -1}

    def declare(self, d):
        v = self._declare_scaled(d, lam=pm.HalfFlat)
        pm.Exponential("obs", lam=v["lam"], observed=d["x"])

    def start(self):
        return self._scaled_start({"lam": 1.0 / float(np.mean(self.x))})  # the closed form

    def closed_form(self):
        return cf.exponential(self.x)

    def hand_nll(self):
        return hw.ExponentialNLL(self.x)


class Gamma(_UnitScaled):
    """``x_i ~ Gamma(alpha, beta)`` with shape `alpha` and rate `beta`, x > 0 (no closed form)."""

    param_names = ("alpha", "beta")
    no_closed_form = (
        "The score equation for the shape alpha involves the digamma function, "
        "log(alpha) - digamma(alpha) = log(mean x) - mean(log x), which can be solved only numerically "
        "(the rate then follows as beta = alpha / mean x)."
    )

    def _check(self, x):
        check_support("x", x, "positive", x > 0, "Gamma")
        check_not_constant("x", x, "Gamma")

    _powers: ClassVar[dict[str, int]] = {"alpha": 0, "beta": -1}

    def declare(self, d):
        v = self._declare_scaled(d, alpha=pm.HalfFlat, beta=pm.HalfFlat)
        pm.Gamma("obs", alpha=v["alpha"], beta=v["beta"], observed=d["x"])

    def start(self):
        # moment estimates: alpha = mean^2 / var, beta = mean / var (computed on a scaled copy,
        # so that neither squares overflow nor underflow at any scale of x)
        s = float(np.max(self.x))
        m, v = float(np.mean(self.x / s)), float(np.var(self.x / s))
        if not v > 0:
            return self._scaled_start({"alpha": 1.0, "beta": 1.0 / (m * s)})
        return self._scaled_start({"alpha": m * m / v, "beta": m / v / s})

    def hand_nll(self):
        return hw.GammaNLL(self.x)


class Binomial(Family):
    """``k_i ~ Binomial(n_i, p)``; closed form ``p = sum(k) / sum(n)``.

    Parameters
    ----------
    k
        Successes, whole numbers with ``0 <= k_i <= n_i``.
    n
        Trials per observation: a whole number >= 1, or an array like `k`.
    """

    param_names = ("p",)

    def __init__(self, k: Any, n: Any, *, nan_policy: str = "raise"):
        super().__init__()
        self.k, self.n = check_binomial(k, n, "Binomial", nan_policy)

    @property
    def n_obs(self) -> int:
        return int(self.k.size)

    def data(self):
        return {"k": self.k, "n": self.n}

    def closed_form(self):
        return cf.binomial(self.k, self.n)

    def saturated_loglik(self):
        k, n = (
            np.asarray(self.k, dtype=float),
            np.broadcast_to(np.asarray(self.n, dtype=float), np.shape(self.k)),
        )
        return float(np.sum(scipy.stats.binom.logpmf(k, n, k / n)))

    def hand_nll(self):
        return hw.BinomialNLL(self.k, self.n)

    @classmethod
    def template(cls, n, **kwargs):
        trials = _template_args(cls, n, kwargs, trials="the number of trials of each observation")["trials"]
        return cls(np.zeros(n), trials)

    def with_response(self, k):
        return Binomial(k, self.n)

    def resample(self, rows):
        return Binomial(self.k[rows], self.n[rows])

    def declare(self, d):
        p = pm.Uniform("p", 0.0, 1.0)
        pm.Binomial("obs", n=pt.cast(d["n"], "int64"), p=p, observed=d["k"])  # int trials: drawable

    def findings(self):
        if np.all(self.k == 0):
            return [dg.boundary({"p": 0.0}, "there are no successes")]
        if np.all(self.k == self.n):
            return [dg.boundary({"p": 1.0}, "every trial is a success")]
        return []

    def start(self):
        return {"p": 0.5}


class Categorical(Family):
    """``y_i ~ Categorical(p)`` over `k` classes; closed form ``p_j = count_j / n``.

    Parameters
    ----------
    y
        Class labels.  With ``k=None`` the classes are the sorted distinct values
        of `y`; with `k` given, `y` must hold whole numbers in ``0 .. k-1``.
    """

    param_names = ("p",)

    def __init__(self, y: Any, k: int | None = None, *, nan_policy: str = "raise"):
        super().__init__()
        check_nan_policy(nan_policy)
        check_not_masked("y", y)
        raw = np.array(y, copy=True)
        if raw.ndim != 1:
            raise ValueError(f"`y` must be 1-dimensional; got an array with shape {raw.shape}.")
        if raw.size == 0:
            raise ValueError("`y` must not be empty; got shape (0,).")
        if k is None:
            missing = _missing_mask(raw)
            if missing.any():
                if nan_policy == "raise":
                    where = int(np.argmax(missing))
                    raise ValueError(
                        f"`y` must not contain missing values; found {plain(raw[where])!r} at index {where}."
                    )
                raw = raw[~missing]
            self.classes, codes = np.unique(raw, return_inverse=True)
            if self.classes.size < 2:
                raise ValueError(
                    f"`y` must contain at least two classes for Categorical; found {plain(self.classes)}."
                )
        else:
            codes, k = check_codes(raw, k, "Categorical", name="y", nan_policy=nan_policy)
            self.classes = np.arange(k)
        self.y = np.asarray(codes, dtype=np.int64)
        self.k = int(self.classes.size)

    @property
    def n_obs(self) -> int:
        return int(self.y.size)

    def compile_key(self):
        return (type(self), self.k)

    def labels(self):
        return {"p": [f"p[{c}]" for c in self.classes]}

    def data(self):
        return {"y": self.y}

    def closed_form(self):
        return cf.categorical(self.y, self.k)

    def saturated_loglik(self):
        return 0.0

    def hand_nll(self):
        return hw.CategoricalNLL(self.y, self.k)

    @classmethod
    def template(cls, n, **kwargs):
        k = _template_args(cls, n, kwargs, k="the number of classes")["k"]
        return cls(np.arange(n) % k, k=k)

    def with_response(self, y):
        new = Categorical(y, k=self.k)
        new.classes = self.classes
        return new

    def resample(self, rows):
        return self.with_response(self.y[rows])

    def declare(self, d):
        p = pm.Dirichlet("p", a=np.ones(self.k))  # constant density on the simplex: flat
        pm.Categorical("obs", p=p, observed=d["y"])

    def findings(self):
        counts = np.bincount(self.y, minlength=self.k)
        empty = np.flatnonzero(counts == 0)
        if empty.size == 0:
            return []
        labels = self.labels()["p"]
        names = [plain(self.classes[j]) for j in empty]
        return [dg.boundary({labels[j]: 0.0 for j in empty}, f"class(es) {names} never occur")]

    def start(self):
        return {"p": np.full(self.k, 1.0 / self.k)}


def _missing_mask(raw: np.ndarray) -> np.ndarray:
    if raw.dtype.kind == "f":
        return np.isnan(raw)
    if raw.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in raw])
    return np.zeros(raw.shape, dtype=bool)


# ---------------------------------------------------------------------------------
# regressions


class _Regression(Family):
    """Shared design handling: validation, QR basis, labels."""

    def __init__(self, X: Any, y: Any, *, intercept: bool = True, nan_policy: str = "raise", **extra: Any):
        super().__init__()
        check_nan_policy(nan_policy)
        intercept = check_bool("intercept", intercept)
        check_same_index({"X": X, "y": y})
        Xa, self.columns = as_design(X, vector_ok=True)
        self.response_name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "y"
        ya = self._response(y)
        extras = {k: v for k, v in extra.items() if v is not None}
        check_same_length("X", Xa, "y", ya)
        for name, arr in extras.items():
            check_same_length("X", Xa, name, arr)
        drop = nan_rows(Xa) | self._missing(ya)
        for arr in extras.values():
            drop |= nan_rows(arr)
        if drop.any():
            if nan_policy == "raise":
                where = int(np.argmax(drop))
                raise ValueError(
                    f"`X` and `y` must not contain NaN; found NaN in row {where} "
                    f"({int(drop.sum())} row(s) in all). Pass nan_policy='omit' to drop such rows."
                )
            Xa, ya = Xa[~drop], ya[~drop]
            extras = {k: v[~drop] for k, v in extras.items()}
        check_finite("X", Xa)
        self.X, self.intercept = Xa, intercept
        self._set_response(ya, extras)
        names = (["(intercept)"] if self.intercept else []) + self.columns
        X1 = np.column_stack([np.ones(len(Xa)), Xa]) if self.intercept else Xa
        check_identified(X1, names, self.intercept)
        scale = np.linalg.norm(X1, axis=0)
        Q, R = np.linalg.qr(X1 / scale)
        self._Q, self._R, self._scale = Q, R, scale
        self._X1, self._names = X1, names
        self._cached_findings: list | None = None

    def _missing(self, y: np.ndarray) -> np.ndarray:
        return np.isnan(y)

    def _response(self, y: Any) -> np.ndarray:
        return as_float_array("y", y, ndim=1)

    def _set_response(self, y: np.ndarray, extras: dict) -> None:
        check_finite("y", y)
        self.y = y

    @property
    def n_obs(self) -> int:
        return int(self.X.shape[0])

    @property
    def param_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return (("intercept",) if self.intercept else ()) + ("beta",) + self._extra_params

    _extra_params: tuple[str, ...] = ()

    def compile_key(self):
        return (type(self), self.intercept, self.X.shape[1])

    def data(self):
        return {"Q": self._Q, "R": self._R, "scale": self._scale, "y": self.y}

    def _coefficient_labels(self) -> list[str]:
        labels = self.labels()
        return [lab for name in ("intercept", "beta") for lab in labels.get(name, [])]

    def _separation(self):
        return None

    # -- repeated fits: the design stays, the response changes ---------------------------
    @staticmethod
    def _placeholder_y(n: int, **kwargs: Any) -> np.ndarray:
        return np.arange(n, dtype=float)

    @classmethod
    def template(cls, n, X=None, **kwargs):
        if X is None:
            raise TypeError(f"{cls.__name__} needs `X=`: the design, one row per observation.")
        rows = len(X)
        if n is not None and n != rows:
            raise ValueError(f"`n` must be None or the number of rows of `X` ({rows}); got {n!r}.")
        extra = {k: kwargs.pop(k) for k in cls._template_only if k in kwargs}
        return cls(X, cls._placeholder_y(rows, **extra), **kwargs)

    _template_only: tuple[str, ...] = ()

    def with_response(self, y):
        check_data("y", y)
        new = copy.copy(self)
        new._model = None
        new._cached_findings = None
        new._set_response(np.asarray(y, dtype=float), self._extras())
        return new

    def _extras(self) -> dict[str, np.ndarray]:
        return {}

    def _raw_y(self) -> np.ndarray:
        return self.y

    def resample(self, rows):
        X = pd.DataFrame(self.X[rows], columns=self.columns)
        return self._rebuild(X, self._raw_y()[rows], rows)

    def _rebuild(self, X, y, rows):
        return type(self)(X, y, intercept=self.intercept)

    def findings(self):
        if self._cached_findings is None:
            sep = self._separation()
            if sep is None:
                self._cached_findings = []
            else:
                labels = np.array(self._coefficient_labels())
                direction = sep.direction.ravel()
                keep = np.abs(direction) > 1e-12 * np.max(np.abs(direction))
                moving = [str(lab) for lab in labels[keep]]
                self._cached_findings = [dg.separation(sep.describe(), moving, np.sign(direction[keep]))]
        return list(self._cached_findings)

    def _declare_coefficients(self, d, shape, unit=None):
        """gamma on the orthonormal basis; reported coefficients D^-1 R^-1 gamma (times `unit`)."""
        gamma = pm.Flat("gamma", shape=shape)
        coef = solve_triangular(d["R"], gamma, lower=False)
        coef = coef / (d["scale"][:, None] if len(shape) == 2 else d["scale"])
        if unit is not None:
            coef = coef * unit
        if self.intercept:
            pm.Deterministic("intercept", coef[0])
            pm.Deterministic("beta", coef[1:])
        else:
            pm.Deterministic("beta", coef)
        return pt.dot(d["Q"], gamma)

    def _gamma_from(self, params: Mapping[str, Any]) -> np.ndarray:
        coef = np.asarray(params["beta"], dtype=float)
        if self.intercept:
            first = np.reshape(np.asarray(params["intercept"], dtype=float), (1, *coef.shape[1:]))
            coef = np.concatenate([first, coef])
        scaled = coef * (self._scale[:, None] if coef.ndim == 2 else self._scale)
        return self._R @ scaled

    def to_free(self, params):
        out = {k: params[k] for k in self._extra_params if k in params}
        if "beta" in params:
            out["gamma"] = self._gamma_from(params)
        return out

    def free_batch(self, params):
        beta = np.asarray(params["beta"], dtype=float)  # (G, p) or (G, p, k-1)
        coef = beta
        if self.intercept:
            first = np.asarray(params["intercept"], dtype=float).reshape(beta.shape[0], 1, *beta.shape[2:])
            coef = np.concatenate([first, beta], axis=1)
        scaled = coef * self._scale.reshape(1, -1, *([1] * (coef.ndim - 2)))
        out = {k: params[k] for k in self._extra_params}
        out["gamma"] = np.einsum("ij,gj...->gi...", self._R, scaled)
        return out

    def _inverse_link(self, eta):
        raise NotImplementedError

    def _new_extra(self, new_data, offset, fitted):
        if offset is not None:
            raise ValueError(f"`offset` is only for PoissonRegression; this is a {type(self).__name__}.")
        return np.zeros(new_data.shape[0])

    def predict(self, params, cov, new_data, level, interval, offset=None):
        """Means at the rows of `new_data` (default: the fitted design) with delta-method errors."""
        fitted = new_data is None
        if fitted:
            X1 = self._X1
        else:
            if isinstance(new_data, pd.DataFrame):
                missing = [c for c in self.columns if c not in new_data.columns]
                if missing:
                    raise ValueError(
                        f"`new_data` must have the fitted columns {self.columns}; missing {missing}."
                    )
                new_data = new_data[self.columns]
            Xn, _ = as_design(new_data, vector_ok=True)
            check_finite("new_data", Xn)
            if Xn.shape[1] != len(self.columns):
                raise ValueError(
                    f"`new_data` must have {len(self.columns)} column(s) like the fitted X; "
                    f"got {Xn.shape[1]}."
                )
            X1 = np.column_stack([np.ones(len(Xn)), Xn]) if self.intercept else Xn
        if offset is not None:
            offset = as_float_array("offset", offset, ndim=1)
            check_same_length("new_data", X1, "offset", offset)
            check_finite("offset", offset)
        off = self._new_extra(X1, offset, fitted)
        names = [lab for lab in self._coefficient_labels()]
        coef = np.concatenate(
            [np.ravel(np.asarray(params[k], dtype=float)) for k in ("intercept", "beta") if k in params]
        )
        V = cov.loc[names, names].to_numpy()
        eta = X1 @ coef + off
        with np.errstate(invalid="ignore"):
            se_eta = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X1, V, X1), 0.0))
        mean, slope = self._inverse_link(eta)
        mean = np.asarray(mean, dtype=float)
        se = np.abs(slope(mean)) * se_eta
        z = float(scipy.stats.norm.ppf(0.5 + level / 2.0))
        if interval == "link":
            lo, hi = self._inverse_link(eta - z * se_eta)[0], self._inverse_link(eta + z * se_eta)[0]
        else:
            lo, hi = mean - z * se, mean + z * se
        pct = f"{100 * level:g}%"
        return pd.DataFrame(
            {
                "mean": mean,
                "mean_se": se,
                f"lower {pct}": lo,
                f"upper {pct}": hi,
                "linpred": eta,
                "linpred_se": se_eta,
            }
        )

    def labels(self):
        labels = {"beta": [f"beta[{c}]" for c in self.columns]}
        if self.intercept:
            labels = {"intercept": ["intercept"], **labels}
        return labels


class LinearRegression(_Regression):
    """``y_i ~ Normal(intercept + X_i beta, sigma)``; closed form by QR least squares, sigma^2 = RSS/n.

    The model is fitted on ``y / unit`` (`unit` a power of two near max |y|, so the division is
    exact) and reports the coefficients and sigma times `unit`: the optimizer sees numbers of
    order one whatever the units of the response.
    """

    _extra_params = ("sigma",)

    def _set_response(self, y, extras):
        super()._set_response(y, extras)
        self.unit = _power_of_two(self.y)

    def data(self):
        return {**super().data(), "y": self.y / self.unit, "unit": np.asarray(self.unit)}

    def declare(self, d):
        mu = self._declare_coefficients(d, (self._Q.shape[1],), unit=d["unit"])
        sigma = pm.HalfFlat("sigma_std")
        pm.Deterministic("sigma", sigma * d["unit"])
        pm.Normal("obs", mu=mu, sigma=sigma, observed=d["y"])
        pm.Potential("unit_jacobian", -pt.cast(d["y"].shape[0], "float64") * pt.log(d["unit"]))

    def to_free(self, params):
        out = {}
        if "sigma" in params:
            out["sigma_std"] = np.asarray(params["sigma"], dtype=float) / self.unit
        if "beta" in params:
            out["gamma"] = self._gamma_from(params) / self.unit
        return out

    def free_batch(self, params):
        out = super().free_batch(params)
        out["gamma"] = out["gamma"] / self.unit
        out["sigma_std"] = np.asarray(out.pop("sigma"), dtype=float) / self.unit
        return out

    def start(self):
        # the closed form: least squares on the orthonormal basis, and the RMS residual
        y = self.y / self.unit
        gamma = self._Q.T @ y
        rms = float(np.sqrt(np.mean((y - self._Q @ gamma) ** 2)))
        return {"gamma": gamma, "sigma_std": rms if rms > 0 else (float(np.std(y)) or 1.0)}

    def with_response(self, y):
        # a simulation draws the container, that is y / unit: keep this instance's unit
        check_data("y", y)
        new = super().with_response(np.asarray(y, dtype=float) * self.unit)
        new.unit = self.unit
        return new

    def _rebuild(self, X, y, rows):
        new = super()._rebuild(X, y, rows)
        new.unit = self.unit
        return new

    def labels(self):
        return {**super().labels(), "sigma": ["sigma"]}

    def closed_form(self):
        return cf.linear_regression(self.X, self.y, intercept=self.intercept)

    scale_param = "sigma"

    def summary_info(self, n_params):
        return {**super().summary_info(n_params), "df_resid": int(self.n_obs - (n_params - 1))}

    def null_model(self):
        # intercept only: mean and the divide-by-n spread, on a scaled copy (no overflow)
        y = self.y / self.unit
        var = float(np.mean((y - np.mean(y)) ** 2))
        if not var > 0:
            return None
        n = self.n_obs
        return -0.5 * n * (np.log(2.0 * np.pi * var) + 1.0) - n * np.log(self.unit), 2

    def _inverse_link(self, eta):
        return eta, lambda m: np.ones_like(m)

    def hand_nll(self):
        return hw.LinearRegressionNLL(self.X, self.y, intercept=self.intercept)


class LogisticRegression(_Regression):
    """``y_i ~ Bernoulli(logit^-1(intercept + X_i beta))``, y in {0, 1} (no closed form)."""

    no_closed_form = (
        "The score equations X1^T (y - expit(X1 b)) = 0 are nonlinear in the coefficients b, so they are "
        "solved iteratively (Newton / IRLS); with separable data no finite solution exists."
    )

    def _set_response(self, y, extras):
        self.y = check_binary("y", y, "LogisticRegression")

    def declare(self, d):
        eta = self._declare_coefficients(d, (self._Q.shape[1],))
        pm.Bernoulli("obs", logit_p=eta, observed=d["y"])

    def _separation(self):
        return find_separation(self._X1, self.y.astype(np.int64), 2, self._names)

    @staticmethod
    def _placeholder_y(n, **kwargs):
        return np.arange(n) % 2.0

    def start(self):
        return {"gamma": np.zeros(self._Q.shape[1])}

    def null_model(self):
        return _bernoulli_loglik(self.y), 1

    def saturated_loglik(self):
        return 0.0

    def _inverse_link(self, eta):
        return scipy.special.expit(eta), lambda m: m * (1.0 - m)

    def hand_nll(self):
        return hw.LogisticRegressionNLL(self.X, self.y, intercept=self.intercept)


class PoissonRegression(_Regression):
    """``y_i ~ Poisson(exp(intercept + X_i beta + offset_i))`` (no closed form).

    `offset` (for example log exposure) enters the linear predictor with
    coefficient 1.
    """

    no_closed_form = (
        "The score equations X1^T (y - exp(X1 b + offset)) = 0 are nonlinear in the coefficients b "
        "(except for a single categorical covariate), so they are solved iteratively."
    )

    def __init__(
        self, X: Any, y: Any, *, intercept: bool = True, offset: Any = None, nan_policy: str = "raise"
    ):
        check_same_index({"X": X, "y": y, "offset": offset})
        off = None if offset is None else as_float_array("offset", offset, ndim=1)
        super().__init__(X, y, intercept=intercept, nan_policy=nan_policy, offset=off)

    def _set_response(self, y, extras):
        self.y = check_counts("y", y, "PoissonRegression")
        offset = extras.get("offset")
        if offset is not None:
            check_finite("offset", offset)
        self.offset = np.zeros_like(y) if offset is None else offset

    def data(self):
        return {**super().data(), "offset": self.offset}

    def _separation(self):
        return find_zero_separation(self._X1, self.y, self._names)

    @staticmethod
    def _placeholder_y(n, **kwargs):
        return np.zeros(n)

    def _extras(self):
        return {"offset": self.offset}

    def _rebuild(self, X, y, rows):
        return PoissonRegression(X, y, intercept=self.intercept, offset=self.offset[rows])

    def hand_nll(self):
        return hw.PoissonRegressionNLL(self.X, self.y, intercept=self.intercept, offset=self.offset)

    def null_model(self):
        total = float(np.sum(self.y))
        if total == 0:
            return 0.0, 1
        a = np.log(total) - scipy.special.logsumexp(self.offset)
        return float(np.sum(scipy.stats.poisson.logpmf(self.y, np.exp(a + self.offset)))), 1

    def saturated_loglik(self):
        return _poisson_saturated(self.y)

    def _inverse_link(self, eta):
        return np.exp(eta), lambda m: m

    def _new_extra(self, new_data, offset, fitted):
        if fitted:
            return self.offset if offset is None else offset
        return np.zeros(new_data.shape[0]) if offset is None else offset

    def declare(self, d):
        eta = self._declare_coefficients(d, (self._Q.shape[1],))
        pm.Poisson("obs", mu=pt.exp(eta + d["offset"]), observed=d["y"])

    def start(self):
        gamma = np.zeros(self._Q.shape[1])
        if self.intercept:
            # log of the mean rate on the intercept column only
            rate = np.log(np.mean(self.y) + 0.5) - np.mean(self.offset)
            coef = np.zeros(self._Q.shape[1])
            coef[0] = rate
            gamma = self._R @ (coef * self._scale)
        return {"gamma": gamma}


class SoftmaxRegression(_Regression):
    """Multinomial logistic regression; the first class in sorted order is the reference.

    ``P(y_i = c) = softmax(eta_i)[c]`` with ``eta_i = [0, intercept + X_i beta]``:
    `intercept` has shape (k-1,) and `beta` shape (p, k-1), one column per
    non-reference class.
    """

    no_closed_form = (
        "The score equations X1^T (Y - softmax(X1 B)) = 0, one column per non-reference class, are "
        "nonlinear and coupled across classes, so they are solved iteratively."
    )

    def _response(self, y):
        check_not_masked("y", y)
        raw = np.array(y, copy=True)
        if raw.ndim != 1:
            raise ValueError(f"`y` must be 1-dimensional; got an array with shape {raw.shape}.")
        if raw.size == 0:
            raise ValueError("`y` must not be empty; got shape (0,).")
        return raw

    def _missing(self, y):
        return _missing_mask(y)

    def _set_response(self, y, extras):
        self.classes, codes = np.unique(y, return_inverse=True)
        if self.classes.size < 2:
            raise ValueError(
                f"`y` must contain at least two classes for SoftmaxRegression; found {plain(self.classes)}."
            )
        self.y = codes.astype(np.int64)
        self.k = int(self.classes.size)

    def compile_key(self):
        return (*super().compile_key(), self.k)

    def _separation(self):
        return find_separation(self._X1, self.y, self.k, self._names)

    _template_only = ("k",)

    @staticmethod
    def _placeholder_y(n, k=None):
        if k is None:
            raise TypeError("SoftmaxRegression needs `k=`: the number of classes.")
        return np.arange(n) % k

    def with_response(self, y):
        codes, _ = check_codes(y, self.k, "SoftmaxRegression", name="y")
        new = copy.copy(self)
        new._model = None
        new._cached_findings = None
        new.y = codes
        return new

    def _raw_y(self):
        return self.classes[self.y]

    def _rebuild(self, X, y, rows):
        new = SoftmaxRegression(X, y, intercept=self.intercept)
        if new.k != self.k:
            missing = sorted(set(plain(self.classes)) - set(plain(new.classes)))
            raise ValueError(
                f"`y` of the resample lacks class(es) {missing}: the model has a different number of classes."
            )
        return new

    def hand_nll(self):
        return hw.SoftmaxRegressionNLL(self.X, self.y, self.k, intercept=self.intercept)

    def null_model(self):
        counts = np.bincount(self.y, minlength=self.k).astype(float)
        seen = counts[counts > 0]
        return float(np.sum(seen * np.log(seen / counts.sum()))), self.k - 1

    def saturated_loglik(self):
        return 0.0

    def predict(self, params, cov, new_data, level, interval):
        raise ValueError(
            "`predict` is not available for SoftmaxRegression (a vector of class probabilities per row); "
            "compute them from result.params."
        )

    def declare(self, d):
        eta = self._declare_coefficients(d, (self._Q.shape[1], self.k - 1))
        logits = pt.concatenate([pt.zeros((eta.shape[0], 1)), eta], axis=1)
        pm.Categorical("obs", logit_p=logits, observed=d["y"])

    def start(self):
        return {"gamma": np.zeros((self._Q.shape[1], self.k - 1))}

    def labels(self):
        rest = [str(c) for c in self.classes[1:]]
        labels = {"beta": [f"beta[{c}, {r}]" for c in self.columns for r in rest]}
        if self.intercept:
            labels = {"intercept": [f"intercept[{r}]" for r in rest], **labels}
        return labels


def _bernoulli_loglik(y: np.ndarray) -> float:
    """The log-likelihood of a common probability fitted to binary `y` (0 log 0 = 0)."""
    n, k = y.size, float(np.sum(y))
    return float(scipy.special.xlogy(k, k / n) + scipy.special.xlogy(n - k, (n - k) / n))


def _poisson_saturated(y: np.ndarray) -> float:
    """The Poisson log-likelihood with each mean at its count: sum(y log y - y - log y!)."""
    return float(np.sum(scipy.special.xlogy(y, y) - y - scipy.special.gammaln(y + 1.0)))


#: The built-in families, in the order the README lists them.
BUILT_IN: tuple[type[Family], ...] = (
    Normal,
    LogNormal,
    Bernoulli,
    Binomial,
    Poisson,
    Exponential,
    Gamma,
    Categorical,
    LinearRegression,
    LogisticRegression,
    PoissonRegression,
    SoftmaxRegression,
)


def family_names() -> dict[str, type[Family]]:
    """The built-in families by lower-case name (as the command line spells them)."""
    return {cls.__name__.lower(): cls for cls in BUILT_IN}

"""Hand-written negative log-likelihoods with analytic gradients, minimized by SciPy (NumPy/SciPy only).

The second of the three routes a statistics course teaches: write the NLL down
in plain NumPy, derive its gradient by hand and hand both to
``scipy.optimize.minimize``.  Use :func:`minimize_nll` for the MLE of any
family (the reference for the families without a closed form, see
each family's ``no_closed_form``) and :func:`gradient_descent` to show
plain fixed-step gradient descent on a logistic (or softmax) regression.

Each :class:`HandNLL` subclass binds the data of one family of
:mod:`pplmle.pymc.families` (the family's ``hand_nll()`` builds it), checked the same
way, and uses its parameter names and layout.  ``nll`` keeps every constant
(``n/2 log 2 pi``, ``log x!``, ``log C(n, k)``, ``lgamma``, the ``-log x`` Jacobian
of the LogNormal density), so it equals minus PyMC's log-likelihood exactly.  The optimizer works on an
unconstrained vector: ``log`` for scales and rates, ``logit`` for a probability,
the additive log-ratio ``p = softmax([0, u])`` for the categorical simplex and the
identity for coefficients; the chain rule maps the natural-scale gradient to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, log_expit, logit, logsumexp, softmax, xlog1py, xlogy

from pplmle.core.validate import (
    check_binary,
    check_binomial,
    check_codes,
    check_counts,
    check_design,
    check_not_all_zero,
    check_not_constant,
    check_positive,
    check_same_length,
    check_support,
    check_vector,
    plain,
    unbounded,
)

__all__ = [
    "BernoulliNLL",
    "BinomialNLL",
    "CategoricalNLL",
    "ExponentialNLL",
    "GammaNLL",
    "GradientDescentResult",
    "HandFit",
    "HandNLL",
    "LinearRegressionNLL",
    "LogNormalNLL",
    "LogisticRegressionNLL",
    "NormalNLL",
    "PoissonNLL",
    "PoissonRegressionNLL",
    "SoftmaxRegressionNLL",
    "gradient_descent",
    "minimize_nll",
]

LOG_2PI = math.log(2.0 * math.pi)
_SIMPLEX_TOL = 1e-9


@dataclass(frozen=True)
class _Block:
    """One parameter: its name, shape, unconstrained transform and whether its boundary is allowed.

    `transform` is ``"identity"`` (real), ``"log"`` (positive), ``"logit"`` (in (0, 1)) or
    ``"simplex"`` (a probability vector, free coordinates ``u = log p[1:] - log p[0]``).
    With ``closed=True`` the NLL is also defined on the boundary (rate 0, p = 0 or 1, p_j = 0).
    """

    name: str
    shape: tuple[int, ...]
    transform: str
    closed: bool = False

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def n_free(self) -> int:
        return self.size - 1 if self.transform == "simplex" else self.size


def _robust_scale(x: np.ndarray) -> float:
    """IQR / 1.349, or the standard deviation when the IQR is degenerate (tied data)."""
    q75, q25 = np.percentile(x, [75, 25])
    sd = float(np.std(x))
    scale = float(q75 - q25) / 1.349
    return scale if scale > 1e-3 * sd else (sd or 1.0)


def _as_value(arr: np.ndarray, shape: tuple[int, ...]) -> float | np.ndarray:
    return float(arr.reshape(())) if shape == () else arr.reshape(shape).copy()


class HandNLL:
    """Base class: a family's NLL on the natural scale, its analytic gradient and the unconstrained map.

    Subclasses set ``family``, ``param_names`` and ``_blocks`` and implement
    ``_value`` and ``_gradient`` on checked natural-scale parameters.
    """

    #: Name of the matching family in :mod:`pplmle.pymc.families`, for messages.
    family: ClassVar[str] = ""
    #: Names of the parameters, in the order of the family.
    param_names: tuple[str, ...] = ()
    _blocks: tuple[_Block, ...] = ()

    # -- what subclasses provide ---------------------------------------------
    @property
    def n_obs(self) -> int:
        """Number of observations in the likelihood."""
        raise NotImplementedError

    def _value(self, p: dict[str, Any]) -> float:
        raise NotImplementedError

    def _gradient(self, p: dict[str, Any]) -> dict[str, float | np.ndarray]:
        raise NotImplementedError

    def start(self) -> dict[str, float | np.ndarray]:
        """A rough, data-based natural-scale starting point (not the MLE)."""
        raise NotImplementedError

    # -- natural scale -----------------------------------------------------------
    def nll(self, params: Mapping[str, Any]) -> float:
        """Negative log-likelihood at natural-scale `params`, all constants included.

        Parameters on the boundary of a closed support (a probability of 0 or
        1, a Poisson rate of 0) give the limiting value, possibly ``inf``;
        parameters outside the support raise ``ValueError``.
        """
        return float(self._value(self._parse(params, strict=False)))

    def grad(self, params: Mapping[str, Any]) -> dict[str, float | np.ndarray]:
        """Analytic gradient of :meth:`nll` on the natural scale, in the layout of the parameters.

        Defined in the interior of the parameter space only (``ValueError`` on
        the boundary).
        """
        return self._gradient(self._parse(params, strict=True))

    # -- unconstrained scale ---------------------------------------------------
    @property
    def n_free(self) -> int:
        """Length of the unconstrained vector."""
        return sum(b.n_free for b in self._blocks)

    def to_unconstrained(self, params: Mapping[str, Any]) -> np.ndarray:
        """The flat unconstrained vector of natural-scale `params` (interior points only)."""
        p = self._parse(params, strict=True)
        parts = []
        for b in self._blocks:
            v = np.ravel(p[b.name])
            if b.transform == "log":
                v = np.log(v)
            elif b.transform == "logit":
                v = logit(v)
            elif b.transform == "simplex":
                v = np.log(v[1:]) - np.log(v[0])
            parts.append(np.asarray(v, dtype=float))
        return np.concatenate(parts)

    def from_unconstrained(self, u: Any) -> dict[str, float | np.ndarray]:
        """Natural-scale parameters from the flat unconstrained vector `u`."""
        u = np.asarray(u, dtype=float)
        if u.shape != (self.n_free,):
            raise ValueError(
                f"`u` must be a 1-dimensional array of length {self.n_free}; got shape {u.shape}."
            )
        out: dict[str, float | np.ndarray] = {}
        i = 0
        for b in self._blocks:
            v = u[i : i + b.n_free]
            i += b.n_free
            if b.transform == "log":
                v = np.exp(v)
            elif b.transform == "logit":
                v = expit(v)
            elif b.transform == "simplex":
                v = softmax(np.concatenate([[0.0], v]))
            out[b.name] = _as_value(np.array(v, dtype=float), b.shape)
        return out

    def nll_and_grad_unconstrained(self, u: Any) -> tuple[float, np.ndarray]:
        """NLL and its gradient in the unconstrained vector `u` (chain rule from :meth:`grad`).

        ``d nll / d log t = t g``, ``d nll / d logit p = p (1 - p) g`` and, for
        ``p = softmax([0, u])``, ``d nll / d u_m = p_m (g_m - g . p)``.  Where the
        transform overflows or rounds onto the boundary (``exp(800)``,
        ``expit(40) == 1.0``) or the NLL is not finite, the point is rejected
        with ``(inf, nan)`` instead of a warning, which a line search treats as
        "step too long".
        """
        with np.errstate(over="ignore", under="ignore"):
            p = self.from_unconstrained(u)
        if self._support_problem(p, strict=True) is not None:
            return math.inf, np.full(self.n_free, np.nan)
        with np.errstate(all="ignore"):
            f = float(self._value(p))
            g = self._chain(p, self._gradient(p))
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            return math.inf, np.full(self.n_free, np.nan)
        return f, g

    # -- shared machinery --------------------------------------------------------
    def _chain(self, p: Mapping[str, Any], g: Mapping[str, Any]) -> np.ndarray:
        parts = []
        for b in self._blocks:
            t, gb = np.ravel(p[b.name]), np.ravel(g[b.name])
            if b.transform == "log":
                gb = gb * t
            elif b.transform == "logit":
                gb = gb * t * (1.0 - t)
            elif b.transform == "simplex":
                gb = t[1:] * (gb[1:] - gb @ t)
            parts.append(np.asarray(gb, dtype=float))
        return np.concatenate(parts)

    def _support_problem(self, p: Mapping[str, Any], strict: bool) -> str | None:
        """A sentence naming the first parameter outside its support, or None."""
        for b in self._blocks:
            v = np.ravel(p[b.name])
            if not np.all(np.isfinite(v)):
                return _first(b.name, v, "finite", ~np.isfinite(v))
            closed = b.closed and not strict
            if b.transform == "log":
                bad = v < 0 if closed else v <= 0
                rule = "non-negative" if closed else "positive"
            elif b.transform == "logit":
                bad = (v < 0) | (v > 1) if closed else (v <= 0) | (v >= 1)
                rule = "in [0, 1]" if closed else "in (0, 1)"
            elif b.transform == "simplex":
                if abs(float(np.sum(v)) - 1.0) > _SIMPLEX_TOL:
                    return f"`{b.name}` must sum to 1; got sum {float(np.sum(v))!r}."
                bad = v < 0 if closed else v <= 0
                rule = "non-negative" if closed else "positive (interior of the simplex)"
            else:
                continue
            if np.any(bad):
                return _first(b.name, v, rule, bad)
        return None

    def _parse(self, params: Mapping[str, Any], strict: bool) -> dict[str, Any]:
        """Checked copies of `params`: every name present, right shape, inside the support."""
        if not isinstance(params, Mapping):
            raise TypeError(f"`params` must be a mapping from parameter name to value; got {type(params)}.")
        missing = [n for n in self.param_names if n not in params]
        unknown = [n for n in params if n not in self.param_names]
        if missing or unknown:
            raise ValueError(
                f"`params` must have exactly the keys {list(self.param_names)} for {self.family}; "
                f"missing {missing}, unknown {unknown}."
            )
        out: dict[str, Any] = {}
        for b in self._blocks:
            try:
                v = np.array(params[b.name], dtype=float, copy=True)
            except (TypeError, ValueError):
                raise ValueError(f"`{b.name}` must be numeric; got {params[b.name]!r}.") from None
            if v.shape != b.shape:
                raise ValueError(f"`{b.name}` must have shape {b.shape} for {self.family}; got {v.shape}.")
            out[b.name] = _as_value(v, b.shape)
        problem = self._support_problem(out, strict)
        if problem is not None:
            raise ValueError(problem)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_obs={self.n_obs})"


def _first(name: str, v: np.ndarray, rule: str, bad: np.ndarray) -> str:
    i = int(np.argmax(bad))
    where = "" if v.size == 1 else f" at index {i}"
    return f"`{name}` must be {rule}; got {plain(v[i])!r}{where}."


# ---------------------------------------------------------------------------------
# one-sample families


class NormalNLL(HandNLL):
    """``x_i ~ Normal(mu, sigma)``: ``n/2 log 2 pi + n log sigma + sum (x - mu)^2 / (2 sigma^2)``.

    Examples
    --------
    >>> h = NormalNLL([1.0, 2.0, 4.0])
    >>> round(h.nll({"mu": 2.0, "sigma": 1.5}), 6)
    5.084322
    >>> h.grad({"mu": 2.0, "sigma": 1.0})
    {'mu': -1.0, 'sigma': -2.0}
    """

    family = "Normal"
    param_names = ("mu", "sigma")
    _blocks = (_Block("mu", (), "identity"), _Block("sigma", (), "log"))

    def __init__(self, x: Any):
        self.x = check_vector("x", x)
        check_not_constant("x", self.x, self.family, unbounded("sigma"))
        self._z, self._const = self.x, 0.0

    @property
    def n_obs(self) -> int:
        return int(self.x.size)

    def _value(self, p):
        r = self._z - p["mu"]
        s = p["sigma"]
        n = self._z.size
        return 0.5 * n * LOG_2PI + n * math.log(s) + 0.5 * float(r @ r) / s**2 + self._const

    def _gradient(self, p):
        r = self._z - p["mu"]
        s = p["sigma"]
        return {"mu": -float(np.sum(r)) / s**2, "sigma": self._z.size / s - float(r @ r) / s**3}

    def start(self):
        return {"mu": float(np.median(self._z)), "sigma": _robust_scale(self._z)}


class LogNormalNLL(NormalNLL):
    """``log x_i ~ Normal(mu, sigma)``, x > 0: the Normal NLL of log x plus the Jacobian ``sum log x``.

    Examples
    --------
    >>> round(LogNormalNLL([1.0, 2.0, 4.0]).nll({"mu": 0.5, "sigma": 1.0}), 6)
    5.372669
    """

    family = "LogNormal"

    def __init__(self, x: Any):
        self.x = check_positive("x", x, self.family)
        check_not_constant("x", self.x, self.family, unbounded("sigma"))
        self._z = np.log(self.x)
        self._const = float(np.sum(self._z))  # -log x of the density: the Jacobian of log


class BernoulliNLL(HandNLL):
    """``y_i ~ Bernoulli(p)``: ``-(s log p + (n - s) log(1 - p))`` with ``s = sum(y)``.

    Examples
    --------
    >>> round(BernoulliNLL([0, 1, 1, 1]).nll({"p": 0.75}), 6)
    2.249341
    """

    family = "Bernoulli"
    param_names = ("p",)
    _blocks = (_Block("p", (), "logit", closed=True),)

    def __init__(self, y: Any):
        self.y = check_binary("y", y, self.family)
        self._s, self._n = float(np.sum(self.y)), float(self.y.size)

    @property
    def n_obs(self) -> int:
        return int(self.y.size)

    def _value(self, p):
        return -(xlogy(self._s, p["p"]) + xlog1py(self._n - self._s, -p["p"]))

    def _gradient(self, p):
        q = p["p"]
        return {"p": -(self._s / q - (self._n - self._s) / (1.0 - q))}

    def start(self):
        return {"p": 0.5}


class BinomialNLL(BernoulliNLL):
    """``k_i ~ Binomial(n_i, p)``: ``-sum [log C(n_i, k_i) + k_i log p + (n_i - k_i) log(1 - p)]``.

    Examples
    --------
    >>> round(BinomialNLL([3, 5], 10).nll({"p": 0.4}), 6)
    3.143313
    """

    family = "Binomial"

    def __init__(self, k: Any, n: Any):
        self.k, self.n = check_binomial(k, n, self.family)
        self._s, self._n = float(np.sum(self.k)), float(np.sum(self.n))
        log_choose = gammaln(self.n + 1) - gammaln(self.k + 1) - gammaln(self.n - self.k + 1)
        self._const = -float(np.sum(log_choose))

    @property
    def n_obs(self) -> int:
        return int(self.k.size)

    def _value(self, p):
        return super()._value(p) + self._const


class PoissonNLL(HandNLL):
    """``x_i ~ Poisson(lam)``: ``n lam - sum(x) log lam + sum log x_i!``.

    Examples
    --------
    >>> round(PoissonNLL([0, 2, 3, 3]).nll({"lam": 2.0}), 6)
    6.731489
    """

    family = "Poisson"
    param_names = ("lam",)
    _blocks = (_Block("lam", (), "log", closed=True),)

    def __init__(self, x: Any):
        self.x = check_counts("x", x, self.family)
        self._s = float(np.sum(self.x))
        self._const = float(np.sum(gammaln(self.x + 1)))

    @property
    def n_obs(self) -> int:
        return int(self.x.size)

    def _value(self, p):
        return self.x.size * p["lam"] - xlogy(self._s, p["lam"]) + self._const

    def _gradient(self, p):
        return {"lam": self.x.size - self._s / p["lam"]}

    def start(self):
        return {"lam": float(np.median(self.x)) + 0.5}


class ExponentialNLL(HandNLL):
    """``x_i ~ Exponential(lam)`` with rate `lam`: ``-n log lam + lam sum(x)``.

    Examples
    --------
    >>> round(ExponentialNLL([0.5, 1.0, 2.5]).nll({"lam": 0.75}), 6)
    3.863046
    """

    family = "Exponential"
    param_names = ("lam",)
    _blocks = (_Block("lam", (), "log"),)

    def __init__(self, x: Any):
        self.x = check_vector("x", x)
        check_support("x", self.x, "non-negative", self.x >= 0, self.family)
        check_not_all_zero("x", self.x, self.family, unbounded("lam"))
        self._s = float(np.sum(self.x))

    @property
    def n_obs(self) -> int:
        return int(self.x.size)

    def _value(self, p):
        return -self.x.size * math.log(p["lam"]) + p["lam"] * self._s

    def _gradient(self, p):
        return {"lam": -self.x.size / p["lam"] + self._s}

    def start(self):
        m = float(np.median(self.x))
        return {"lam": math.log(2.0) / m if m > 0 else 1.0 / float(np.max(self.x))}


class GammaNLL(HandNLL):
    """``x_i ~ Gamma(alpha, beta)`` (shape, rate): ``-sum [alpha log beta - lgamma(alpha)
    + (alpha - 1) log x_i - beta x_i]``.

    Examples
    --------
    >>> h = GammaNLL([0.5, 1.0, 2.5])
    >>> round(h.nll({"alpha": 2.0, "beta": 1.5}), 6)
    3.344066
    """

    family = "Gamma"
    param_names = ("alpha", "beta")
    _blocks = (_Block("alpha", (), "log"), _Block("beta", (), "log"))

    def __init__(self, x: Any):
        self.x = check_positive("x", x, self.family)
        check_not_constant("x", self.x, self.family)
        self._s, self._slog = float(np.sum(self.x)), float(np.sum(np.log(self.x)))

    @property
    def n_obs(self) -> int:
        return int(self.x.size)

    def _value(self, p):
        a, b, n = p["alpha"], p["beta"], self.x.size
        return -n * a * math.log(b) + n * float(gammaln(a)) - (a - 1.0) * self._slog + b * self._s

    def _gradient(self, p):
        a, b, n = p["alpha"], p["beta"], self.x.size
        return {
            "alpha": -n * math.log(b) + n * float(digamma(a)) - self._slog,
            "beta": -n * a / b + self._s,
        }

    def start(self):
        return {"alpha": 1.0, "beta": 1.0 / float(np.median(self.x))}


class CategoricalNLL(HandNLL):
    """``codes_i ~ Categorical(p)`` over `k` classes: ``-sum_j c_j log p_j`` with class counts ``c``.

    :meth:`grad` is the gradient along the simplex: the partial derivatives
    ``-c_j / p_j`` minus their mean (adding a constant to all of them does not
    move p off the simplex), so it is zero at an interior MLE.

    Examples
    --------
    >>> h = CategoricalNLL([0, 2, 2, 1, 2], k=3)
    >>> round(h.nll({"p": [0.2, 0.2, 0.6]}), 6)
    4.751353
    >>> h.grad({"p": [0.2, 0.2, 0.6]})
    {'p': array([0., 0., 0.])}
    """

    family = "Categorical"
    param_names = ("p",)

    def __init__(self, codes: Any, k: int):
        self.codes, self.k = check_codes(codes, k, self.family)
        self._counts = np.bincount(self.codes, minlength=self.k).astype(float)
        self._blocks = (_Block("p", (self.k,), "simplex", closed=True),)

    @property
    def n_obs(self) -> int:
        return int(self.codes.size)

    def _value(self, p):
        return -float(np.sum(xlogy(self._counts, p["p"])))

    def _gradient(self, p):
        g = -self._counts / p["p"]
        return {"p": g - np.mean(g)}

    def start(self):
        return {"p": np.full(self.k, 1.0 / self.k)}


# ---------------------------------------------------------------------------------
# regressions


class _RegressionNLL(HandNLL):
    """Shared design handling: `X` checked, ``X1 = [1, X]`` with an intercept."""

    _extra: tuple[_Block, ...] = ()
    _n_out = 1  # columns of the coefficient matrix (k - 1 for softmax)

    def _set_design(self, X: Any, n_rows: int, intercept: bool, y_name: str = "y") -> None:
        self.intercept = bool(intercept)
        self.X, self._X1 = check_design(X, n_rows, self.intercept, y_name)
        p = self.X.shape[1]
        out = () if self._n_out == 1 else (self._n_out,)
        blocks = [_Block("intercept", out, "identity")] if self.intercept else []
        blocks.append(_Block("beta", (p, *out), "identity"))
        self._blocks = (*blocks, *self._extra)
        self.param_names = tuple(b.name for b in self._blocks)

    @property
    def n_obs(self) -> int:
        return int(self.X.shape[0])

    def _coef(self, p: Mapping[str, Any]) -> np.ndarray:
        beta = np.asarray(p["beta"], dtype=float)
        if not self.intercept:
            return beta
        return np.concatenate([np.reshape(p["intercept"], (1, *beta.shape[1:])), beta])

    def _split(self, g: np.ndarray) -> dict[str, float | np.ndarray]:
        if not self.intercept:
            return {"beta": g}
        first = float(g[0]) if g.ndim == 1 else g[0]
        return {"intercept": first, "beta": g[1:]}

    def _zeros(self) -> dict[str, float | np.ndarray]:
        q = self._X1.shape[1]
        shape = (q,) if self._n_out == 1 else (q, self._n_out)
        return self._split(np.zeros(shape))


class LinearRegressionNLL(_RegressionNLL):
    """``y_i ~ Normal(intercept + X_i beta, sigma)``: ``n/2 log 2 pi + n log sigma + RSS / (2 sigma^2)``.

    Examples
    --------
    >>> h = LinearRegressionNLL([[0.0], [1.0], [2.0], [3.0]], [1.0, 2.9, 5.1, 7.0])
    >>> round(h.nll({"intercept": 1.0, "beta": [2.0], "sigma": 0.1}), 6)
    -4.534586
    """

    family = "LinearRegression"
    _extra = (_Block("sigma", (), "log"),)

    def __init__(self, X: Any, y: Any, *, intercept: bool = True):
        self.y = check_vector("y", y)
        self._set_design(X, self.y.size, intercept)

    def _value(self, p):
        r = self.y - self._X1 @ self._coef(p)
        s, n = p["sigma"], self.y.size
        return 0.5 * n * LOG_2PI + n * math.log(s) + 0.5 * float(r @ r) / s**2

    def _gradient(self, p):
        r = self.y - self._X1 @ self._coef(p)
        s = p["sigma"]
        return {**self._split(-(self._X1.T @ r) / s**2), "sigma": self.y.size / s - float(r @ r) / s**3}

    def start(self):
        out = self._zeros()
        if self.intercept:
            out["intercept"] = float(np.median(self.y))
            scale = _robust_scale(self.y)
        else:
            scale = float(np.sqrt(np.mean(self.y**2))) or 1.0
        return {**out, "sigma": scale}


class LogisticRegressionNLL(_RegressionNLL):
    """``y_i ~ Bernoulli(expit(eta_i))``, ``eta = intercept + X beta``: ``-sum log expit(+-eta_i)``.

    Computed with ``log_expit`` (``log expit(eta)`` without forming ``expit``), so
    it stays finite and exact for any size of the linear predictor.

    Examples
    --------
    >>> h = LogisticRegressionNLL([[-1.0], [0.0], [1.0], [2.0]], [0, 1, 0, 1])
    >>> round(h.nll({"intercept": 0.0, "beta": [0.0]}), 6)
    2.772589
    >>> h.nll({"intercept": 0.0, "beta": [1000.0]})  # 1000 + log 2: one point misclassified
    1000.6931471805599
    """

    family = "LogisticRegression"

    def __init__(self, X: Any, y: Any, *, intercept: bool = True):
        self.y = check_binary("y", y, self.family)
        self._set_design(X, self.y.size, intercept)
        self._sign = np.where(self.y == 1, 1.0, -1.0)

    def _value(self, p):
        eta = self._X1 @ self._coef(p)
        return -float(np.sum(log_expit(self._sign * eta)))

    def _gradient(self, p):
        eta = self._X1 @ self._coef(p)
        return self._split(self._X1.T @ (expit(eta) - self.y))

    def start(self):
        return self._zeros()


class PoissonRegressionNLL(_RegressionNLL):
    """``y_i ~ Poisson(exp(eta_i))``, ``eta = intercept + X beta + offset``:
    ``sum [exp(eta_i) - y_i eta_i + log y_i!]``.

    Examples
    --------
    >>> h = PoissonRegressionNLL([[0.0], [1.0], [2.0]], [1, 0, 4], offset=[0.0, 0.0, 0.5])
    >>> round(h.nll({"intercept": 0.0, "beta": [0.5]}), 6)
    4.308464
    """

    family = "PoissonRegression"

    def __init__(self, X: Any, y: Any, *, intercept: bool = True, offset: Any = None):
        self.y = check_counts("y", y, self.family)
        self._set_design(X, self.y.size, intercept)
        if offset is None:
            self.offset = np.zeros_like(self.y)
        else:
            self.offset = check_vector("offset", offset)
            check_same_length("X", self.X, "offset", self.offset)
        self._const = float(np.sum(gammaln(self.y + 1)))

    def _eta(self, p):
        return self._X1 @ self._coef(p) + self.offset

    def _value(self, p):
        eta = self._eta(p)
        return float(np.sum(np.exp(eta)) - self.y @ eta) + self._const

    def _gradient(self, p):
        return self._split(self._X1.T @ (np.exp(self._eta(p)) - self.y))

    def start(self):
        out = self._zeros()
        if self.intercept:
            out["intercept"] = float(np.log(np.mean(self.y) + 0.5) - np.mean(self.offset))
        return out


class SoftmaxRegressionNLL(_RegressionNLL):
    """Multinomial logistic regression with class 0 as the reference.

    ``P(codes_i = c) = softmax(logits_i)[c]`` with ``logits_i = [0, intercept + X_i beta]``;
    `intercept` has shape (k-1,), `beta` shape (p, k-1).  The NLL
    ``sum_i [logsumexp(logits_i) - logits_i[codes_i]]`` is stable for any size of the logits.

    Examples
    --------
    >>> h = SoftmaxRegressionNLL([[0.0], [1.0], [2.0], [3.0]], [0, 1, 2, 2], k=3)
    >>> round(h.nll({"intercept": [0.0, 0.0], "beta": [[0.0, 0.0]]}), 6)
    4.394449
    """

    family = "SoftmaxRegression"

    def __init__(self, X: Any, codes: Any, k: int, *, intercept: bool = True):
        self.codes, self.k = check_codes(codes, k, self.family)
        counts = np.bincount(self.codes, minlength=self.k)
        if np.any(counts == 0):
            missing = int(np.argmin(counts))
            raise ValueError(
                f"`codes` must contain every class 0..{self.k - 1} for SoftmaxRegression; class {missing} "
                "never occurs, so its coefficients have no finite MLE."
            )
        self._n_out = self.k - 1
        self._set_design(X, self.codes.size, intercept, y_name="codes")
        self._onehot = np.eye(self.k)[self.codes]

    def _logits(self, p):
        eta = self._X1 @ self._coef(p)
        return np.column_stack([np.zeros(eta.shape[0]), eta])

    def _value(self, p):
        logits = self._logits(p)
        picked = logits[np.arange(logits.shape[0]), self.codes]
        return float(np.sum(logsumexp(logits, axis=1) - picked))

    def _gradient(self, p):
        resid = softmax(self._logits(p), axis=1) - self._onehot
        return self._split(self._X1.T @ resid[:, 1:])

    def start(self):
        return self._zeros()


# ---------------------------------------------------------------------------------
# minimizers


@dataclass(frozen=True)
class HandFit:
    """Result of :func:`minimize_nll`.

    Attributes
    ----------
    params
        Natural-scale estimates, keyed like the family's parameters.
    nll
        The (total) NLL at `params`.
    n_iter, n_eval
        Optimizer iterations and NLL/gradient evaluations.
    grad_norm
        Max absolute natural-scale gradient of the total NLL at `params`
        (along the simplex for Categorical).  Not zero at a boundary maximum,
        where the unconstrained gradient still goes to zero.
    success
        Whether the max absolute gradient of the mean NLL in the unconstrained
        parameters is at most `gtol` (and the NLL finite); SciPy's own flag is not used.
    message
        SciPy's message and the gradient check.
    method
        The SciPy method used.
    """

    params: dict[str, float | np.ndarray]
    nll: float
    n_iter: int
    n_eval: int
    grad_norm: float
    success: bool
    message: str
    method: str


def _positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"`{name}` must be a positive finite number; got {value!r}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive finite number; got {plain(value)!r}.")
    return float(value)


def _whole_at_least_one(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a whole number >= 1; got {value!r}.")
    return int(value)


METHODS = ("BFGS", "L-BFGS-B")
_POLISH_STEPS = 20


def minimize_nll(
    hand: HandNLL,
    start: Mapping[str, Any] | None = None,
    *,
    method: str = "BFGS",
    gtol: float = 1e-10,
    maxiter: int | None = None,
) -> HandFit:
    """Minimize a hand-written NLL with ``scipy.optimize.minimize`` over its unconstrained parameters.

    The objective handed to SciPy is the mean NLL (the total divided by
    ``hand.n_obs``) with its analytic gradient, so that `gtol` means the same for
    10 and for 10**6 observations.  Success is judged by the gradient alone:
    ``success`` is True when the max absolute gradient of the mean NLL in the
    unconstrained parameters is at most `gtol`.  SciPy's flag is not trusted either way:
    BFGS stops with "precision loss" and L-BFGS-B with ABNORMAL_TERMINATION when the
    gradient is already at rounding level, and L-BFGS-B can report CONVERGENCE after a
    line search that only met infinite NLL values.  When the line search runs out of
    precision in the NLL (mean-NLL gradient around 1e-8), quasi-Newton steps with SciPy's
    final inverse-Hessian approximation are taken while they shrink the gradient without
    raising the NLL beyond rounding; the message counts them.

    A small gradient does not prove that a finite MLE exists: with separated data
    (logistic or softmax regression) the NLL decreases toward 0 as coefficients grow, and
    the fit stops at large finite coefficients with ``success=True``.  Existence is a
    property of the data; check it there (the families in :mod:`pplmle.pymc.families` do).

    Parameters
    ----------
    hand
        The NLL with its data.
    start
        Natural-scale starting point; ``hand.start()`` (rough, data-based) by default.
    method
        ``"BFGS"`` (default: converges tightly, and backtracks from points where the
        NLL is infinite) or ``"L-BFGS-B"`` (with ``ftol=0`` so only the gradient stops it).
    gtol
        Tolerance on the max absolute gradient of the mean NLL in the unconstrained parameters.
    maxiter
        Iteration limit; ``1000 + 200 * len(u)`` by default.

    Examples
    --------
    >>> fit = minimize_nll(GammaNLL([0.5, 1.0, 2.5, 1.5]))
    >>> fit.success, round(fit.params["alpha"], 6), round(fit.params["beta"], 6)
    (True, 3.256973, 2.368708)
    """
    if not isinstance(hand, HandNLL):
        raise TypeError(f"`hand` must be a HandNLL; got {type(hand).__name__}.")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}; got {method!r}.")
    gtol = _positive_number("gtol", gtol)
    u0 = hand.to_unconstrained(hand.start() if start is None else start)
    maxiter = 1000 + 200 * u0.size if maxiter is None else _whole_at_least_one("maxiter", maxiter)
    n = hand.n_obs

    def mean_nll(u: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = hand.nll_and_grad_unconstrained(u)
        return f / n, g / n

    if method == "BFGS":
        options: dict[str, Any] = {"gtol": gtol, "maxiter": maxiter}
    else:
        options = {"gtol": gtol, "ftol": 0.0, "maxiter": maxiter, "maxfun": 20 * maxiter, "maxls": 50}
    res = minimize(mean_nll, u0, jac=True, method=method, options=options)
    u, n_iter, n_eval = res.x, int(res.nit), int(res.nfev)
    f, g = mean_nll(u)
    g_max = float(np.max(np.abs(g))) if np.all(np.isfinite(g)) else math.inf
    n_polish = 0
    if math.isfinite(f) and g_max > gtol and res.get("hess_inv") is not None:
        # The line search compares NLL values, which stop resolving a decrease once the
        # gradient is ~sqrt(eps); quasi-Newton steps judged by the gradient go further.
        h_inv = res.hess_inv
        matvec = h_inv.matvec if hasattr(h_inv, "matvec") else h_inv.__matmul__
        for _ in range(_POLISH_STEPS):
            u_new = u - matvec(g)
            f_new, g_new = mean_nll(u_new)
            n_eval += 1
            g_new_max = float(np.max(np.abs(g_new))) if math.isfinite(f_new) else math.inf
            if not (g_new_max < g_max and f_new <= f + 8 * np.finfo(float).eps * max(1.0, abs(f))):
                break
            u, f, g, g_max = u_new, f_new, g_new, g_new_max
            n_polish += 1
            if g_max <= gtol:
                break
    success = bool(math.isfinite(f) and g_max <= gtol)
    params = hand.from_unconstrained(u)
    natural = hand.grad(params) if math.isfinite(f) else {}
    grad_norm = max((float(np.max(np.abs(v))) for v in natural.values()), default=math.inf)
    verdict = "at most" if success else "above"
    polished = f" Then {n_polish} quasi-Newton polishing step(s)." if n_polish else ""
    message = (
        f"SciPy {method}: {str(res.message).rstrip('.')}.{polished} Max |gradient of the mean NLL| "
        f"in the unconstrained parameters: {g_max:.2e}, {verdict} gtol = {gtol:.1e}."
    )
    return HandFit(
        params=params,
        nll=hand.nll(params) if math.isfinite(f) else math.inf,
        n_iter=n_iter + n_polish,
        n_eval=n_eval,
        grad_norm=grad_norm,
        success=success,
        message=message,
        method=method,
    )


@dataclass(frozen=True)
class GradientDescentResult:
    """Result of :func:`gradient_descent`.

    Attributes
    ----------
    params
        The final iterate (natural coefficients).
    n_iter
        Gradient steps taken.
    grad_norm
        Max absolute gradient of the mean NLL at the final iterate (what `tol` is compared with).
    converged
        Whether ``grad_norm < tol``.
    learning_rate, tol
        The settings used.
    nll
        The total NLL at the final iterate (``inf`` if the iterates blew up).
    history
        Mean NLL (cross-entropy) at the iterations in `history_iter`.
    history_iter
        Iterations recorded: every ``ceil(max_iter / 1000)``-th and the last, so at most about 1000.
    message
        Why it stopped.
    """

    params: dict[str, float | np.ndarray]
    n_iter: int
    grad_norm: float
    converged: bool
    learning_rate: float
    tol: float
    nll: float
    history: np.ndarray
    history_iter: np.ndarray
    message: str


def gradient_descent(
    hand: LogisticRegressionNLL | SoftmaxRegressionNLL,
    *,
    learning_rate: float = 0.1,
    max_iter: int = 10_000,
    tol: float = 1e-6,
    start: Mapping[str, Any] | None = None,
) -> GradientDescentResult:
    """Plain gradient descent with a fixed learning rate on the mean NLL (cross-entropy).

    ``theta <- theta - learning_rate * grad(mean NLL)(theta)`` over the natural
    coefficients, from zeros by default, until ``max |grad| < tol`` (converged) or
    `max_iter` steps (not converged).  If the iterates blow up (a non-finite NLL),
    it stops there and says so.  For logistic regression steps are stable when
    ``learning_rate < 2 / L``, where ``L <= max eig(X1^T X1) / (4 n)`` bounds the
    curvature of the mean NLL.

    Examples
    --------
    >>> h = LogisticRegressionNLL([[-1.0], [0.0], [1.0], [2.0]], [0, 1, 0, 1])
    >>> gd = gradient_descent(h, learning_rate=1.0)
    >>> gd.converged, gd.n_iter, round(float(gd.params["beta"][0]), 4)
    (True, 83, 0.9082)
    """
    if not isinstance(hand, (LogisticRegressionNLL, SoftmaxRegressionNLL)):
        raise TypeError(
            f"`hand` must be a LogisticRegressionNLL or SoftmaxRegressionNLL; got {type(hand).__name__}."
        )
    learning_rate = _positive_number("learning_rate", learning_rate)
    max_iter = _whole_at_least_one("max_iter", max_iter)
    tol = _positive_number("tol", tol)
    theta = hand.to_unconstrained(hand.start() if start is None else start)  # the identity here
    n = hand.n_obs
    every = -(-max_iter // 1000)
    hist, hist_iter = [], []

    f, g = hand.nll_and_grad_unconstrained(theta)
    n_iter = 0
    while True:
        finite = math.isfinite(f)
        g_max = float(np.max(np.abs(g))) / n if finite else math.inf
        if n_iter % every == 0 or not finite or g_max < tol or n_iter >= max_iter:
            hist.append(f / n)
            hist_iter.append(n_iter)
        if not finite:
            message = (
                f"Diverged: the NLL became non-finite at iteration {n_iter}; "
                f"learning_rate = {learning_rate:g} is too large."
            )
            break
        if g_max < tol:
            message = f"Converged: max |gradient of the mean NLL| = {g_max:.2e} < tol = {tol:.1e}."
            break
        if n_iter >= max_iter:
            message = (
                f"Stopped at max_iter = {max_iter}: max |gradient of the mean NLL| = {g_max:.2e} "
                f">= tol = {tol:.1e}."
            )
            break
        with np.errstate(over="ignore", invalid="ignore"):
            theta = theta - learning_rate * (g / n)
        n_iter += 1
        f, g = hand.nll_and_grad_unconstrained(theta)

    return GradientDescentResult(
        params=hand.from_unconstrained(theta),
        n_iter=n_iter,
        grad_norm=g_max,
        converged=bool(finite and g_max < tol),
        learning_rate=learning_rate,
        tol=tol,
        nll=f,
        history=np.array(hist),
        history_iter=np.array(hist_iter),
        message=message,
    )

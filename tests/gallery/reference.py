"""Independent maximum-likelihood references for the gallery (NumPy/SciPy only, no pplmle).

A model without a closed form or a statsmodels estimator is fitted here from its negative
log-likelihood written by hand in NumPy. Derivatives are exact to rounding: the gradient by the
complex step (``Im f(x + ih e_i) / h``), the Hessian by central differences of that gradient
(truncation error about ``d**2`` relative for ``d = 1e-5``; no cancellation, since the gradient
itself carries no rounding error of the NLL). Every NLL written for this module therefore uses
only complex-safe functions (``np.log``, ``np.exp``, ``np.log1p``, ``scipy.special.loggamma``,
``scipy.special.log_ndtr``, ``scipy.special.ndtr``).

Each fit runs BFGS from several starts on an unconstrained scale, then Newton's method on the
exact gradient and Hessian, and checks that the starts agree: the reference is the optimum, not
where one optimizer stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

H_COMPLEX = 1e-30


def grad(f: Callable[[np.ndarray], complex], x: np.ndarray) -> np.ndarray:
    """Gradient of a real-analytic scalar function by the complex step (exact to rounding)."""
    x = np.asarray(x, dtype=float)
    out = np.empty(x.size)
    for i in range(x.size):
        z = x.astype(complex)
        z[i] += 1j * H_COMPLEX
        out[i] = np.imag(f(z)) / H_COMPLEX
    return out


def hessian(f: Callable[[np.ndarray], complex], x: np.ndarray, rel: float = 1e-5) -> np.ndarray:
    """Hessian by central differences of the complex-step gradient, symmetrized."""
    x = np.asarray(x, dtype=float)
    H = np.empty((x.size, x.size))
    for i in range(x.size):
        d = rel * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += d
        down[i] -= d
        H[i] = (grad(f, up) - grad(f, down)) / (2 * d)
    return (H + H.T) / 2


@dataclass
class Fit:
    """An optimum on the natural scale: values, standard errors, covariance and the NLL there."""

    theta: np.ndarray
    se: np.ndarray
    cov: np.ndarray
    nll: float
    spread: float = 0.0  # largest difference between the starts' optima, relative to max(|theta|, 1)
    extra: dict = field(default_factory=dict)


def fit(
    nll: Callable[[np.ndarray], complex],
    starts: Sequence[Sequence[float]],
    to_natural: Callable[[np.ndarray], np.ndarray] | None = None,
    to_free: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Fit:
    """Minimize `nll` (a function of the natural-scale parameters) from every start.

    `to_natural` maps an unconstrained vector to the natural parameters (complex-safe: exp for a
    positive parameter, say) and `to_free` back; the starts are on the natural scale. The
    standard errors are those of the inverse Hessian of `nll` on the natural scale.
    """
    fwd = to_natural or (lambda u: u)
    back = to_free or (lambda t: t)

    def f_u(u):
        return nll(fwd(u))

    optima = []
    for start in starts:
        u0 = back(np.asarray(start, dtype=float))
        with np.errstate(all="ignore"):  # the line search may try points where the NLL overflows
            res = scipy.optimize.minimize(
                lambda u: float(np.real(f_u(u))), u0, jac=lambda u: grad(f_u, u), method="BFGS"
            )
            u = newton(f_u, res.x)
        optima.append((float(np.real(f_u(u))), u))
    best_nll, best_u = min(optima, key=lambda t: t[0])
    theta = np.real(fwd(best_u)).astype(float)
    thetas = np.array([np.real(fwd(u)) for _, u in optima])
    scale = np.maximum(np.abs(theta), 1.0)
    spread = float(np.max(np.abs(thetas - theta) / scale)) if len(optima) > 1 else 0.0
    with np.errstate(all="ignore"):
        H = hessian(nll, theta)
    cov = np.linalg.inv(H)
    return Fit(theta=theta, se=np.sqrt(np.diag(cov)), cov=cov, nll=best_nll, spread=spread)


def newton(f: Callable[[np.ndarray], complex], u: np.ndarray, maxiter: int = 50) -> np.ndarray:
    """Newton's method with step halving on the NLL, to a gradient at rounding level."""
    u = np.asarray(u, dtype=float)
    value = float(np.real(f(u)))
    for _ in range(maxiter):
        g = grad(f, u)
        H = hessian(f, u)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-10:
            new = u - t * step
            new_value = float(np.real(f(new)))
            if np.isfinite(new_value) and new_value <= value + 1e-12 * abs(value):
                break
            t /= 2
        else:
            break
        u, value = new, new_value
        if np.max(np.abs(t * step)) <= 1e-14 * (1 + np.max(np.abs(u))):
            break
    return u


def ols(X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray | float]:
    """The Normal linear model's MLE in closed form: coefficients, sigma = sqrt(RSS / n) and the
    standard errors of the inverse observed information (sigma^2 (X'X)^-1; sigma / sqrt(2 n))."""
    X = np.asarray(X, dtype=float)
    n = len(y)
    Q, R = np.linalg.qr(X)
    beta = np.linalg.solve(R, Q.T @ y)
    resid = y - X @ beta
    sigma = float(np.sqrt(resid @ resid / n))
    XtX_inv = np.linalg.inv(R.T @ R)
    return {
        "beta": beta,
        "beta_se": sigma * np.sqrt(np.diag(XtX_inv)),
        "sigma": sigma,
        "sigma_se": sigma / np.sqrt(2 * n),
    }

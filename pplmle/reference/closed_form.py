"""Closed-form maximum-likelihood estimates, straight from the textbook (NumPy/SciPy only).

The first of the three routes a statistics course teaches: set the score to zero
and solve by hand.  Use these functions as the reference answer for the families
that have one: each family's ``closed_form()`` calls its function here.  For the
others, the family's ``no_closed_form`` says why there is none, and
:mod:`pplmle.reference.handwritten` minimizes their NLL numerically.

Every function checks its data where it enters (a ``ValueError`` naming the
argument, the rule and the first bad value), never modifies its inputs and
returns a dict keyed exactly like the parameters of the matching family in
:mod:`pplmle.pymc.families` (floats for scalars, NumPy arrays otherwise).  Variances
are divide-by-n: that is the MLE, not the unbiased estimate.

The data checks shared with :mod:`pplmle.reference.handwritten` live here too (``check_*``),
so both routes accept exactly the same data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import solve_triangular

from pplmle.core.validate import (
    check_binary,
    check_binomial,
    check_codes,
    check_counts,
    check_design,
    check_not_all_zero,
    check_not_constant,
    check_positive,
    check_support,
    check_vector,
    unbounded,
)

__all__ = [
    "bernoulli",
    "binomial",
    "categorical",
    "exponential",
    "linear_regression",
    "lognormal",
    "normal",
    "poisson",
]


# ---------------------------------------------------------------------------------
# closed forms


def normal(x: Any) -> dict[str, float]:
    """MLE of ``x_i ~ Normal(mu, sigma)``.

    d/dmu sum (x - mu)^2 = 0 gives mu = mean(x); d/dsigma gives sigma^2 = mean((x - mu)^2),
    dividing by n, not n - 1.

    Raises ``ValueError`` when all values are equal: sigma would be 0 and the
    likelihood is unbounded, so the MLE does not exist.

    Examples
    --------
    >>> est = normal([1.0, 2.0, 4.0])
    >>> round(est["mu"], 6), round(est["sigma"], 6)
    (2.333333, 1.247219)
    """
    x = check_vector("x", x)
    check_not_constant("x", x, "Normal", unbounded("sigma"))
    mu = float(np.mean(x))
    return {"mu": mu, "sigma": float(np.sqrt(np.mean((x - mu) ** 2)))}


def lognormal(x: Any) -> dict[str, float]:
    """MLE of ``log x_i ~ Normal(mu, sigma)``, x > 0 (mu and sigma are those of log x).

    The -log x Jacobian term does not involve (mu, sigma), so the Normal MLE of log x applies:
    mu = mean(log x), sigma^2 = mean((log x - mu)^2), dividing by n.

    Examples
    --------
    >>> est = lognormal([1.0, 2.0, 4.0])
    >>> round(est["mu"], 6), round(est["sigma"], 6)
    (0.693147, 0.565952)
    """
    x = check_positive("x", x, "LogNormal")
    check_not_constant("x", x, "LogNormal", unbounded("sigma"))
    lx = np.log(x)
    mu = float(np.mean(lx))
    return {"mu": mu, "sigma": float(np.sqrt(np.mean((lx - mu) ** 2)))}


def bernoulli(y: Any) -> dict[str, float]:
    """MLE of ``y_i ~ Bernoulli(p)``, y in {0, 1}.

    d/dp [s log p + (n - s) log(1 - p)] = s/p - (n - s)/(1 - p) = 0 gives p = s/n = mean(y)
    (0 or 1 when all y agree: the maximum is then on the boundary).

    Examples
    --------
    >>> bernoulli([0, 1, 1, 1])
    {'p': 0.75}
    """
    y = check_binary("y", y, "Bernoulli")
    return {"p": float(np.mean(y))}


def binomial(k: Any, n: Any) -> dict[str, float]:
    """MLE of ``k_i ~ Binomial(n_i, p)``; `n` is a number or one per observation.

    d/dp sum [k_i log p + (n_i - k_i) log(1 - p)] = 0 gives p = sum(k) / sum(n), pooling all trials.

    Examples
    --------
    >>> binomial([3, 5], [10, 10])
    {'p': 0.4}
    >>> binomial([1, 2, 4], 5)
    {'p': 0.4666666666666667}
    """
    k_arr, n_arr = check_binomial(k, n)
    return {"p": float(np.sum(k_arr) / np.sum(n_arr))}


def poisson(x: Any) -> dict[str, float]:
    """MLE of ``x_i ~ Poisson(lam)``, x = 0, 1, 2, ...

    d/dlam sum [x_i log lam - lam] = sum(x)/lam - n = 0 gives lam = mean(x) (0 for all-zero data: a
    boundary maximum, the point mass at 0).

    Examples
    --------
    >>> poisson([0, 2, 3, 3])
    {'lam': 2.0}
    """
    x = check_counts("x", x, "Poisson")
    return {"lam": float(np.mean(x))}


def exponential(x: Any) -> dict[str, float]:
    """MLE of ``x_i ~ Exponential(lam)`` with rate `lam`, x >= 0.

    d/dlam [n log lam - lam sum(x)] = n/lam - sum(x) = 0 gives lam = 1 / mean(x).

    Raises ``ValueError`` when all x are zero: the likelihood then grows without
    bound in lam, so the MLE does not exist.

    Examples
    --------
    >>> exponential([0.5, 1.0, 2.5])
    {'lam': 0.75}
    """
    x = check_vector("x", x)
    check_support("x", x, "non-negative", x >= 0, "Exponential")
    check_not_all_zero("x", x, "Exponential", unbounded("lam"))
    return {"lam": float(1.0 / np.mean(x))}


def categorical(codes: Any, k: int) -> dict[str, np.ndarray]:
    """MLE of ``codes_i ~ Categorical(p)`` over `k` classes coded ``0 .. k-1``.

    Maximizing sum_j c_j log p_j subject to sum_j p_j = 1 (Lagrange) gives p_j = c_j / n, the class
    counts over n.  A class that never occurs gets p_j = 0: that is the MLE, on the boundary of the
    simplex.

    Examples
    --------
    >>> categorical([0, 2, 2, 1, 2], k=4)
    {'p': array([0.2, 0.2, 0.6, 0. ])}
    """
    arr, k = check_codes(codes, k, "Categorical")
    return {"p": np.bincount(arr, minlength=k) / arr.size}


def linear_regression(X: Any, y: Any, *, intercept: bool = True) -> dict[str, float | np.ndarray]:
    """MLE of ``y_i ~ Normal(intercept + X_i beta, sigma)``.

    The score in the coefficients is X1^T (y - X1 b) / sigma^2 = 0, the least-squares normal
    equations, solved here by QR (X1 = Q R, R b = Q^T y) rather than by forming X1^T X1;
    d/dsigma gives sigma^2 = RSS / n, not RSS / (n - p).

    The columns of ``X1`` are scaled to unit norm before the QR so the triangular
    solve is well conditioned; the scaling is undone on the coefficients.
    Raises ``ValueError`` for a perfect fit (``||resid|| <= 1e-13 ||y||``, RSS 0 up
    to rounding): sigma would be 0 and the likelihood unbounded.

    Examples
    --------
    >>> est = linear_regression([[0.0], [1.0], [2.0], [3.0]], [1.0, 2.9, 5.1, 7.0])
    >>> round(est["intercept"], 6), est["beta"].round(6), round(est["sigma"], 6)
    (0.97, array([2.02]), 0.067082)
    """
    y_arr = check_vector("y", y)
    _, X1 = check_design(X, y_arr.size, intercept)
    scale = np.linalg.norm(X1, axis=0)
    Q, R = np.linalg.qr(X1 / scale)
    coef = solve_triangular(R, Q.T @ y_arr, lower=False) / scale
    resid = y_arr - X1 @ coef
    rss = float(resid @ resid)
    if np.sqrt(rss) <= 1e-13 * np.linalg.norm(y_arr):
        raise ValueError(
            "`y` is fitted exactly by `X` (residuals at rounding level, RSS = "
            f"{rss:.3g}): sigma_hat would be 0 and the likelihood unbounded; the MLE does not exist."
        )
    out: dict[str, float | np.ndarray] = {}
    if intercept:
        out["intercept"] = float(coef[0])
        coef = coef[1:]
    out["beta"] = coef
    out["sigma"] = float(np.sqrt(rss / y_arr.size))
    return out

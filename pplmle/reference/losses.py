"""Classification losses as negative log-likelihoods (NumPy and SciPy only).

Cross-entropy is a likelihood in disguise.  With a one-hot target (or a class
code) it is ``-log q[y]``: minus the log of the probability that a categorical
model with class probabilities ``q = softmax(logits)`` gives to the class that
was observed.  That is the negative log-likelihood (NLL) of one observation, so
the summed cross-entropy (the mean times ``n``) is the NLL that
:class:`pplmle.SoftmaxRegression` minimizes, and minimizing the mean
cross-entropy finds the MLE.  Binary cross-entropy is the same statement for the
Bernoulli model of :class:`pplmle.LogisticRegression`.

What to use when:

- scores (logits) and class codes or a probability target: :func:`cross_entropy`;
- normalized log-probabilities and class codes: :func:`nll_loss`;
- one logit per 0/1 outcome: :func:`binary_cross_entropy_with_logits`;
- one probability per 0/1 outcome: :func:`binary_cross_entropy` (it overflows to
  ``inf`` at ``p = 0`` or ``1``; prefer logits).

The argument order ``(input, target)`` and ``reduction`` follow
``torch.nn.functional``.  Unlike PyTorch, every input is checked, nothing is
clamped, and class codes are never ignored (there is no ``ignore_index``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import softmax as _scipy_softmax
from scipy.special import xlog1py, xlogy

from pplmle.core.validate import as_float_array, check_finite, check_same_length, check_support

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "log_softmax",
    "nll_loss",
    "softmax",
]

REDUCTIONS = ("mean", "sum", "none")

#: How far a row of probabilities may sum from 1 and still count as normalized.
PROB_ATOL = 1e-6


# ---------------------------------------------------------------------------------
# checks


def _check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {REDUCTIONS}; got {reduction!r}.")
    return reduction


def _array(name: str, x: Any) -> np.ndarray:
    """`x` as a new float64 array of any shape."""
    try:
        return np.array(x, dtype=float, copy=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`{name}` must be numeric; could not convert it to numbers ({exc}).") from None


def _nd_logits(logits: Any) -> np.ndarray:
    z = _array("logits", logits)
    if z.ndim == 0:
        raise ValueError("`logits` must be at least 1-dimensional; got a scalar.")
    if z.size == 0:
        raise ValueError(f"`logits` must not be empty; got shape {z.shape}.")
    check_finite("logits", z)
    return z


def _check_axis(axis: Any, shape: tuple[int, ...]) -> int:
    ndim = len(shape)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(
            f"`axis` must be an integer in {-ndim}..{ndim - 1} for `logits` of shape {shape}; got {axis!r}."
        )
    return int(axis) % ndim


def _class_codes(y: np.ndarray, n_classes: int, func: str) -> np.ndarray:
    """Integer codes in ``0 .. n_classes-1`` from a checked 1-D float array."""
    check_finite("y", y)
    check_support("y", y, "integer class codes", y == np.round(y), func)
    rule = f"class codes in 0..{n_classes - 1}"
    check_support("y", y, rule, (y >= 0) & (y < n_classes), func)
    return y.astype(np.int64)


def _first_unnormalized_row(probs: np.ndarray) -> tuple[int, float] | None:
    """The first row of `probs` whose sum is not 1 within `PROB_ATOL`, and that sum."""
    sums = probs.sum(axis=1)
    bad = np.flatnonzero(~(np.abs(sums - 1.0) <= PROB_ATOL))
    return None if bad.size == 0 else (int(bad[0]), float(sums[bad[0]]))


def _binary_target(y: Any, first: str, first_arr: np.ndarray, func: str) -> np.ndarray:
    t = as_float_array("y", y, ndim=1)
    check_finite("y", t)
    check_support("y", t, "in [0, 1] (0/1 labels or probabilities)", (t >= 0) & (t <= 1), func)
    check_same_length(first, first_arr, "y", t)
    return t


def _reduce(losses: np.ndarray, reduction: str) -> float | np.ndarray:
    losses = losses + 0.0  # a loss of -0.0 reads as 0.0
    if reduction == "none":
        return losses
    return float(losses.sum() if reduction == "sum" else losses.mean())


def _log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    """``z - logsumexp(z)`` with the max shifted out and ``log1p`` for the rest.

    After the shift the largest term is exactly 1, so the log-sum is
    ``log1p(sum of the other terms)``: exact for huge logits (1e3 gives 1e3, not
    inf or nan) and accurate when the other terms are tiny (``log(1 + 1e-10)``
    would keep only six digits).
    """
    shifted = z - np.max(z, axis=axis, keepdims=True)
    terms = np.exp(shifted)
    np.put_along_axis(terms, np.argmax(z, axis=axis, keepdims=True), 0.0, axis=axis)
    return shifted - np.log1p(np.sum(terms, axis=axis, keepdims=True))


# ---------------------------------------------------------------------------------
# public functions


def log_softmax(logits: ArrayLike, axis: int = -1) -> np.ndarray:
    """Log of the softmax of `logits` along `axis`, computed stably.

    Parameters
    ----------
    logits
        Finite real scores, at least 1-dimensional.
    axis
        The axis that indexes the classes.

    Returns
    -------
    numpy.ndarray
        New array of the shape of `logits`: ``logits - logsumexp(logits, axis)``.
        Logits of any size give finite values; ``[1000, 0]`` gives exactly
        ``[0, -1000]``.

    Examples
    --------
    >>> from pplmle.reference.losses import log_softmax
    >>> log_softmax([1000.0, 0.0]).tolist()
    [0.0, -1000.0]
    >>> log_softmax([[0.0, 1.0], [2.0, 2.0]]).round(6).tolist()
    [[-1.313262, -0.313262], [-0.693147, -0.693147]]
    """
    z = _nd_logits(logits)
    return _log_softmax(z, _check_axis(axis, z.shape))


def softmax(logits: ArrayLike, axis: int = -1) -> np.ndarray:
    """Class probabilities ``exp(logits) / sum(exp(logits))`` along `axis`, computed stably.

    Parameters
    ----------
    logits
        Finite real scores, at least 1-dimensional.
    axis
        The axis that indexes the classes.

    Returns
    -------
    numpy.ndarray
        New array of the shape of `logits` whose slices along `axis` sum to 1.

    Examples
    --------
    >>> from pplmle.reference.losses import softmax
    >>> softmax([2.0, 0.0, -1.0]).round(6).tolist()
    [0.843795, 0.114195, 0.04201]
    >>> softmax([1000.0, 0.0]).tolist()
    [1.0, 0.0]
    """
    z = _nd_logits(logits)
    return _scipy_softmax(z, axis=_check_axis(axis, z.shape))


def nll_loss(log_probs: ArrayLike, y: ArrayLike, *, reduction: str = "mean") -> float | np.ndarray:
    """Negative log-likelihood of class codes `y` under log-probabilities `log_probs`.

    Observation ``i`` contributes ``-log_probs[i, y[i]]``, as in
    ``torch.nn.NLLLoss``.

    Parameters
    ----------
    log_probs
        Shape (n, k): normalized log-probabilities, for example
        ``log_softmax(logits)``.  Entries must be <= 0 (``-inf`` is a
        probability of 0) and the exponentials of each row must sum to 1
        within 1e-6, so raw logits are refused: use :func:`cross_entropy` for those.
    y
        Shape (n,): integer class codes in ``0 .. k-1`` (whole-number floats are
        accepted).
    reduction
        ``"mean"`` (default), ``"sum"`` (the NLL of the sample), or ``"none"``.

    Returns
    -------
    float or numpy.ndarray
        The mean or sum of the per-observation losses as a float; with
        ``reduction="none"`` the losses themselves, shape (n,).  A class of
        probability 0 that was observed gives ``inf``.

    Examples
    --------
    >>> import numpy as np
    >>> from pplmle.reference.losses import nll_loss
    >>> log_probs = np.log([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3]])
    >>> round(nll_loss(log_probs, [0, 1]), 6)  # (-log 0.5 - log 0.6) / 2
    0.601986
    >>> nll_loss(log_probs, [0, 1], reduction="none").round(6).tolist()
    [0.693147, 0.510826]
    """
    _check_reduction(reduction)
    lp = as_float_array("log_probs", log_probs, ndim=2)
    check_support("log_probs", lp, "free of NaN", ~np.isnan(lp), "nll_loss")
    check_support("log_probs", lp, "<= 0 (log-probabilities)", lp <= 0, "nll_loss")
    bad = _first_unnormalized_row(np.exp(lp))
    if bad is not None:
        raise ValueError(
            "`log_probs` must be normalized, exp(log_probs) summing to 1 in each row "
            f"(within {PROB_ATOL:g}), for nll_loss; row {bad[0]} sums to {bad[1]!r}. "
            "Pass logits to cross_entropy instead."
        )
    target = as_float_array("y", y, ndim=1)
    check_same_length("log_probs", lp, "y", target)
    codes = _class_codes(target, lp.shape[1], "nll_loss")
    return _reduce(-np.take_along_axis(lp, codes[:, None], axis=1)[:, 0], reduction)


def cross_entropy(logits: ArrayLike, y: ArrayLike, *, reduction: str = "mean") -> float | np.ndarray:
    """Cross-entropy between the softmax of `logits` and the target `y`.

    Equal to ``nll_loss(log_softmax(logits), y)`` for class codes; for a
    probability target observation ``i`` contributes
    ``-sum_j y[i, j] * log_softmax(logits)[i, j]``, which for a one-hot row is
    the same number.  ``n * cross_entropy(logits, y)`` is the NLL of a
    categorical model with ``p = softmax(logits)``.

    Parameters
    ----------
    logits
        Shape (n, k): finite, unnormalized scores (not probabilities; see Notes).
    y
        Either shape (n,), integer class codes in ``0 .. k-1``; or shape (n, k),
        a probability target (one-hot or soft) with entries in [0, 1] and each
        row summing to 1 within 1e-6.
    reduction
        ``"mean"`` (default), ``"sum"`` (the NLL of the sample), or ``"none"``.

    Returns
    -------
    float or numpy.ndarray
        The mean or sum of the per-observation losses as a float; with
        ``reduction="none"`` the losses themselves, shape (n,).

    Notes
    -----
    `logits` go through :func:`log_softmax` here.  Passing probabilities
    instead, as in ``cross_entropy(softmax(z), y)``, is the double-softmax
    pitfall: probabilities are valid logits, so nothing fails, but the loss is
    that of a different, much flatter model.  A perfect prediction then still
    costs ``log(e + k - 1) - 1`` (0.551 for k = 3) instead of 0:

    >>> import numpy as np
    >>> from pplmle.reference.losses import cross_entropy, softmax
    >>> z = np.array([[2.0, 0.0, -1.0]])
    >>> round(cross_entropy(z, [0]), 6)  # right: -log softmax(z)[0, 0]
    0.169846
    >>> round(cross_entropy(softmax(z), [0]), 6)  # wrong: softmax applied twice
    0.657846

    Examples
    --------
    >>> import numpy as np
    >>> from pplmle.reference.losses import cross_entropy
    >>> z = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    >>> round(cross_entropy(z, [0, 2]), 6)
    0.860645
    >>> round(cross_entropy(z, np.eye(3)[[0, 2]]), 6)  # one-hot target: the same
    0.860645
    >>> round(cross_entropy([[1000.0, 0.0]], [1]), 6)  # huge logits stay exact
    1000.0
    """
    _check_reduction(reduction)
    z = as_float_array("logits", logits, ndim=2)
    check_finite("logits", z)
    target = _array("y", y)
    if target.ndim not in (1, 2):
        raise ValueError(
            "`y` must be class codes of shape (n,) or a probability target of shape (n, k); "
            f"got an array with shape {target.shape}."
        )
    if target.size == 0:
        raise ValueError(f"`y` must not be empty; got shape {target.shape}.")
    lsm = _log_softmax(z, axis=1)
    if target.ndim == 1:
        check_same_length("logits", z, "y", target)
        codes = _class_codes(target, z.shape[1], "cross_entropy")
        return _reduce(-np.take_along_axis(lsm, codes[:, None], axis=1)[:, 0], reduction)
    if target.shape != z.shape:
        raise ValueError(
            f"`y` must have the shape of `logits` {z.shape} when it is a probability target; "
            f"got {target.shape}."
        )
    check_finite("y", target)
    ok = (target >= 0) & (target <= 1)
    check_support("y", target, "in [0, 1] (a probability target)", ok, "cross_entropy")
    bad = _first_unnormalized_row(target)
    if bad is not None:
        raise ValueError(
            f"`y` must be a probability target, each row summing to 1 (within {PROB_ATOL:g}), "
            f"for cross_entropy; row {bad[0]} sums to {bad[1]!r}."
        )
    return _reduce(-np.sum(target * lsm, axis=1), reduction)


def binary_cross_entropy(p: ArrayLike, y: ArrayLike, *, reduction: str = "mean") -> float | np.ndarray:
    """Bernoulli negative log-likelihood ``-(y log p + (1 - y) log(1 - p))``.

    Parameters
    ----------
    p
        Shape (n,): predicted probabilities of a 1, in [0, 1].
    y
        Shape (n,): outcomes 0 or 1, or soft targets in [0, 1].
    reduction
        ``"mean"`` (default), ``"sum"`` (the NLL of the sample), or ``"none"``.

    Returns
    -------
    float or numpy.ndarray
        The mean or sum of the per-observation losses as a float; with
        ``reduction="none"`` the losses themselves, shape (n,).

    Notes
    -----
    Terms with weight 0 are 0 (``0 * log 0 = 0``), so ``p = 0`` with ``y = 0``
    costs 0, not NaN.  A certain prediction that is wrong (``p = 0`` with
    ``y = 1``, or ``p = 1`` with ``y = 0``) costs ``inf``, the exact value.
    ``torch.nn.BCELoss`` instead clamps each log at -100, so it reports 100 for
    such a point; this function does not clamp.  For predictions that come
    from a linear predictor, :func:`binary_cross_entropy_with_logits` is exact
    where ``p`` would round to 0 or 1.

    Examples
    --------
    >>> from pplmle.reference.losses import binary_cross_entropy
    >>> round(binary_cross_entropy([0.9, 0.2], [1, 0]), 6)  # -(log 0.9 + log 0.8) / 2
    0.164252
    >>> binary_cross_entropy([0.0, 0.0], [0, 1], reduction="none").tolist()
    [0.0, inf]
    """
    _check_reduction(reduction)
    prob = as_float_array("p", p, ndim=1)
    check_finite("p", prob)
    check_support("p", prob, "probabilities in [0, 1]", (prob >= 0) & (prob <= 1), "binary_cross_entropy")
    t = _binary_target(y, "p", prob, "binary_cross_entropy")
    return _reduce(-(xlogy(t, prob) + xlog1py(1.0 - t, -prob)), reduction)


def binary_cross_entropy_with_logits(
    logits: ArrayLike, y: ArrayLike, *, reduction: str = "mean"
) -> float | np.ndarray:
    """Bernoulli negative log-likelihood with ``p = 1 / (1 + exp(-logits))``, computed stably.

    Observation ``i`` contributes ``max(z, 0) - z y + log1p(exp(-|z|))`` with
    ``z = logits[i]``, which equals ``-(y log p + (1 - y) log(1 - p))`` but never
    forms ``p``: it is finite and exact for any finite logit.  ``n`` times the mean
    is the NLL of :class:`pplmle.LogisticRegression` with ``logits = intercept + X beta``.

    Parameters
    ----------
    logits
        Shape (n,): finite log-odds of a 1.
    y
        Shape (n,): outcomes 0 or 1, or soft targets in [0, 1].
    reduction
        ``"mean"`` (default), ``"sum"`` (the NLL of the sample), or ``"none"``.

    Returns
    -------
    float or numpy.ndarray
        The mean or sum of the per-observation losses as a float; with
        ``reduction="none"`` the losses themselves, shape (n,).

    Examples
    --------
    >>> from pplmle.reference.losses import binary_cross_entropy_with_logits
    >>> round(binary_cross_entropy_with_logits([0.0, 2.0], [1, 1]), 6)  # (log 2 + log(1 + e^-2)) / 2
    0.410038
    >>> binary_cross_entropy_with_logits([1000.0, -1000.0], [0, 0], reduction="none").tolist()
    [1000.0, 0.0]
    """
    _check_reduction(reduction)
    z = as_float_array("logits", logits, ndim=1)
    check_finite("logits", z)
    t = _binary_target(y, "logits", z, "binary_cross_entropy_with_logits")
    return _reduce(np.maximum(z, 0.0) - z * t + np.log1p(np.exp(-np.abs(z))), reduction)

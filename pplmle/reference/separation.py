"""Detect separation in logistic and softmax regression with a linear program (NumPy/SciPy only).

The MLE of a logistic or softmax regression exists if and only if there is no
direction ``D`` of the coefficients that never lowers any observation's
probability and raises at least one (Albert and Anderson, 1984).  Along such
a direction the log-likelihood keeps increasing towards its supremum at
infinity, so the coefficients "run off".  Writing ``E_i(D) = [0, X1_i D]`` for
the logits' direction of observation ``i`` (class 0 is the reference), ``D``
exists when the linear program

    maximize   sum_i sum_{j != y_i} (E_i[y_i] - E_i[j])
    subject to E_i[y_i] - E_i[j] >= 0  for every i and j != y_i,   -1 <= D <= 1

has a positive optimum (with a full-rank design, ``D != 0`` cannot leave every
margin at zero).  The separation is *complete* when some ``D`` makes every
margin positive (a second program maximizes the smallest margin) and
*quasi-complete* otherwise.  This is the approach of Konis (2007) and of R's
``detectseparation`` package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.sparse

__all__ = ["Separation", "find_separation", "find_zero_separation"]

_TOL = 1e-7  # relative size of a margin that counts as positive


@dataclass(frozen=True)
class Separation:
    """A direction along which the likelihood of a logistic/softmax regression keeps rising.

    Attributes
    ----------
    kind
        ``"complete"`` (every observation is classified perfectly) or
        ``"quasi-complete"`` (some observations only on the boundary).
    columns
        Names of the design columns that separate the classes (on their own
        where one column suffices, else those used by the separating direction).
    direction
        The direction on the coefficients (rows: design columns including the
        intercept; columns: non-reference classes), on the original scale.
    n_separated
        Number of observations whose fitted probability of their own class
        goes to 1 along the direction.
    """

    kind: str
    columns: tuple[str, ...]
    direction: np.ndarray
    n_separated: int

    def describe(self) -> str:
        which = "the intercept" if self.columns == ("(intercept)",) else "column"
        names = ", ".join(repr(c) for c in self.columns if c != "(intercept)")
        cols = which if not names else f"{'columns' if len(self.columns) > 1 else 'column'} {names} of X"
        if self.kind == "zero-count":
            return (
                f"the zero counts are separated by {cols}: along a direction of the coefficients the "
                f"fitted rates of {self.n_separated} zero count(s) fall to 0 and nothing else changes"
            )
        return (
            f"{self.kind} separation: the classes are separated by {cols} "
            f"({self.n_separated} observation(s) fitted with probability -> 1)"
        )


def _margins_matrix(X1: np.ndarray, codes: np.ndarray, k: int) -> scipy.sparse.csr_matrix:
    """Sparse M with (M @ vec(D))[r] = E_i[y_i] - E_i[j] for the r-th pair (i, j != y_i); D is (q, k-1)."""
    _n, q = X1.shape
    pairs_i, pairs_j = np.nonzero(np.arange(k)[None, :] != codes[:, None])
    rows, cols, vals = [], [], []
    a = np.arange(q)
    for sign, cls in ((1.0, codes[pairs_i]), (-1.0, pairs_j)):
        keep = np.flatnonzero(cls >= 1)  # class 0 (the reference) has logit 0: no block
        rows.append(np.repeat(keep, q))
        cols.append((a[None, :] * (k - 1) + (cls[keep, None] - 1)).ravel())
        vals.append(sign * X1[pairs_i[keep]].ravel())
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(pairs_i.size, q * (k - 1)),
    )


def _max_sum(M: scipy.sparse.csr_matrix) -> np.ndarray | None:
    """Direction maximizing the sum of margins subject to all margins >= 0; None if the optimum is 0."""
    nvar = M.shape[1]
    res = scipy.optimize.linprog(
        c=-np.asarray(M.sum(axis=0)).ravel(),
        A_ub=-M,
        b_ub=np.zeros(M.shape[0]),
        bounds=[(-1.0, 1.0)] * nvar,
        method="highs",
    )
    if res.status != 0:
        return None
    d = res.x
    margins = M @ d
    scale = max(float(np.max(np.abs(margins))), 0.0)
    if scale <= _TOL or np.min(margins) < -_TOL * scale:
        return None
    return d


def _min_margin(M: scipy.sparse.csr_matrix) -> tuple[float, np.ndarray]:
    """Largest achievable smallest margin (> 0 means complete separation) and its direction."""
    nvar = M.shape[1]
    # variables [d, t]: maximize t subject to M d >= t, |d| <= 1, t <= 1
    A = scipy.sparse.hstack([-M, scipy.sparse.csr_matrix(np.ones((M.shape[0], 1)))]).tocsr()
    c = np.zeros(nvar + 1)
    c[-1] = -1.0
    res = scipy.optimize.linprog(
        c=c,
        A_ub=A,
        b_ub=np.zeros(M.shape[0]),
        bounds=[(-1.0, 1.0)] * nvar + [(None, 1.0)],
        method="highs",
    )
    if res.status != 0:
        return 0.0, np.zeros(nvar)
    return float(res.x[-1]), res.x[:-1]


def find_separation(
    X1: np.ndarray, codes: np.ndarray, k: int, names: list[str], *, single_columns: int = 30
) -> Separation | None:
    """Return the :class:`Separation` of the design `X1` (intercept included) and classes, or None.

    Parameters
    ----------
    X1
        Design matrix with its intercept column, shape (n, q), full column rank.
    codes
        Class codes in ``0 .. k-1``; class 0 is the reference.
    k
        Number of classes (2 for logistic regression).
    names
        Names of the columns of `X1`.
    single_columns
        Up to this many columns, each is also tested alone (with the intercept
        column when there is one) so that a single separating column is named.

    Examples
    --------
    >>> import numpy as np
    >>> X1 = np.column_stack([np.ones(4), [1.0, 2.0, 3.0, 4.0]])
    >>> sep = find_separation(X1, np.array([0, 0, 1, 1]), 2, ["(intercept)", "x"])
    >>> sep.kind, sep.columns, sep.n_separated
    ('complete', ('x',), 4)
    >>> find_separation(X1, np.array([0, 1, 0, 1]), 2, ["(intercept)", "x"]) is None
    True
    """
    X1 = np.asarray(X1, dtype=float)
    codes = np.asarray(codes)
    scale = np.linalg.norm(X1, axis=0)
    scale[scale == 0] = 1.0
    Xs = X1 / scale
    M = _margins_matrix(Xs, codes, k)
    d = _max_sum(M)
    if d is None:
        return None
    t, d_all = _min_margin(M)
    kind = "complete" if t > _TOL else "quasi-complete"
    D = (d_all if kind == "complete" else d).reshape(X1.shape[1], k - 1)
    n_sep = _count_separated(Xs, codes, k, D)
    intercept = [j for j, nm in enumerate(names) if nm == "(intercept)"]
    alone = []
    if intercept and _max_sum(_margins_matrix(Xs[:, intercept], codes, k)) is not None:
        alone = [names[intercept[0]]]  # a class is missing: the intercept alone runs off
    elif X1.shape[1] - len(intercept) <= single_columns:
        for j in range(X1.shape[1]):
            if j in intercept:
                continue
            cols = [*intercept, j]
            if _max_sum(_margins_matrix(Xs[:, cols], codes, k)) is not None:
                alone.append(names[j])
    if alone:
        columns = tuple(alone)
    else:
        used = [j for j in np.flatnonzero(np.max(np.abs(D), axis=1) > 1e-9) if j not in intercept]
        columns = tuple(names[j] for j in used) or tuple(names[j] for j in intercept)
    return Separation(kind=kind, columns=columns, direction=D / scale[:, None], n_separated=n_sep)


def _count_separated(Xs: np.ndarray, codes: np.ndarray, k: int, D: np.ndarray) -> int:
    E = np.column_stack([np.zeros(Xs.shape[0]), Xs @ D])
    own = E[np.arange(E.shape[0]), codes]
    others = np.where(np.eye(k, dtype=bool)[codes], -np.inf, E)
    scale = max(float(np.max(np.abs(E))), 1e-300)
    return int(np.sum(own - np.max(others, axis=1) > _TOL * scale))


def find_zero_separation(X1: np.ndarray, y: np.ndarray, names: list[str]) -> Separation | None:
    """Non-existence of the Poisson-regression MLE: zero counts separated by the design.

    The MLE exists if and only if no direction ``d != 0`` has ``X1_i d <= 0`` for
    every observation and ``X1_i d = 0`` wherever ``y_i > 0`` (Haberman, 1974;
    Santos Silva and Tenreyro, 2010): along it, the fitted rates of some zero
    counts go to 0 while nothing else changes, so the likelihood keeps rising.

    Examples
    --------
    >>> X1 = np.column_stack([np.ones(4), [0.0, 0.0, 1.0, 1.0]])
    >>> find_zero_separation(X1, np.array([2, 1, 0, 0]), ["(intercept)", "x"]).columns
    ('x',)
    """
    X1 = np.asarray(X1, dtype=float)
    y = np.asarray(y, dtype=float)
    scale = np.linalg.norm(X1, axis=0)
    scale[scale == 0] = 1.0
    Xs = X1 / scale

    def direction(cols: list[int]) -> np.ndarray | None:
        A = Xs[:, cols]
        pos = y > 0
        res = scipy.optimize.linprog(
            c=np.sum(A, axis=0),  # minimize sum X1_i d, i.e. maximize the total fall of the rates
            A_ub=A,
            b_ub=np.zeros(A.shape[0]),
            A_eq=A[pos] if pos.any() else None,
            b_eq=np.zeros(int(pos.sum())) if pos.any() else None,
            bounds=[(-1.0, 1.0)] * len(cols),
            method="highs",
        )
        if res.status != 0:
            return None
        lin = A @ res.x
        size = float(np.max(np.abs(lin)))
        return res.x if size > _TOL and np.max(lin) <= _TOL * size else None

    d = direction(list(range(X1.shape[1])))
    if d is None:
        return None
    lin = Xs @ d
    n_sep = int(np.sum(lin < -_TOL * float(np.max(np.abs(lin)))))
    intercept = [j for j, nm in enumerate(names) if nm == "(intercept)"]
    alone = [
        names[j]
        for j in range(X1.shape[1])
        if j not in intercept and X1.shape[1] <= 31 and direction([*intercept, j]) is not None
    ]
    if intercept and direction(intercept) is not None:
        alone = [names[intercept[0]]]  # every count is zero
    used = [j for j in np.flatnonzero(np.abs(d) > 1e-9) if j not in intercept]
    columns = tuple(alone) if alone else tuple(names[j] for j in used)
    return Separation(kind="zero-count", columns=columns, direction=(d / scale)[:, None], n_separated=n_sep)

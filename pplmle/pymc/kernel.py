"""The numerical kernel: Newton's method, the convergence rule, covariances, the recession probe
and constrained (KKT) fits, for one fit and for a batch of fits alike.

Every routine works on a batch of B problems of the same size k, given as an object with two
methods (the :class:`Objective` protocol):

- ``value_grad(U, rows)``: objective values (b,) and gradients (b, k) at the points ``U`` (b, k)
  for the problems ``rows`` (b indices into the batch); ``+inf`` where either is not finite;
- ``full(U, rows)``: a dict with ``objective``, ``loglik``, ``grad``, ``hess`` (b, k, k),
  ``reported`` (b, m) and ``jac`` (b, m, k), the Jacobian of the reported values.

A single fit is a batch of one (:class:`pplmle.pymc.engine.Engine`); a simulation study or a
bootstrap is a batch of many (:class:`pplmle.pymc.batch.BatchEngine`). Both run this code, with one
set of constants.

Why it does not depend on the units of the data. Newton's method is invariant under affine
changes of the parameters; what is not are the safeguards around it. Here every safeguard is
expressed in a scaled space ``z = u / D`` with ``D = 1 / sqrt(|diag H|)`` (Jacobi scaling, taken
afresh at every iterate), where the Hessian has a unit diagonal:

- the eigenvalue floor of the modified Newton step and the positive-definite and singularity
  tests use the scaled Hessian ``D H D`` (a correlation-like matrix), never raw eigenvalues;
- the convergence rule is the Newton decrement ``sqrt(g' H^-1 g)``: the distance to the optimum
  of the local quadratic in standard errors, which bounds the distance of every parameter, and
  of every smooth function of them, in its own standard errors;
- the covariance is formed as ``(J D) (D H D)^-1 (J D)'`` and the standard errors as norms of
  ``L^-1 (J D)'`` (``L`` the Cholesky factor of ``D H D``), so they neither underflow nor
  overflow wherever the values themselves are representable;
- the recession probe measures its distances in standard errors (the Hessian metric).

A step far from the optimum is extended (doubled while the objective keeps falling), so a
start that is many orders of magnitude off (a log-scale parameter 300 units away) is reached in
a few iterations rather than hundreds.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.linalg import lstsq, solve_triangular

from pplmle.core import messages

#: Default convergence tolerance: the Newton decrement (distance to the optimum, in standard
#: errors) at which a point with a positive-definite Hessian counts as the optimum.
GTOL = 1e-6
#: Eigenvalues of the scaled Hessian are floored at this fraction of the largest (modified Newton).
EIG_FLOOR = 1e-10
#: A scaled Hessian whose condition number exceeds this is numerically singular.
COND_MAX = 1e14
#: A change of the objective below this fraction of its size is rounding.
ROUNDING = 1e-12
#: A converged iterate closer than this to the optimum (in standard errors) takes no last step.
FINAL_STEP_MIN = 1e-10
#: Iterations of Newton's method before a fit counts as exhausted.
MAXITER = 200
#: Halvings of a step before the line search gives up.
HALVINGS = 50
#: The recession probe's distances along a direction, in standard errors: from far inside the
#: quadratic region (where a direction that is only nearly the receding one still recedes) out to
#: one standard error, where an interior optimum has risen by 1/2.
PROBE_STEPS = (1 / 256, 1 / 64, 1 / 16, 1 / 4, 1.0)
#: Doublings of the unboundedness probe (distances 1, 2, 4, ..., 2**UNBOUNDED_DOUBLINGS).
UNBOUNDED_DOUBLINGS = 12
#: Beyond this magnitude (2**100, about 1e30) of a parameter or of a standard error on the
#: unconstrained scale (or below its inverse), a compiled Hessian is not trusted: its graph forms
#: powers of such numbers (PyTensor's Hessian of a Normal log-density forms sigma**3, which leaves
#: float64 near sigma = 1e102 and loses digits in subnormals before that), while the gradient
#: stays representable far beyond. There the Hessian is formed from differences of the gradient.
HESSIAN_RANGE = 2.0**100
#: The steps of those differences, in the scaled space (standard errors): central differences at
#: h, 2h and 4h, Richardson-extrapolated in pairs (error of order h**4, about 1e-12).
DIFFERENCE_STEP = 2.0**-10
#: Passes that may be spent finding each parameter's scale for the differences.
DIFFERENCE_PASSES = 12
#: A Hessian from differences is trusted when its two extrapolations (from h, 2h and from 2h, 4h)
#: and its two estimates of each off-diagonal entry agree to this, in the scaled space (where the
#: diagonal is 1): its standard errors are then good to about this, relatively, or better.
DIFFERENCE_TOL = 1e-7
#: The smallest step, in units in the last place of the parameter: a smaller one would round away.
DIFFERENCE_ULPS = 2.0**10
#: A Hessian from one level of central differences (``newton(quick=True)``: steps only, never a
#: verdict) is trusted to steer when its two estimates of each off-diagonal entry agree to this,
#: in the scaled space: its error is of order h**2, about 1e-6 of the scaled curvature.
QUICK_TOL = 1e-4

# how a row of newton() ended
CONVERGED, STALLED, EXHAUSTED, NONFINITE, JOINED = 0, 1, 2, 3, 4
STATUS = {
    CONVERGED: "converged",
    STALLED: "stalled",
    EXHAUSTED: "exhausted",
    NONFINITE: "not finite",
    JOINED: "joined the other route's optimum",
}
#: a route that comes this close to another route's verified optimum (in that optimum's standard
#: errors), with an objective no lower and the objective and gradient that the optimum's quadratic
#: model predicts there (to :data:`JOIN_RTOL`), has joined it (see :func:`newton`'s `join`)
JOIN_TOL = 2.0
JOIN_RTOL = 0.1
#: a chord step (on the verified optimum's Hessian, :meth:`Join.chord`) is tried from an iterate
#: not yet in its basin when the optimum's quadratic model puts the landing point within
#: :data:`JOIN_TOL` standard errors, or, where that model also predicts the iterate's objective to
#: half of the rise, at most this fraction of the iterate's own distance (a step is a value and
#: gradient; the Hessian and step search it can save cost many)
WALK_RATIO = 0.8
#: after a Newton step near the optimum, chord steps on its Hessian go on while each shrinks the
#: Newton decrement (in that Hessian's metric) to at most this fraction of the last
CHORD_RATIO = 0.5
#: chord steps in a row at most, before the route computes a Hessian again
CHORD_STEPS = 30


class Objective(Protocol):
    def value_grad(self, U: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def full(self, U: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]: ...


def quiet(func):
    """Run `func` with NumPy's floating-point warnings off: trial points may overflow, and every
    non-finite result is detected and handled explicitly."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            return func(*args, **kwargs)

    return wrapper


# -- curvature ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curvature:
    """The Hessians of a batch in the scaled space: ``D`` (b, k), eigenvalues ``w`` (b, k) and
    eigenvectors ``V`` (b, k, k) of ``D H D``, which rows are finite and which positive definite;
    which rows' Hessians were formed from differences of the gradient (:func:`hessians`), and
    which of those are not consistent enough to give standard errors (never positive definite)."""

    D: np.ndarray
    w: np.ndarray
    V: np.ndarray
    finite: np.ndarray
    pd: np.ndarray
    differences: np.ndarray | None = None
    untrusted: np.ndarray | None = None

    def rows(self, idx: np.ndarray) -> Curvature:
        """The curvature of the rows `idx` alone (their decompositions and tests)."""
        return Curvature(self.D[idx], self.w[idx], self.V[idx], self.finite[idx], self.pd[idx])

    @property
    def cond(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.w[:, 0] > 0, self.w[:, -1] / self.w[:, 0], np.inf)


def scales(H: np.ndarray) -> np.ndarray:
    """Jacobi scales ``1 / sqrt(|H_ii|)``; 1 where the diagonal is zero or not finite."""
    d = np.abs(np.diagonal(H, axis1=1, axis2=2))
    ok = np.isfinite(d) & (d > 0)
    return np.where(ok, 1.0 / np.sqrt(np.where(ok, d, 1.0)), 1.0)


#: the last scaled eigen-decompositions of a single fit's large Hessian, by content
#: (:func:`curvature`): a route's last iterate is assessed again at the same point, where at a
#: thousand parameters each decomposition costs about 0.2 s. Kept from k = 50 (smaller ones are
#: decomposed faster than compared) to 16 MB a Hessian (k = 1448), which bounds what the two
#: entries hold (the Hessians and their eigenvectors) to 64 MB; batches are never kept.
_RECENT: deque[tuple[np.ndarray, Any, Any, Curvature]] = deque(maxlen=2)
_RECENT_LOCK = threading.Lock()
_RECENT_K = (50, 1448)


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


def curvature(
    H: np.ndarray, differences: np.ndarray | None = None, untrusted: np.ndarray | None = None
) -> Curvature:
    """The scaled eigen-decompositions of the Hessians `H` (b, k, k) (:class:`Curvature`); the
    same Hessians again (equal entries and flags) give the same, read-only, object."""
    H = np.asarray(H, dtype=float)
    if not (H.shape[0] == 1 and _RECENT_K[0] <= H.shape[-1] <= _RECENT_K[1]):
        return _curvature(H, differences, untrusted)
    with _RECENT_LOCK:
        for h, d, u, c in _RECENT:
            if h.shape == H.shape and _same(d, differences) and _same(u, untrusted) and np.array_equal(h, H):
                return c
    c = _curvature(H, differences, untrusted)
    for field in (c.D, c.w, c.V, c.finite, c.pd, c.differences, c.untrusted):
        if field is not None:
            field.flags.writeable = False
    kept = (H.copy(), *(None if a is None else np.array(a, copy=True) for a in (differences, untrusted)))
    with _RECENT_LOCK:
        _RECENT.append((*kept, c))
    return c


@quiet
def _curvature(
    H: np.ndarray, differences: np.ndarray | None = None, untrusted: np.ndarray | None = None
) -> Curvature:
    b, k = H.shape[0], H.shape[-1]
    finite = np.isfinite(H.reshape(b, -1)).all(axis=1)
    D = np.ones((b, k))
    w = np.full((b, k), np.nan)
    V = np.broadcast_to(np.eye(k), (b, k, k)).copy()
    if finite.any() and k:
        D[finite] = scales(H[finite])
        Hs = D[finite][:, :, None] * H[finite] * D[finite][:, None, :]
        Hs = 0.5 * (Hs + np.swapaxes(Hs, 1, 2))
        w[finite], V[finite] = np.linalg.eigh(Hs)
    if k:
        pd = finite & (w[:, 0] > 0) & (w[:, -1] <= COND_MAX * np.where(w[:, 0] > 0, w[:, 0], np.inf))
    else:
        pd = finite.copy()
    if untrusted is not None:
        pd = pd & ~untrusted
    return Curvature(D, w, V, finite, pd, differences, untrusted)


def newton_step(c: Curvature, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Modified Newton steps (eigenvalues of the scaled Hessian made positive and floored) and
    Newton decrements ``sqrt(g' |H|^-1 g)``, which equal ``sqrt(g' H^-1 g)`` where H is positive
    definite."""
    gs = c.D * g
    w = c.w if np.isfinite(c.w).all() else np.nan_to_num(c.w, nan=1.0)
    top = np.max(np.abs(w), axis=1, keepdims=True)
    wm = np.maximum(np.abs(w), EIG_FLOOR * np.maximum(top, 1e-300))
    # a Hessian with no curvature at all (an untrusted difference Hessian of zeros) puts the
    # optimum infinitely far: an infinite decrement is the right answer, not a warning
    with np.errstate(over="ignore", invalid="ignore"):
        proj = np.einsum("bji,bj->bi", c.V, gs) / wm
        step_s = -np.einsum("bij,bj->bi", c.V, proj)
        decrement = np.sqrt(np.maximum(-np.einsum("bi,bi->b", gs, step_s), 0.0))
    return c.D * step_s, decrement


def hessian_problem(c: Curvature, i: int = 0) -> str:
    """Why row `i`'s Hessian gives no standard errors ("" when it does)."""
    if c.untrusted is not None and c.untrusted[i]:
        return messages.hessian_differences_inconsistent()
    if not c.finite[i]:
        return messages.hessian_not_finite()
    if c.w.shape[1] and c.w[i, 0] <= 0:
        return messages.hessian_not_positive_definite(float(c.w[i, 0]))
    if not c.pd[i]:
        return messages.hessian_singular(float(c.cond[i]))
    return ""


# -- Hessians from differences of the gradient -------------------------------------------------


def _at_risk(U: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Rows whose compiled Hessian is not to be trusted: not finite, or at a point whose parameters
    or standard errors on the unconstrained scale lie beyond :data:`HESSIAN_RANGE`. (Reported
    values are not looked at: a family's are Deterministics of parameters in units of order one.)"""
    b = U.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.abs(np.diagonal(H, axis1=1, axis2=2))
        ok = np.isfinite(d) & (d > 0)
        # standard errors 1/sqrt(d) beyond the range in either direction
        far = (ok & ((d > HESSIAN_RANGE**2) | (d < HESSIAN_RANGE**-2))).any(axis=1)
    far |= (np.abs(U) > HESSIAN_RANGE).any(axis=1)
    return far | ~np.isfinite(H.reshape(b, -1)).all(axis=1)


def _column(fun: Objective, U: np.ndarray, rows: np.ndarray, j: int, step: np.ndarray):
    """Central differences of the gradient along parameter `j`, with the steps actually taken
    (`step` rounded to the points u_j +- step): the columns (b, k), and which rows moved and met
    finite gradients on both sides."""
    up, down = U.copy(), U.copy()
    up[:, j] = U[:, j] + step
    down[:, j] = U[:, j] - step
    width = (up[:, j] - U[:, j]) + (U[:, j] - down[:, j])
    f_up, g_up = fun.value_grad(up, rows)
    f_down, g_down = fun.value_grad(down, rows)
    finite = np.isfinite(f_up) & np.isfinite(f_down)
    moved = width > 0
    safe = np.where(moved, width, 1.0)
    return (g_up - g_down) / safe[:, None], finite, moved


@quiet
def difference_hessian(
    fun: Objective, U: np.ndarray, rows: np.ndarray, H0: np.ndarray, *, quick: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The Hessians at `U` from central differences of the gradient in the scaled space.

    Parameter j is stepped by ``t h D_j`` (t = 1, 2, 4; ``h =`` :data:`DIFFERENCE_STEP`), where
    ``D_j``, its standard error on the unconstrained scale, is found as a fixed point
    ``D_j = 1 / sqrt(|c_j|)`` of the curvature ``c_j`` that the differences measure: starting
    from the compiled Hessian's diagonal, or from ``max(|u_j|, 1)`` where that is not consistent
    with them, shrinking where a step meets a non-finite gradient and growing where it changes
    nothing. No step is shorter than :data:`DIFFERENCE_ULPS` units in the last place of u_j.
    Columns at h and 2h are combined by Richardson's rule (error of order h**4).

    Returns the symmetrized Hessians (b, k, k), NaN in the columns whose scale was not found, and
    which rows are untrusted: a scale not found, a step longer than the scale, or the two
    extrapolations (h, 2h and 2h, 4h), or the two estimates of an off-diagonal entry (H_ij from
    column j, H_ji from column i), differing by more than :data:`DIFFERENCE_TOL` in the scaled space.

    With `quick`, only the columns at h are formed (no extrapolation: a third of the passes, an
    error of order h**2), trusted to :data:`QUICK_TOL`: a Hessian for Newton's steps, not for a
    verdict or standard errors.
    """
    b, k = U.shape
    d0 = np.abs(np.diagonal(H0, axis1=1, axis2=2))
    analytic = np.isfinite(d0) & (d0 > 0)
    fallback = np.maximum(np.abs(U), 1.0)
    start = np.where(analytic, 1.0 / np.sqrt(np.where(analytic, d0, 1.0)), fallback)
    floor = DIFFERENCE_ULPS * np.spacing(np.abs(U))
    D = np.ones((b, k))
    cols = np.full((3, b, k, k), np.nan)  # column j at steps h, 2h, 4h
    found = np.zeros((b, k), dtype=bool)
    coarse = np.zeros((b, k), dtype=bool)  # the step was held at the floor of resolution
    for j in range(k):
        d = start[:, j].copy()
        first = analytic[:, j].copy()  # rows still on the compiled Hessian's scale
        best = np.full(b, np.inf)  # the shortest step that measured a curvature, if none is right
        todo = np.arange(b)
        for _ in range(DIFFERENCE_PASSES):
            if todo.size == 0:
                break
            step = np.maximum(DIFFERENCE_STEP * d[todo], floor[todo, j])
            col, finite, moved = _column(fun, U[todo], rows[todo], j, step)
            c = np.abs(col[:, j])
            usable = finite & moved & np.isfinite(c) & (c > 0)
            ratio = np.where(usable, d[todo] * np.sqrt(np.where(usable, c, 1.0)), np.nan)
            hit = usable & (ratio >= 0.5) & (ratio <= 2.0)
            cols[0, todo[hit], :, j] = col[hit]
            D[todo[hit], j] = d[todo[hit]]
            found[todo[hit], j] = True
            shorter = usable & ~hit & (step < best[todo])
            best[todo[shorter]] = step[shorter]
            cols[0, todo[shorter], :, j] = col[shorter]
            # the next scale: the measured one; smaller after a non-finite gradient, larger after
            # a step that changed nothing; max(|u_j|, 1) when the compiled Hessian's was unusable
            miss = ~hit
            new = np.where(usable, 1.0 / np.sqrt(np.where(usable, c, 1.0)), d[todo])
            new = np.where(~finite, new * 2.0**-8, new)
            new = np.where(finite & (~moved | (c == 0)), new * 2.0**32, new)
            new = np.where(first[todo] & ~usable, fallback[todo, j], new)
            first[todo] = False
            d[todo[miss]] = new[miss]
            # a step that changed nothing after a longer one that measured: the resolution ends there
            todo = todo[miss & ~(finite & (c == 0) & np.isfinite(best[todo]))]
        # where no step of the right length resolves the curvature (the gradient rounds it away),
        # the shortest that did serves Newton's steps, untrusted
        unresolved = ~found[:, j] & np.isfinite(best)
        D[unresolved, j] = best[unresolved] / DIFFERENCE_STEP
        at = np.flatnonzero(found[:, j] | unresolved)
        coarse[at, j] = unresolved[at] | (DIFFERENCE_STEP * D[at, j] < floor[at, j])
        found[at, j] = True
        for level, t in ((1, 2.0), (2, 4.0)):
            if at.size and not quick:
                step = np.maximum(t * DIFFERENCE_STEP * D[at, j], floor[at, j])
                col, finite, moved = _column(fun, U[at], rows[at], j, step)
                cols[level, at, :, j] = np.where((finite & moved)[:, None], col, np.nan)
    S = D[:, :, None] * D[:, None, :]
    if quick:
        fine, spread = cols[0], np.zeros(b)
    else:
        fine = (4.0 * cols[0] - cols[1]) / 3.0
        rough = (4.0 * cols[1] - cols[2]) / 3.0
        spread = np.max(np.abs(S * (fine - rough)).reshape(b, -1), axis=1, initial=0.0)
    asym = np.max(np.abs(S * (fine - np.swapaxes(fine, 1, 2))).reshape(b, -1), axis=1, initial=0.0)
    H = 0.5 * (fine + np.swapaxes(fine, 1, 2))
    tol = QUICK_TOL if quick else DIFFERENCE_TOL
    trusted = (
        (found & ~coarse).all(axis=1)
        & np.isfinite(H.reshape(b, -1)).all(axis=1)
        & (asym <= tol)
        & (spread <= tol)
    )
    return H, ~trusted


def hessians(
    fun: Objective,
    U: np.ndarray,
    rows: np.ndarray,
    info: Mapping[str, np.ndarray],
    *,
    hint: np.ndarray | None = None,
    quick: bool = False,
):
    """The Hessians of `fun` at `U` (its ``full`` output `info`), from differences of the exact
    gradient where the compiled ones are at risk (:func:`_at_risk`; never at everyday scales).
    Where the compiled Hessian is not finite, the diagonal of `hint` (b, k, k; a Hessian nearby,
    as the last iterate's) gives the differences their first scale; `quick` forms them at one
    step only (see :func:`difference_hessian`).

    Returns the Hessians, which rows were formed from differences and which of those are untrusted
    (see :func:`difference_hessian`). An objective whose curvature is not its Hessian (attribute
    ``exact_hessian = False``, as the Gauss-Newton curvature) is left as it is.
    """
    H = info["hess"]
    b = U.shape[0]
    none = np.zeros(b, dtype=bool)
    if not getattr(fun, "exact_hessian", True) or b == 0 or U.shape[1] == 0:
        return H, none, none
    g = info["grad"]
    risk = _at_risk(U, H) & np.isfinite(info["objective"]) & np.isfinite(g).all(axis=1)
    if not risk.any():
        return H, none, none
    H = np.array(H, dtype=float, copy=True)
    at = np.flatnonzero(risk)
    H0 = H[at]
    if hint is not None:
        useless = ~np.isfinite(H0.reshape(at.size, -1)).all(axis=1)
        H0 = np.where(useless[:, None, None], np.asarray(hint, dtype=float)[at], H0)
    Hd, bad = difference_hessian(fun, U[at], np.asarray(rows)[at], H0, quick=quick)
    # where differences cannot resolve an entry (far from the optimum a gradient may be flat to
    # rounding: sigma far above the spread of the data), the compiled entry still serves Newton's
    # steps, or 0 where that is not finite either; the row stays untrusted
    H[at] = np.where(np.isfinite(Hd), Hd, np.where(np.isfinite(H[at]), H[at], 0.0))
    untrusted = none.copy()
    untrusted[at] = bad
    return H, risk, untrusted


# -- Newton's method ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewtonResult:
    U: np.ndarray
    status: np.ndarray
    iters: np.ndarray
    decrement: np.ndarray
    #: rows where a trial point had an NLL of -inf (an infinite likelihood was reached)
    minus_inf: np.ndarray
    #: the Hessians at the last iterates (b, k, k), as Newton's method used them
    hess: np.ndarray | None = None


@dataclass(frozen=True)
class Join:
    """A verified optimum `u` with objective `f`, which another route stops at once it reaches its
    basin (:func:`newton`). Its Hessian ``H`` (the unconstrained scale) is given as in the
    kernel's scaled space: ``L L' = D H D``, `L` lower triangular, `D` the Jacobi scales."""

    u: np.ndarray
    f: float
    L: np.ndarray
    D: np.ndarray

    def _measure(self, U: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For rows `U` with gradients `G`: the distance from the optimum in standard errors, the
        optimum's quadratic model of the rise ``d'Hd/2``, and the model's miss of the gradient in
        the metric of ``H^-1`` (which is, in standard errors, how far from the optimum a step on
        its Hessian lands: see :meth:`chord`)."""
        w = (U - self.u[None, :]) / self.D[None, :] @ self.L  # rows L' z, z = d / D: |w| in SEs
        dist = np.sqrt(np.einsum("bi,bi->b", w, w))
        Hd = (w @ self.L.T) / self.D[None, :]
        # a gradient that is not finite (at a bound) gives a NaN miss, never in the basin
        r = solve_triangular(self.L, (self.D[None, :] * (G - Hd)).T, lower=True, check_finite=False).T
        return dist, 0.5 * dist**2, np.sqrt(np.einsum("bi,bi->b", r, r))

    def reached(self, U: np.ndarray, f: np.ndarray, G: np.ndarray) -> np.ndarray:
        """Which rows of `U` (objectives `f`, gradients `G`) are in the optimum's basin: within
        :data:`JOIN_TOL` standard errors of it, with an objective no lower than its (up to
        rounding), where its quadratic model ``f + d'Hd/2`` predicts the objective, and ``Hd`` the
        gradient (in the metric of ``H^-1``), to :data:`JOIN_RTOL` of the distance."""
        dist, half, miss = self._measure(U, G)
        tiny = ROUNDING * max(1.0, abs(self.f))
        no_lower = f >= self.f - tiny
        rise = np.abs(f - self.f - half) <= JOIN_RTOL * half + tiny
        return np.isfinite(dist) & (dist <= JOIN_TOL) & no_lower & rise & (miss <= JOIN_RTOL * dist)

    def chord(self, U: np.ndarray, f: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where a Newton step on the optimum's Hessian (a chord step, ``-H^-1 g``) from the rows
        `U` (objectives `f`, gradients `G`) lands, and which rows it is worth trying from
        (:data:`WALK_RATIO`). The optimum's quadratic model puts the landing point as far from
        the optimum, in standard errors, as the gradient's miss (:meth:`_measure`)."""
        z = solve_triangular(self.L, (self.D[None, :] * G).T, lower=True, check_finite=False)
        step = (
            solve_triangular(self.L.T, z, lower=False, check_finite=False).T * self.D[None, :]
        )  # D L'^-1 L^-1 D g
        dist, half, miss = self._measure(U, G)
        with np.errstate(invalid="ignore"):
            model = np.abs(f - self.f - half) <= 0.5 * half
            worth = (miss <= JOIN_TOL) | (model & (miss <= WALK_RATIO * dist))
        return U - step, worth


def _chord_walk(fun: Objective, join: Join, U: np.ndarray, rows: np.ndarray, f: np.ndarray, G: np.ndarray):
    """Chord steps (:meth:`Join.chord`) from the points `U` of `rows` (objectives `f`, gradients
    `G`), each taken where it lowers the objective, until a point is in the optimum's basin
    (:meth:`Join.reached`), a step is not worth trying or not lower, or :data:`CHORD_STEPS` were
    taken. `U`, `f` and `G` are updated in place. Returns the rows in the basin and the rows where
    a landing point had an objective of -inf."""
    there = join.reached(U, f, G)
    hit = np.zeros(len(rows), dtype=bool)
    live = np.flatnonzero(~there)
    for _ in range(CHORD_STEPS):
        if live.size == 0:
            break
        landing, worth = join.chord(U[live], f[live], G[live])
        live, landing = live[worth], landing[worth]
        if live.size == 0:
            break
        f_l, g_l = fun.value_grad(landing, rows[live])
        hit[live] |= np.isneginf(f_l)
        took = np.isfinite(f_l) & (f_l < f[live])
        live = live[took]
        U[live], f[live], G[live] = landing[took], f_l[took], g_l[took]
        there[live] = join.reached(U[live], f[live], G[live])
        live = live[~there[live]]
    return there, hit


def _chord_polish(
    fun: Objective, c: Curvature, U: np.ndarray, rows: np.ndarray, lam: np.ndarray
) -> np.ndarray:
    """Chord steps on the curvature `c` of the last Newton step (whose decrements were `lam`) from
    the new iterates `U` of `rows`, updated in place: while each step's decrement (in the metric of
    `c`) is at most :data:`CHORD_RATIO` of the one before (until the rounding floor stops the
    decrease), and the step lowers the objective (or, within rounding of it, shortens the
    decrement). Returns the rows where a trial point had an objective of -inf."""
    hit = np.zeros(len(rows), dtype=bool)
    f, g = fun.value_grad(U, rows)
    step, dec = newton_step(c, g)
    live = np.flatnonzero(np.isfinite(f) & (dec <= CHORD_RATIO * lam) & (dec > 0))
    for _ in range(CHORD_STEPS):
        if live.size == 0:
            break
        f_t, g_t = fun.value_grad(U[live] + step[live], rows[live])
        hit[live] |= np.isneginf(f_t)
        step_t, dec_t = newton_step(c.rows(live), g_t)
        noise = ROUNDING * np.maximum(1.0, np.abs(f[live]))
        take = np.isfinite(f_t) & ((f_t < f[live]) | ((f_t <= f[live] + noise) & (dec_t < dec[live])))
        go = take & (dec_t <= CHORD_RATIO * dec[live]) & (dec_t > 0)
        moved = live[take]
        U[moved] += step[moved]
        f[moved], step[moved], dec[moved] = f_t[take], step_t[take], dec_t[take]
        live = live[go]
    return hit


@quiet
def newton(
    fun: Objective,
    U0: np.ndarray,
    *,
    tol: float = GTOL,
    maxiter: int = MAXITER,
    extend: bool = True,
    quick: bool = False,
    join: Join | None = None,
) -> NewtonResult:
    """Minimize every row from `U0` by a Levenberg-damped Newton method on the modified Hessian
    (:func:`_damped_search`), in the Jacobi-scaled space.

    A row stops as CONVERGED when its Hessian is positive definite and its Newton decrement is
    at most `tol`; as STALLED when no damping gives a step that lowers the objective (on an
    untrusted difference Hessian: nor on the compiled one), or shortens the scaled gradient at the
    rounding floor; as NONFINITE when the objective or Hessian is not finite at the iterate; and
    as EXHAUSTED after `maxiter` iterations. With `extend`, an undamped step from
    far away is doubled while the objective keeps falling (a start many SEs away then takes a few
    iterations); without it, each step is at most twice as long as the last accepted one (a
    trust radius, as in MINPACK's Levenberg-Marquardt).

    With `quick`, Hessians formed from differences of the gradient take one step each
    (:func:`difference_hessian`), started from the last iterate's scales: a third of the
    gradients, and CONVERGED then means converged on that cheaper curvature, which the caller
    verifies with :func:`assess` (passing ``hint=result.hess``).

    With `join` (a verified optimum found by another route), a row stops as JOINED at an iterate
    in that optimum's basin (:meth:`Join.reached`: within :data:`JOIN_TOL` standard errors, where
    the optimum's quadratic model predicts the objective and the gradient): its last iterations
    would only repeat the other route's answer. From the start and from every iterate not yet
    there, the route takes chord steps, steps on the optimum's Hessian (:func:`_chord_walk`), while
    the optimum's quadratic model makes them worth trying (:meth:`Join.chord`: the landing point
    within :data:`JOIN_TOL` standard errors, or where the model predicts the objective's rise, at
    most :data:`WALK_RATIO` of the distance) and each lowers the objective: a value and gradient
    each instead of a Hessian. A row whose chord steps end in the basin stops as JOINED; otherwise
    Newton's method goes on from the last point.

    After a Newton step close to the optimum (decrement at most 1, on a trusted positive-definite
    Hessian), chord steps on that same Hessian (:func:`_chord_polish`) take the new iterate to the
    rounding floor while each shrinks the decrement by :data:`CHORD_RATIO`, so that the Hessian
    computed next, at the end point, verifies it rather than asking for one more step.
    """
    U = np.array(U0, dtype=float, copy=True)
    B = U.shape[0]
    status = np.full(B, -1)
    iters = np.zeros(B, dtype=int)
    dec = np.full(B, np.inf)
    minus_inf = np.zeros(B, dtype=bool)
    everything = np.arange(B)
    if join is not None:  # the start itself may be in the optimum's basin, or a chord step from it
        f0, g0 = fun.value_grad(U, everything)
        there, minus_inf = _chord_walk(fun, join, U, everything, f0, g0)
        status[there] = JOINED
        if there.all():
            return NewtonResult(U, status, iters, dec, minus_inf)
    info = fun.full(U, everything)
    H, differences, untrusted = hessians(fun, U, everything, info, quick=quick)
    f, g, H = info["objective"].copy(), info["grad"].copy(), np.array(H, dtype=float, copy=True)
    f[~np.isfinite(f)] = np.inf
    status[(status < 0) & ~(np.isfinite(f) & np.isfinite(H.reshape(B, -1)).all(axis=1))] = NONFINITE
    mu = np.zeros(B)  # Levenberg damping of each row, relative to its largest scaled eigenvalue
    radius = None if extend else np.full(B, np.inf)  # without extension: a trust radius
    Hc = np.array(info["hess"], dtype=float, copy=True)  # the compiled Hessians

    def search(rows, D, w, V, lam):
        """One iteration's step search for `rows`, on the scaled curvature ``(D, w, V)`` whose
        Newton decrements are `lam`."""
        w0, v0 = w[:, 0], V[:, :, 0]
        # at (or near) a saddle point the modified step is tiny: add the direction of most
        # negative curvature, one scaled unit long, pointed downhill
        saddle = (w0 < 0) & (lam < 1e-3)
        extra = np.zeros_like(D)
        if saddle.any():
            sgn = -np.sign(np.einsum("bi,bi->b", D[saddle] * g[rows[saddle]], v0[saddle]))
            sgn[sgn == 0] = 1.0
            extra[saddle] = D[saddle] * v0[saddle] * sgn[:, None]
        return _damped_search(
            fun,
            U,
            rows,
            f[rows],
            g[rows],
            D,
            w,
            V,
            mu[rows],
            extra,
            extend=extend & (lam > 1.0),
            radius=None if radius is None else radius[rows],
        )

    for _ in range(maxiter):
        rows = np.flatnonzero(status < 0)
        if rows.size == 0:
            break
        c = curvature(H[rows], differences[rows], untrusted[rows])
        step, lam = newton_step(c, g[rows])
        dec[rows] = lam
        done = c.pd & (lam <= tol)
        status[rows[done]] = CONVERGED
        # one last Newton step: at quadratic convergence it takes the error from tol to about
        # tol**2 standard errors. Not where the point is already that close: the step would change
        # nothing but the point (whose evaluation, kept, then reports the fit)
        last = done & (lam > FINAL_STEP_MIN)
        if last.any():
            fin = rows[last]
            f_new, _ = fun.value_grad(U[fin] + step[last], fin)
            take = np.isfinite(f_new) & (f_new <= f[fin] + ROUNDING * np.maximum(1.0, np.abs(f[fin])))
            U[fin[take]] = U[fin[take]] + step[last][take]
        keep = ~done
        rows = rows[keep]
        if rows.size == 0:
            break
        t, step, ok, hit, mu_new, r_new = search(rows, c.D[keep], c.w[keep], c.V[keep], lam[keep])
        # an untrusted difference Hessian can be finite noise (far from the optimum, where the
        # curvature of a nearly linear direction is below the gradient's rounding): where no step
        # is found on it, a finite compiled Hessian is tried before the row counts as stalled (it
        # serves the steps only; an untrusted row is never verified as an optimum)
        flat = Hc[rows].reshape(rows.size, -1)
        again = np.flatnonzero(
            ~ok
            & untrusted[rows]
            & np.isfinite(flat).all(axis=1)
            & (flat != H[rows].reshape(rows.size, -1)).any(axis=1)
        )
        if again.size:
            ra = rows[again]
            ca = curvature(Hc[ra], differences[ra], untrusted[ra])
            _, lam_a = newton_step(ca, g[ra])
            t2, step2, ok2, hit2, mu2, r2 = search(ra, ca.D, ca.w, ca.V, lam_a)
            t[again], step[again], ok[again], hit[again] = t2, step2, ok2, hit2 | hit[again]
            mu_new[again] = np.where(ok2, mu2, mu_new[again])
            if r_new is not None:
                r_new[again] = np.where(ok2, r2, r_new[again])
        mu[rows] = mu_new
        if radius is not None:
            radius[rows] = r_new
        minus_inf[rows[hit]] = True
        status[rows[~ok]] = STALLED
        moved = rows[ok]
        if moved.size == 0:
            continue
        U[moved] = U[moved] + t[ok, None] * step[ok]
        iters[moved] += 1
        if join is not None:  # from the search's evaluation of the new iterate: no Hessian needed
            f_new, g_new = fun.value_grad(U[moved], moved)
            Um = U[moved]
            there, hit = _chord_walk(fun, join, Um, moved, f_new, g_new)
            U[moved], minus_inf[moved] = Um, minus_inf[moved] | hit
            status[moved[there]] = JOINED
            f[moved[there]], g[moved[there]] = f_new[there], g_new[there]
            moved = moved[~there]
            if moved.size == 0:
                continue
        # near the optimum (a Newton step on a trusted positive-definite Hessian), chord steps on
        # that Hessian take the new iterate on to the rounding floor: values and gradients only,
        # so that the Hessian computed next is the one at the end point, which verifies it
        at = np.flatnonzero(keep)[np.searchsorted(rows, moved)]  # moved's rows of `c` and `lam`
        near = ~differences[moved] & c.pd[at] & (lam[at] <= 1.0)
        if near.any():
            sub, at = moved[near], at[near]
            Um = U[sub]
            minus_inf[sub] |= _chord_polish(fun, c.rows(at), Um, sub, lam[at])
            U[sub] = Um
        new = fun.full(U[moved], moved)
        f[moved], g[moved], Hc[moved] = new["objective"], new["grad"], new["hess"]
        H[moved], differences[moved], untrusted[moved] = hessians(
            fun, U[moved], moved, new, hint=H[moved], quick=quick
        )
        bad = ~(np.isfinite(f[moved]) & np.isfinite(H[moved].reshape(moved.size, -1)).all(axis=1))
        f[moved[bad]] = np.inf
        status[moved[bad]] = NONFINITE
    status[status < 0] = EXHAUSTED
    return NewtonResult(U, status, iters, dec, minus_inf, H)


def _damped_search(fun, U, rows, f0, g0, D, w, V, mu0, extra, *, extend, radius=None):
    """Levenberg-damped Newton steps in the scaled space, with a trust-region acceptance test.

    The step is ``-(|D H D| + mu * top) ^-1 D g`` (eigenvalues made positive and floored, then
    shifted by `mu` times the largest): the Newton step at ``mu = 0``, a short scaled
    steepest-descent step as `mu` grows. A step is taken when the objective falls by at least
    1e-4 of what the (modified) quadratic model predicts, or, within rounding of the minimum,
    when it shortens the scaled gradient; otherwise `mu` grows fourfold and the step is tried
    again. An accepted undamped step from far away (Newton decrement above 1, the rows in
    `extend`) is doubled while the objective keeps falling.

    With `radius` (per row, in the scaled space), `mu` starts at 0 and is raised until the step
    is no longer than the radius; the next radius is twice the accepted step when the quadratic
    model predicted the fall well (or the step was undamped), half of it when badly, and is kept
    otherwise (MINPACK's rule). The steps of a Levenberg-Marquardt route then grow at most twofold
    per iteration, so one long Gauss-Newton step cannot carry it into a distant, flat region.

    Returns (t, step, accepted, rows that met an objective of -inf, the new damping, the new
    radius).
    """
    b, k = g0.shape
    gs = D * g0
    proj = np.einsum("bji,bj->bi", V, gs)
    wv = w if np.isfinite(w).all() else np.nan_to_num(w, nan=1.0)
    top = np.maximum(np.max(np.abs(wv), axis=1), 1e-300)
    base = np.maximum(np.abs(wv), EIG_FLOOR * top[:, None])
    mu = np.asarray(mu0, dtype=float).copy()
    ok = np.zeros(b, dtype=bool)
    hit = np.zeros(b, dtype=bool)
    step = np.zeros((b, k))
    f_acc = np.full(b, np.inf)
    gnorm = np.linalg.norm(gs, axis=1)
    noise = ROUNDING * np.maximum(1.0, np.abs(f0))
    new_radius = None if radius is None else np.array(radius, dtype=float, copy=True)
    if radius is not None:
        mu[:] = 0.0  # the radius sets the damping afresh each iteration
    for _ in range(HALVINGS):
        todo = np.flatnonzero(~ok)
        if todo.size == 0:
            break
        wm = base[todo] + mu[todo, None] * top[todo, None]
        z = -proj[todo] / wm
        if radius is not None:
            for _ in range(200):
                far = np.linalg.norm(z, axis=1) > radius[todo]
                if not far.any():
                    break
                mu[todo[far]] = np.maximum(4.0 * mu[todo[far]], 1e-6)
                wm = base[todo] + mu[todo, None] * top[todo, None]
                z = -proj[todo] / wm
        st = D[todo] * np.einsum("bij,bj->bi", V[todo], z) + extra[todo] / (1.0 + mu[todo, None])
        pred = -np.sum(proj[todo] * z + 0.5 * base[todo] * z * z, axis=1)
        f_new, g_new = fun.value_grad(U[rows[todo]] + st, rows[todo])
        hit[todo] |= np.isneginf(f_new)
        drop = f0[todo] - f_new
        model_ok = np.isfinite(f_new) & (drop > 0) & (drop >= 1e-4 * pred)
        rounding = (
            np.isfinite(f_new)
            & (f_new <= f0[todo] + noise[todo])
            & (np.linalg.norm(D[todo] * g_new, axis=1) < gnorm[todo])
        )
        good = model_ok | rounding
        ok[todo[good]] = True
        if new_radius is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(pred[good] > 0, drop[good] / pred[good], 0.0)
            zn = np.linalg.norm(z[good], axis=1)
            new_radius[todo[good]] = np.where(
                (ratio > 0.75) | (mu[todo[good]] == 0),
                2.0 * zn,
                np.where(ratio < 0.25, 0.5 * zn, np.minimum(radius[todo[good]], 2.0 * zn)),
            )
        step[todo[good]] = st[good]
        f_acc[todo[good]] = f_new[good]
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(pred > 0, drop / pred, 0.0)
        shrink = good & (rho > 0.75)
        mu[todo[shrink]] = np.where(mu[todo[shrink]] > 1e-6, mu[todo[shrink]] / 4.0, 0.0)
        grow = good & (rho < 0.25)
        mu[todo[grow]] = np.maximum(2.0 * mu[todo[grow]], 1e-6)
        mu[todo[~good]] = np.maximum(4.0 * mu[todo[~good]], 1e-6)
    t = np.ones(b)
    ext = np.flatnonzero(ok & np.asarray(extend) & (mu == 0))
    for _ in range(60):
        if ext.size == 0:
            break
        f_new, _ = fun.value_grad(U[rows[ext]] + 2.0 * t[ext, None] * step[ext], rows[ext])
        hit[ext] |= np.isneginf(f_new)
        better = np.isfinite(f_new) & (f_new < f_acc[ext] - noise[ext])
        t[ext[better]] *= 2.0
        f_acc[ext[better]] = f_new[better]
        ext = ext[better]
    return t, step, ok, hit, mu, new_radius


# -- the verdict at a point --------------------------------------------------------------------


@quiet
def assess(
    fun: Objective, U: np.ndarray, tol: float = GTOL, *, hint: np.ndarray | None = None
) -> dict[str, Any]:
    """Everything :func:`pplmle.mle` reports about the points `U`, and whether each is the optimum.

    Returns the entries of ``fun.full`` plus ``curv`` (:class:`Curvature`), ``decrement``,
    ``cov`` (b, m, m) and ``se`` (b, m) of the reported values (NaN where the Hessian is not
    positive definite), ``grad_natural`` (the gradient with respect to the reported values,
    least squares through the Jacobian) and ``ok``: finite, positive definite and a Newton
    decrement of at most `tol`. `hint`: Hessians nearby, whose scales start the differences
    where the compiled Hessian is not finite (:func:`hessians`).
    """
    B, k = U.shape
    info = dict(fun.full(U, np.arange(B)))
    H, differences, untrusted = hessians(fun, U, np.arange(B), info, hint=hint)
    info["hess"] = H
    J, g = info["jac"], info["grad"]
    m = J.shape[1]
    c = curvature(H, differences, untrusted)
    _, dec = newton_step(c, np.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0))
    finite = (
        c.finite
        & np.isfinite(info["objective"])
        & np.isfinite(g).all(axis=1)
        & np.isfinite(J.reshape(B, -1)).all(axis=1)
        & np.isfinite(info["reported"]).all(axis=1)
    )
    dec = np.where(finite, dec, np.inf)
    cov = np.full((B, m, m), np.nan)
    se = np.full((B, m), np.nan)
    pd = c.pd & finite
    if pd.any() and k:
        Hs = c.D[pd][:, :, None] * H[pd] * c.D[pd][:, None, :]
        Hs = 0.5 * (Hs + np.swapaxes(Hs, 1, 2))
        try:
            L = np.linalg.cholesky(Hs)
        except np.linalg.LinAlgError:  # positive by eigenvalues, not by Cholesky: row by row
            L = np.stack([_chol_or_nan(h) for h in Hs])
        A = J[pd] * c.D[pd][:, None, :]  # (b, m, k)
        Z = np.linalg.solve(L, np.swapaxes(A, 1, 2))  # (b, k, m)
        cov[pd] = np.swapaxes(Z, 1, 2) @ Z  # a matrix product (BLAS), not an einsum loop: O(k^3)
        se[pd] = _norm(Z, axis=1)
    grad_r = np.full((B, m), np.nan)
    good = finite & (m > 0)
    for i in np.flatnonzero(good):
        # least squares by a complete orthogonal factorization (LAPACK's gelsy, NumPy's rank rule):
        # the minimum-norm answer of the SVD, several times faster at a thousand parameters
        cut = np.finfo(float).eps * max(J[i].shape)
        grad_r[i] = lstsq(J[i].T, g[i], cond=cut, lapack_driver="gelsy", check_finite=False)[0]
    ok = pd & np.isfinite(se).all(axis=1) & (dec <= tol)
    return {
        **info,
        "curv": c,
        "decrement": dec,
        "cov": cov,
        "se": se,
        "grad_natural": grad_r,
        "ok": ok,
        "differences": differences,
    }


def _norm(Z: np.ndarray, axis: int) -> np.ndarray:
    """Euclidean norms that neither overflow nor underflow (scaled by the largest entry)."""
    top = np.max(np.abs(Z), axis=axis, keepdims=True)
    safe = np.where(top > 0, top, 1.0)
    return np.squeeze(top, axis=axis) * np.sqrt(np.sum((Z / safe) ** 2, axis=axis))


def _chol_or_nan(h: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return np.full_like(h, np.nan)


# -- the recession probe -----------------------------------------------------------------------


def _metric_directions(c: Curvature, g: np.ndarray, extra: np.ndarray | None) -> list[np.ndarray]:
    """Unit directions in the Hessian metric (one standard error long), pointed downhill: the
    flattest direction of the scaled Hessian, and the rows of `extra` (b, k) where given."""
    out = []
    w0 = np.where(c.w[:, 0] > 0, c.w[:, 0], 1.0)
    v = c.D * c.V[:, :, 0] / np.sqrt(w0)[:, None]
    out.append(v)
    if extra is not None:
        y = np.einsum("bji,bj->bi", c.V, extra / c.D)  # |e|^2 in D H D, from its eigenvectors
        Hs_norm = np.einsum("bi,bi->b", np.nan_to_num(c.w, nan=0.0), y * y)
        with np.errstate(invalid="ignore", divide="ignore"):
            e = extra / np.sqrt(np.where(Hs_norm > 0, Hs_norm, np.nan))[:, None]
        out.append(np.nan_to_num(e))
    signed = []
    for d in out:
        s = np.sign(np.einsum("bi,bi->b", g, d))
        signed.append(np.where((s > 0)[:, None], -d, d))
    return signed


@quiet
def recession(
    fun: Objective,
    U: np.ndarray,
    rows: np.ndarray,
    f0: np.ndarray,
    g: np.ndarray,
    c: Curvature,
    extra: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Directions from the minima `U` along which the objective keeps falling (a drifting estimate).

    The probe runs from points that the convergence rule accepted: there a quadratic predicts
    that the NLL rises by t**2 / 2 at t standard errors in any direction, 1/2 at one standard
    error. A drop at every one of 1/256, 1/64, 1/16, 1/4 and 1 standard error along the flattest
    direction (or along `extra`, such as the path the polish took), monotone and beyond rounding,
    means the likelihood is still increasing towards the edge of the parameter space or towards
    infinity: the point is not an interior optimum, and it cannot happen at one.

    Returns a mask over the rows and, per row, None or the array (len(PROBE_STEPS), k) of the
    probe points along the receding direction.
    """
    b = U.shape[0]
    found = np.zeros(b, dtype=bool)
    points: list[np.ndarray | None] = [None] * b
    # relative rounding only: near a bound of the support the NLL itself may be 1e-13
    noise = ROUNDING * np.abs(f0)
    for d in _metric_directions(c, g, extra):
        todo = np.flatnonzero(~found & np.isfinite(d).all(axis=1) & (d != 0).any(axis=1))
        if todo.size == 0:
            continue
        # step by step, outwards: a row leaves at its first step that does not drop (at an
        # interior optimum that is the first, 1/256 SE), so the probe usually costs one
        # evaluation per direction rather than len(PROBE_STEPS)
        alive, prev = todo, f0[todo]
        for t in PROBE_STEPS:
            vals = fun.value_grad(U[alive] + t * d[alive], rows[alive])[0]
            falls = np.isfinite(vals) & (vals - f0[alive] < -noise[alive]) & (vals - prev <= noise[alive])
            alive, prev = alive[falls], vals[falls]
            if alive.size == 0:
                break
        for i in alive:
            points[i] = np.stack([U[i] + t * d[i] for t in PROBE_STEPS])
        found[alive] = True
    return found, points


@quiet
def unbounded(
    fun: Objective, U: np.ndarray, rows: np.ndarray, f0: np.ndarray, direction: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """Whether the objective falls without limit along `direction` from the unfinished points `U`.

    Used where Newton's method did not converge. Along the ray, at 1, 2, 4, ..., 2**12 times the
    direction, the values up to the first non-finite one (where the parameters leave what float64
    can represent, say sigma = exp(u) underflowing to 0) must be at least six, and each
    decrement at least as large as the one before (the NLL falls at least linearly in the
    distance); a value of -inf on the way counts as the limit reached. A function bounded below
    turns or levels off within such a range.

    Returns a mask and, per row, None or the last three probe points before the end.
    """
    ts = 2.0 ** np.arange(UNBOUNDED_DOUBLINGS + 1)
    b = U.shape[0]
    found = np.zeros(b, dtype=bool)
    points: list[np.ndarray | None] = [None] * b
    todo = np.arange(b)
    # a point already near the edge of float64 (sigma = 1e-157 on its way to 0) leaves it within
    # a few doublings: probe again with shorter steps, at most twice, each 2**-8 of the last
    for shrink in (1.0, 2.0**-8, 2.0**-16):
        if todo.size == 0:
            break
        d = shrink * direction[todo]
        vals = np.column_stack([fun.value_grad(U[todo] + t * d, rows[todo])[0] for t in ts])
        short = []
        for j, i in enumerate(todo):
            v = vals[j]
            bad = ~np.isfinite(v)
            end = int(np.argmax(bad)) if bad.any() else v.size
            reached = bad.any() and np.isneginf(v[end])
            if end < 6 and not (reached and end >= 3):
                short.append(i)
                continue
            seq = np.concatenate([[f0[i]], v[:end]])
            steps = np.diff(seq)
            noise = ROUNDING * max(1.0, abs(f0[i]))
            if np.all(steps < -noise) and np.all(np.diff(steps[1:]) <= noise):
                found[i] = True
                points[i] = np.stack([U[i] + t * d[j] for t in ts[end - 3 : end]])
        todo = np.array(short, dtype=int)
    return found, points


# -- constrained fits --------------------------------------------------------------------------


@quiet
def constrained(
    fun: Objective,
    U0: np.ndarray,
    index: int,
    target: np.ndarray,
    *,
    maxiter: int = 60,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimize each row's objective with reported value `index` held at `target` (b,).

    Sequential quadratic programming in the scaled space: Newton steps on the KKT system
    ``[[|D H D|, D a], [(D a)', 0]] [dz, lam] = -[D g, c]`` with ``c = r_index(u) - target`` and
    ``a`` its gradient, halved while the objective is not finite. Returns (U, objective, ok);
    ``ok`` requires the constraint met to 1e-10 of its size and the scaled gradient orthogonal
    to the constraint to 1e-8 of its size (both scale-free).
    """
    U = np.array(U0, dtype=float, copy=True)
    B, k = U.shape
    ok = np.zeros(B, dtype=bool)
    f = np.full(B, np.inf)
    active = np.ones(B, dtype=bool)
    target = np.asarray(target, dtype=float)
    for _ in range(maxiter):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        info = fun.full(U[rows], rows)
        g = info["grad"]
        H, differences, untrusted = hessians(fun, U[rows], rows, info)
        a = info["jac"][:, index, :]
        cval = info["reported"][:, index] - target[rows]
        f[rows] = info["objective"]
        curv = curvature(H, differences, untrusted)
        finite = curv.finite & np.isfinite(info["objective"]) & np.isfinite(a).all(axis=1)
        D = curv.D
        gs, as_ = D * g, D * a
        lam = np.einsum("bi,bi->b", gs, as_) / np.maximum(np.einsum("bi,bi->b", as_, as_), 1e-300)
        resid = np.linalg.norm(gs - lam[:, None] * as_, axis=1)
        # the constraint's size: the target, or the change one scaled unit makes in r_index
        size = np.maximum(np.abs(target[rows]), np.linalg.norm(as_, axis=1))
        met = np.abs(cval) <= 1e-10 * np.maximum(size, 1e-300)
        stationary = resid <= 1e-8 * np.maximum(1.0, np.linalg.norm(gs, axis=1))
        good = finite & met & stationary
        ok[rows[good]] = True
        active[rows[good | ~finite]] = False
        keep = ~(good | ~finite)
        rows, gs, as_, cval, D, w, V = (
            rows[keep],
            gs[keep],
            as_[keep],
            cval[keep],
            D[keep],
            curv.w[keep],
            curv.V[keep],
        )
        if rows.size == 0:
            break
        top = np.max(np.abs(w), axis=1, keepdims=True)
        wm = np.maximum(np.abs(w), EIG_FLOOR * np.maximum(top, 1e-300))
        K = np.zeros((rows.size, k + 1, k + 1))
        K[:, :k, :k] = np.einsum("bij,bj,bkj->bik", V, wm, V)
        K[:, :k, k] = as_
        K[:, k, :k] = as_
        rhs = -np.concatenate([gs, cval[:, None]], axis=1)
        try:
            dz = np.linalg.solve(K, rhs[..., None])[..., 0][:, :k]
        except np.linalg.LinAlgError:
            active[rows] = False
            break
        du = D * dz
        t = np.ones(rows.size)
        for _ in range(30):
            f_new, _ = fun.value_grad(U[rows] + t[:, None] * du, rows)
            bad = ~np.isfinite(f_new)
            if not bad.any():
                break
            t[bad] *= 0.5
        U[rows] = U[rows] + t[:, None] * du
    return U, f, ok

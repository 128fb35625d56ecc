"""The support of every free variable, read from its transform, and estimates on its edge.

A free variable of a ``pm.Model`` is optimized on an unconstrained scale ``u``: ``p =
0.5 * sigmoid(u)`` for ``pm.Uniform("p", 0, 0.5)``. An MLE on the edge of the support (``p =
0.5``) is then at ``u = +inf``: the optimizer stops where float64 no longer tells the next
step from the last (``p = 0.49999999999998``), and the curvature there, which shrinks like the
distance to the edge, gives a meaningless Wald standard error (``1e-8``). :func:`at_bounds` finds
such elements and refits with them held exactly on the edge.

Bounds are read from the transforms that PyMC attaches to the free variables:

=====================  ====================================  =================================
transform              support                               per element
=====================  ====================================  =================================
``Interval``           ``[lower, upper]`` (either may be     the bounds are graphs: of data,
                       missing or infinite)                  constants or other free variables
``LogTransform``,      ``[0, inf)``
``LogExpM1``
``LogOddsTransform``   ``[0, 1]``
none, ``circular``     unbounded (a circle has no edge)
``ordered``,           not read: their edges (two equal      -
``simplex``, others    elements, a weight of 0) are not
                       one unconstrained coordinate each
=====================  ====================================  =================================
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions import transforms as tr
from pymc.logprob.transforms import IntervalTransform
from pymc.pytensorf import compile as pm_compile

from pplmle.core import diagnostics as dg
from pplmle.pymc import kernel
from pplmle.pymc.engine import Engine, info_from_assess

__all__ = ["Edge", "OnBounds", "Support", "at_bounds", "supports"]

#: the unconstrained values tried for an element held on its edge, in turn (both signs): the
#: first where the natural value equals the bound exactly in float64 (``sigmoid(64) == 1``,
#: ``exp(-1024) == 0``)
EDGE_STEPS = tuple(2.0**k for k in range(3, 12))


@dataclass(frozen=True)
class Support:
    """The support of one free variable as its transform gives it.

    ``lower`` and ``upper`` are PyTensor graphs of the model's variables (None: unbounded on
    that side); ``kind`` names the transform; ``elementwise`` says whether each unconstrained
    coordinate moves one element (only then are the bounds read).
    """

    name: str
    kind: str
    lower: Any
    upper: Any
    elementwise: bool


def support_of(model: pm.Model, rv) -> Support:
    """The support of the free variable `rv` of `model`, read from its transform."""
    t = model.rvs_to_transforms.get(rv)
    name = rv.name
    if t is None:
        return Support(name, "none", None, None, True)
    if isinstance(t, IntervalTransform):
        lower, upper = t.args_fn(*rv.owner.inputs)
        return Support(name, "interval", lower, upper, True)
    if isinstance(t, (tr.LogTransform, tr.LogExpM1)):
        return Support(name, t.name, pt.constant(0.0), None, True)
    if isinstance(t, tr.LogOddsTransform):
        return Support(name, t.name, pt.constant(0.0), pt.constant(1.0), True)
    if isinstance(t, tr.CircularTransform):
        return Support(name, t.name, None, None, True)
    return Support(name, getattr(t, "name", type(t).__name__), None, None, False)


def supports(model: pm.Model) -> list[Support]:
    """The support of every free variable of `model`, in the order of ``model.free_RVs``."""
    return [support_of(model, rv) for rv in model.free_RVs]


class _Bounds:
    """The bounds of every unconstrained coordinate of an engine, compiled as a function of the
    model's value variables (bounds may depend on other free variables and on data)."""

    def __init__(self, engine: Engine):
        model = engine.model
        engine.compile()
        self.supports = supports(model)
        lows: list[Any] = []
        highs: list[Any] = []
        elementwise: list[bool] = []
        for sup, value, (_, _, size) in zip(self.supports, engine.value_vars, engine.point_map, strict=True):
            # the value variable has the variable's shape for an elementwise transform
            for graph, out, fill in ((sup.lower, lows, -np.inf), (sup.upper, highs, np.inf)):
                g = pt.as_tensor_variable(fill if graph is None or not sup.elementwise else graph)
                out.append(pt.cast(pt.broadcast_to(g, value.shape), "float64").ravel())
            elementwise += [sup.elementwise] * size
        self.elementwise = np.array(elementwise, dtype=bool)
        outs = model.replace_rvs_by_values([pt.concatenate(lows), pt.concatenate(highs)])
        # evaluated a few times per fit: not worth a C compilation
        self._fn = pm_compile(
            engine.value_vars, outs, on_unused_input="ignore", allow_input_downcast=True, mode="FAST_COMPILE"
        )
        self._engine = weakref.ref(engine)

    def __call__(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        engine = self._engine()
        assert engine is not None
        point = engine.point_from_u(u)
        lo, hi = self._fn(*[point[v.name] for v in engine.value_vars])
        return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)


_BOUNDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def bounds_function(engine: Engine) -> _Bounds:
    """The (cached) bounds of `engine`'s unconstrained coordinates at a point ``u``."""
    with engine.lock:
        if engine not in _BOUNDS:
            _BOUNDS[engine] = _Bounds(engine)
        return _BOUNDS[engine]


def coordinates(engine: Engine) -> list[tuple[int, int]]:
    """Pairs (index in the reported vector, index in ``u``) of the reported elements that are
    elements of free variables (a reported Deterministic has no coordinate of its own)."""
    engine.compile()
    offsets, i = {}, 0
    for name, (_, _, size) in zip(engine.free_names, engine.point_map, strict=True):
        offsets[name] = (i, size)
        i += size
    pairs, r = [], 0
    for name, shape in zip(engine.reported, engine.reported_shapes, strict=True):
        size = int(np.prod(shape))
        if name in offsets and offsets[name][1] == size:
            pairs += [(r + e, offsets[name][0] + e) for e in range(size)]
        r += size
    return pairs


@dataclass(frozen=True)
class Edge:
    """One reported element held on a bound: its reported index ``i``, coordinate ``j``, the
    coordinate's value ``u_edge`` there, the bound's ``side`` ("lower"/"upper")."""

    i: int
    j: int
    u_edge: float
    side: str


class _Held:
    """An engine's objective with some coordinates held at fixed values: the kernel's
    :class:`~pplmle.pymc.kernel.Objective` over the other coordinates (a batch of one).

    The compiled functions are called directly: at the edge the gradient of a held coordinate
    may be NaN (``0 * log 0``), which must not spoil the others."""

    def __init__(self, engine: Engine, u: np.ndarray, held: dict[int, float]):
        fns = engine.compile()
        self._vg, self._info = fns["vg"], fns["info"]
        self.base = np.array(u, dtype=float, copy=True)
        for j, v in held.items():
            self.base[j] = v
        self.free = np.array([j for j in range(self.base.size) if j not in held], dtype=int)

    def point(self, z: np.ndarray) -> np.ndarray:
        u = self.base.copy()
        u[self.free] = z
        return u

    def value_grad(self, Z: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f, g = np.empty(Z.shape[0]), np.empty(Z.shape)
        for n, z in enumerate(Z):
            fi, gi = self._vg(self.point(z))
            f[n], g[n] = float(fi), np.asarray(gi, dtype=float)[self.free]
        bad = ~(np.isfinite(f) & np.all(np.isfinite(g), axis=1))
        f[bad & ~np.isneginf(f)] = np.inf
        return f, g

    def full(self, Z: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
        outs = [self._info(self.point(z)) for z in Z]
        k, J = self.base.size, self.free
        m = int(np.size(outs[0][4])) if outs else 0
        hess = [np.asarray(o[3], dtype=float).reshape(k, k)[np.ix_(J, J)] for o in outs]
        jac = [np.asarray(o[5], dtype=float).reshape(m, k)[:, J] for o in outs]
        return {
            "objective": np.array([float(o[0]) for o in outs]),
            "loglik": np.array([float(o[1]) for o in outs]),
            "grad": np.stack([np.asarray(o[2], dtype=float)[J] for o in outs]).reshape(Z.shape),
            "hess": np.stack(hess).reshape(len(outs), J.size, J.size),
            "reported": np.stack([np.asarray(o[4], dtype=float) for o in outs]).reshape(len(outs), -1),
            "jac": np.stack(jac).reshape(len(outs), m, J.size),
        }


@dataclass(frozen=True)
class OnBounds:
    """Elements found on a bound: the finding; the refit's ``info`` as :meth:`Engine.info` gives
    it (those elements exactly on their bounds, the others re-optimized, the covariance and
    standard errors conditional on the held elements); ``u_edge``, that point; and ``u``, the
    point a result keeps for profiles and ``nllf``: the same, but the held coordinates where the
    estimate had them, at most rounding away from the bound and where the transform still moves
    them (exactly on the edge its derivative is 0, and a constrained fit could not move it)."""

    finding: dg.Finding
    u: np.ndarray
    info: dict[str, Any]
    edges: tuple[Edge, ...]
    u_edge: np.ndarray


def _edge(engine: Engine, u: np.ndarray, i: int, j: int, bound: float) -> float | None:
    """A value of coordinate `j` at which reported element `i` equals `bound` exactly and the
    objective is finite, or None."""
    fn = engine.compile()["info"]
    for s in EDGE_STEPS:
        for sign in (1.0, -1.0):
            trial = np.array(u, dtype=float, copy=True)
            trial[j] = sign * s
            with np.errstate(all="ignore"):
                out = fn(trial)
            if float(np.asarray(out[4])[i]) == bound and np.isfinite(float(out[0])):
                return sign * s
    return None


def _falls_towards(engine: Engine, u: np.ndarray, edge: Edge, bound: float) -> bool:
    """Whether the NLL falls towards the bound at `u` (element `edge.i` on it): its derivative
    with respect to the natural value, taken where the transform still moves it (the coordinate
    halved towards 0 until the derivative is resolved), points out of the support."""
    fn = engine.compile()["info"]
    t = edge.u_edge
    for _ in range(12):
        t = t / 2.0
        trial = np.array(u, dtype=float, copy=True)
        trial[edge.j] = t
        with np.errstate(all="ignore"):
            out = fn(trial)
            x = float(np.asarray(out[4])[edge.i])
            dx = float(np.atleast_2d(np.asarray(out[5]))[edge.i, edge.j])
            gu = float(np.asarray(out[2])[edge.j])
        if not (np.isfinite(gu) and np.isfinite(dx)) or x == bound or dx == 0.0:
            continue
        if gu == 0.0:
            continue  # the slope underflowed this close to the edge: look a little further in
        slope = gu / dx  # d NLL / d x
        outward = 1.0 if edge.side == "upper" else -1.0
        return bool(slope * outward < 0.0)
    return False


def _held_fit(engine: Engine, u: np.ndarray, held: dict[int, float], gtol: float):
    """Re-optimize the coordinates not in `held` from `u`: (point, assess output of the rest)."""
    obj = _Held(engine, u, held)
    z0 = np.array(u, dtype=float)[obj.free][None, :]
    if not obj.free.size:  # nothing left to estimate: the point is the answer
        res: dict[str, Any] = dict(obj.full(z0, np.zeros(1, dtype=int)))
        m = res["reported"].shape[1]
        res.update(
            curv=kernel.curvature(res["hess"]),
            decrement=np.zeros(1),
            cov=np.full((1, m, m), np.nan),
            se=np.full((1, m), np.nan),
            grad_natural=np.zeros((1, m)),
            ok=np.isfinite(res["objective"]),
            differences=np.zeros(1, dtype=bool),
        )
        return obj.point(z0[0]), res
    fit = kernel.newton(obj, z0, tol=min(gtol, kernel.GTOL))
    return obj.point(fit.U[0]), kernel.assess(obj, fit.U, gtol)


def at_bounds(
    engine: Engine,
    u: np.ndarray,
    info: dict[str, Any],
    labels: list[str],
    gtol: float,
    method: str = "MLE",
) -> OnBounds | None:
    """Reported elements of free variables whose estimate is on an edge of their support.

    An element is a candidate when its natural value is within its standard error of a finite
    bound (or equal to it, or within 1e-8 of the width of a two-sided support). It is on the
    bound when, with it held exactly there and the other parameters re-optimized,

    - the NLL is no higher than at the estimate (to rounding, 1e-12 of its size), and
    - the NLL still falls towards the bound (its derivative with respect to the element, at the
      bound, points out of the support: the KKT condition of a maximum on the edge).

    An interior optimum near a bound fails the second test (the NLL rises towards the bound);
    so does a scale parameter whose likelihood is unbounded at 0 (the NLL is not finite there).
    Candidates are tried one at a time, nearest first, each held on top of those accepted.

    Returns None when nothing is on a bound; else the finding (exact bound values, NaN
    standard errors for the held elements) and the refit, whose standard errors of the other
    parameters are conditional on the held ones (the Hessian of the rest at the bound).
    """
    f0 = float(info["objective"])
    rep, se = np.asarray(info["reported"], dtype=float), np.asarray(info["se"], dtype=float)
    if not (np.isfinite(f0) and np.all(np.isfinite(u)) and np.all(np.isfinite(rep))):
        return None
    pairs = coordinates(engine)
    if not pairs:
        return None
    bounds = bounds_function(engine)
    lo, hi = bounds(u)
    candidates = []
    for i, j in pairs:
        if not bounds.elementwise[j]:
            continue
        width = hi[j] - lo[j]
        for side, b in (("lower", lo[j]), ("upper", hi[j])):
            if not np.isfinite(b):
                continue
            d = abs(rep[i] - b)
            near = d == 0.0 or (np.isfinite(se[i]) and d <= se[i])
            near = near or (np.isfinite(width) and d <= 1e-8 * width)
            if near:
                scale = se[i] if np.isfinite(se[i]) and se[i] > 0 else max(abs(b), 1.0)
                candidates.append((d / scale, i, j, side))
    if not candidates:
        return None
    held: dict[int, float] = {}
    edges: list[Edge] = []
    current_u, current_f, current = np.array(u, dtype=float), f0, None
    for _, i, j, side in sorted(candidates):
        if j in held:
            continue
        b = float((lo if side == "lower" else hi)[j])
        u_edge = _edge(engine, current_u, i, j, b)
        if u_edge is None:
            continue
        trial = {**held, j: u_edge}
        point, res = _held_fit(engine, current_u, trial, gtol)
        f = float(res["objective"][0])
        if not (np.isfinite(f) and f <= current_f + kernel.ROUNDING * max(1.0, abs(current_f))):
            continue
        new_edges = [*edges, Edge(i, j, u_edge, side)]
        lo_b, hi_b = bounds(point)  # the bounds where the others now are
        exact = {e.i: float((lo_b if e.side == "lower" else hi_b)[e.j]) for e in new_edges}
        if not all(_falls_towards(engine, point, e, exact[e.i]) for e in new_edges):
            continue
        held, edges = trial, new_edges
        current_u, current_f, current = point, f, res
    if current is None:
        return None
    lo_b, hi_b = bounds(current_u)
    values = {labels[e.i]: float((lo_b if e.side == "lower" else hi_b)[e.j]) for e in edges}
    sides = {labels[e.i]: e.side for e in edges}
    others = [lab for n, lab in enumerate(labels) if n not in {e.i for e in edges}]
    finding = dg.support_boundary(values, sides, others, method)
    kept = np.array(current_u, copy=True)
    for e in edges:
        if np.isfinite(engine.objective(np.where(np.arange(kept.size) == e.j, u, kept))):
            kept[e.j] = u[e.j]
    if not np.isfinite(engine.objective(kept)):
        kept = current_u
    info = {**info_from_assess(current), "held": dict(held)}
    if not current["grad"].shape[1]:  # every coordinate held: no standard error is expected
        info["hessian_ok"] = bool(current["curv"].pd[0])
    return OnBounds(finding, kept, info, tuple(edges), current_u)

"""Many fits at once: one model's NLL, gradient and Hessian vectorized over replicates.

A simulation study or a bootstrap fits the same model to hundreds of datasets
of the same shape.  :class:`BatchEngine` compiles, once, a PyTensor function
that takes B parameter vectors and B datasets (leading dimension B) and returns
B objective values, gradients and Hessians; :func:`newton` then runs B damped
Newton iterations side by side in NumPy, so the cost per fit is a few
microseconds of vectorized arithmetic instead of a Python-level optimizer loop.

Every fit the batch cannot vouch for (a Hessian that is not positive definite,
a gradient above the convergence rule, a recession direction found by the
probe) is handed back to the caller, which refits it one at a time with the full
diagnostics of :func:`pplmle.mle`.  The batch path only ever speeds up fits that
are clean; it never decides that a doubtful one is fine.

How the graph is vectorized: the model's log-density is written for one
dataset; the data containers that vary are replaced by symbolic inputs, every
shape taken from them is replaced by a constant (the batch keeps each dataset's
shape fixed), and PyTensor's ``vectorize_graph`` adds the leading batch
dimension.  Without the constant shapes, the broadcasting ``Alloc`` that PyMC
puts in each log-density becomes a Python loop over the batch (``Blockwise``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pymc.pytensorf import compile as pm_compile
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.graph.traversal import graph_inputs, io_toposort
from pytensor.tensor.shape import Shape, Shape_i

from pplmle._engine import Engine, _LazyFunctions

#: How many batch graphs this process has compiled (a worker should compile each model once).
COMPILED = 0

#: The recession probe's distances (unconstrained units), as in Engine.probe_recession.
_PROBE_STEPS = (1.0, 2.0, 4.0, 8.0, 16.0)


class BatchEngine:
    """The compiled objective of `engine`'s model, vectorized over a leading replicate dimension.

    Parameters
    ----------
    engine
        The single-fit engine of the model.
    batched
        Names of the ``pm.Data`` containers that differ between replicates; the
        others keep their current values (shared by every replicate).
    """

    def __init__(self, engine: Engine, batched: Sequence[str]):
        engine._compile()
        self.engine = engine
        model = engine.model
        shared = {v.name: v for v in model.data_vars if isinstance(v, pytensor.compile.SharedVariable)}
        unknown = [name for name in batched if name not in shared]
        if unknown:
            raise ValueError(f"the model has no pm.Data container(s) {unknown}; it has {sorted(shared)}.")
        self.batched = list(batched)
        self.shapes = {name: tuple(np.shape(shared[name].get_value())) for name in self.batched}
        stand = {name: shared[name].type() for name in self.batched}

        value_vars = engine.value_vars
        objective = -model.logp(jacobian=False)
        lik_terms = list(model.observed_RVs) + list(model.potentials)
        loglik = model.logp(vars=lik_terms, jacobian=False) if lik_terms else pt.constant(0.0)
        reported = [
            pt.cast(r, "float64").ravel()
            for r in model.replace_rvs_by_values([model[name] for name in engine.reported])
        ]
        objective, loglik, *reported = graph_replace(
            [objective, loglik, *reported], {shared[n]: stand[n] for n in self.batched}, strict=False
        )
        grads = [pt.grad(objective, v).ravel() for v in value_vars]

        def jacobian(y):
            blocks = [
                pytensor.gradient.jacobian(y, v, vectorize=True, disconnected_inputs="ignore").reshape(
                    (y.shape[0], -1)
                )
                for v in value_vars
            ]
            return pt.concatenate(blocks, axis=1)

        # one block row per variable: differentiating a concatenation would need a Split,
        # which vectorizes into a Python loop over the batch
        grad = pt.concatenate(grads)
        hess = pt.concatenate([jacobian(g) for g in grads], axis=0)
        rep = pt.concatenate(reported)
        jac = pt.concatenate([jacobian(r) for r in reported], axis=0)
        outputs = _constant_shapes(
            [objective, loglik, grad, hess, rep, jac], {stand[n]: self.shapes[n] for n in self.batched}
        )

        self._u_inputs = [pt.tensor(dtype=v.dtype, shape=(None, *v.type.shape)) for v in value_vars]
        self._d_inputs = [
            pt.tensor(dtype=stand[n].dtype, shape=(None, *stand[n].type.shape)) for n in self.batched
        ]
        replace = dict(zip(value_vars, self._u_inputs, strict=True))
        replace.update({stand[n]: d for n, d in zip(self.batched, self._d_inputs, strict=True)})
        inputs = self._u_inputs + self._d_inputs

        def build(outs):
            def compile_():
                global COMPILED
                COMPILED += 1
                return pm_compile(inputs, vectorize_graph(outs, replace=replace), on_unused_input="ignore")

            return compile_

        self._fns = _LazyFunctions({"vg": build([outputs[0], outputs[2]]), "full": build(outputs)})

    # -- evaluation ------------------------------------------------------------
    def _args(self, U: np.ndarray, data: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        B = U.shape[0]
        args, i = [], 0
        for _, shape, size in self.engine.point_map:
            args.append(np.ascontiguousarray(U[:, i : i + size]).reshape(B, *shape))
            i += size
        for name, inp in zip(self.batched, self._d_inputs, strict=True):
            args.append(np.asarray(data[name], dtype=inp.dtype))
        return args

    def value_grad(self, U: np.ndarray, data: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Objective (B,) and gradient (B, k); +inf where either is not finite."""
        with np.errstate(all="ignore"):  # trial points may overflow; non-finite rows are handled below
            f, g = self._fns["vg"](*self._args(U, data))
        f = np.broadcast_to(np.asarray(f, dtype=float), (U.shape[0],)).copy()
        g = np.asarray(g, dtype=float).reshape(U.shape)
        bad = ~(np.isfinite(f) & np.all(np.isfinite(g), axis=1))
        f[bad] = np.inf
        return f, g

    def full(self, U: np.ndarray, data: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Objective, log-likelihood, gradient, Hessian, reported values and their Jacobian."""
        B = U.shape[0]
        with np.errstate(all="ignore"):
            f, ll, g, h, rep, jac = self._fns["full"](*self._args(U, data))
        return {
            "objective": np.broadcast_to(np.asarray(f, dtype=float), (B,)).copy(),
            "loglik": np.broadcast_to(np.asarray(ll, dtype=float), (B,)).copy(),
            "grad": np.asarray(g, dtype=float).reshape(U.shape),
            "hess": np.asarray(h, dtype=float).reshape(B, U.shape[1], U.shape[1]),
            "reported": np.asarray(rep, dtype=float).reshape(B, -1),
            "jac": np.asarray(jac, dtype=float).reshape(B, -1, U.shape[1]),
        }


def batch_engine(engine: Engine, batched: Sequence[str]) -> BatchEngine | None:
    """The engine's :class:`BatchEngine` for these containers at their current shapes (compiled once).

    None when PyTensor cannot vectorize the model's graph (for example the
    indexing by class in a Categorical likelihood); the caller then fits one
    replicate at a time.
    """
    shapes = tuple((name, np.shape(engine.model[name].get_value(borrow=True))) for name in sorted(batched))
    cache = engine.__dict__.setdefault("_batch_engines", {})
    key = (tuple(batched), shapes)
    if key not in cache:
        try:
            batch = BatchEngine(engine, batched)
            batch._fns["vg"], batch._fns["full"]  # compile now: a graph may not vectorize
        except NotImplementedError:
            batch = None
        cache[key] = batch
    return cache[key]


def _constant_shapes(outputs: list, shapes: Mapping[Any, tuple[int, ...]]) -> list:
    """Replace every shape read off the variables in `shapes` by a constant."""
    replace = {}
    for node in io_toposort(list(graph_inputs(outputs)), outputs):
        if isinstance(node.op, Shape_i) and node.inputs[0] in shapes:
            replace[node.outputs[0]] = pt.constant(shapes[node.inputs[0]][node.op.i], dtype="int64")
        elif isinstance(node.op, Shape) and node.inputs[0] in shapes:
            replace[node.outputs[0]] = pt.constant(np.array(shapes[node.inputs[0]], dtype="int64"))
    return graph_replace(outputs, replace, strict=False) if replace else outputs


def _take(data: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: value[rows] for name, value in data.items()}


def _quiet(func):
    """Run `func` with NumPy's overflow/invalid warnings off: trial points may overflow, and every
    non-finite result is detected and handled explicitly."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return func(*args, **kwargs)

    return wrapper


def _finite(f: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Rows whose objective and Hessian are finite."""
    return np.isfinite(f) & np.all(np.isfinite(H.reshape(H.shape[0], -1)), axis=1)


def _newton_steps(H: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps on |H| (eigenvalues made positive, so every step goes downhill) and the
    Newton decrements sqrt(g' |H|^-1 g)."""
    w, V = np.linalg.eigh(H)
    scale = np.max(np.abs(w), axis=1, keepdims=True)
    w = np.maximum(np.abs(w), 1e-10 * np.maximum(scale, 1e-300))
    proj = np.einsum("bji,bj->bi", V, g) / w
    step = -np.einsum("bij,bj->bi", V, proj)
    decrement = np.sqrt(np.maximum(-np.einsum("bi,bi->b", g, step), 0.0))
    return step, decrement


@_quiet
def newton(
    batch: BatchEngine,
    U0: np.ndarray,
    data: Mapping[str, np.ndarray],
    *,
    maxiter: int = 100,
    tol: float = 1e-11,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimize B objectives side by side with damped Newton steps and a backtracking line search.

    A row stops when its Newton decrement (the distance to the optimum of the
    local quadratic, in standard errors) is below `tol`, or when no step
    shortens the gradient any more (the NLL is at its rounding floor).
    Returns the points and the number of iterations of each row.
    """
    U = np.array(U0, dtype=float, copy=True)
    B = U.shape[0]
    iters = np.zeros(B, dtype=int)
    done = np.zeros(B, dtype=bool)
    info = batch.full(U, data)
    f, g, H = info["objective"], info["grad"], info["hess"]
    done |= ~_finite(f, H)
    for _ in range(maxiter):
        rows = np.flatnonzero(~done)
        if rows.size == 0:
            break
        step, decrement = _newton_steps(H[rows], g[rows])
        small = decrement <= tol
        done[rows[small]] = True
        rows, step = rows[~small], step[~small]
        if rows.size == 0:
            break
        sub = _take(data, rows)
        slope = np.einsum("bi,bi->b", g[rows], step)
        gnorm = np.linalg.norm(g[rows], axis=1)
        t = np.ones(rows.size)
        accepted = np.zeros(rows.size, dtype=bool)
        for _ in range(40):
            todo = np.flatnonzero(~accepted)
            if todo.size == 0:
                break
            cand = U[rows[todo]] + t[todo, None] * step[todo]
            f_new, g_new = batch.value_grad(cand, _take(sub, todo))
            f_old = f[rows[todo]]
            armijo = f_new <= f_old + 1e-4 * t[todo] * slope[todo]
            # within rounding of the minimum the NLL cannot fall; a shorter gradient still counts
            rounding = (f_new <= f_old + 1e-12 * np.maximum(1.0, np.abs(f_old))) & (
                np.linalg.norm(g_new, axis=1) < gnorm[todo]
            )
            ok = np.isfinite(f_new) & (armijo | rounding)
            accepted[todo[ok]] = True
            t[todo[~ok]] *= 0.5
        moved = rows[accepted]
        U[moved] = U[moved] + t[accepted, None] * step[accepted]
        iters[moved] += 1
        done[rows[~accepted]] = True  # no step helps: at the rounding floor (or stuck; judged later)
        if moved.size:
            new = batch.full(U[moved], _take(data, moved))
            f[moved], g[moved], H[moved] = new["objective"], new["grad"], new["hess"]
            bad = ~(
                np.isfinite(new["objective"])
                & np.all(np.isfinite(new["hess"].reshape(moved.size, -1)), axis=1)
            )
            done[moved[bad]] = True
    return U, iters


@_quiet
def assess(
    batch: BatchEngine, U: np.ndarray, data: Mapping[str, np.ndarray], gtol: float
) -> dict[str, np.ndarray]:
    """Estimates, covariances and the convergence rule of :func:`pplmle.mle` for every row.

    ``ok`` is True where the objective is finite, the Hessian positive definite
    and well conditioned, every natural-scale gradient times its standard error
    is at most `gtol`, and the recession probe finds no direction along which
    the NLL keeps falling.
    """
    B, k = U.shape
    info = batch.full(U, data)
    H, jac, g = info["hess"], info["jac"], info["grad"]
    finite = (
        np.isfinite(info["objective"])
        & np.all(np.isfinite(H.reshape(B, -1)), axis=1)
        & np.all(np.isfinite(jac.reshape(B, -1)), axis=1)
        & np.all(np.isfinite(info["reported"]), axis=1)
    )
    m = info["reported"].shape[1]
    cov = np.full((B, m, m), np.nan)
    scaled = np.full((B, m), np.inf)
    eig = np.full((B, k), np.nan)
    vecs = np.zeros((B, k, k))
    if finite.any():
        w, V = np.linalg.eigh(H[finite])
        eig[finite], vecs[finite] = w, V
    pd = finite & (eig[:, 0] > 0) & (eig[:, -1] <= 1e14 * np.where(eig[:, 0] > 0, eig[:, 0], np.inf))
    if pd.any():
        Hinv = np.linalg.inv(H[pd])
        J = jac[pd]
        cov[pd] = J @ Hinv @ np.swapaxes(J, 1, 2)
        grad_r = np.einsum("bij,bj->bi", np.linalg.pinv(np.swapaxes(J, 1, 2)), g[pd])
        se = np.sqrt(np.clip(np.diagonal(cov[pd], axis1=1, axis2=2), 0.0, None))
        scaled[pd] = np.abs(grad_r) * np.where(np.isfinite(se), se, 1.0)
    ok = pd & np.all(scaled <= gtol, axis=1)
    rows = np.flatnonzero(ok)
    if rows.size:
        ok[
            rows[_recedes(batch, U[rows], _take(data, rows), info["objective"][rows], g[rows], vecs[rows])]
        ] = False
    return {**info, "cov": cov, "ok": ok, "scaled": scaled}


def _recedes(
    batch: BatchEngine,
    U: np.ndarray,
    data: Mapping[str, np.ndarray],
    f0: np.ndarray,
    g: np.ndarray,
    vecs: np.ndarray,
) -> np.ndarray:
    """The recession probe of :meth:`Engine.probe_recession` along the flattest direction, per row."""
    v = vecs[:, :, 0]
    slope = np.einsum("bi,bi->b", g, v)
    found = np.zeros(U.shape[0], dtype=bool)
    noise = 1e-13 * np.abs(f0)
    for sign in (1.0, -1.0):
        d = sign * np.where((slope > 0)[:, None], -v, v)
        vals = np.column_stack([batch.value_grad(U + t * d, data)[0] for t in _PROBE_STEPS])
        drops = vals - f0[:, None]
        found |= (
            np.all(np.isfinite(vals), axis=1)
            & np.all(drops < -noise[:, None], axis=1)
            & np.all(np.diff(vals, axis=1) <= noise[:, None], axis=1)
            & (f0 - vals[:, -1] > 0)
        )
    return found


@_quiet
def constrained(
    batch: BatchEngine,
    U0: np.ndarray,
    data: Mapping[str, np.ndarray],
    index: int,
    target: np.ndarray,
    *,
    maxiter: int = 50,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimize each row's objective with reported parameter `index` held at `target` (B,).

    Sequential quadratic programming: Newton steps on the KKT system
    ``[[|H|, a], [a', 0]] [du, lam] = -[g, c]`` with ``c = r_index(u) - target``
    and ``a`` its gradient, halved while the objective is not finite.  Returns
    (U, objective, ok); ``ok`` requires the constraint met to 1e-10 (relative)
    and the gradient orthogonal to it to 1e-8 of its size.
    """
    U = np.array(U0, dtype=float, copy=True)
    B, k = U.shape
    ok = np.zeros(B, dtype=bool)
    f = np.full(B, np.inf)
    active = np.ones(B, dtype=bool)
    for _ in range(maxiter):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        sub = _take(data, rows)
        info = batch.full(U[rows], sub)
        g, H = info["grad"], info["hess"]
        a = info["jac"][:, index, :]
        c = info["reported"][:, index] - target[rows]
        f[rows] = info["objective"]
        finite = _finite(info["objective"], H)
        # stationarity: the gradient is a multiple of the constraint's gradient
        lam = np.einsum("bi,bi->b", g, a) / np.maximum(np.einsum("bi,bi->b", a, a), 1e-300)
        resid = np.linalg.norm(g - lam[:, None] * a, axis=1)
        met = np.abs(c) <= 1e-10 * np.maximum(1.0, np.abs(target[rows]))
        stationary = resid <= 1e-8 * np.maximum(1.0, np.linalg.norm(g, axis=1))
        good = finite & met & stationary
        ok[rows[good]] = True
        active[rows[good | ~finite]] = False
        keep = ~(good | ~finite)
        rows, g, H, a, c = rows[keep], g[keep], H[keep], a[keep], c[keep]
        if rows.size == 0:
            break
        w, V = np.linalg.eigh(H)
        w = np.maximum(np.abs(w), 1e-10 * np.max(np.abs(w), axis=1, keepdims=True))
        Habs = np.einsum("bij,bj,bkj->bik", V, w, V)
        K = np.zeros((rows.size, k + 1, k + 1))
        K[:, :k, :k] = Habs
        K[:, :k, k] = a
        K[:, k, :k] = a
        rhs = -np.concatenate([g, c[:, None]], axis=1)
        try:
            du = np.linalg.solve(K, rhs[..., None])[..., 0][:, :k]
        except np.linalg.LinAlgError:
            active[rows] = False
            break
        t = np.ones(rows.size)
        for _ in range(30):
            f_new, _ = batch.value_grad(U[rows] + t[:, None] * du, _take(data, rows))
            bad = ~np.isfinite(f_new)
            if not bad.any():
                break
            t[bad] *= 0.5
        U[rows] = U[rows] + t[:, None] * du
    return U, f, ok

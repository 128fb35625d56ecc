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

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import pytensor
import pytensor.tensor as pt
from pymc.pytensorf import compile as pm_compile
from pytensor.graph.basic import Variable
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.graph.traversal import graph_inputs, io_toposort
from pytensor.tensor.shape import Shape, Shape_i
from pytensor.tensor.variable import TensorVariable

from pplmle.pymc import kernel
from pplmle.pymc.engine import Engine, LazyFunctions, require_float64

#: How many batch graphs this process has compiled (a worker should compile each model once).
COMPILED = 0


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
        engine.compile()
        require_float64(engine.model, "Fitting many datasets at once (simulate, bootstrap)")
        self.engine = engine
        model = engine.model
        # a model's data containers always have names: `is not None` only narrows the type
        shared = {
            v.name: v
            for v in model.data_vars
            if isinstance(v, pytensor.compile.SharedVariable) and v.name is not None
        }
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
        to_stand: dict[Variable, Variable] = {shared[n]: stand[n] for n in self.batched}
        objective, loglik, *reported = graph_replace([objective, loglik, *reported], to_stand, strict=False)
        # one wrt (with the default return_disconnected="zero") gives one tensor, not a list or None
        grads = [cast(TensorVariable, pt.grad(objective, v)).ravel() for v in value_vars]

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
            [pt.cast(v, "float64") for v in (objective, loglik, grad, hess, rep, jac)],
            {stand[n]: self.shapes[n] for n in self.batched},
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
                return pm_compile(
                    inputs,
                    vectorize_graph(outs, replace=replace),
                    on_unused_input="ignore",
                    allow_input_downcast=True,
                )

            return compile_

        self._fns = LazyFunctions({"vg": build([outputs[0], outputs[2]]), "full": build(outputs)})

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
    replace: dict[Variable, Variable] = {}
    for node in io_toposort(list(graph_inputs(outputs)), outputs):
        if isinstance(node.op, Shape_i) and node.inputs[0] in shapes:
            replace[node.outputs[0]] = pt.constant(shapes[node.inputs[0]][node.op.i], dtype="int64")
        elif isinstance(node.op, Shape) and node.inputs[0] in shapes:
            replace[node.outputs[0]] = pt.constant(np.array(shapes[node.inputs[0]], dtype="int64"))
    return graph_replace(outputs, replace, strict=False) if replace else outputs


def _take(data: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: value[rows] for name, value in data.items()}


class _Rows:
    """A batch engine and the datasets of a batch, seen by the kernel as B problems."""

    def __init__(self, batch: BatchEngine, data: Mapping[str, np.ndarray]):
        self.batch, self.data = batch, data

    def value_grad(self, U: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.batch.value_grad(U, _take(self.data, rows))

    def full(self, U: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
        return self.batch.full(U, _take(self.data, rows))


def newton(
    batch: BatchEngine,
    U0: np.ndarray,
    data: Mapping[str, np.ndarray],
    *,
    maxiter: int = kernel.MAXITER,
    tol: float = kernel.GTOL,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimize B objectives side by side with the kernel's Newton method
    (:func:`pplmle.pymc.kernel.newton`). Returns the points and the iterations of each row."""
    fit = kernel.newton(_Rows(batch, data), U0, tol=tol, maxiter=maxiter)
    return fit.U, fit.iters


def assess(
    batch: BatchEngine, U: np.ndarray, data: Mapping[str, np.ndarray], gtol: float
) -> dict[str, np.ndarray]:
    """Estimates, covariances and the convergence rule of :func:`pplmle.mle` for every row.

    ``ok`` is True where the kernel's verdict (:func:`pplmle.pymc.kernel.assess`: finite, a
    positive-definite Hessian, a Newton decrement of at most `gtol`) holds and the recession
    probe finds no direction along which the NLL keeps falling.
    """
    fun = _Rows(batch, data)
    res = kernel.assess(fun, U, gtol)
    ok = res["ok"].copy()
    rows = np.flatnonzero(ok)
    if rows.size:
        c = res["curv"]
        sub = c.rows(rows)
        found, _ = kernel.recession(fun, U[rows], rows, res["objective"][rows], res["grad"][rows], sub)
        ok[rows[found]] = False
    return {**res, "ok": ok}


def constrained(
    batch: BatchEngine,
    U0: np.ndarray,
    data: Mapping[str, np.ndarray],
    index: int,
    target: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimize each row's objective with reported parameter `index` held at `target` (B,)
    (:func:`pplmle.pymc.kernel.constrained`). Returns (U, objective, ok)."""
    return kernel.constrained(_Rows(batch, data), U0, index, target)

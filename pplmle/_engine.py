"""The PyMC layer: flat priors, compiled objective, find_MAP and polishing.

An :class:`Engine` wraps one PyMC model that is to be optimized (the flattened
copy of a user's model for the MLE, the model itself for the MAP).  It compiles
its functions once, lazily, and reuses them for every fit; new data enters
through the model's ``pm.Data`` containers, so a refit never recompiles.

Why flat priors + ``jacobian=False`` give the MLE: the log-density that
``pm.find_MAP`` maximizes is ``log p(theta) + log L(theta)`` evaluated on the
natural scale of every parameter (no log-Jacobian term for the transforms).
With ``log p(theta)`` constant on the support, its maximizer is the maximizer of
the likelihood itself.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import scipy.linalg
import scipy.optimize
from pymc.logprob.abstract import _logprob
from pymc.model.fgraph import (
    ModelDeterministic,
    ModelFreeRV,
    fgraph_from_model,
    model_from_fgraph,
)
from pymc.pytensorf import compile as pm_compile
from pymc.pytensorf import join_nonshared_inputs
from pytensor.graph.replace import graph_replace, vectorize_graph

from pplmle._validate import check_nan_policy

#: Default convergence tolerance: the natural-scale gradient times the standard
#: error, i.e. (for a locally quadratic NLL) the distance to the optimum in
#: standard errors.
GTOL = 1e-6

_FLAT_CLASSES: dict[type, type] = {}


def _flat_class(cls: type) -> type:
    """A subclass of the RV Op `cls` whose log-density is 0 on its support, -inf off it."""
    if cls not in _FLAT_CLASSES:
        sub = type(f"Flat{cls.__name__}", (cls,), {"__module__": __name__})

        @_logprob.register(sub)
        def _flat_logprob(op, values, *inputs, **kwargs):
            parent = copy.copy(op)
            parent.__class__ = cls
            original = _logprob(parent, values, *inputs, **kwargs)
            outside = pt.isinf(original) | pt.isnan(original)
            return pt.switch(outside, -np.inf, pt.zeros_like(original))

        _FLAT_CLASSES[cls] = sub
    return _FLAT_CLASSES[cls]


def imputed_variables(model: pm.Model) -> dict[str, int]:
    """Observed variables whose NaN entries PyMC turned into parameters, with the count."""
    free = {rv.name: rv for rv in model.free_RVs}
    observed = {rv.name for rv in model.observed_RVs}
    out = {}
    for name, rv in free.items():
        if name.endswith("_unobserved") and name[: -len("_unobserved")] + "_observed" in observed:
            out[name[: -len("_unobserved")]] = int(np.prod(_static_shape(rv, model)))
    return out


def _static_shape(rv, model) -> tuple[int, ...]:
    shape = rv.type.shape
    if all(s is not None for s in shape):
        return tuple(shape)
    return tuple(model.eval_rv_shapes()[rv.name])


def check_model(model: pm.Model, nan_policy: str = "raise") -> dict[str, int]:
    """Refuse models pplmle cannot estimate honestly; return the imputed variables."""
    check_nan_policy(nan_policy)
    if not isinstance(model, pm.Model):
        raise TypeError(f"`model` must be a pplmle family or a pm.Model; got {type(model).__name__}.")
    imputed = imputed_variables(model)
    if imputed and nan_policy == "raise":
        detail = ", ".join(f"`{k}` has {v} missing value(s)" for k, v in imputed.items())
        raise ValueError(
            f"Observed data contain NaN: {detail}. PyMC would silently treat them as "
            "parameters and estimate them; pass nan_policy='omit' to drop them from the "
            "likelihood instead."
        )
    dropped = {f"{k}_unobserved" for k in imputed}
    discrete = [
        rv.name
        for rv in model.free_RVs
        if rv.name not in dropped and rv.type.dtype.startswith(("int", "uint", "bool"))
    ]
    if discrete:
        raise ValueError(
            f"Free variable(s) {discrete} are discrete: MLE over discrete parameters is not "
            "supported. Marginalize them out of the model (for example with "
            "pymc_extras.marginalize) and estimate the continuous parameters."
        )
    if not [rv for rv in model.free_RVs if rv.name not in dropped]:
        raise ValueError("`model` has no free continuous variables to estimate.")
    return imputed


def flatten_priors(model: pm.Model, drop_imputed: Sequence[str] = ()) -> tuple[pm.Model, dict]:
    """A copy of `model` in which every free variable's prior is flat on its support.

    The likelihood, the transforms and the support of every free variable are
    kept; the prior density is replaced by 0 inside the support (-inf outside).
    Free variables created by PyMC's NaN imputation for the observed variables in
    `drop_imputed` are removed, so those entries simply leave the likelihood.
    The user's model is not modified.

    Returns the flat model and a map from the user's shared data variables to
    the copy's, so data changed with ``pm.set_data`` can be carried over.
    """
    fgraph, memo = fgraph_from_model(model)
    shared_map = {
        orig: memo[orig]
        for orig in model.data_vars
        if isinstance(orig, pytensor.compile.SharedVariable) and orig in memo
    }
    drop_free = {f"{name}_unobserved" for name in drop_imputed}
    for out in list(fgraph.outputs):
        node = out.owner
        if node is None:
            continue
        if isinstance(node.op, ModelDeterministic) and out.name in drop_imputed:
            fgraph.remove_output(fgraph.outputs.index(out))
        elif isinstance(node.op, ModelFreeRV):
            rv = node.inputs[0]
            if out.name in drop_free:
                shape = _static_shape(model[out.name], model)
                fgraph.replace(out, pt.zeros(shape, dtype=out.dtype), import_missing=True)
                continue
            op = copy.copy(rv.owner.op)
            op.__class__ = _flat_class(type(rv.owner.op))
            new_rv = op.make_node(*rv.owner.inputs).outputs[rv.owner.outputs.index(rv)]
            new_rv.name = rv.name
            fgraph.replace(rv, new_rv, import_missing=True)
    flat = model_from_fgraph(fgraph, mutate_fgraph=True)
    shared_map = {orig: flat[new.name] for orig, new in shared_map.items() if new.name in flat.named_vars}
    return flat, shared_map


def _jacobian(y, wrt, n_wrt: int, unroll: int = 16):
    """d y / d wrt for a vector `y`: one gradient per element, unrolled, when there are few
    (a Scan over the elements takes far longer to compile); PyTensor's Scan otherwise."""
    n_y = y.type.shape[0]
    if n_y is None:
        try:
            n_y = int(pt.get_underlying_scalar_constant_value(y.shape[0]))
        except pt.NotScalarConstantError:
            n_y = None
    if n_y is not None and n_y <= unroll and n_wrt <= unroll:
        return pt.stack([pt.grad(y[i], wrt) for i in range(n_y)]).reshape((n_y, n_wrt))
    return pytensor.gradient.jacobian(y, wrt)


class _LazyFunctions(dict):
    """Compiled functions by name, each compiled by its builder the first time it is asked for."""

    def __init__(self, builders: Mapping[str, Callable[[], Callable]]):
        super().__init__()
        self._builders = dict(builders)

    def __missing__(self, name: str) -> Callable:
        self[name] = self._builders[name]()
        return self[name]


class Engine:
    """Compiled objective, gradient and Hessian of one PyMC model.

    Parameters
    ----------
    model
        The model to optimize.  Its log-density (``jacobian=False``) is the
        objective; the log-likelihood is the sum of its observed terms and
        potentials.
    reported
        Names of the model variables reported as parameters (free variables or
        Deterministics); defaults to the free variables.
    """

    def __init__(self, model: pm.Model, reported: Sequence[str] | None = None):
        self.model = model
        self.value_vars = [model.rvs_to_values[rv] for rv in model.free_RVs]
        self.reported = list(reported) if reported is not None else [rv.name for rv in model.free_RVs]
        self._fns: dict[str, Callable] | None = None
        self._default_natural: dict[str, np.ndarray] | None = None  # the initial point, natural scale

    # -- compilation -----------------------------------------------------
    def _compile(self) -> dict[str, Callable]:
        if self._fns is not None:
            return self._fns
        model = self.model
        ip = model.initial_point()
        self.point_map = [(v.name, np.shape(ip[v.name]), int(np.size(ip[v.name]))) for v in self.value_vars]
        self.u_default = np.concatenate([np.ravel(ip[name]) for name, _, _ in self.point_map]).astype(float)
        objective = -model.logp(jacobian=False)
        lik_terms = list(model.observed_RVs) + list(model.potentials)
        loglik = model.logp(vars=lik_terms, jacobian=False) if lik_terms else pt.constant(0.0)
        rep = model.replace_rvs_by_values([model[name] for name in self.reported])
        if all(None not in r.type.shape for r in rep):  # static shapes: no function to compile
            self.reported_shapes = [tuple(int(s) for s in r.type.shape) for r in rep]
        else:
            self.reported_shapes = [
                tuple(int(s) for s in v)
                for v in model.compile_fn(
                    inputs=self.value_vars, outs=[r.shape for r in rep], on_unused_input="ignore"
                )(ip)
            ]
        rep_vec = pt.concatenate([pt.cast(r, "float64").ravel() for r in rep])
        (obj_j, ll_j, rep_j), u = join_nonshared_inputs(ip, [objective, loglik, rep_vec], self.value_vars)
        grad = pt.grad(obj_j, u)
        hess = _jacobian(grad, u, self.u_default.size)
        jac = _jacobian(rep_j, u, self.u_default.size)

        # natural-scale (free variable) -> unconstrained vector, for starts and nllf
        free = list(model.free_RVs)
        nat_inputs = [rv.type() for rv in free]
        to_nat = dict(zip(free, nat_inputs, strict=True))
        forward = []
        for rv, x in zip(free, nat_inputs, strict=True):
            tr = model.rvs_to_transforms.get(rv)
            out = x if tr is None else tr.forward(x, *rv.owner.inputs)
            forward.append(pt.cast(out, "float64").ravel())
        forward = graph_replace(forward, to_nat, strict=False)
        self.free_names = [rv.name for rv in free]

        def fn(ins, outs):
            return lambda: pm_compile(ins, outs, on_unused_input="ignore")

        self._graphs = {"loglik": loglik}
        # each function is compiled on first use only: a surface needs neither the Hessian
        # nor the optimizer's functions, and a cold compile of the Hessian takes seconds
        self._fns = _LazyFunctions(
            {
                "vg": fn([u], [obj_j, grad]),
                "info": fn([u], [obj_j, ll_j, grad, hess, rep_j, jac]),
                "forward": fn(nat_inputs, pt.concatenate(forward)),
                "natural": fn(self.value_vars, model.replace_rvs_by_values(free)),
                "rep": fn([u], [rep_j, jac]),
                "loglik_batch": self._compile_loglik_batch,
            }
        )
        return self._fns

    def _extra(self, name: str) -> Callable:
        """The compiled function `name` (compiled on first use)."""
        return self._compile()[name]

    def _compile_loglik_batch(self) -> Callable:
        """log-likelihood for a batch of natural-scale points: one input per free variable,
        with a leading batch dimension; vectorized by PyTensor (no Python loop over points)."""
        model = self.model
        free = list(model.free_RVs)
        nat = [rv.type() for rv in free]
        to_value = {}
        for rv, x in zip(free, nat, strict=True):
            tr = model.rvs_to_transforms.get(rv)
            to_value[model.rvs_to_values[rv]] = x if tr is None else tr.forward(x, *rv.owner.inputs)
        loglik = graph_replace(self._graphs["loglik"], to_value, strict=False)
        loglik = graph_replace(loglik, dict(zip(free, nat, strict=True)), strict=False)
        batch = [
            pt.tensor(dtype="float64", shape=(None, *x.type.shape), name=rv.name)
            for rv, x in zip(free, nat, strict=True)
        ]
        out = vectorize_graph(
            loglik, replace={x: pt.cast(b, x.dtype) for x, b in zip(nat, batch, strict=True)}
        )
        return pm_compile(batch, out, on_unused_input="ignore")

    def loglik_batch(self, natural: Mapping[str, np.ndarray], chunk: int) -> np.ndarray:
        """Log-likelihood at G natural-scale points of the free variables, `chunk` points at a time."""
        fn = self._extra("loglik_batch")
        arrays = [np.asarray(natural[name], dtype=float) for name in self.free_names]
        size = arrays[0].shape[0]
        out = np.empty(size)
        for start in range(0, size, chunk):
            stop = min(start + chunk, size)
            out[start:stop] = fn(*[a[start:stop] for a in arrays])
        return out

    def constrained_minimum(
        self, u0: np.ndarray, index: Sequence[int], values: Sequence[float]
    ) -> tuple[np.ndarray, float, bool]:
        """Minimize the objective with reported parameters `index` held at `values` (SLSQP).

        Returns (u, objective, success); success requires the constraints met to
        1e-9 (relative) and a finite objective.
        """
        rep = self._extra("rep")
        index, target = list(index), np.asarray(values, dtype=float)

        def cons(u):
            return np.asarray(rep(u)[0], dtype=float)[index] - target

        def cons_jac(u):
            return np.atleast_2d(np.asarray(rep(u)[1], dtype=float))[index]

        res = scipy.optimize.minimize(
            self._value_grad,
            u0,
            jac=True,
            method="SLSQP",
            constraints=[{"type": "eq", "fun": cons, "jac": cons_jac}],
            options={"ftol": 1e-12, "maxiter": 300},
        )
        u = res.x
        # SLSQP stalls near rounding level: finish with Newton steps on the KKT system
        # [[H, A^T], [A, 0]] [du, lam] = -[g, c(u)], kept while the KKT residual shrinks
        k = len(index)

        def kkt(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            _, g = self._value_grad(u)
            A = cons_jac(u)
            if not (np.all(np.isfinite(g)) and np.all(np.isfinite(A))):
                return np.full(u.size + k, np.inf), A
            lam = np.linalg.lstsq(A.T, g, rcond=None)[0]
            return np.concatenate([g - A.T @ lam, cons(u)]), A

        if not np.all(np.isfinite(u)):
            return u, np.inf, False
        resid, A = kkt(u)
        for _ in range(5):
            H = self._hessian_raw(u)
            if not (np.all(np.isfinite(H)) and np.all(np.isfinite(resid))):
                break
            _, g = self._value_grad(u)
            K = np.block([[H, A.T], [A, np.zeros((k, k))]])
            try:
                step = np.linalg.solve(K, -np.concatenate([g, cons(u)]))[: u.size]
            except np.linalg.LinAlgError:
                break
            new_resid, new_A = kkt(u + step)
            if not np.linalg.norm(new_resid) < np.linalg.norm(resid):
                break
            u, resid, A = u + step, new_resid, new_A
        f = self.objective(u)
        met = np.all(np.abs(cons(u)) <= 1e-9 * np.maximum(1.0, np.abs(target)))
        return u, f, bool(np.isfinite(f) and met)

    @property
    def n_free(self) -> int:
        self._compile()
        return self.u_default.size

    # -- data ------------------------------------------------------------
    def set_data(self, values: Mapping[str, np.ndarray]) -> None:
        """Put new values in the model's ``pm.Data`` containers (no recompilation)."""
        for name, value in values.items():
            container = self.model[name]
            container.set_value(np.asarray(value, dtype=container.type.dtype))

    def data_snapshot(self) -> dict[str, np.ndarray]:
        return {
            var.name: var.get_value(borrow=True)
            for var in self.model.data_vars
            if isinstance(var, pytensor.compile.SharedVariable)
        }

    # -- conversions -----------------------------------------------------
    def to_unconstrained(self, natural: Mapping[str, Any]) -> np.ndarray:
        """Unconstrained vector for natural-scale values of the free variables.

        Variables missing from `natural` take the model's initial point.
        """
        fns = self._compile()
        unknown = set(natural) - set(self.free_names)
        if unknown:
            raise ValueError(
                f"`start` names unknown parameter(s) {sorted(unknown)}; the model's free "
                f"parameters are {self.free_names}."
            )
        args = []
        for name, rv in zip(self.free_names, self.model.free_RVs, strict=True):
            if name in natural and None not in rv.type.shape:
                value, shape = natural[name], tuple(rv.type.shape)
            else:  # the model's initial point (compiles the back-transform once)
                if self._default_natural is None:
                    self._default_natural = self.natural_from_u(self.u_default)
                value = natural.get(name, self._default_natural[name])
                shape = np.shape(self._default_natural[name])
            arr = np.asarray(value, dtype=rv.type.dtype)
            if arr.shape != shape:
                try:
                    arr = np.broadcast_to(arr, shape).copy()
                except ValueError:
                    raise ValueError(f"`start[{name!r}]` must have shape {shape}; got {arr.shape}.") from None
            args.append(arr)
        u = np.asarray(fns["forward"](*args), dtype=float)
        if not np.all(np.isfinite(u)):
            bad = [n for n, a in zip(self.free_names, args, strict=True) if not np.all(np.isfinite(a))]
            raise ValueError(
                f"`start` lies outside the support of the parameters (or is not finite): "
                f"check {bad or self.free_names}."
            )
        return u

    def natural_from_u(self, u: np.ndarray) -> dict[str, np.ndarray]:
        """Natural-scale values of the free variables at the unconstrained point `u`."""
        fns = self._compile()
        point = self.point_from_u(u)
        values = fns["natural"](*[point[v.name] for v in self.value_vars])
        return {name: np.asarray(v) for name, v in zip(self.free_names, values, strict=True)}

    def point_from_u(self, u: np.ndarray) -> dict[str, np.ndarray]:
        self._compile()
        point, i = {}, 0
        for name, shape, size in self.point_map:
            point[name] = np.reshape(u[i : i + size], shape)
            i += size
        return point

    def unflatten(self, vec: np.ndarray) -> dict[str, float | np.ndarray]:
        """Split a flat vector of reported values into named parameters."""
        out, i = {}, 0
        for name, shape in zip(self.reported, self.reported_shapes, strict=True):
            size = int(np.prod(shape))
            chunk = np.asarray(vec[i : i + size], dtype=float)
            out[name] = float(chunk[0]) if shape == () else chunk.reshape(shape).copy()
            i += size
        return out

    # -- evaluation and optimization ----------------------------------------
    def objective(self, u: np.ndarray) -> float:
        return float(self._compile()["vg"](u)[0])

    def _value_grad(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = self._fns["vg"](u)
        f, g = float(f), np.asarray(g, dtype=float)
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            return np.inf, np.zeros_like(u)  # scipy's line searches back off from here
        return f, g

    def _hessian_raw(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(self._fns["info"](u)[3], dtype=float)

    def _hessian(self, u: np.ndarray) -> np.ndarray:
        """The Hessian for scipy's polish; a ValueError (caught there) when it is not finite."""
        hess = self._hessian_raw(u)
        if not np.all(np.isfinite(hess)):
            raise ValueError("the Hessian is not finite")
        return hess

    def optimize(
        self,
        u0: np.ndarray,
        *,
        use_find_map: bool,
        maxeval: int = 5000,
        progressbar: bool = False,
    ) -> tuple[np.ndarray, int, str, bool, np.ndarray]:
        """Minimize the objective from `u0`.

        Returns (u, n_eval, message, budget_exhausted, u_loose), where `u_loose` is
        where the first optimizer stopped under its own (looser) tolerance.
        """
        self._compile()
        n_eval, message, exhausted = 0, "", False
        u = np.asarray(u0, dtype=float)
        if use_find_map:
            # natural-scale values by RV name: PyMC cannot invert a transform whose bounds
            # depend on other variables when the start is given on the transformed scale
            start = self.natural_from_u(u)
            logger = logging.getLogger("pymc")
            level = logger.level
            logger.setLevel(logging.ERROR)
            try:
                point, raw = pm.find_MAP(
                    start=start,
                    model=self.model,
                    method="L-BFGS-B",
                    maxeval=maxeval,
                    progressbar=progressbar,
                    return_raw=True,
                    include_transformed=True,
                )
            finally:
                logger.setLevel(level)
            u = np.concatenate([np.ravel(point[name]) for name, _, _ in self.point_map]).astype(float)
            if not (np.all(np.isfinite(u)) and np.isfinite(self.objective(u))):
                # find_MAP walked into a non-finite point (an unbounded likelihood does this);
                # scipy on our objective treats non-finite values as +inf and stays finite
                u, n_fb, _, exhausted, _ = self.optimize(u0, use_find_map=False, maxeval=maxeval)
                return u, n_fb, "find_MAP ended at a non-finite point; L-BFGS-B restarted", exhausted, u
            if raw is None:
                exhausted = True
                message = f"find_MAP stopped: the evaluation budget maxeval={maxeval} was used up"
            else:
                n_eval += int(raw.get("nfev", 0))
                message = f"find_MAP (L-BFGS-B): {raw.get('message', '')}"
        else:
            res = scipy.optimize.minimize(
                self._value_grad,
                u,
                jac=True,
                method="L-BFGS-B",
                options={"maxfun": maxeval, "maxiter": maxeval},
            )
            u, n_eval = res.x, n_eval + int(res.nfev)
            exhausted = res.nfev >= maxeval
            message = f"L-BFGS-B: {res.message}"
        u_loose = u.copy()
        if np.all(np.isfinite(u)) and np.isfinite(self.objective(u)):
            try:
                polish = scipy.optimize.minimize(
                    self._value_grad,
                    u,
                    jac=True,
                    hess=self._hessian,
                    method="trust-exact",
                    options={"gtol": 1e-10, "maxiter": 200},
                )
            except (ValueError, np.linalg.LinAlgError) as exc:  # a non-finite Hessian on the way
                message += f"; trust-exact polish skipped ({exc})"
            else:
                if np.isfinite(polish.fun) and polish.fun <= self.objective(u) + 1e-12 * max(
                    1.0, abs(polish.fun)
                ):
                    u = polish.x
                n_eval += int(polish.nfev)
                message += f"; polished with trust-exact ({polish.nit} iterations)"
            u, steps = self._newton_on_gradient(u)
            message += f" and {steps} Newton step(s)"
        return u, n_eval, message, exhausted, u_loose

    def _newton_on_gradient(self, u: np.ndarray, max_steps: int = 8) -> tuple[np.ndarray, int]:
        """Newton steps that drive the gradient to zero.

        Close to the optimum the NLL changes by less than its rounding error, so
        methods that judge progress by the NLL (trust regions, line searches)
        stop there; the gradient is still accurate, and a step is kept while it
        shrinks the gradient without raising the NLL beyond rounding.
        """
        f, g = self._value_grad(u)
        for step in range(max_steps):
            if not np.all(np.isfinite(g)) or not np.any(g):
                return u, step
            try:
                chol = scipy.linalg.cho_factor(self._hessian(u), check_finite=True)
            except (np.linalg.LinAlgError, ValueError):
                return u, step
            u_new = u - scipy.linalg.cho_solve(chol, g)
            f_new, g_new = self._value_grad(u_new)
            if not (
                np.isfinite(f_new)
                and f_new <= f + 1e-12 * max(1.0, abs(f))
                and np.linalg.norm(g_new) < np.linalg.norm(g)
            ):
                return u, step
            u, f, g = u_new, f_new, g_new
        return u, max_steps

    def probe_recession(self, u: np.ndarray, path: np.ndarray | None = None) -> dict[str, Any] | None:
        """Look for a direction from `u` along which the NLL keeps falling: a drifting estimate.

        A tighter stopping rule would move the estimate along such a direction
        for ever.  The directions tried are the flattest one (the eigenvector of
        the smallest Hessian eigenvalue, pointed downhill) and the path the
        polish took from the first optimizer's stopping point.  Along each, the
        NLL is evaluated 1, 2, 4, 8 and 16 units out on the unconstrained scale;
        at a proper minimum it rises (quadratically), so a drop at every
        distance, beyond rounding, means the likelihood is still increasing.

        Returns None, or a dict with the direction, the unconstrained points at
        4, 8 and 16 units and the NLL there.
        """
        f0, g = self._value_grad(u)
        if not np.isfinite(f0) or u.size == 0:
            return None
        directions = []
        hess = self._hessian_raw(u)
        if np.all(np.isfinite(hess)):
            v = np.linalg.eigh(hess)[1][:, 0]
            slope = float(g @ v)
            if abs(slope) > 0:
                directions.append(-np.sign(slope) * v)
            else:
                directions.extend([v, -v])
        if path is not None and np.all(np.isfinite(path)) and np.linalg.norm(path) > 0.5:
            directions.append(path / np.linalg.norm(path))
        if not directions and np.all(np.isfinite(g)) and np.any(g):  # no usable Hessian
            directions.append(-g / np.linalg.norm(g))
        noise = 1e-13 * abs(f0)
        ts = (1.0, 2.0, 4.0, 8.0, 16.0)
        for d in directions:
            vals = np.array([self.objective(u + t * d) for t in ts])
            drops = vals - f0
            if (
                np.all(np.isfinite(vals))
                and np.all(drops < -noise)
                and np.all(np.diff(vals) <= noise)
                and f0 - vals[-1] > 0
            ):
                return {"direction": d, "points": [u + t * d for t in ts[2:]], "nll": vals[2:], "nll0": f0}
        return None

    def info(self, u: np.ndarray) -> dict[str, Any]:
        """Objective, log-likelihood, natural-scale gradient and covariance at `u`."""
        obj, ll, grad, hess, rep, jac = self._compile()["info"](u)
        grad = np.asarray(grad, dtype=float)
        hess = np.asarray(hess, dtype=float)
        jac = np.atleast_2d(np.asarray(jac, dtype=float))
        rep = np.asarray(rep, dtype=float)
        # gradient w.r.t. the reported parameters: grad_u = J^T grad_r (min-norm solution,
        # which for a simplex is the gradient along the simplex)
        cov = np.full((rep.size, rep.size), np.nan)
        ok, why = False, ""
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(jac))):
            grad_r = np.full(rep.size, np.nan)
        else:
            grad_r = np.linalg.lstsq(jac.T, grad, rcond=None)[0] if jac.size else np.zeros(0)
        if not (np.all(np.isfinite(hess)) and np.all(np.isfinite(jac))):
            why = "the Hessian of the NLL is not finite at the estimate"
        else:
            try:
                chol = np.linalg.cholesky(hess)
            except np.linalg.LinAlgError:
                eig = np.linalg.eigvalsh(hess)
                why = (
                    "the Hessian of the NLL is not positive definite at the estimate "
                    f"(smallest eigenvalue {eig[0]:.3g}): the optimum is not a strict "
                    "minimum, or some parameters are not identified"
                )
            else:
                cond = np.linalg.cond(hess)
                if cond > 1e14:
                    why = (
                        f"the Hessian of the NLL is numerically singular (condition number "
                        f"{cond:.3g}): some parameters are not identified"
                    )
                else:
                    a = scipy.linalg.solve_triangular(chol, jac.T, lower=True)
                    cov = a.T @ a
                    ok = True
        return {
            "objective": float(obj),
            "loglik": float(ll),
            "grad_natural": grad_r,
            "reported": rep,
            "cov": cov,
            "hessian_ok": ok,
            "grad_u": grad,
            "hess_u": hess,
            "hessian_message": why,
        }

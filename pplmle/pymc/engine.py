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

import contextlib
import copy
import functools
import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.logprob.abstract import _logprob
from pymc.model.fgraph import (
    ModelDeterministic,
    ModelFreeRV,
    fgraph_from_model,
    model_from_fgraph,
)
from pymc.pytensorf import compile as pm_compile
from pymc.pytensorf import join_nonshared_inputs
from pymc.util import get_default_varnames
from pytensor import clone_replace
from pytensor.compile.mode import FAST_COMPILE
from pytensor.compile.ops import view_op
from pytensor.gradient import disconnected_grad
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.tensor.random.basic import NormalRV
from pytensor.tensor.variable import TensorVariable

from pplmle.core import messages
from pplmle.core.validate import check_nan_policy
from pplmle.pymc import kernel

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


def _inside_support(model: pm.Model, point_map: list, u: np.ndarray) -> np.ndarray:
    """The model's initial point `u` (unconstrained), with every non-finite entry of a variable
    without an ``initval`` set to 0.

    A support point on the edge of a transform's domain has no finite unconstrained value (equal
    means of an ordered vector, ``pm.Normal("c", 0, 10, shape=2, transform=ordered)``, give the
    log-increment log 0); every finite unconstrained value lies inside the support, and 0 is the
    transform's centre (for the ordered vector: increments of 1). A user's ``initval`` is kept as
    it is, so that a start outside the support is reported rather than moved.
    """
    given = {model.rvs_to_values[rv].name for rv, v in model.rvs_to_initial_values.items() if v is not None}
    out, i = np.array(u, dtype=float, copy=True), 0
    for name, _, size in point_map:
        block = out[i : i + size]
        if name not in given:
            block[~np.isfinite(block)] = 0.0
        i += size
    return out


def _without_initvals(model: pm.Model) -> pm.Model:
    """A shallow stand-in for `model` that declares no initial values (PyMC's conversion to a
    FunctionGraph refuses a model with any); the user's model is not modified."""
    shallow = object.__new__(type(model))
    shallow.__dict__.update(model.__dict__)
    # an adopted model's compiled functions, and the engine that serves them, stay its own
    shallow.__dict__.pop("_find_map_functions", None)
    shallow.__dict__.pop("_serving_engine", None)
    shallow.rvs_to_initial_values = dict.fromkeys(model.rvs_to_initial_values)
    return shallow


def _initval(name: str, value: Any) -> Any:
    """A user's ``initval`` as the copy can hold it: a number, an array or a strategy name; a
    symbolic one is evaluated (it must not depend on the model's variables)."""
    if not isinstance(value, pytensor.graph.basic.Variable):
        return value
    try:
        return value.eval()
    except Exception as exc:  # a graph of the model's variables: PyTensor says which input is missing
        raise ValueError(messages.symbolic_initval(name, type(exc).__name__)) from None


def flatten_priors(model: pm.Model, drop_imputed: Sequence[str] = ()) -> tuple[pm.Model, dict]:
    """A copy of `model` in which every free variable's prior is flat on its support.

    The likelihood, the transforms and the support of every free variable are
    kept; the prior density is replaced by 0 inside the support (-inf outside).
    Free variables created by PyMC's NaN imputation for the observed variables in
    `drop_imputed` are removed, so those entries simply leave the likelihood.
    The user's model is not modified. The user's ``initval`` values are kept: they are the copy's initial
    point, so the fit starts from them.

    Returns the flat model and a map from the user's shared data variables to
    the copy's, so data changed with ``pm.set_data`` can be carried over.
    """
    # the user's initvals (the start of the fit) are carried over to the copy after the conversion
    initvals = {rv.name: v for rv, v in model.rvs_to_initial_values.items() if v is not None}
    fgraph, memo = fgraph_from_model(_without_initvals(model) if initvals else model)
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
    _separate_shared_deterministics(fgraph)
    flat = model_from_fgraph(fgraph, mutate_fgraph=True)
    for name, value in initvals.items():
        if name in flat.named_vars and flat[name] in flat.free_RVs:
            flat.set_initval(flat[name], _initval(name, value))
    shared_map = {orig: flat[new.name] for orig, new in shared_map.items() if new.name in flat.named_vars}
    return adopt(flat), shared_map


def _separate_shared_deterministics(fgraph) -> None:
    """Give each Deterministic its own variable: a Deterministic of another one
    (``pm.Deterministic("stds", stds)`` with the ``stds`` of ``pm.LKJCholeskyCov(...,
    compute_corr=True)``, itself the Deterministic ``chol_stds``) shares that one's variable in the
    FunctionGraph, and PyMC's ``model_from_fgraph`` would then name the one variable twice and lose
    the second name. A view of the shared variable keeps both."""
    seen = set()
    for out in list(fgraph.outputs):
        node = out.owner
        if node is None or not isinstance(node.op, ModelDeterministic):
            continue
        var = node.inputs[0]
        if var in seen:
            new = node.op.make_node(view_op(var), *node.inputs[1:]).outputs[0]
            new.name = out.name
            fgraph.replace(out, new, import_missing=True)
        seen.add(var)


def parameter_dim_lengths(model: pm.Model) -> tuple[tuple[str, int], ...]:
    """The dims of the free variables whose lengths can change (PyMC's coords, shared
    variables), with their current lengths: an engine is built for these."""
    out: dict[str, int] = {}
    for rv in model.free_RVs:
        for dim in model.named_vars_to_dims.get(rv.name, ()) or ():
            length = model.dim_lengths.get(dim) if dim is not None else None
            if isinstance(length, pytensor.compile.SharedVariable) and dim not in out:
                out[dim] = int(length.get_value())
    return tuple(out.items())


def parameter_dim_constants(model: pm.Model) -> dict:
    """The shared lengths of the free variables' dims, each mapped to a constant of its value."""
    return {
        model.dim_lengths[dim]: pt.constant(length, dtype=model.dim_lengths[dim].dtype)
        for dim, length in parameter_dim_lengths(model)
    }


#: up to this many elements a Jacobian is built one gradient per element (unrolled)
UNROLL_MAX = 16


def _jacobian(y, wrt, n_y: int, n_wrt: int):
    """d y / d wrt for a vector `y` of `n_y` elements and a vector `wrt` of `n_wrt`.

    Up to :data:`UNROLL_MAX` elements each way, one gradient per element (unrolled); otherwise
    PyTensor's vectorized Jacobian (``vectorize=True``: the reverse-mode pass of the graph run
    over a batch of basis vectors); never a Scan, which is slow to compile and to run with many
    parameters. The vectorized form compiles faster on some small dense models (a negative
    binomial regression with 11 parameters: 18 s against 116 s), but on others its graph
    rewrites run for minutes (the radon no-pooling model: over 290 s against 32 s) or use
    gigabytes (two test workers were killed for memory, 18 GB), so it is not used for few
    parameters. The sizes are passed in because a model with ``dims=`` has symbolic shapes.
    """
    if n_y == 0:
        return pt.zeros((0, n_wrt), dtype="float64")
    if n_y <= UNROLL_MAX and n_wrt <= UNROLL_MAX:
        # pt.grad's type also covers a list of wrt and disconnected gradients returned as None; one
        # wrt (with the default return_disconnected="zero") gives one tensor
        grads = [cast(TensorVariable, pt.grad(y[i], wrt)) for i in range(n_y)]
        return pt.stack(grads).reshape((n_y, n_wrt))
    return pytensor.gradient.jacobian(y, wrt, vectorize=True, disconnected_inputs="ignore").reshape(
        (n_y, n_wrt)
    )


#: the Gauss-Newton route is offered to Normal-response models with at most this many parameters
#: (nonlinear least squares problems are small; its curvature is unrolled like the Hessian: the
#: vectorized Jacobian of a gradient through ``disconnected_grad`` compiles for minutes)
GAUSS_NEWTON_MAX_PARAMS = 16
#: the Gauss-Newton phase hands over to Newton's method this close to its optimum (in SEs)
GAUSS_NEWTON_TOL = 1e-3

_ROW = np.zeros(1, dtype=int)

#: evaluations a fit keeps by point (:meth:`_Single.remembering`)
MEMO_SIZE = 8


def _gauss_newton_residuals(model: pm.Model):
    """The whitened residual vector of a model whose every likelihood term is a ``pm.Normal``
    observation, or None for any other model.

    Its Jacobian ``J`` gives the Gauss-Newton curvature ``J^T J`` (the Fisher information of the
    Normal observations): ``(y - mu) / sigma`` (with sigma held fixed in the derivative) and
    ``sqrt(2) log sigma`` for each observation.
    """
    if model.potentials or not model.observed_RVs:
        return None
    parts = []
    for rv in model.observed_RVs:
        if not isinstance(rv.owner.op, NormalRV):
            return None
        mu, sigma = rv.owner.inputs[-2:]
        mu, sigma = pt.broadcast_to(mu, rv.shape).ravel(), pt.broadcast_to(sigma, rv.shape).ravel()
        parts += [mu / disconnected_grad(sigma), np.sqrt(2.0) * pt.log(sigma)]
    return model.replace_rvs_by_values([pt.concatenate(parts)])[0]


def require_float64(model: pm.Model, what: str) -> None:
    """Refuse `what` for a model built with floatX=float32: its constrained fits and batched draws
    need float64 arithmetic inside the model's own graph, which pplmle cannot change."""
    low = sorted({rv.name for rv in model.free_RVs if rv.type.dtype == "float32"})
    if low:
        raise ValueError(
            f"{what} needs a model built in float64; the free variable(s) {low} of this model are "
            "float32 (pytensor.config.floatX='float32'). Point estimates, standard errors and "
            "surfaces work in float32 (pplmle computes its own part in float64); for this, rebuild "
            "the model under pytensor.config.floatX='float64'."
        )


_BLAS_CHECKED = False


def quiet_blas_check() -> str:
    """PyTensor's BLAS link flags, read once per process without its four-line warning.

    PyTensor from PyPI finds no BLAS library to link its C code against, says so at length and
    recommends conda. No PyPI wheel offers a BLAS with the plain symbol names PyTensor calls
    (``scipy-openblas`` prefixes them), so pplmle cannot link one for you; the README says what
    this costs and how to get a BLAS (conda, or ``pytensor.config.blas__ldflags``). Returns the
    flags ("" without a BLAS).
    """
    global _BLAS_CHECKED
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)
        flags = str(pytensor.config.blas__ldflags)
    _BLAS_CHECKED = True
    return flags


class _ReusingModel(pm.Model):
    """A model pplmle made and owns (a user model's flattened copy, a family's model) whose
    functions ``pm.find_MAP`` compiles are compiled once and reused by later calls.

    ``pm.find_MAP`` asks its model for a compiled log-density, its gradient, the log-density of
    each term (to check the start) and the unobserved values (its answer) on every call, and
    compiling them costs far more than the optimization of a small model (0.3 s of a refit that
    then takes milliseconds). Here the model keeps each of these four and hands it out again:
    every fit still runs find_MAP itself, on the same graphs. New data enters through the
    ``pm.Data`` containers, which the compiled functions read when called. Anything else asked of
    the model (other graphs, other arguments) is compiled as usual.
    """

    def starting_at(
        self, start: Mapping[str, Any], point: Mapping[str, np.ndarray], *, finite: bool = False
    ) -> None:
        """Serve `point` (values by value-variable name, on the unconstrained scale) as the
        initial point of the next ``pm.find_MAP`` call given exactly `start` (the same object);
        see :func:`_serve_initial_points`. `finite`: the caller has evaluated this model's
        log-density there and found it finite, so find_MAP's check of the start (one more pass
        over the data, which can only find every term finite then) is not repeated."""
        _serve_initial_points()
        dtypes = {v.name: v.dtype for v in self.value_vars}
        point = {name: np.asarray(value, dtype=dtypes.get(name, "float64")) for name, value in point.items()}
        self.__dict__["_find_map_start"] = (start, point, finite)

    def initial_point_for(self, start: Any) -> Callable[..., dict[str, np.ndarray]] | None:
        """find_MAP's initial-point function for `start`, or None: PyMC compiles it."""
        pending = self.__dict__.pop("_find_map_start", None)
        if pending is None or pending[0] is not start:
            return None
        point, finite = pending[1], pending[2]

        def initial_point(seed=None):
            served = {name: np.array(value, copy=True) for name, value in point.items()}
            if finite:
                self.__dict__["_checked_start"] = served
            return served

        return initial_point

    def check_start_vals(self, start, **kwargs):
        # find_MAP checks the point it was served (above); pplmle found the log-density finite
        # there, which a finite sum of the terms it checks one by one already says
        checked = self.__dict__.pop("_checked_start", None)
        if checked is not None and start is checked and not kwargs:
            return None
        return pm.Model.check_start_vals(self, start, **kwargs)

    def _reused(self, key: tuple, build: Callable[[], Any]) -> Any:
        # an attribute of its own, which __getstate__ leaves out (compiled functions do not pickle)
        cache = self.__dict__.setdefault("_find_map_functions", {})
        if key not in cache:
            cache[key] = build()
        return cache[key]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_find_map_functions", None)
        state.pop("_serving_engine", None)
        state.pop("_find_map_start", None)
        state.pop("_checked_start", None)
        return state

    @staticmethod
    def _vars_key(vars: Any) -> tuple | None:
        if vars is None:
            return None
        return tuple(vars) if isinstance(vars, (list, tuple)) else (vars,)

    def serve_from(self, engine: Engine) -> None:
        """Let `engine`, whose model this is, answer find_MAP's two requests for the log-density
        without the Jacobian term and its gradient (see :class:`_FromValueGrad`)."""
        self.__dict__["_serving_engine"] = weakref.ref(engine)

    def _value_grad_source(self, vars: Any) -> Engine | None:
        """The engine that serves find_MAP's log-density and gradient of the free variables
        `vars` (None: all of them), or None: PyMC compiles them."""
        ref = self.__dict__.get("_serving_engine")
        engine = ref() if ref is not None else None
        if engine is None:
            return None
        asked = list(self.free_RVs if vars is None else self._vars_key(vars) or ())
        return engine if {id(v) for v in asked} == {id(v) for v in self.free_RVs} else None

    def compile_logp(self, vars=None, jacobian=True, sum=True, **compile_kwargs):
        if not jacobian and sum and not compile_kwargs:
            engine = self._value_grad_source(vars)
            if engine is not None:
                return self._reused(("logp", "value and gradient"), lambda: _FromValueGrad(engine, None))
        if compile_kwargs:
            return pm.Model.compile_logp(self, vars, jacobian, sum, **compile_kwargs)
        key = ("logp", self._vars_key(vars), bool(jacobian), bool(sum))
        return self._reused(key, lambda: pm.Model.compile_logp(self, vars, jacobian, sum))

    def compile_dlogp(self, vars=None, jacobian=True, **compile_kwargs):
        if not jacobian and not compile_kwargs:
            engine = self._value_grad_source(vars)
            if engine is not None:
                order = list(self.free_RVs if vars is None else self._vars_key(vars) or ())
                key = ("dlogp", "value and gradient", tuple(rv.name for rv in order))
                return self._reused(key, lambda: _FromValueGrad(engine, order))
        if compile_kwargs:
            return pm.Model.compile_dlogp(self, vars, jacobian, **compile_kwargs)
        key = ("dlogp", self._vars_key(vars), bool(jacobian))
        return self._reused(key, lambda: pm.Model.compile_dlogp(self, vars, jacobian))

    @property
    def unobserved_value_vars(self):
        # find_MAP builds this graph (every value variable, free variable and Deterministic) on
        # every call: about 1.5 ms of graph rewriting in Python per fit of a small model. The
        # model's variables do not change, so it is built once for each set of them
        key = ("unobserved value vars", tuple(self.named_vars))
        return list(self._reused(key, lambda: pm.Model.unobserved_value_vars.fget(self)))

    def point_logps(self, point=None, round_vals=2, **kwargs):
        if point is None or kwargs:
            return pm.Model.point_logps(self, point, round_vals, **kwargs)
        factors = self.basic_RVs + self.potentials

        def build():
            outs = [factor.sum() for factor in self.logp(factors, sum=False)]
            return self.compile_fn(inputs=self.value_vars, outs=outs)

        values = self._reused(("point_logps",), build)(point)
        return {f.name: np.round(np.asarray(v), round_vals) for f, v in zip(factors, values, strict=True)}

    def compile_fn(self, outs, *, inputs=None, mode=None, point_fn=True, **kwargs):
        # find_MAP's last call: the unobserved values (named value variables, free variables
        # and Deterministics) as a function of the value variables
        plain = mode is None and point_fn is True and not kwargs and isinstance(outs, list)
        if plain and inputs is not None and list(inputs) == list(self.value_vars):
            names = tuple(getattr(o, "name", None) for o in outs)
            for include_transformed in (True, False):
                expected = self._reused(
                    ("unobserved names", include_transformed),
                    lambda t=include_transformed: tuple(
                        v.name for v in get_default_varnames(self.unobserved_value_vars, t)
                    ),
                )
                if names == expected:
                    return self._reused(
                        ("unobserved", include_transformed),
                        lambda: pm.Model.compile_fn(self, outs, inputs=inputs),
                    )
        return pm.Model.compile_fn(self, outs, inputs=inputs, mode=mode, point_fn=point_fn, **kwargs)


def _only_errors(record: logging.LogRecord) -> bool:
    """A logging filter that lets through errors only (find_MAP's messages are pplmle's to say)."""
    return record.levelno >= logging.ERROR


_SERVING_LOCK = threading.Lock()


def _serve_initial_points() -> None:
    """Let a :class:`_ReusingModel` answer ``pm.find_MAP``'s request for its initial point.

    find_MAP turns its `start` into the point it starts from with
    ``pymc.initial_point.make_initial_point_fn``, which compiles a function of the start on
    every call (about 7 ms, the largest part of a refit that otherwise takes milliseconds). The
    name find_MAP calls (in ``pymc.tuning.starting``) is replaced, once per process, by one that
    hands a :class:`_ReusingModel` the point the fit starts from (its unconstrained values, which
    the compiled function would compute from them again, up to rounding) and calls PyMC's own
    function for every other model and request, unchanged. (Nothing happens if this PyMC's
    find_MAP does not call a name of that signature.)
    """
    from pymc.tuning import starting

    with _SERVING_LOCK:
        original = getattr(starting, "make_initial_point_fn", None)
        if original is None or getattr(original, "_pplmle_serves", False):
            return

        @functools.wraps(original)
        def make_initial_point_fn(*, model, overrides=None, jitter_rvs=None, **kwargs):
            if isinstance(model, _ReusingModel) and not jitter_rvs and kwargs.get("return_transformed", True):
                served = model.initial_point_for(overrides)
                if served is not None:
                    return served
            return original(model=model, overrides=overrides, jitter_rvs=jitter_rvs, **kwargs)

        make_initial_point_fn._pplmle_serves = True  # type: ignore[attr-defined]
        starting.make_initial_point_fn = make_initial_point_fn


class _FromValueGrad:
    """find_MAP's compiled log-density (``jacobian=False``) or its gradient, as the engine's one
    compiled function of both: ``-f`` or ``-g`` at the point, the gradient in the order of the
    variables asked for (`order`; None: the log-density).

    The same quantities as PyMC's two functions, from the function the fit compiles anyway, so
    a first fit compiles neither of PyMC's (with a cold cache, their C code is a quarter of the
    fit), and find_MAP's paired calls at one point (value, then gradient) are one evaluation,
    which the fit keeps (:meth:`_Single.remembering`).
    """

    def __init__(self, engine: Engine, order: list | None):
        self._engine = engine
        engine.compile()
        self._names = [name for name, _, _ in engine.point_map]
        if order is None:
            self._take = None
        else:  # the gradient's blocks, from the engine's order to the order asked for
            starts = np.cumsum([0] + [size for _, _, size in engine.point_map])
            where = {name: (a, b) for name, a, b in zip(self._names, starts[:-1], starts[1:], strict=True)}
            value_names = [engine.model.rvs_to_values[rv].name for rv in order]
            self._take = np.concatenate([np.arange(*where[n]) for n in value_names]).astype(int)

    def __call__(self, point: Mapping[str, Any]) -> np.ndarray:
        u = np.concatenate([np.ravel(np.asarray(point[name], dtype=float)) for name in self._names])
        f, g = self._engine.single.raw_value_grad(u)
        if self._take is None:
            return np.asarray(-np.asarray(f, dtype=float))
        return -np.asarray(g, dtype=float)[self._take]


def adopt(model: pm.Model) -> pm.Model:
    """Make `model`, one that pplmle built and owns, reuse what ``pm.find_MAP`` compiles
    (:class:`_ReusingModel`). Never for a model the user passed in: it is not modified."""
    if type(model) is pm.Model:
        model.__class__ = _ReusingModel
    return model


class LazyFunctions(dict):
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

    An engine made by :meth:`with_derived` reports the Deterministics `derived` after its base
    engine's parameters; it shares the base's model, lock and every compiled function that does
    not involve the reported values (objective, gradient, log-likelihood, transforms).
    """

    def __init__(
        self,
        model: pm.Model,
        reported: Sequence[str] | None = None,
        *,
        base: Engine | None = None,
        derived: Sequence[str] = (),
    ):
        self.model = model
        if base is None and isinstance(model, _ReusingModel):
            model.serve_from(self)  # find_MAP's log-density and gradient are this engine's
        self.value_vars = [model.rvs_to_values[rv] for rv in model.free_RVs]
        self.reported = list(reported) if reported is not None else [rv.name for rv in model.free_RVs]
        #: the engine whose parameters this one reports before `derived` (None: a base engine)
        self.base = base
        #: names of the reported Deterministics that are functions of the parameters (derived)
        self.derived = tuple(derived)
        self._with_derived: dict[tuple[str, ...], Engine] = {}
        self._det_shapes: Callable | None = None
        self._fns: dict[str, Callable] | None = None
        self._default_natural: dict[str, np.ndarray] | None = None  # the initial point, natural scale
        self._single: _Single | None = None
        #: held by whoever sets this engine's data and evaluates it (a fit, a profile, nllf):
        #: PyTensor functions and pm.Data containers are not safe to share between threads
        self.lock: threading.RLock = base.lock if base is not None else threading.RLock()

    def with_derived(self, names: Sequence[str]) -> Engine:
        """This engine reporting also the Deterministics `names`, after its own parameters (cached).

        Nothing is compiled until used; the new engine's objective, gradient and transforms are
        this engine's own compiled functions, so it compiles only what involves the reported values
        (their Jacobian, and its Hessian function when a derived quantity is profiled).
        """
        key = tuple(names)
        if not key:
            return self
        with self.lock:
            if key not in self._with_derived:
                self._with_derived[key] = Engine(
                    self.model, reported=[*self.reported, *key], base=self, derived=key
                )
            return self._with_derived[key]

    # -- compilation -----------------------------------------------------
    def compile(self) -> dict[str, Callable]:
        if self._fns is not None:
            return self._fns
        with self.lock:
            if self._fns is None:
                self._build()
            assert self._fns is not None
            return self._fns

    def _build(self) -> None:
        if not _BLAS_CHECKED:
            quiet_blas_check()
        model = self.model
        ip = model.initial_point()
        self.point_map = [(v.name, np.shape(ip[v.name]), int(np.size(ip[v.name]))) for v in self.value_vars]
        self.u_default = np.concatenate([np.ravel(ip[name]) for name, _, _ in self.point_map]).astype(float)
        self.u_default = _inside_support(model, self.point_map, self.u_default)
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
                    inputs=self.value_vars,
                    outs=[r.shape for r in rep],
                    on_unused_input="ignore",
                    mode=FAST_COMPILE,  # evaluated once: no C code to compile
                )(ip)
            ]
        rep_vec = pt.concatenate([pt.cast(r, "float64").ravel() for r in rep])
        k, m = self.u_default.size, sum(int(np.prod(s)) for s in self.reported_shapes)
        # a Normal-response model with few parameters also gets the Gauss-Newton curvature, the
        # curvature of a Levenberg-Marquardt route (see `optimize`)
        resid = _gauss_newton_residuals(model) if k <= GAUSS_NEWTON_MAX_PARAMS else None
        outs = [objective, loglik, rep_vec] + ([] if resid is None else [resid])
        # the parameters' shapes, fixed for this engine, made static: value variables of the
        # point's shapes and the lengths of the parameters' dims as constants, with the types
        # downstream rebuilt. A shape left symbolic (a variable with dims=, whose length is a
        # shared variable) keeps PyTensor's rewrites of the vectorized Hessian from simplifying
        # it: the radon no-pooling model with dims compiled for minutes and over 10 GB
        static = {
            v: pt.tensor(name=v.name, dtype=v.dtype, shape=shape)
            for v, (_, shape, _) in zip(self.value_vars, self.point_map, strict=True)
            if v.type.shape != shape
        }
        outs = clone_replace(outs, replace={**static, **parameter_dim_constants(model)}, rebuild_strict=False)
        values = [static.get(v, v) for v in self.value_vars]
        (obj_j, ll_j, rep_j, *res_j), u = join_nonshared_inputs(ip, outs, values)
        grad = pt.grad(obj_j, u)
        hess = _jacobian(grad, u, k, k)
        jac = _jacobian(rep_j, u, m, k)
        # what pplmle adds is computed in float64, whatever floatX the model was built with
        obj_j, ll_j, grad, hess, jac = (pt.cast(v, "float64") for v in (obj_j, ll_j, grad, hess, jac))
        self._has_gauss_newton = bool(res_j)
        if res_j:
            # J^T J as the Hessian of 1/2 |r - r0|^2 at r0 = r, with r0 held constant: k gradients
            # of a scalar instead of an n x k Jacobian
            r = pt.cast(res_j[0], "float64")
            half = 0.5 * pt.sum((r - disconnected_grad(r)) ** 2)
            fisher = _jacobian(pt.grad(half, u), u, k, k)

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

        def fn(ins, outs, mode=None):
            # float64 points are accepted by a float32 model (floatX=float32)
            return lambda: pm_compile(
                ins, outs, on_unused_input="ignore", allow_input_downcast=True, mode=mode
            )

        self._graphs = {"loglik": loglik}
        # each function is compiled on first use only: a surface needs neither the Hessian
        # nor the optimizer's functions, and a cold compile of the Hessian takes seconds
        builders: dict[str, Callable[[], Callable]] = {
            "vg": fn([u], [obj_j, grad]),
            "info": fn([u], [obj_j, ll_j, grad, hess, rep_j, jac]),
            **({"gauss_newton": fn([u], [obj_j, grad, fisher])} if res_j else {}),
            # the transforms act on the parameters alone, a few times per fit: run by Python
            # (FAST_COMPILE), they compile no C code, which a first fit with a cold cache waits for
            "forward": fn(nat_inputs, pt.concatenate(forward), mode=FAST_COMPILE),
            "natural": fn(self.value_vars, model.replace_rvs_by_values(free), mode=FAST_COMPILE),
            "rep": fn([u], [rep_j, jac]),
            "ll": fn([u], ll_j),
            "loglik_batch": self._compile_loglik_batch,
            "derived_natural": self._compile_derived_natural,
        }
        if self.base is not None:  # what does not involve the reported values is the base's
            base = self.base
            for name in ("vg", "gauss_newton", "forward", "natural", "ll", "loglik_batch"):
                if name in builders:
                    builders[name] = functools.partial(base.function, name)
        self._fns = LazyFunctions(builders)
        return None

    def _compile_derived_natural(self) -> Callable:
        """The Deterministics `derived`, flattened and concatenated, as a function of the
        natural-scale values of the free variables (one input per free variable): no transform
        is involved, so a value on the edge of the support (a boundary estimate) is allowed."""
        model = self.model
        free = list(model.free_RVs)
        nat = [rv.type() for rv in free]
        outs = [model[name] for name in self.derived]
        outs = graph_replace(outs, dict(zip(free, nat, strict=True)), strict=False)
        outs = model.replace_rvs_by_values(outs)  # an observed variable in a Deterministic: its data
        vec = pt.concatenate([pt.cast(o, "float64").ravel() for o in outs]) if outs else pt.zeros(0)
        return pm_compile(nat, vec, on_unused_input="ignore", allow_input_downcast=True)

    def function(self, name: str) -> Callable:
        """The compiled function `name` (compiled on first use)."""
        return self.compile()[name]

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
        fn = self.function("loglik_batch")
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
        """Minimize the objective with reported parameter ``index[0]`` held at ``values[0]``.

        The kernel's SQP (:func:`pplmle.pymc.kernel.constrained`) on a batch of one. Returns
        (u, objective, success).
        """
        require_float64(self.model, "A constrained fit (profile likelihood, lr_test, profile surface)")
        (j,), (c,) = list(index), list(values)
        U, f, ok = kernel.constrained(
            self.single, np.asarray(u0, dtype=float)[None, :], int(j), np.array([c])
        )
        if not (ok[0] and np.isfinite(f[0])) and (start := self._meeting(u0, int(j), float(c))) is not None:
            # from an estimate on the edge of the support the constraint's gradient vanishes (p =
            # 0.5 * sigmoid(31)): start again from the same point with that element set to `c`
            U, f, ok = kernel.constrained(self.single, start[None, :], int(j), np.array([c]))
        return U[0], float(f[0]), bool(ok[0] and np.isfinite(f[0]))

    def _meeting(self, u: np.ndarray, j: int, c: float) -> np.ndarray | None:
        """`u` with reported element `j` set to `c` when that element is an element of a free
        variable (None otherwise, or when `c` is outside its support)."""
        offset = 0
        for name, shape in zip(self.reported, self.reported_shapes, strict=True):
            size = int(np.prod(shape))
            if offset <= j < offset + size:
                if name not in self.free_names:
                    return None
                natural = self.natural_from_u(np.asarray(u, dtype=float))
                value = np.array(natural[name], dtype=float, copy=True)
                if value.size != size:
                    return None
                value.flat[j - offset] = c
                try:
                    return self.to_unconstrained({**natural, name: value})
                except ValueError:
                    return None
            offset += size
        return None

    @property
    def n_free(self) -> int:
        self.compile()
        return self.u_default.size

    @property
    def n_primary(self) -> int:
        """The number of scalar reported values before the derived ones (all of them for an engine
        without derived quantities)."""
        self.compile()
        sizes = [int(np.prod(s)) for s in self.reported_shapes]
        return sum(sizes[: len(self.reported) - len(self.derived)])

    def deterministic_sizes(self) -> dict[str, int]:
        """The number of elements of every Deterministic of the model, with its current data (a
        shape that depends on the data is computed by a function compiled once)."""
        self.compile()
        dets = list(self.model.deterministics)
        if all(None not in d.type.shape for d in dets):
            return {d.name: int(np.prod(d.type.shape)) for d in dets}
        if self._det_shapes is None:
            graphs = self.model.replace_rvs_by_values(dets)
            self._det_shapes = pm_compile(
                self.value_vars, [g.shape for g in graphs], on_unused_input="ignore", mode=FAST_COMPILE
            )
        point = self.point_from_u(self.u_default)
        shapes = self._det_shapes(*[point[v.name] for v in self.value_vars])
        return {d.name: int(np.prod(shape)) for d, shape in zip(dets, shapes, strict=True)}

    def derived_from_natural(self, natural: Mapping[str, Any]) -> np.ndarray:
        """The derived quantities (flat) at natural-scale values of every free variable."""
        fn = self.function("derived_natural")
        return np.asarray(fn(*[np.asarray(natural[name]) for name in self.free_names]), dtype=float)

    # -- data ------------------------------------------------------------
    def set_data(self, values: Mapping[str, np.ndarray]) -> None:
        """Put new values in the model's ``pm.Data`` containers (no recompilation)."""
        for name, value in values.items():
            container = self.model[name]
            container.set_value(np.asarray(value, dtype=container.type.dtype))
        if self._single is not None:
            self._single.forget()

    def data_snapshot(self) -> dict[str, np.ndarray]:
        return {
            var.name: var.get_value(borrow=True)
            for var in self.model.data_vars
            # a model's data containers always have names: `is not None` only narrows the type
            if isinstance(var, pytensor.compile.SharedVariable) and var.name is not None
        }

    # -- conversions -----------------------------------------------------
    def to_unconstrained(self, natural: Mapping[str, Any]) -> np.ndarray:
        """Unconstrained vector for natural-scale values of the free variables.

        Variables missing from `natural` take the model's initial point.
        """
        fns = self.compile()
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
            # the parameters whose values are not finite, or whose transform is not (outside the
            # support), each named on its own
            parts = np.split(u, np.cumsum([size for _, _, size in self.point_map])[:-1])
            bad = [
                n
                for n, a, part in zip(self.free_names, args, parts, strict=True)
                if not (np.all(np.isfinite(a)) and np.all(np.isfinite(part)))
            ]
            raise ValueError(
                f"`start` lies outside the support of the parameters (or is not finite): check {bad}."
            )
        return u

    def natural_from_u(self, u: np.ndarray) -> dict[str, np.ndarray]:
        """Natural-scale values of the free variables at the unconstrained point `u`."""
        fns = self.compile()
        point = self.point_from_u(u)
        values = fns["natural"](*[point[v.name] for v in self.value_vars])
        return {name: np.asarray(v) for name, v in zip(self.free_names, values, strict=True)}

    def point_from_u(self, u: np.ndarray) -> dict[str, np.ndarray]:
        self.compile()
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
    @property
    def has_gauss_newton(self) -> bool:
        """Whether the model offers a Gauss-Newton route: every likelihood term a ``pm.Normal``
        observation, and at most :data:`GAUSS_NEWTON_MAX_PARAMS` parameters."""
        self.compile()
        return self._has_gauss_newton

    @property
    def single(self) -> _Single:
        """This engine as a :class:`pplmle.pymc.kernel.Objective` batch of one."""
        self.compile()
        if self._single is None:
            self._single = _Single(self)
        return self._single

    def objective(self, u: np.ndarray) -> float:
        return float(self.single.raw_value_grad(np.asarray(u, dtype=float))[0])

    def loglik(self, u: np.ndarray) -> float:
        """The log-likelihood at `u` (no derivatives)."""
        return float(self.compile()["ll"](u))

    def _value_grad(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = self.compile()["vg"](u)
        f, g = float(f), np.asarray(g, dtype=float)
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            return (-np.inf if f == -np.inf else np.inf), np.zeros_like(u)
        return f, g

    def optimize(
        self,
        u0: np.ndarray,
        *,
        use_find_map: bool,
        maxeval: int = 5000,
        progressbar: bool = False,
        gtol: float = kernel.GTOL,
        gauss_newton: bool = False,
        join: kernel.Join | None = None,
    ) -> Run:
        """Minimize the objective from `u0`: find_MAP (or scipy's L-BFGS-B), then the kernel's Newton.

        find_MAP is the first optimizer; wherever it stops (L-BFGS-B stops when the gradient is
        small in absolute terms, which depends on the units of the data), the kernel's
        scale-invariant Newton method (:func:`pplmle.pymc.kernel.newton`) goes on to the optimum.

        With `gauss_newton` (only for an engine that :attr:`has_gauss_newton`), the same damped
        method first runs on the Gauss-Newton curvature ``J^T J`` instead of the Hessian, which
        is Levenberg-Marquardt: its curvature is never indefinite, so it follows the data's fit
        rather than the local shape of the likelihood, and leaves basins (a Gaussian peak fitted
        as flat noise, say) where Newton's method stays. Newton's method then finishes.

        With `join` (another route's verified optimum), the route stops, with status JOINED, as
        soon as it is in that optimum's basin (:func:`pplmle.pymc.kernel.newton`).
        """
        self.compile()
        n_eval, message, first_iters = 0, "", 0
        u = np.asarray(u0, dtype=float)
        if use_find_map:
            # natural-scale values by RV name: PyMC cannot invert a transform whose bounds
            # depend on other variables when the start is given on the transformed scale
            start = self.natural_from_u(u)
            if isinstance(self.model, _ReusingModel):  # find_MAP starts at u, compiling nothing
                # the start's objective is evaluated (and kept) by the caller's check of it
                self.model.starting_at(
                    start, self.point_from_u(u), finite=bool(np.isfinite(self.objective(u)))
                )
            logger = logging.getLogger("pymc")
            logger.addFilter(_only_errors)  # a filter: setLevel clears every logger's cache
            try:
                with np.errstate(all="ignore"):
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
                logger.removeFilter(_only_errors)
            u_map = np.concatenate([np.ravel(point[name]) for name, _, _ in self.point_map]).astype(float)
            if raw is not None:
                n_eval += int(raw.get("nfev", 0))
                first_iters = int(raw.get("nit", 0))
            # checked with the full evaluation Newton's method starts with (a fit keeps it)
            finite = bool(np.all(np.isfinite(u_map)))
            finite = finite and bool(np.isfinite(self.single.full(u_map[None, :], _ROW)["objective"][0]))
            if finite:
                u = u_map
                message = "find_MAP (L-BFGS-B) then Newton"
            else:  # find_MAP walked into a non-finite point (an unbounded likelihood does this)
                message = "find_MAP ended at a non-finite point; Newton from the start"
        elif gauss_newton:
            if not self.has_gauss_newton:
                raise ValueError("`gauss_newton=True` needs a model whose likelihood is Normal observations.")
            lm = kernel.newton(_GaussNewton(self), u[None, :], tol=GAUSS_NEWTON_TOL, extend=False, join=join)
            first_iters = int(lm.iters[0])
            lm_status = kernel.STATUS[int(lm.status[0])]
            if int(lm.status[0]) == kernel.JOINED:
                return Run(
                    u=lm.U[0],
                    u_first=lm.U[0],
                    status=kernel.JOINED,
                    iters=0,
                    n_eval=0,
                    message=f"Gauss-Newton ({first_iters} iterations, {lm_status})",
                    minus_inf=bool(lm.minus_inf[0]),
                    first_iters=first_iters,
                )
            if np.isfinite(self.objective(lm.U[0])):
                u = lm.U[0]
            message = f"Gauss-Newton ({first_iters} iterations, {lm_status}), then Newton"
        else:
            message = "Newton"
        u_first = u.copy()
        fit = kernel.newton(self.single, u[None, :], tol=min(gtol, kernel.GTOL), join=join)
        u = fit.U[0]
        return Run(
            u=u,
            u_first=u_first,
            status=int(fit.status[0]),
            iters=int(fit.iters[0]),
            n_eval=n_eval,
            message=f"{message} ({int(fit.iters[0])} iterations, {kernel.STATUS[int(fit.status[0])]})",
            minus_inf=bool(fit.minus_inf[0]),
            first_iters=first_iters,
        )

    def info(self, u: np.ndarray, gtol: float = kernel.GTOL) -> dict[str, Any]:
        """Objective, log-likelihood, gradients, Hessian, covariance and the verdict at `u`."""
        return info_from_assess(kernel.assess(self.single, np.asarray(u, dtype=float)[None, :], gtol))


def info_from_assess(res: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`pplmle.pymc.kernel.assess` returns for a batch of one point, in the shape of
    :meth:`Engine.info`."""
    c = res["curv"]
    return {
        "objective": float(res["objective"][0]),
        "loglik": float(res["loglik"][0]),
        "grad_natural": res["grad_natural"][0],
        "reported": res["reported"][0],
        "cov": res["cov"][0],
        "se": res["se"][0],
        "hessian_ok": bool(np.all(np.isfinite(res["se"][0])) and c.pd[0]),
        "grad_u": res["grad"][0],
        "hess_u": res["hess"][0],
        "jac": res["jac"][0],
        "hessian_message": kernel.hessian_problem(c, 0),
        "hessian_differences": bool(res["differences"][0]),
        "decrement": float(res["decrement"][0]),
        "ok": bool(res["ok"][0]),
        "curv": c,
    }


def scaled_cholesky(info: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """``(L, D)`` with ``L L' = D H D``, the Hessian of `info` (:meth:`Engine.info`) in the kernel's
    scaled space (``H^-1 = D L'^-1 L^-1 D``); None where the Hessian is not positive definite."""
    c, H = info["curv"], np.asarray(info["hess_u"], dtype=float)
    if not (bool(c.pd[0]) and np.all(np.isfinite(H))):
        return None
    D = c.D[0]
    Hs = D[:, None] * H * D[None, :]
    try:
        return np.linalg.cholesky(0.5 * (Hs + Hs.T)), D
    except np.linalg.LinAlgError:
        return None


def delta_method(info: Mapping[str, Any], jac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Covariance and standard errors of quantities with Jacobian `jac` (m, k) with respect to
    the unconstrained point of `info` (:meth:`Engine.info`): ``J H^-1 J'``, computed like the
    kernel's, in the scaled space (Cholesky factor of ``D H D``; standard errors as norms, without
    squaring). All NaN where the Hessian is not positive definite."""
    m, k = jac.shape
    cov, se = np.full((m, m), np.nan), np.full(m, np.nan)
    factor = scaled_cholesky(info) if k else None
    if factor is None:
        return cov, se
    L, D = factor
    with np.errstate(invalid="ignore", over="ignore"):
        Z = np.linalg.solve(L, (jac * D[None, :]).T)  # (k, m)
        return Z.T @ Z, kernel._norm(Z, axis=0)


class _GaussNewton:
    """An :class:`Engine` seen by the kernel with the Gauss-Newton curvature in place of its Hessian."""

    #: the curvature is not the Hessian: the kernel does not replace it by differences of the gradient
    exact_hessian = False

    def __init__(self, engine: Engine):
        self._single = engine.single
        self._fn = engine.compile()["gauss_newton"]

    def value_grad(self, U: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._single.value_grad(U, rows)

    def full(self, U: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
        outs = [self._fn(u) for u in U]
        k = U.shape[1]
        return {
            "objective": np.array([float(o[0]) for o in outs]),
            "grad": np.stack([np.asarray(o[1], dtype=float) for o in outs]).reshape(U.shape),
            "hess": np.stack([np.asarray(o[2], dtype=float) for o in outs]).reshape(len(outs), k, k),
        }


@dataclass(frozen=True)
class Run:
    """Where one optimization from one start ended."""

    u: np.ndarray
    u_first: np.ndarray  # where the first optimizer (find_MAP) stopped
    status: int  # a kernel status: CONVERGED, STALLED, EXHAUSTED, NONFINITE or JOINED
    iters: int
    n_eval: int
    message: str
    minus_inf: bool  # a trial point had an NLL of -inf
    first_iters: int = 0  # iterations of the first optimizer (find_MAP's L-BFGS-B, Gauss-Newton)

    @property
    def exhausted(self) -> bool:
        return self.status == kernel.EXHAUSTED


class _Single:
    """An :class:`Engine` seen by the kernel: a batch of one problem (the engine's current data).

    Inside :meth:`remembering` (one fit, during which the data cannot change: the fit holds the
    engine's lock) the last :data:`MEMO_SIZE` evaluations are kept by point, so that a point
    assessed twice (the end of a route, compared with another route, then reported) is
    evaluated once; a point :meth:`pin`-ned (a route's verified optimum, which later routes are
    checked against) is kept until the block ends. Outside it nothing is kept, since the data
    may change between calls.
    """

    def __init__(self, engine: Engine):
        self._engine = engine
        self._vg = engine.compile()["vg"]
        self._memo: dict[tuple[str, bytes], Any] | None = None
        self._pinned: set[tuple[str, bytes]] = set()

    @functools.cached_property
    def _info(self) -> Callable:
        """Objective, log-likelihood, gradient, Hessian, reported values and their Jacobian
        (compiled on first use: an engine that only evaluates the objective never needs it)."""
        engine = self._engine
        if engine.base is None:
            return engine.compile()["info"]
        # the base's objective, gradient and Hessian, and this engine's reported values
        base_info, rep = engine.base.function("info"), engine.function("rep")
        return lambda u: (*base_info(u)[:4], *rep(u))

    @contextlib.contextmanager
    def remembering(self):
        """Keep evaluations by point until the block ends (nested blocks share the outer memo)."""
        if self._memo is not None:
            yield
            return
        self._memo = {}
        try:
            yield
        finally:
            self._memo = None
            self._pinned = set()

    def forget(self) -> None:
        """Drop what is kept (the data changed)."""
        if self._memo is not None:
            self._memo.clear()
        self._pinned = set()

    def _call(self, kind: str, fn: Callable, u: np.ndarray) -> Any:
        memo = self._memo
        if memo is None:
            return fn(u)
        key = (kind, np.ascontiguousarray(u, dtype=float).tobytes())
        if key in memo:
            memo[key] = memo.pop(key)  # most recent last
            return memo[key]
        if kind == "vg" and ("full", key[1]) in memo:
            o = memo[("full", key[1])]
            return o[0], o[2]
        out = fn(u)
        memo[key] = out
        evictable = [k for k in memo if k not in self._pinned]
        for k in evictable[: max(len(evictable) - MEMO_SIZE, 0)]:
            del memo[k]
        return out

    def pin(self, u: np.ndarray) -> None:
        """Keep the full evaluation at `u` until the :meth:`remembering` block ends."""
        if self._memo is not None:
            self._pinned.add(("full", np.ascontiguousarray(u, dtype=float).tobytes()))

    def raw_value_grad(self, u: np.ndarray) -> tuple[Any, Any]:
        """The compiled objective and gradient at the point `u`, as they come (not made finite)."""
        return self._call("vg", self._vg, u)

    def value_grad(self, U: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = np.empty(U.shape[0])
        g = np.empty(U.shape)
        for i, u in enumerate(U):
            fi, gi = self.raw_value_grad(u)
            f[i], g[i] = float(fi), np.asarray(gi, dtype=float)
        bad = ~(np.isfinite(f) & np.all(np.isfinite(g), axis=1))
        f[bad & ~np.isneginf(f)] = np.inf
        return f, g

    def full(self, U: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
        outs = [self._call("full", self._info, u) for u in U]
        k = U.shape[1]
        return {
            "objective": np.array([float(o[0]) for o in outs]),
            "loglik": np.array([float(o[1]) for o in outs]),
            "grad": np.stack([np.asarray(o[2], dtype=float) for o in outs]).reshape(U.shape),
            "hess": np.stack([np.asarray(o[3], dtype=float) for o in outs]).reshape(len(outs), k, k),
            "reported": np.stack([np.asarray(o[4], dtype=float) for o in outs]).reshape(len(outs), -1),
            "jac": np.stack([np.atleast_2d(np.asarray(o[5], dtype=float)) for o in outs]).reshape(
                len(outs), -1, k
            ),
        }


# A pm.Model does not pickle with the standard library (its graph holds objects that only
# cloudpickle serializes), so a result stores it as cloudpickle bytes inside an ordinary
# pickle: pickle.dumps(result) works as it is, for process pools and Dask workers.


class _PickledModel:
    """A ``pm.Model`` carried through the standard pickle as cloudpickle bytes."""

    def __init__(self, payload: bytes):
        self.payload = payload


def portable(obj: Any) -> Any:
    """`obj`, with a ``pm.Model`` replaced by something the standard pickle can carry."""
    if isinstance(obj, pm.Model):
        import cloudpickle

        return _PickledModel(cloudpickle.dumps(obj))
    return obj


def restore(obj: Any) -> Any:
    """The inverse of :func:`portable`."""
    if isinstance(obj, _PickledModel):
        import pickle

        return pickle.loads(obj.payload)
    return obj


class PortableContext:
    """Pickling of a fit's context (:class:`pplmle.core.likelihood.Likelihood`): without its
    compiled engine (attribute ``_engine``, found again or compiled on first use after
    unpickling) and with its ``source`` model made :func:`portable`."""

    source: Any

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_engine"] = None
        state["source"] = portable(self.source)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["source"] = restore(state["source"])
        self.__dict__.update(state)

"""Which free variables of a model the likelihood identifies, read from the PyTensor graph.

:func:`pplmle.mle` flattens every prior. For most models that is what the MLE means: a
regression coefficient's ``Normal(0, 10)`` is a belief, and the data alone estimate it. For a
hierarchical or latent-variable model a prior is part of the model itself, and flattening it
fits another model without a word:

- partial pooling, ``a ~ Normal(mu_a, sigma_a)`` with ``y ~ Normal(a[group], sigma_y)``:
  flattened, each ``a[group]`` is fitted by its own data (the no-pooling model), and ``mu_a``,
  ``sigma_a`` no longer enter the likelihood at all;
- a latent random walk ``z ~ GaussianRandomWalk(sigma=s)`` with ``y ~ Normal(z, e)``: ``s`` leaves
  the likelihood, and ``z`` interpolates the data;
- a non-centred parametrization, ``theta = mu + tau * theta_tilde`` with
  ``theta_tilde ~ Normal(0, 1)``: every variable enters the likelihood, but only the products
  ``tau * theta_tilde`` do, so flattened, ``tau`` and the scale of ``theta_tilde`` trade off.

:func:`analyze` finds these on the graph (no compilation), and :func:`refusal` says what
flattening would do. The rules, on the natural scale of the parameters (a free variable's value
as the likelihood sees it, before any transform):

1. A free variable *enters the likelihood* when the observed terms or the ``pm.Potential`` terms
   depend on it, through Deterministics and expressions but not through another free variable
   (that variable's prior is what flattening removes).
2. A *hyperparameter* is a free variable that does not enter the likelihood and enters the prior
   (the distribution's parameters) of another free variable. A prior that depends on a free
   variable that does enter the likelihood (``sigma ~ HalfNormal``, ``mu ~ Normal(0, sigma)``,
   ``y ~ Normal(mu, sigma)``) is an ordinary prior: not a hierarchy.
3. A *leftover* variable enters neither the likelihood nor another prior.
4. A *standardized effect* ``Z`` is a free variable with a proper prior (not ``pm.Flat`` or
   ``pm.HalfFlat``) that reaches the likelihood only as a factor of elementwise products
   ``Z * F`` (after indexing, reshaping or broadcasting ``Z``), where each factor ``F`` depends on
   free variables and constants only (no data, not on ``Z``), and those free variables (the
   *scales*) reach the likelihood only through these products. Then the flattened likelihood
   depends on ``Z`` and its scales only through ``Z * F`` and does not change when ``Z`` is divided
   by ``c`` and ``F`` multiplied by ``c``: the prior of ``Z`` was what fixed its scale.

Limits of rule 4: it sees products written as ``*`` (an ``Elemwise`` multiplication), not a scale
folded into a dot product (``X @ (tau * z)`` is seen, ``(X * tau) @ z`` is not), a division
(``z / (1 / tau)``), an exponentiated effect or a factor that involves data (``tau * x * z``, with
``x`` data, is not taken for a standardized effect, though it is one). A standardized effect
that is missed is not silently wrong: its flattened likelihood has a flat direction, which the
fit reports as a singular Hessian. A factor-analysis loading matrix and its factors, both with
fixed priors, are both standardized effects of each other: such a model is refused too, which is
right (flattened, only their product is identified).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import pytensor.scalar as ps
from pytensor.compile.ops import ViewOp
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.traversal import ancestors
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.shape import Reshape, SpecifyShape
from pytensor.tensor.subtensor import AdvancedSubtensor, AdvancedSubtensor1, Subtensor

from pplmle.core import messages
from pplmle.core.errors import HierarchicalModelError
from pplmle.pymc.engine import Engine, _initval, _without_initvals, adopt

__all__ = ["HIERARCHY", "HeldEngine", "Structure", "analyze", "check_hierarchy", "held_engine", "refusal"]

#: the values of mle()'s `hierarchy`
HIERARCHY = ("refuse", "flatten")

# ops that only move, select or relabel elements: a value passed through them is still the value
_STRUCTURAL = (DimShuffle, Subtensor, AdvancedSubtensor, AdvancedSubtensor1, Reshape, SpecifyShape, ViewOp)
# priors that are already flat: flattening them changes nothing
_FLAT_PRIORS = ("FlatRV", "HalfFlatRV")


def check_hierarchy(hierarchy: Any) -> str:
    """`hierarchy` of mle(): one of :data:`HIERARCHY`."""
    if not isinstance(hierarchy, str) or hierarchy not in HIERARCHY:
        raise ValueError(f"`hierarchy` must be one of {HIERARCHY}; got {hierarchy!r}.")
    return hierarchy


@dataclass(frozen=True)
class Structure:
    """What the graph says about the free variables of one model (see the module docstring).

    Attributes
    ----------
    free
        The free variables, in the model's order.
    entering
        Those the likelihood depends on (rule 1).
    parents
        For each free variable, the free variables its prior depends on.
    hyper
        The hyperparameters (rule 2), in the model's order.
    leftover
        The leftover variables (rule 3).
    standardized
        The standardized effects (rule 4), each with its scale variables.
    held
        The variables that do not enter the likelihood and can be held fixed in the flattened
        model: those whose value, on the optimizer's unconstrained scale, does not enter the
        likelihood either (a variable that bounds another's support, ``x ~ Uniform(0, b)``,
        enters it through ``x``'s transform and stays free).
    dims
        The model's dim names of each free variable that has one per axis.
    """

    free: tuple[str, ...]
    entering: frozenset[str]
    parents: Mapping[str, tuple[str, ...]]
    hyper: tuple[str, ...] = ()
    leftover: tuple[str, ...] = ()
    standardized: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    held: tuple[str, ...] = ()
    dims: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def outside(self) -> tuple[str, ...]:
        """The free variables that do not enter the likelihood, in the model's order."""
        return tuple(n for n in self.free if n not in self.entering)

    @property
    def refused(self) -> bool:
        """Whether flattening the priors changes the model (mle() refuses by default)."""
        return bool(self.hyper or self.leftover or self.standardized)


def _free_in(
    graphs: Sequence[Variable], free: Mapping[Variable, str], skip: Variable | None = None
) -> set[str]:
    """The free variables that `graphs` depend on, not through another free variable."""
    return {free[v] for v in ancestors(list(graphs), blockers=list(free)) if v in free and v is not skip}


def _likelihood_terms(model: pm.Model) -> list[Variable]:
    return list(model.observed_RVs) + list(model.potentials)


def _is_number(var: Variable) -> bool:
    """A constant that is not data: a single number, or integers (indices, shapes). A float array
    given as a NumPy constant (``t`` in ``A * exp(-k * t)``) is data: a factor that varies with it
    is not a scale."""
    if not isinstance(var, Constant):
        return False
    data = np.asarray(var.data)
    return data.size == 1 or data.dtype.kind in "iub"


def _is_mul(node) -> bool:
    return isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, ps.Mul)


def _standardized(
    model: pm.Model, free: Mapping[Variable, str], entering: set[str], flat_prior: set[str]
) -> dict[str, tuple[str, ...]]:
    """Rule 4 of the module docstring, for every free variable that enters the likelihood."""
    terms = _likelihood_terms(model)
    blockers = list(free)
    clients: dict[Variable, list] = {}
    seen_nodes = set()
    for var in ancestors(terms, blockers=blockers):
        node = var.owner
        if node is None or var in free or node in seen_nodes:
            continue
        seen_nodes.add(node)
        for inp in node.inputs:
            clients.setdefault(inp, []).append(node)
    ends = set(terms)
    out: dict[str, tuple[str, ...]] = {}
    for rv, name in free.items():
        if name not in entering or name in flat_prior:
            continue
        products, ok = [], True
        frontier, visited = [rv], set()
        while frontier and ok:
            var = frontier.pop()
            if var in visited:
                continue
            visited.add(var)
            if var in ends and var is not rv:  # reaches a likelihood term as it is
                ok = False
                break
            for node in clients.get(var, []):
                if isinstance(node.op, _STRUCTURAL):
                    frontier.extend(node.outputs)
                elif _is_mul(node):
                    products.append((node, var))
                else:
                    ok = False
                    break
        if not ok or not products:
            continue
        scales: set[str] = set()
        for node, via in products:
            for other in node.inputs:
                if other is via:
                    continue
                found = set(ancestors([other], blockers=blockers))
                roots = [v for v in found if v.owner is None or v in free]
                if rv in found or not all(v in free or _is_number(v) for v in roots):
                    ok = False  # the factor depends on Z itself, or on data
                scales |= {free[v] for v in roots if v in free}
        if not ok or not scales:
            continue
        # the scales reach the likelihood only through these products
        cut = blockers + [o for node, _ in products for o in node.outputs]
        if scales & _free_in_cut(terms, free, cut):
            continue
        out[name] = tuple(n for n in free.values() if n in scales)
    return out


def _free_in_cut(graphs: Sequence[Variable], free: Mapping[Variable, str], cut: list) -> set[str]:
    return {free[v] for v in ancestors(list(graphs), blockers=cut) if v in free}


def analyze(model: pm.Model, flat: pm.Model) -> Structure:
    """The structure of `model` (the user's) from its flattened copy `flat` (the engine's model,
    imputed variables dropped): rules 1 to 4 of the module docstring."""
    order = {rv.name: i for i, rv in enumerate(model.free_RVs)}  # the user's order
    free = {rv: rv.name for rv in sorted(flat.free_RVs, key=lambda rv: order.get(rv.name, len(order)))}
    names = tuple(free.values())
    terms = _likelihood_terms(flat)
    entering = _free_in(terms, free)
    parents = {
        name: tuple(sorted(_free_in(rv.owner.inputs, free, skip=rv), key=names.index))
        for rv, name in free.items()
    }
    hyper = tuple(n for n in names if n not in entering and any(n in parents[y] for y in names if y != n))
    leftover = tuple(n for n in names if n not in entering and n not in hyper)
    flat_prior = {
        name
        for name in names
        if name in model.named_vars and type(model[name].owner.op).__name__ in _FLAT_PRIORS
    }
    standardized = _standardized(flat, free, entering, flat_prior)
    outside = [n for n in names if n not in entering]
    held: tuple[str, ...] = ()
    if outside:
        # on the optimizer's scale: the likelihood's graph in the value variables
        loglik = flat.logp(vars=terms, jacobian=False, sum=True) if terms else None
        values = {flat.rvs_to_values[rv]: name for rv, name in free.items()}
        used = {values[v] for v in ancestors([loglik]) if v in values} if loglik is not None else set()
        held = tuple(n for n in outside if n not in used)
    dims = {}
    for name in names:
        d = tuple(model.named_vars_to_dims.get(name) or ()) if name in model.named_vars else ()
        if d and all(d):
            dims[name] = d
    return Structure(
        free=names,
        entering=frozenset(entering),
        parents=parents,
        hyper=hyper,
        leftover=leftover,
        standardized=standardized,
        held=held,
        dims=dims,
    )


def _elements(name: str, dims: Mapping[str, tuple[str, ...]], scalar: bool) -> str:
    """A variable's elements in words ("" for a scalar)."""
    if scalar:
        return ""
    if name in dims:
        return f"each `{name}[{', '.join(dims[name])}]`"
    return f"each element of `{name}`"


def refusal(found: Structure, flat: pm.Model) -> HierarchicalModelError:
    """The error for a model whose priors carry part of the model (``found.refused``)."""
    hyper = set(found.hyper)
    children = [
        (y, [p for p in found.parents[y] if p in hyper], _elements(y, found.dims, flat[y].type.ndim == 0))
        for y in found.free
        if y in found.entering and any(p in hyper for p in found.parents[y])
    ]
    # a pair that scales each other (tau * theta_tilde, both with proper priors) is said once, for
    # the variable with more axes (the effects rather than their scale)
    said: dict[str, tuple[str, ...]] = {}
    ranked = sorted(found.standardized, key=lambda n: (-flat[n].type.ndim, found.free.index(n)))
    for name in ranked:
        if not any(name in scales and other in found.standardized[name] for other, scales in said.items()):
            said[name] = tuple(found.standardized[name])
    return HierarchicalModelError(
        messages.hierarchical_model(
            children=children,
            hyper=list(found.hyper),
            leftover=list(found.leftover),
            standardized=said,
        )
    )


class HeldEngine(Engine):
    """The engine of a flattened model whose variables that do not enter the likelihood are held
    fixed (:attr:`Structure.held`): they are reported as constants, which the fit reports as NaN
    and flags (:func:`pplmle.core.diagnostics.not_identified`), and the optimizer, the Hessian and
    the standard errors work on the other variables only."""

    def __init__(self, model: pm.Model, reported: Sequence[str], structure: Structure):
        super().__init__(model, reported=reported)
        self.structure = structure


def held_engine(
    flat: pm.Model, found: Structure, shared_map: dict, order: Sequence[str]
) -> tuple[Engine, dict]:
    """A :class:`HeldEngine` for `flat` with ``found.held`` fixed at their initial values (the
    prior's support point, or the user's ``initval``), and the user's data containers mapped to
    its own."""
    if not found.held:
        return HeldEngine(flat, list(order), found), shared_map
    initvals = {rv.name: v for rv, v in flat.rvs_to_initial_values.items() if v is not None}
    held = [flat[name] for name in found.held]
    point = flat.initial_point()
    natural = flat.compile_fn(
        outs=flat.replace_rvs_by_values(held),
        inputs=flat.value_vars,
        on_unused_input="ignore",
        mode="FAST_COMPILE",  # evaluated once: no C code to compile
    )(point)
    values = {name: np.asarray(v) for name, v in zip(found.held, natural, strict=True)}
    model = pm.do(_without_initvals(flat) if initvals else flat, values, make_interventions_shared=False)
    for name, value in initvals.items():
        if name in model.named_vars and model[name] in model.free_RVs:
            model.set_initval(model[name], _initval(name, value))
    new_map = {orig: model[new.name] for orig, new in shared_map.items() if new.name in model.named_vars}
    return HeldEngine(adopt(model), list(order), found), new_map


class WithoutHeld:
    """A result's map from reported values to free-variable values when variables are held
    fixed: those are left out (their reported value is NaN; the engine holds its own)."""

    def __init__(self, held: Sequence[str]):
        self.held = tuple(held)

    def __call__(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in params.items() if k not in self.held}


def labels_of(engine: Engine, labels: Sequence[str], names: Sequence[str]) -> list[str]:
    """The element labels (of `labels`, in the engine's reported order) of the variables `names`."""
    out, i = [], 0
    for name, shape in zip(engine.reported, engine.reported_shapes, strict=True):
        size = int(np.prod(shape))
        if name in names:
            out += list(labels[i : i + size])
        i += size
    return out

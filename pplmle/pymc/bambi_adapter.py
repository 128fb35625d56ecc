"""Bambi models in :func:`pplmle.mle`: the MLE of a ``bambi.Model`` on the user's scale.

Bambi centres the predictors of every linear predictor that has an intercept (its default,
``center_predictors=True``): the PyMC model it builds computes ``Intercept_c + (X - m) @ b``,
where ``m`` holds the column means of the common terms' design matrix ``X``, so its
``Intercept`` is the intercept of the centred design, not the user's.  The user's intercept is
``Intercept_c - m @ b``; Bambi undoes the centring after sampling.

Here the centring is undone *before* fitting, by a change of variables in a copy of Bambi's
PyMC model: the free variable ``Intercept`` of the copy is the user's intercept, and the
centred one is the expression ``Intercept + m @ b`` that the likelihood reads.  The map is linear
and one to one, so the likelihood is the same function of the other parameters and the MLE is
the back-transformed MLE of the centred model; its covariance is exactly the delta-method one,
``A Cov A^T`` with ``A`` the linear map (a linear reparameterization moves the observed
information the same way).  Everything the result does afterwards (``nllf``, profiles,
surfaces, pickling) then works on the user's parameters through the ordinary ``pm.Model`` path.
(The bootstrap and :func:`pplmle.simulate` refit new data through ``pm.Data`` containers, which
Bambi's models do not have: they refuse such a model, saying so.)  Bambi is never imported
here: a model is recognized by the module of its type.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.model.fgraph import fgraph_from_model, model_free_rv, model_from_fgraph

from pplmle.core import messages

__all__ = ["is_bambi_model", "user_scale_model"]

# one user-scale copy per PyMC model that Bambi built (so that repeated fits reuse its engine)
_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def is_bambi_model(model: Any) -> bool:
    """Whether `model` is a ``bambi.Model`` (recognized without importing Bambi)."""
    module = type(model).__module__ or ""
    return module.split(".")[0] == "bambi" and hasattr(model, "build") and hasattr(model, "backend")


def _name(term: Any) -> str:
    """The PyMC name of a Bambi term: its alias when it has one."""
    return term.alias or term.name


def centring(bambi_model: Any) -> list[tuple[str, list[tuple[str, int]], np.ndarray]]:
    """The centred linear predictors of a built Bambi model.

    One entry per distributional component whose predictors Bambi centred: the name of its
    intercept, the (name, number of design columns) of its common terms in the order of the
    design matrix, and the column means Bambi subtracted.  Empty for ``center_predictors=False``.
    """
    out = []
    for component in bambi_model.backend.distributional_components.values():
        spec = component.component
        # Bambi's rule (its DistributionalComponent.build_common_terms): the common terms of a
        # linear predictor with an intercept are centred unless center_predictors=False
        if not (bambi_model.center_predictors and spec.intercept_term is not None and spec.common_terms):
            continue
        intercept = _name(spec.intercept_term)
        terms = [
            (_name(t), int(np.prod(np.shape(t.data)[1:], dtype=int))) for t in spec.common_terms.values()
        ]
        # Bambi keeps the uncentred design (to uncentre the intercept of posterior draws) and
        # subtracted its column means
        design = getattr(component, "design_matrix_without_intercept", None)
        if design is None:
            raise ValueError(messages.bambi_layout(intercept, None, terms))
        means = np.asarray(design, dtype=float).mean(axis=0)
        known = bambi_model.backend.model.named_vars
        if sum(p for _, p in terms) != means.size or any(t not in known for t, _ in terms):
            raise ValueError(messages.bambi_layout(intercept, means.size, terms))
        out.append((intercept, terms, means))
    return out


def user_scale_model(bambi_model: Any) -> tuple[pm.Model, str]:
    """The PyMC model of `bambi_model` with every intercept on the user's (uncentred) scale.

    An unbuilt model is built first, as ``bambi_model.fit()`` would (Bambi's ``build()`` sets
    the model's ``backend`` and ``built``). Returns the PyMC model to fit (Bambi's own when it
    centred nothing) and a name for the result.
    """
    if not getattr(bambi_model, "built", False) or bambi_model.backend is None:
        bambi_model.build()
    source = bambi_model.backend.model
    formula = bambi_model.formula
    parts = [getattr(formula, "main", None), *getattr(formula, "additionals", ())]
    name = f"bambi {bambi_model.family.name} model " + (
        ", ".join(map(str, parts)) if parts[0] is not None else str(formula)
    )
    plan = centring(bambi_model)
    if not plan:  # nothing centred: Bambi's model is on the user's scale already
        return source, name
    with _LOCK:
        if source not in _COPIES:
            _COPIES[source] = _uncentred(source, plan)
        return _COPIES[source], name


def _uncentred(model: pm.Model, plan: list[tuple[str, list[tuple[str, int]], np.ndarray]]) -> pm.Model:
    """A copy of `model` whose free intercepts are the user's: each centred intercept becomes
    ``Intercept + means @ b`` of the new free ``Intercept`` and the common coefficients ``b``."""
    start = model.initial_point()
    fgraph, memo = fgraph_from_model(model)
    starts = {}
    for intercept, terms, means in plan:
        if model.rvs_to_transforms.get(model[intercept]) is not None:
            raise ValueError(messages.bambi_bounded_intercept(intercept))
        old = memo[model[intercept]]
        dims = old.owner.inputs[2:]  # a ModelFreeRV's inputs: the variable, its value, its dims
        shape = np.shape(start[intercept])  # () or, for a multivariate response, (K,)
        new_rv = pm.Flat.dist(shape=shape)
        value = new_rv.type()
        value.name = intercept
        new = model_free_rv(new_rv, value, None, *dims)
        new.name = intercept
        coefs = [pt.reshape(memo[model[term]], (p, *shape)) for term, p in terms]
        centred = new + pt.tensordot(pt.as_tensor(means), pt.concatenate(coefs, axis=0), axes=1)
        index = fgraph.outputs.index(old)
        fgraph.replace(old, centred, import_missing=True)
        fgraph.remove_output(index)
        fgraph.add_output(new)
        # Bambi's starting point, moved to the user's scale (a coefficient with a transformed
        # prior counts as 0 there: this is only where the optimizer starts)
        b0 = np.concatenate(
            [np.reshape(start.get(term, np.zeros((p, *shape))), (p, *shape)) for term, p in terms], axis=0
        )
        starts[intercept] = np.asarray(start[intercept]) - np.tensordot(means, b0, axes=1)
    copy = model_from_fgraph(fgraph, mutate_fgraph=True)
    # Bambi's order of the parameters, each intercept where the centred one was (the copy lists
    # its variables in the order of a graph traversal)
    order = {rv.name: i for i, rv in enumerate(model.free_RVs)}
    copy.free_RVs.sort(key=lambda rv: order[rv.name])
    for intercept, value0 in starts.items():
        copy.set_initval(copy[intercept], value0)
    return copy

"""The marginal likelihood of a hierarchical model: latent variables integrated out by Laplace.

Use ``pl.mle(model, marginalize=["a"])`` for the maximum-likelihood fit of a mixed model declared
in PyMC: the group effects (or any latent field) named in `marginalize` keep their prior, which
is part of the model, and are integrated out of the likelihood; the remaining free variables
(fixed effects, variance components) get flat priors as in every MLE and are estimated by
maximizing what remains. This is the frequentist fit of lme4, glmmTMB and statsmodels' MixedLM.

The integral is the Laplace approximation around the conditional mode ``x̂(w)`` of the
integrated variables::

    log L(w) = l(x̂, w) + (q / 2) log(2 pi) - (1 / 2) log det H(x̂, w),    H = -d²l / dx²

where ``l`` is the joint log-density of the data and the integrated variables. It is exact when
``l`` is quadratic in them: Gaussian effects with a Gaussian likelihood and an identity link (a
linear mixed model). The fit checks that numerically (the curvature ``H`` measured at two
points) and says in ``result.message`` whether the integral is exact or an approximation.

How it is computed (:class:`LaplaceEngine`):

- A Normal latent ``a ~ Normal(m, s)`` is integrated in its standardized coordinates
  ``a = m + s z`` (as lme4 does), so that a scale ``s`` at zero is an ordinary point: the
  variance component whose MLE is 0 (the between-group variation explained away) is found and
  reported as a boundary estimate, exactly 0, instead of drifting towards it on a log scale.
  Such a scale ``s`` is optimized on the whole line as ``|t|`` (the marginal likelihood is even
  in ``t``); other free variables keep their usual transforms.
- Other latents on the whole line (an ``MvNormal`` of correlated effects, its covariance an
  ``LKJCholeskyCov`` say) are integrated in their own coordinates, their log-density part of the
  joint one (ML only: REML is refused for them).
- The conditional mode is found by Newton's method on the exact Hessian ``H``, warm-started from
  the last mode. ``H`` is sparse (a group's effects meet only each other): its pattern is
  measured once per data set (products with unit vectors at two random points, checked with
  random vectors at a third), its columns are coloured so that ``c`` Hessian-vector products
  measure all of it (``c = 1`` for random intercepts, 29 for lme4's grouse ticks with three
  nested factors and 584 effects), and it is factored block by block
  (:mod:`pplmle.core.blocks`). The cost of an evaluation grows about linearly with the number
  of groups where the blocks stay small.
- The gradient of ``log L(w)`` is exact, by implicit differentiation through the mode:
  ``dx̂/dw = H^-1 d²l/dx dw`` enters only through the log-determinant, as one extra reverse pass
  (``v = H^-1 d(log det H)/dx``, then the gradient of ``v' dl/dx`` in ``w``).
- The outer problem runs on pplmle's numerical kernel (:mod:`pplmle.pymc.kernel`): its scaled
  Newton method, convergence rule and covariance, with the Hessian of ``log L`` formed from
  differences of that exact gradient: one level of central differences for Newton's steps, and
  Richardson-extrapolated ones for the verdict and the standard errors. ``pm.find_MAP`` is not used: it
  maximizes a joint density over all free variables, and the marginal likelihood is not one.
- With ``method="REML"`` the fixed effects (the free variables on the whole real line that are
  not scales of integrated effects) are integrated too, under their flat prior: the restricted
  likelihood of a linear mixed model, as lme4 and MixedLM report by default. They are then
  reported at their conditional mode (generalized least squares) with its conditional standard
  errors ``(X' V^-1 X)^-1``.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.model.fgraph import ModelFreeRV, fgraph_from_model, model_free_rv, model_from_fgraph
from pymc.pytensorf import compile as pm_compile
from pymc.pytensorf import toposort_replace
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.graph.traversal import ancestors
from pytensor.tensor.elemwise import DimShuffle
from pytensor.tensor.random.basic import NormalRV
from pytensor.tensor.variable import TensorVariable

from pplmle.core import diagnostics as dg
from pplmle.core import messages
from pplmle.core.blocks import Structure, pattern_of
from pplmle.core.errors import ConvergenceWarning, warn_or_raise
from pplmle.core.result import MLEResult
from pplmle.pymc import kernel
from pplmle.pymc.engine import PortableContext, _static_shape, check_model, require_float64
from pplmle.pymc.observed import (
    _element_labels,
    axis_values,
    check_n_obs,
    data_fingerprint,
    observation_count,
)

__all__ = ["LaplaceEngine", "MarginalContext", "check_marginalize", "fit_marginal"]

_METHODS = ("ML", "REML")
#: the conditional mode's Newton iterations stop when the squared Newton decrement is below this
#: (the distance to the mode in conditional standard deviations, squared)
MODE_TOL = 1e-24
#: iterations of the conditional mode's Newton method
MODE_MAXITER = 100
#: a scale of integrated effects within this many of its standard errors of zero is at zero
BOUNDARY_SE = 1e-3
#: the curvature of the integrated variables at two points agrees to this (relative) when the
#: joint density is quadratic in them: the Laplace integral is then exact
EXACT_TOL = 1e-9

#: the latent curvature read through its measured sparsity agrees with full products to this
#: (relative): otherwise the dense structure is used
STRUCTURE_TOL = 1e-8

_LOG_2PI = float(np.log(2.0 * np.pi))


def check_method(method: Any) -> str:
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"`method` must be 'ML' or 'REML'; got {method!r}.")
    return method


def check_marginalize(model: pm.Model, marginalize: Any) -> tuple[str, ...]:
    """The names in `marginalize` (a name or a sequence of names of continuous free variables on
    the whole real line), in the model's order."""
    if isinstance(marginalize, str):
        names = [marginalize]
    elif isinstance(marginalize, Sequence) and all(isinstance(n, str) for n in marginalize):
        names = list(marginalize)
    else:
        raise ValueError(
            f"`marginalize` must be the name of a free variable or a list of names; got {marginalize!r}."
        )
    if not names:
        raise ValueError("`marginalize` must name at least one free variable; got an empty list.")
    free = {rv.name: rv for rv in model.free_RVs}
    unknown = [n for n in names if n not in free]
    if unknown:
        raise ValueError(
            f"`marginalize` must name free variables of the model ({sorted(free)}); "
            f"{unknown} {'is' if len(unknown) == 1 else 'are'} not."
        )
    for n in names:  # (a discrete variable is refused before this, with every fit's refusal)
        rv = free[n]
        if model.rvs_to_transforms.get(rv) is not None:
            raise ValueError(
                f"`marginalize` names `{n}`, whose support is not the whole real line (it has the "
                f"transform {type(model.rvs_to_transforms[rv]).__name__}): the Laplace approximation "
                "here integrates effects on the whole line, such as Normal group effects."
            )
    rest = [rv.name for rv in model.free_RVs if rv.name not in names]
    if not rest:
        raise ValueError("`marginalize` names every free variable: nothing is left to estimate.")
    return tuple(rv.name for rv in model.free_RVs if rv.name in names)


def _rv_of(var) -> Any:
    """The variable under broadcasting dimshuffles (``ExpandDims`` of a scalar scale)."""
    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        var = var.owner.inputs[0]
    return var


def _free_ancestors(model: pm.Model, var) -> set[str]:
    free = {rv: rv.name for rv in model.free_RVs}
    return {free[v] for v in ancestors([var]) if v in free}


def _check_structure(model: pm.Model, latent: tuple[str, ...]) -> None:
    """Refuse a model that the marginal likelihood would silently change: a flattened variable
    whose prior depends on other free variables (an effect left out of `marginalize`), a free
    variable whose prior depends on an integrated one, or an integrated variable outside the
    likelihood."""
    free = {rv.name: rv for rv in model.free_RVs}
    for name, rv in free.items():
        if name in latent:
            continue
        parents = set().union(*[_free_ancestors(model, i) for i in rv.owner.inputs]) - {name}
        if parents & set(latent):
            raise ValueError(
                f"`{name}` has a prior that depends on the integrated variable(s) "
                f"{sorted(parents & set(latent))}; integrate `{name}` too (add it to `marginalize`)."
            )
        if parents:
            raise ValueError(
                f"`{name}` is not in `marginalize`, but its prior depends on {sorted(parents)}: it is "
                f"a group effect (or another latent variable), and flattening its prior would fit "
                f"another model. Add `{name}` to `marginalize`."
            )
    terms = list(model.observed_RVs) + list(model.potentials)
    reached = set().union(*[_free_ancestors(model, t) for t in terms]) if terms else set()
    # an integrated variable enters the likelihood directly or through another integrated one
    outside = [n for n in latent if n not in reached]
    if outside:
        raise ValueError(
            f"The integrated variable(s) {outside} do not enter the likelihood (no observed variable "
            "depends on them): there is nothing to integrate them out of."
        )


def _copy(model: pm.Model, natural: Sequence[str]) -> tuple[pm.Model, dict]:
    """A copy of `model` in which the free variables `natural` have no transform (their value is
    the natural one), with a map from the user's data containers to the copy's."""
    fgraph, memo = fgraph_from_model(model)
    shared = {
        orig: memo[orig]
        for orig in model.data_vars
        if isinstance(orig, pytensor.compile.SharedVariable) and orig in memo
    }
    targets = {memo[model[n]] for n in natural}
    replacements = []
    for node in list(fgraph.apply_nodes):
        if isinstance(node.op, ModelFreeRV) and node.outputs[0] in targets:
            rv, _value, *dims = node.inputs
            new_value = rv.type()
            new_value.name = rv.name
            replacements.append((node.outputs[0], model_free_rv(rv, new_value, None, *dims)))
    if replacements:
        toposort_replace(fgraph, tuple(replacements))
    copy = model_from_fgraph(fgraph, mutate_fgraph=True)
    shared_map = {orig: copy[new.name] for orig, new in shared.items() if new.name in copy.named_vars}
    return copy, shared_map


@dataclass(frozen=True)
class _Block:
    """One variable's slice of a flat vector."""

    name: str
    shape: tuple[int, ...]
    start: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def stop(self) -> int:
        return self.start + self.size


def _blocks(names: Sequence[str], shapes: Mapping[str, tuple[int, ...]]) -> list[_Block]:
    out, i = [], 0
    for n in names:
        out.append(_Block(n, shapes[n], i))
        i += out[-1].size
    return out


class LaplaceEngine:
    """The compiled marginal likelihood of `model` with `latent` integrated out (and the fixed
    effects too for REML). Implements the kernel's :class:`~pplmle.pymc.kernel.Objective`
    protocol in the outer coordinates ``w``."""

    exact_hessian = True

    def __init__(self, model: pm.Model, latent: tuple[str, ...], method: str):
        require_float64(model, "The marginal likelihood (marginalize=)")
        self.method = method
        self.latent = latent
        self.lock = threading.RLock()
        free = {rv.name: rv for rv in model.free_RVs}
        shapes = {n: _static_shape(rv, model) for n, rv in free.items()}
        # scales of Normal latents that are themselves positive free variables: |t|
        normal = [n for n in latent if isinstance(free[n].owner.op, NormalRV)]
        scales = []
        for n in normal:
            s = _rv_of(free[n].owner.inputs[-1])
            if s in model.free_RVs and s.name not in latent and shapes[s.name] == ():
                tr = model.rvs_to_transforms.get(s)
                if tr is not None and type(tr).__name__ == "LogTransform" and s.name not in scales:
                    scales.append(s.name)
        self.scales = tuple(scales)
        copy, self.shared_map = _copy(model, self.scales)
        self.model = copy
        cfree = {rv.name: rv for rv in copy.free_RVs}
        outer = [n for n in free if n not in latent]
        fixed: list[str] = []
        if method == "REML":
            other = [n for n in latent if n not in normal]
            if other:
                # (PyTensor's rewrites of the fixed effects' second derivatives through an MvNormal
                # run out of memory: refused rather than left to hang)
                raise ValueError(
                    "method='REML' is built for effects declared with pm.Normal; "
                    f"{other} {'is' if len(other) == 1 else 'are'} "
                    f"{', '.join(sorted({type(free[n].owner.op).__name__ for n in other}))}. "
                    "Use method='ML' for this model."
                )
            fixed = [
                n for n in outer if n not in self.scales and copy.rvs_to_transforms.get(cfree[n]) is None
            ]
            if not fixed:
                raise ValueError(
                    "method='REML' integrates the fixed effects (free variables on the whole real line), "
                    "and this model has none outside `marginalize`."
                )
            outer = [n for n in outer if n not in fixed]
        self.outer = tuple(outer)
        self.fixed = tuple(fixed)
        self.normal = tuple(normal)
        self.shapes = shapes
        # the graphs' vector `wa` holds the outer coordinates, then the fixed effects (REML);
        # `x` the integrated latent variables. The integrated point is y = (x, fixed effects).
        self.w_blocks = _blocks(self.outer, shapes)
        self.b_blocks = _blocks(self.fixed, shapes)
        self.x_blocks = _blocks(self.latent, shapes)
        self.k = sum(b.size for b in self.w_blocks)
        self.p = sum(b.size for b in self.b_blocks)
        self.q_latent = sum(b.size for b in self.x_blocks)
        self.q = self.q_latent + self.p
        self._build(copy, cfree)
        self._x_last: np.ndarray | None = None
        self._initial: dict[str, np.ndarray] | None = None
        self._forwards: dict[str, Any] = {}
        self.gaussian = False
        self._memo: dict[bytes, tuple[float, np.ndarray, np.ndarray]] = {}
        self._structures: dict[str, Structure] = {}
        self._structure: Structure | None = None  # that of the current data
        self.n_eval = 0

    # -- graphs ------------------------------------------------------------------------------

    def _build(self, copy: pm.Model, cfree: Mapping[str, Any]) -> None:
        wa = pt.dvector("w")
        x = pt.dvector("x")
        k, p, ql = self.k, self.p, self.q_latent
        values = {n: copy.rvs_to_values[cfree[n]] for n in cfree}
        # outer value variables: transformed coordinates, or |t| for the scales; then the fixed
        # effects that REML integrates, as themselves
        repl_outer = {}
        for b in self.w_blocks:
            piece = wa[b.start : b.stop].reshape(b.shape)
            if b.name in self.scales:
                piece = pt.abs(piece)
            repl_outer[values[b.name]] = piece.astype(values[b.name].dtype)
        for b in self.b_blocks:
            piece = wa[k + b.start : k + b.stop].reshape(b.shape)
            repl_outer[values[b.name]] = piece.astype(values[b.name].dtype)
        # the latent variables: standardized coordinates for Normal ones, the value itself
        # otherwise; each expression in `wa` and `x` only (a latent's prior may use outer values
        # and other latents)
        repl_x = {}
        latent_terms = []
        for b in self.x_blocks:  # the values themselves first: the others' priors may use them
            if b.name not in self.normal:
                repl_x[values[b.name]] = x[b.start : b.stop].reshape(b.shape)
        for b in self.x_blocks:
            piece = x[b.start : b.stop].reshape(b.shape)
            rv = cfree[b.name]
            if b.name in self.normal:
                loc, scale = copy.replace_rvs_by_values(list(rv.owner.inputs[-2:]))
                loc, scale = graph_replace([loc, scale], {**repl_outer, **repl_x}, strict=False)
                repl_x[values[b.name]] = loc + scale * piece
                latent_terms.append(-0.5 * pt.sum(piece**2) - 0.5 * b.size * _LOG_2PI)
        for b in self.x_blocks:
            rv = cfree[b.name]
            if b.name not in self.normal:
                term = copy.logp(vars=[rv], jacobian=True)
                latent_terms.append(graph_replace([term], {**repl_outer, **repl_x}, strict=False)[0])
        obs_terms = copy.logp(vars=list(copy.observed_RVs), jacobian=False)
        pots = [copy.replace_rvs_by_values([p])[0] for p in copy.potentials]
        joint = obs_terms + pt.sum([pt.sum(p) for p in pots]) if pots else obs_terms
        (joint,) = graph_replace([joint], {**repl_outer, **repl_x}, strict=False)
        joint = joint + (pt.add(*latent_terms) if len(latent_terms) > 1 else latent_terms[0])
        joint = joint.astype("float64")
        latent_natural = [repl_x[values[n]] for n in self.latent]
        # natural values of the reported outer parameters
        natural = []
        for b in self.w_blocks:
            rv = cfree[b.name]
            tr = copy.rvs_to_transforms.get(rv)
            piece = repl_outer[values[b.name]]
            if tr is not None:
                piece = tr.backward(piece, *rv.owner.inputs)
                piece = copy.replace_rvs_by_values([piece])[0]
                (piece,) = graph_replace([piece], repl_outer, strict=False)
            natural.append(pt.as_tensor_variable(piece).astype("float64").ravel())
        nat = pt.concatenate(natural) if natural else pt.zeros((0,))
        # the curvature H of -l in y = (x, fixed effects). The latent block is sparse (a group's
        # effects meet only each other): it is measured by products H V with the seed vectors V
        # of its column colouring (pplmle.core.blocks), one reverse pass each, vectorized over
        # V; the few rows of fixed effects are one gradient each (batching them with the effects
        # makes PyTensor's rewrites run for many minutes)
        g_x = cast(TensorVariable, pt.grad(joint, x))
        g_a = cast(TensorVariable, pt.grad(joint, wa))
        v = pt.dvector("v")
        V = pt.dmatrix("V")  # (q, c): the seed vectors as columns
        hvp = -cast(TensorVariable, pt.grad(pt.sum(g_x * v), x))
        HS = cast(TensorVariable, vectorize_graph(hvp, replace={v: V.T})).T
        g_y = g_x
        if p:
            rows = [cast(list, pt.grad(g_a[k + j], [x, wa])) for j in range(p)]
            Hxb = -pt.stack([r[0] for r in rows]).T
            Hbb = -pt.stack([r[1][k:] for r in rows])
            g_y = pt.concatenate([g_x, g_a[k:]])
        else:
            Hxb, Hbb = pt.zeros((ql, 0)), pt.zeros((0, 0))
        # the log-determinant and the entries of C = H^-1 are NumPy's (block by block, once per
        # evaluation); d(1/2 log det H) = 1/2 tr(C dH) with C held fixed is one reverse pass
        # through the compressed products: W holds C's entries summed by colour
        W, Cxb, Cbb = pt.dmatrix("W"), pt.dmatrix("Cxb"), pt.dmatrix("Cbb")
        half_trace = 0.5 * (pt.sum(W * HS) + 2.0 * pt.sum(Cxb * Hxb) + pt.sum(Cbb * Hbb))
        d_wa, d_x = cast(list, pt.grad(half_trace, [wa, x]))
        dF_gaussian = (-g_a + d_wa)[:k]
        lat = pt.concatenate([pt.as_tensor_variable(a).astype("float64").ravel() for a in latent_natural])
        jac_lat = pytensor.gradient.jacobian(lat, x, vectorize=True)
        jac_nat = pytensor.gradient.jacobian(nat, wa, vectorize=True)[:, :k] if k else pt.zeros((0, 0))
        # PyMC's compile: a parameter outside its support gives -inf, not an error
        self._inner = pm_compile([x, wa, V], [joint, g_y, HS, Hxb, Hbb], on_unused_input="ignore")
        self._products = pm_compile([x, wa, V], HS, on_unused_input="ignore")
        self._outer_gaussian = pm_compile([x, wa, V, W, Cxb, Cbb], dF_gaussian, on_unused_input="ignore")
        self._natural = pm_compile([wa], [nat, jac_nat], on_unused_input="ignore")
        self._latent = pm_compile([x, wa], [lat, jac_lat], on_unused_input="ignore")
        # where the curvature depends on x (not a linear mixed model), the mode moves with w and
        # log det H with it: dx/dw = H^-1 d2l/dx dw enters through t = d(1/2 log det H)/dx, as
        # the gradient in w of v' dl/dx with v = H^-1 t held fixed (compiled on first use; ML
        # only, p = 0)
        self._outer_general: Any = None
        self._implicit: Any = None
        self._implicit_graph = (x, wa, V, W, Cxb, Cbb, dF_gaussian, d_x, g_x)

    def _args(self, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The graphs' arguments for the integrated point y = (x, fixed effects) at `w`."""
        ql = self.q_latent
        return y[:ql], np.concatenate([np.asarray(w, dtype=float), y[ql:]])

    def _inner_at(self, y: np.ndarray, w: np.ndarray):
        """``l``, its gradient in y and the curvature (compressed latent block, border) at y."""
        lv, g, HS, Hxb, Hbb = self._inner(*self._args(y, w), self.structure.seeds)
        return lv, g, (HS, Hxb, Hbb)

    # -- the curvature's structure -----------------------------------------------------------

    @property
    def structure(self) -> Structure:
        """The sparsity of the latent curvature for the current data (measured on first use)."""
        if self._structure is None:
            digest = hashlib.sha1()
            for name, value in sorted(self.data_snapshot().items()):
                digest.update(f"{name}{value.shape}{value.dtype}".encode())
                digest.update(np.ascontiguousarray(value).tobytes())
            key = digest.hexdigest()
            if key not in self._structures:
                if len(self._structures) > 8:
                    self._structures.clear()
                self._structures[key] = self._measure_structure()
            self._structure = self._structures[key]
        return self._structure

    def _measure_structure(self) -> Structure:
        """The pattern of the latent curvature: products with unit vectors at two random points
        (a structural zero is zero at both; a coincidental one is not), checked at a third with
        random vectors; the dense structure where that check fails."""
        ql, p = self.q_latent, self.p
        if self._initial is None:
            self._initial = self.model.initial_point()
        w = self.to_w({})
        rng = np.random.default_rng(1)
        pattern = None
        with np.errstate(all="ignore"):
            for _ in range(2):
                x, wa = self._args(rng.normal(size=self.q), w)

                def products(E: np.ndarray, x: np.ndarray = x, wa: np.ndarray = wa) -> np.ndarray:
                    return np.asarray(self._products(x, wa, E))

                P = pattern_of(products, ql)
                pattern = P if pattern is None else ((pattern + P) > 0).tocsr()
            st = Structure(pattern, p)
            if self.check_structure(st, rng.normal(size=self.q), w) > STRUCTURE_TOL:
                st = Structure.dense(ql, p)
        return st

    def check_structure(self, st: Structure, y: np.ndarray, w: np.ndarray) -> float:
        """How far the curvature read through `st` is from full products with random vectors at
        (y, w): relative, 0 up to rounding when the pattern holds (inf where not finite)."""
        x, wa = self._args(y, w)
        V = np.random.default_rng(2).normal(size=(self.q_latent, 2))
        with np.errstate(all="ignore"):
            HS = self._products(x, wa, st.seeds)
            HV = self._products(x, wa, V)
        if not (np.all(np.isfinite(HS)) and np.all(np.isfinite(HV))):
            return np.inf
        return st.mismatch(HS, HV, V)

    def _outer(self, y: np.ndarray, w: np.ndarray, lv: float, curv) -> tuple[float, np.ndarray]:
        """The marginal NLL and its exact gradient in `w` at the mode `y`, where the joint
        log-density is `lv` and its curvature `curv`."""
        st = self.structure
        f = st.factor(*curv)
        if f is None:
            return np.inf, np.full(self.k, np.nan)
        W, Cxb, Cbb = f.selected_inverse()
        x, wa = self._args(y, w)
        F = -float(lv) + 0.5 * f.logdet() - 0.5 * self.q * _LOG_2PI
        if self.gaussian:
            return F, np.asarray(self._outer_gaussian(x, wa, st.seeds, W, Cxb, Cbb), dtype=float)
        if self._outer_general is None:
            xv, wv, Vv, Wv, Cxbv, Cbbv, dF_gaussian, d_x, g = self._implicit_graph
            vv = pt.dvector("v")
            implicit = cast(TensorVariable, pt.grad(pt.sum(vv * g), wv))[: self.k]
            self._outer_general = pm_compile(
                [xv, wv, Vv, Wv, Cxbv, Cbbv], [dF_gaussian, d_x], on_unused_input="ignore"
            )
            self._implicit = pm_compile([xv, wv, vv], implicit, on_unused_input="ignore")
        dF, t = self._outer_general(x, wa, st.seeds, W, Cxb, Cbb)
        v = f.solve(np.asarray(t, dtype=float))[: self.q_latent]
        return F, np.asarray(dF, dtype=float) + np.asarray(self._implicit(x, wa, v), dtype=float)

    def check_gaussian(self, w: np.ndarray) -> bool:
        """Whether the joint density is Gaussian in the integrated variables (their curvature the
        same at two points): the Laplace integral is then exact, and the mode's motion with `w`
        leaves log det H unchanged. Sets :attr:`gaussian`."""
        rng = np.random.default_rng(0)
        x0 = np.zeros(self.q)
        x1 = rng.normal(size=self.q)
        with np.errstate(all="ignore"):
            _, _, c0 = self._inner_at(x0, w)
            _, _, c1 = self._inner_at(x1, w)
        H0 = np.concatenate([np.ravel(a) for a in c0])
        H1 = np.concatenate([np.ravel(a) for a in c1])
        scale = np.max(np.abs(H0), initial=0.0)
        same = bool(
            np.all(np.isfinite(H0))
            and np.all(np.isfinite(H1))
            and np.max(np.abs(H1 - H0), initial=0.0) <= EXACT_TOL * max(scale, 1e-300)
        )
        self.gaussian = same
        self._memo.clear()
        return same

    # -- data --------------------------------------------------------------------------------

    def set_data(self, values: Mapping[str, np.ndarray]) -> None:
        for name, value in values.items():
            self.model[name].set_value(value)
        self._memo.clear()
        self._structure = None

    def data_snapshot(self) -> dict[str, np.ndarray]:
        return {
            v.name: np.array(v.get_value(borrow=True), copy=True)
            for v in self.model.data_vars
            if hasattr(v, "get_value")
        }

    # -- the conditional mode ----------------------------------------------------------------

    def mode(self, w: np.ndarray, y0: np.ndarray | None = None) -> tuple[np.ndarray, bool, float, Any]:
        """The conditional mode y = (x, fixed effects) of the integrated variables at `w`, whether
        Newton's method reached it (a squared Newton decrement, twice the rise of ``l`` left in the
        local quadratic, below :data:`MODE_TOL` or below the rounding of ``l``, after which one
        more full step is taken), and ``l`` and the curvature there."""
        y = np.zeros(self.q) if y0 is None else np.array(y0, dtype=float, copy=True)
        lv, g, H = self._inner_at(y, w)
        if not np.isfinite(lv):
            y = np.zeros(self.q)
            lv, g, H = self._inner_at(y, w)
        for _ in range(MODE_MAXITER):
            if not (np.isfinite(lv) and np.all(np.isfinite(g)) and all(np.all(np.isfinite(a)) for a in H)):
                return y, False, lv, H
            step, dec2 = _newton_step(self.structure, H, g)
            if step is None:
                return y, False, lv, H
            floor = 64.0 * np.finfo(float).eps * max(1.0, abs(lv))
            done = dec2 <= max(MODE_TOL, floor)  # then one more full step (error dec -> dec**2)
            t, moved = 1.0, False
            for _ in range(1 if done else 60):
                yn = y + t * step
                ln, gn, Hn = self._inner_at(yn, w)
                if np.isfinite(ln) and ln >= lv - floor and all(np.all(np.isfinite(a)) for a in Hn):
                    y, lv, g, H, moved = yn, ln, gn, Hn, True
                    break
                t *= 0.5
            if done:
                return y, True, lv, H
            if not moved:
                return y, False, lv, H
        return y, False, lv, H

    # -- the kernel's Objective protocol -----------------------------------------------------

    def evaluate(self, w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The marginal NLL, its exact gradient and the conditional mode at `w`."""
        key = np.asarray(w, dtype=float).tobytes()
        if key in self._memo:
            return self._memo[key]
        self.n_eval += 1
        with np.errstate(all="ignore"):
            x, ok, lv, H = self.mode(w, self._x_last)
            if ok:
                F, dF = self._outer(x, w, lv, H)
                self._x_last = x
            else:
                F, dF = np.inf, np.full(self.k, np.nan)
        if not (np.isfinite(F) and np.all(np.isfinite(dF))):
            F = np.inf
        out = (F, dF, x)
        if len(self._memo) > 64:
            self._memo.clear()
        self._memo[key] = out
        return out

    def value_grad(self, U: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fs, gs = [], []
        for u in np.atleast_2d(U):
            F, dF, _ = self.evaluate(u)
            fs.append(F)
            gs.append(dF)
        return np.array(fs), np.array(gs).reshape(len(fs), self.k)

    def full(self, U: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
        U = np.atleast_2d(U)
        f, g = self.value_grad(U, rows)
        rep, jac = [], []
        for u in U:
            r, J = self.natural(u)
            rep.append(r)
            jac.append(J)
        b = U.shape[0]
        return {
            "objective": f,
            "loglik": -f,
            "grad": g,
            "hess": np.full((b, self.k, self.k), np.nan),
            "reported": np.array(rep).reshape(b, -1),
            "jac": np.array(jac).reshape(b, -1, self.k),
        }

    # -- coordinates -------------------------------------------------------------------------

    def to_w(self, natural: Mapping[str, Any]) -> np.ndarray:
        """Outer coordinates for natural values by name (missing names: the model's initial
        point). ValueError for a value outside the support (not finite, or a negative scale)."""
        if self._initial is None:
            self._initial = self.model.initial_point()
        w = np.zeros(self.k)
        cfree = {rv.name: rv for rv in self.model.free_RVs}
        for b in self.w_blocks:
            rv = cfree[b.name]
            if b.name not in natural:
                u = self._initial[self.model.rvs_to_values[rv].name]
            else:
                v = np.broadcast_to(np.asarray(natural[b.name], dtype=float), b.shape)
                if self.model.rvs_to_transforms.get(rv) is None or b.name in self.scales:
                    u = v
                else:
                    u = self._forward(b, rv)(v.ravel())
                if not np.all(np.isfinite(u)) or (b.name in self.scales and np.any(v < 0)):
                    raise ValueError(messages.marginal_start_outside(b.name, v))
            w[b.start : b.stop] = np.ravel(u)
        return w

    def _forward(self, b: _Block, rv) -> Any:
        """The compiled transform of `rv` (natural values to its coordinates), once per variable."""
        if b.name not in self._forwards:
            v = pt.dvector(b.name)
            tr = self.model.rvs_to_transforms[rv]
            u = self.model.replace_rvs_by_values([tr.forward(v.reshape(b.shape), *rv.owner.inputs)])[0]
            self._forwards[b.name] = pm_compile([v], pt.as_tensor_variable(u).ravel(), mode="FAST_COMPILE")
        return self._forwards[b.name]

    def natural(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r, J = self._natural(np.concatenate([np.asarray(w, dtype=float), np.zeros(self.p)]))
        return np.asarray(r, dtype=float), np.asarray(J, dtype=float).reshape(len(r), self.k)

    def integrated_at(self, w: np.ndarray) -> dict[str, Any]:
        """At `w`: the conditional modes of the latent variables (natural scale) and their
        conditional variances, the conditional mode of all integrated variables in their
        coordinates and the conditional covariance of the fixed effects (REML), and the marginal
        NLL."""
        F, _, x = self.evaluate(w)
        lat, J = self._latent(*self._args(x, w))
        _, _, curv = self._inner_at(x, w)
        f = self.structure.factor(*curv)
        if f is None:
            var_lat, cov_b = np.full(len(lat), np.nan), np.full((self.p, self.p), np.nan)
        else:
            var_lat, cov_b = f.sandwich_diagonal(np.asarray(J)), f.border_inverse()
        return {"latent": lat, "var_latent": var_lat, "x": x, "cov_fixed": cov_b, "objective": F}


def _newton_step(st: Structure, H, g: np.ndarray) -> tuple[np.ndarray | None, float]:
    """The ascent step ``H^-1 g`` (Levenberg-Marquardt-damped where ``H`` is not positive
    definite) and the squared Newton decrement ``g' H^-1 g``."""
    if g.size == 0:
        return np.zeros(0), 0.0
    lam = 0.0
    for _ in range(40):
        f = st.factor(H[0], H[1], H[2], damping=lam)
        if f is None:
            lam = max(2.0 * lam, 1e-10)
            continue
        z = f.solve(g)
        return z, float(g @ z)
    return None, np.inf


# -- the fit -------------------------------------------------------------------------------------

_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.RLock()


def laplace_engine(model: pm.Model, latent: tuple[str, ...], method: str) -> LaplaceEngine:
    """The compiled engine of `model` (one per model, integrated variables and method), with the
    user's current data carried over."""
    with _LOCK:
        per = _ENGINES.setdefault(model, {})
        key = (latent, method, tuple(model.named_vars))
        if key not in per:
            per[key] = LaplaceEngine(model, latent, method)
        engine = per[key]
    with engine.lock:
        for orig, new in engine.shared_map.items():
            new.set_value(orig.get_value(borrow=True))
        engine._memo.clear()
        engine._structure = None
    return engine


class MarginalContext(PortableContext):
    """The :class:`~pplmle.core.likelihood.Likelihood` of a marginal fit: the model, a copy of
    its data and the optimum, for ``nllf``, profiles and intervals."""

    def __init__(self, engine, data, u, labels, source, latent, method):
        self._engine = engine
        self.data = {k: np.array(v, copy=True) for k, v in data.items()}
        self.u = np.array(u, dtype=float)
        self.labels = list(labels)
        self.source = source
        self.latent = tuple(latent)
        self.method = method
        self.cache: dict[Any, Any] = {}

    @property
    def engine(self) -> LaplaceEngine:
        if self._engine is None:
            self._engine = laplace_engine(self.source, self.latent, self.method)
        return self._engine

    @contextlib.contextmanager
    def active(self):
        """The engine holding this fit's data (under its lock), restored afterwards."""
        engine = self.engine
        with engine.lock:
            current = engine.data_snapshot()
            engine.set_data(self.data)
            try:
                yield engine
            finally:
                engine.set_data(current)

    def _outer_values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in params.items() if k in self.engine.outer}

    def nll(self, params: Mapping[str, Any]) -> float:
        with self.active() as engine:
            return float(engine.evaluate(engine.to_w(self._outer_values(params)))[0])

    def supports(self, params: Mapping[str, Any]) -> bool:
        with self.active() as engine:
            try:
                engine.to_w(self._outer_values(params))
            except ValueError:
                return False
        return True

    def constrained_minimum(self, start, fixed, values):
        with self.active() as engine:
            (j,), (c,) = list(fixed), list(values)
            u0 = np.array(start, dtype=float, copy=True)
            natural, _ = engine.natural(u0)
            if j < engine.k and natural.size == engine.k:
                params = _unflatten(engine, natural)
                name, idx = _locate(engine, j)
                value = np.array(params[name], dtype=float, copy=True)
                value.flat[idx] = c
                try:
                    u0 = engine.to_w({**params, name: value})
                except ValueError:
                    pass
            U, f, ok = kernel.constrained(engine, u0[None, :], int(j), np.array([c]))
            return U[0], float(f[0]), bool(ok[0] and np.isfinite(f[0]))


def _unflatten(engine: LaplaceEngine, flat: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for b in engine.w_blocks:
        v = flat[b.start : b.stop]
        out[b.name] = float(v[0]) if b.shape == () else v.reshape(b.shape).copy()
    return out


def _locate(engine: LaplaceEngine, j: int) -> tuple[str, int]:
    for b in engine.w_blocks:
        if b.start <= j < b.stop:
            return b.name, j - b.start
    raise IndexError(j)


def _labels(model: pm.Model, names: Sequence[str], shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    return [lab for n in names for lab in _element_labels(n, axis_values(model, n, shapes[n]))]


def fit_marginal(
    model: pm.Model,
    marginalize: Any,
    *,
    method: str = "ML",
    start: Mapping[str, Any] | None = None,
    strict: bool = False,
    gtol: float = kernel.GTOL,
    nan_policy: str = "raise",
    n_obs: int | None = None,
) -> MLEResult:
    """The marginal maximum-likelihood (or REML) fit of `model` with `marginalize` integrated out
    (see the module docstring and :func:`pplmle.mle`)."""
    method = check_method(method)
    if not isinstance(model, pm.Model):
        raise ValueError(
            f"`marginalize` needs a pm.Model (its latent variables are named); got {type(model).__name__}."
        )
    given_n = check_n_obs(n_obs)
    if nan_policy != "raise" or check_model(model, nan_policy):
        raise ValueError(
            "`marginalize` needs observed data without NaN (nan_policy='raise'): drop the missing "
            "rows from the data before building the model."
        )
    latent = check_marginalize(model, marginalize)
    _check_structure(model, latent)
    if start is not None and not isinstance(start, Mapping):
        raise ValueError(f"`start` must be a dict of values by parameter name; got {start!r}.")
    engine = laplace_engine(model, latent, method)
    bad = sorted(set(start or {}) - set(engine.outer))
    if bad:
        raise ValueError(f"`start` may name only the estimated parameters {list(engine.outer)}; got {bad}.")
    with engine.lock:
        engine.n_eval = 0
        engine._x_last = None
        w0 = engine.to_w(dict(start or {}))
        if not engine.check_gaussian(w0) and method == "REML":
            raise ValueError(
                "method='REML' is the restricted likelihood of a linear mixed model, and this model's "
                "joint density is not Gaussian in the effects (its curvature changes with them: a "
                "generalized linear mixed model, say); use method='ML'."
            )
        # Newton's steps on a one-step difference Hessian of the exact gradient, then the verdict
        # on a Richardson-extrapolated one; where that verdict is not reached, Newton's method
        # goes on with the extrapolated Hessians
        run = kernel.newton(engine, w0[None, :], tol=gtol, quick=True)
        info = kernel.assess(engine, run.U, tol=gtol, hint=run.hess)
        if not bool(info["ok"][0]) and int(run.status[0]) != kernel.NONFINITE:
            more = kernel.newton(engine, run.U, tol=gtol)
            run = kernel.NewtonResult(
                more.U, more.status, run.iters + more.iters, more.decrement, more.minus_inf, more.hess
            )
            info = kernel.assess(engine, run.U, tol=gtol, hint=run.hess)
        w = run.U[0].copy()
        status = int(run.status[0])
        # a scale of integrated effects at zero (|t| within BOUNDARY_SE of its standard errors of
        # 0, where Newton's method verified a minimum) is a boundary MLE: it is set to 0 exactly,
        # where the marginal NLL is even in t, and the point is verified again there
        at_zero = []
        if bool(info["ok"][0]) and engine.k:
            sd = np.sqrt(np.abs(np.diag(np.linalg.pinv(info["hess"][0]))))
            at_zero = [
                b.start
                for b in engine.w_blocks
                if b.name in engine.scales and abs(w[b.start]) <= BOUNDARY_SE * sd[b.start]
            ]
        if at_zero:
            w[at_zero] = 0.0
            info = kernel.assess(engine, w[None, :], tol=gtol, hint=info["hess"])
        detail = engine.integrated_at(w)
        data = engine.data_snapshot()
        n_eval = engine.n_eval
    labels = _labels(model, engine.outer, engine.shapes)
    reported = np.asarray(info["reported"][0], dtype=float)
    cov = np.array(info["cov"][0], dtype=float)
    se = np.array(info["se"][0], dtype=float)
    converged = bool(info["ok"][0])
    flags: dict[str, str] = {}
    diagnostics: list[str] = []
    findings = []
    if at_zero:
        # the Wald errors of a parameter on the boundary are meaningless: NaN; the others' errors
        # are those with it held at zero (its cross-curvatures vanish there, by symmetry)
        cov[at_zero, :] = np.nan
        cov[:, at_zero] = np.nan
        se[at_zero] = np.nan
        reported[at_zero] = 0.0
        values = {labels[i]: 0.0 for i in at_zero}
        findings.append(dg.boundary(values, messages.variance_at_zero([labels[i] for i in at_zero])))
    latent_labels = _labels(model, engine.latent, engine.shapes)
    lat_se = np.sqrt(np.clip(detail["var_latent"], 0.0, None))
    random_effects = pd.DataFrame(
        {"mode": np.asarray(detail["latent"], dtype=float), "se": lat_se}, index=latent_labels
    )
    params: dict[str, Any] = {}
    se_by: dict[str, Any] = {}
    for b in engine.w_blocks:
        params[b.name] = (
            float(reported[b.start]) if b.shape == () else reported[b.start : b.stop].reshape(b.shape)
        )
        se_by[b.name] = float(se[b.start]) if b.shape == () else se[b.start : b.stop].reshape(b.shape)
    all_labels = list(labels)
    if engine.fixed:  # REML: the fixed effects at their conditional mode (GLS)
        fixed_labels = _labels(model, engine.fixed, engine.shapes)
        nf = len(fixed_labels)
        xb = detail["x"][engine.q - nf :]
        cb = detail["cov_fixed"]
        fixed_params: dict[str, Any] = {}
        fixed_se: dict[str, Any] = {}
        i = 0
        for name in engine.fixed:
            shape = engine.shapes[name]
            size = int(np.prod(shape))
            v, s = xb[i : i + size], np.sqrt(np.diag(cb))[i : i + size]
            fixed_params[name] = float(v[0]) if shape == () else v.reshape(shape)
            fixed_se[name] = float(s[0]) if shape == () else s.reshape(shape)
            i += size
        params, se_by = {**fixed_params, **params}, {**fixed_se, **se_by}
        # their covariance with the variance components is not estimated by REML: NaN
        big = np.full((nf + engine.k, nf + engine.k), np.nan)
        big[:nf, :nf] = cb
        big[nf:, nf:] = cov
        cov = big
        all_labels = fixed_labels + labels
    n_params = engine.k + (len(all_labels) - len(labels))
    counted = observation_count(engine.model)
    exact = engine.gaussian
    how = messages.laplace_exact() if exact else messages.laplace_approximate()
    message = f"{how}; {kernel.STATUS[status]} after {int(run.iters[0])} Newton iterations"
    if not converged:
        why = messages.marginal_not_verified(
            float(info["decrement"][0]), bool(info["curv"].pd[0]), kernel.STATUS[status]
        )
        message = f"{message}; {why}"
        warn_or_raise(messages.not_converged_warning("marginal fit", why), ConvergenceWarning, strict)
    for finding in findings:
        flags.update(finding.flags)
        diagnostics.append(str(finding.code))
        warn_or_raise(finding.message, finding.category, strict)
    result = MLEResult(
        params=params,
        se=se_by,
        cov=pd.DataFrame(cov, index=all_labels, columns=all_labels),
        loglik=-float(detail["objective"]),
        n_obs=given_n if given_n is not None else counted,
        n_params=int(n_params),
        converged=converged,
        message=message,
        method="MLE" if method == "ML" else "REML",
        grad_norm=float(np.max(np.abs(info["grad_natural"][0]), initial=0.0)),
        model_name=model.name or "pm.Model",
        diagnostics=tuple(dg.Diagnostic(d) for d in diagnostics),
        n_eval=int(n_eval),
        flags=flags,
        data_key=data_fingerprint(engine.model),
        dep_var=", ".join(rv.name for rv in engine.model.observed_RVs),
        n_iter=int(run.iters[0]),
        marginalized=latent,
        random_effects=random_effects,
        approximation="exact" if exact else "Laplace",
        context=MarginalContext(engine, data, w, all_labels, model, latent, method),
    )
    return result

"""Maximum-likelihood and MAP estimates of PyMC models: :func:`mle`, :func:`map_estimate`.

Use :func:`mle` for the MLE of a built-in family or of any ``pm.Model`` (its
priors are replaced by flat ones) and :func:`map_estimate` for the MAP of a
model with its priors kept.  Every function a fit needs, find_MAP's included, is compiled
once per model and reused by its later fits (see :func:`mle`); ``optimizer="compiled"`` also
leaves find_MAP out, for the fastest repeated fits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

import numpy as np
import pandas as pd
import pymc as pm

from pplmle.core import diagnostics as dg
from pplmle.core import messages
from pplmle.core.errors import ConvergenceWarning, HessianWarning, MultipleOptimaWarning, warn_or_raise
from pplmle.core.result import MLEResult
from pplmle.core.validate import check_report
from pplmle.pymc import bambi_adapter, bounds, kernel
from pplmle.pymc.engine import (
    Engine,
    PortableContext,
    Run,
    adopt,
    check_model,
    delta_method,
    flatten_priors,
    parameter_dim_lengths,
    scaled_cholesky,
)
from pplmle.pymc.families import Family
from pplmle.pymc.kernel import GTOL
from pplmle.pymc.observed import (
    _element_labels,
    axis_values,
    check_discrete_observed,
    check_n_obs,
    data_fingerprint,
    observation_count,
    potential_terms,
)
from pplmle.pymc.structure import (
    HeldEngine,
    WithoutHeld,
    analyze,
    check_hierarchy,
    held_engine,
    labels_of,
    refusal,
)

__all__ = ["map_estimate", "mle"]

_OPTIMIZERS = ("find_MAP", "compiled")

# Compiled engines: families share one per structure; user models one per model object.
_FAMILY_ENGINES: dict[tuple, Engine] = {}
_MODEL_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# guards the two registries (an engine's own lock guards its data and compiled functions)
_REGISTRY_LOCK = threading.RLock()


def family_engine(family: Family) -> Engine:
    key = family.compile_key()
    with _REGISTRY_LOCK:
        if key not in _FAMILY_ENGINES:
            model = adopt(family.build_model(family.data()))
            _FAMILY_ENGINES[key] = Engine(model, reported=list(family.labels()))
        return _FAMILY_ENGINES[key]


def model_engine(
    model: pm.Model, method: str, nan_policy: str, hierarchy: str = "refuse"
) -> tuple[Engine, dict]:
    """The compiled engine of `model` (one per model, method and structure) and the map of its
    data containers. For the MLE of a hierarchical or latent-variable model (see
    :mod:`pplmle.pymc.structure`) `hierarchy` decides: ``"refuse"`` raises
    :class:`~pplmle.core.errors.HierarchicalModelError`, ``"flatten"`` gives the flattened
    model's engine with the variables that do not enter the likelihood held fixed."""
    with _REGISTRY_LOCK:
        engine, shared_map = _model_engine_locked(model, method, nan_policy, hierarchy)
    # carry over data the user changed with pm.set_data since the copy was made (under the
    # engine's lock, taken after the registry's is released: no thread waits for one holding both)
    with engine.lock:
        for orig, new in shared_map.items():
            new.set_value(orig.get_value(borrow=True))
    return engine, shared_map


def _model_engine_locked(
    model: pm.Model, method: str, nan_policy: str, hierarchy: str
) -> tuple[Engine, dict]:
    check_hierarchy(hierarchy)
    imputed = check_model(model, nan_policy)
    check_discrete_observed(model)
    per_model = _MODEL_ENGINES.setdefault(model, {})
    key = (method, tuple(sorted(imputed)), tuple(model.named_vars), parameter_dim_lengths(model))
    if key not in per_model:
        if method == "MLE":
            flat, shared_map = flatten_priors(model, drop_imputed=list(imputed))
            dropped = {f"{name}_unobserved" for name in imputed}
            order = [rv.name for rv in model.free_RVs if rv.name not in dropped]  # the user's order
            per_model[key] = (Engine(flat, reported=order), shared_map)
        else:  # the MAP optimizes the user's model itself (check_model refused NaN)
            per_model[key] = (Engine(model), {})
    if method != "MLE":  # priors kept: nothing to refuse
        return per_model[key]
    # a hierarchical or latent-variable model: refused, or its flattened model with the
    # variables that do not enter the likelihood held fixed
    engine, shared_map = per_model[key]
    structure_key, held_key = (*key, "structure"), (*key, "held")
    if structure_key not in per_model:
        per_model[structure_key] = analyze(model, engine.model)
    found = per_model[structure_key]
    if found.refused and hierarchy == "refuse":
        raise refusal(found, engine.model)
    if not found.outside:
        return per_model[key]
    if held_key not in per_model:
        per_model[held_key] = held_engine(engine.model, found, shared_map, engine.reported)
    return per_model[held_key]


def labels_for(engine: Engine, labels: Mapping[str, list[str]] | None) -> list[str]:
    """The label of every scalar parameter, in the order of the flat parameter vector.

    A family passes its own `labels`. For a ``pm.Model``, a scalar variable is labelled by its
    name; an element of a variable with ``dims=`` by its coordinate values (``beta[age]``,
    ``city_offset[Berlin, Jan]``), with the integer index along a dim that has no coordinate
    values (or values that do not tell its elements apart); a variable without dims by its
    integer indices (``beta[0]``). Should two labels still coincide, every label is indexed.
    """
    if labels is not None:
        return [lab for name in engine.reported for lab in labels[name]]
    pairs = list(zip(engine.reported, engine.reported_shapes, strict=True))
    model = engine.model
    out = [lab for name, shape in pairs for lab in _element_labels(name, axis_values(model, name, shape))]
    if len(set(out)) < len(out):  # coordinate values that collide with another label
        out = [lab for name, shape in pairs for lab in _element_labels(name, [range(n) for n in shape])]
    return out


def fit_from(
    engine: Engine,
    *,
    method: str,
    start_u: np.ndarray,
    n_starts: int,
    seed: int | None,
    optimizer: str,
    strict: bool,
    progressbar: bool,
    maxeval: int,
    gtol: float,
    n_obs: int,
    labels: list[str],
    model_name: str,
    to_free,
    n_obs_note: str = "",
    findings: list[dg.Finding] | None = None,
    probe: bool = True,
    second_route: bool = False,
    support_bounds: bool = False,
) -> MLEResult:
    """Fit from `start_u` and judge the end point (see :func:`mle`); the caller holds the engine's
    lock, so the data cannot change during the fit and a point assessed twice is evaluated once."""
    with engine.lock, engine.single.remembering():
        return _fit_from(
            engine,
            method=method,
            start_u=start_u,
            n_starts=n_starts,
            seed=seed,
            optimizer=optimizer,
            strict=strict,
            progressbar=progressbar,
            maxeval=maxeval,
            gtol=gtol,
            n_obs=n_obs,
            labels=labels,
            model_name=model_name,
            to_free=to_free,
            n_obs_note=n_obs_note,
            findings=findings,
            probe=probe,
            second_route=second_route,
            support_bounds=support_bounds,
        )


def _fit_from(
    engine: Engine,
    *,
    method: str,
    start_u: np.ndarray,
    n_starts: int,
    seed: int | None,
    optimizer: str,
    strict: bool,
    progressbar: bool,
    maxeval: int,
    gtol: float,
    n_obs: int,
    labels: list[str],
    model_name: str,
    to_free,
    n_obs_note: str,
    findings: list[dg.Finding] | None,
    probe: bool,
    second_route: bool,
    support_bounds: bool,
) -> MLEResult:
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {_OPTIMIZERS}; got {optimizer!r}.")
    if not isinstance(n_starts, (int, np.integer)) or n_starts < 1:
        raise ValueError(f"`n_starts` must be a whole number >= 1; got {n_starts!r}.")
    if not gtol > 0:
        raise ValueError(f"`gtol` must be positive; got {gtol!r}.")
    if not np.isfinite(engine.objective(start_u)):
        msg = messages.start_not_finite(_fmt(engine.natural_from_u(start_u)))
        warn_or_raise(msg, ConvergenceWarning, strict)
        return _failed(engine, start_u, msg, method, n_obs, labels, model_name, n_obs_note)

    rng = np.random.default_rng(seed)
    starts = [start_u] + [start_u + rng.uniform(-1.0, 1.0, size=start_u.size) for _ in range(n_starts - 1)]
    # each start: find_MAP then the kernel's Newton method; for a user model also Newton from
    # the start itself, a second route whose end point checks the first
    runs, notes = [], []
    for u0 in starts:
        route = engine.optimize(
            u0, use_find_map=optimizer == "find_MAP", maxeval=maxeval, progressbar=progressbar, gtol=gtol
        )
        if second_route and optimizer == "find_MAP":
            # a later route stops once it reaches the basin of a verified optimum found before it
            other = engine.optimize(u0, use_find_map=False, gtol=gtol, join=_join(engine, route, gtol))
            route, note = _choose(engine, route, other, gtol)
            if engine.has_gauss_newton:
                # a third route for a Normal-response model: Levenberg-Marquardt (Gauss-Newton
                # curvature) then Newton, which leaves basins that Newton's method stays in
                lm = engine.optimize(
                    u0, use_find_map=False, gtol=gtol, gauss_newton=True, join=_join(engine, route, gtol)
                )
                route, also = _choose(engine, route, lm, gtol)
                note = note or also
            notes.append(note)
        runs.append(route)
    values = [engine.objective(r.u) for r in runs]
    finite = [i for i, v in enumerate(values) if np.isfinite(v)]
    pick = min(finite, key=lambda i: values[i]) if finite else 0
    best = runs[pick]
    note = notes[pick] if notes else ""
    u = best.u
    info = engine.info(u, gtol)
    findings = list(findings or [])
    verified = info["ok"] and not note  # finite, positive-definite Hessian, Newton decrement <= gtol
    # the existence checks: from a verified optimum, the recession probe (drift, boundary);
    # from an unfinished point, only an infinite likelihood reached or a NLL that falls without
    # limit; and nothing when the data already show that no MLE exists (separation)
    if probe and all(f.exists for f in findings):
        found = _probe(engine, best, info, labels) if verified else _unbounded(engine, best, info, labels)
        flagged = {lab for f in findings for lab in f.flags}
        if found is not None and not set(found.flags) <= flagged:
            findings.append(found)
    # an element on the edge of its support (a user model's transform): held there exactly
    edge = None
    if support_bounds and all(f.exists for f in findings):
        edge = bounds.at_bounds(engine, u, info, labels, gtol, method)
    if edge is not None:  # it replaces a receding-boundary finding of the probe for the same labels
        held = set(edge.finding.flags)
        findings = [f for f in findings if f.code != dg.Diagnostic.BOUNDARY or not set(f.flags) <= held]
        findings.append(edge.finding)
        # verified by the refit: the rest at an optimum, the NLL falling towards the bound. (A
        # second route that stopped short of the edge reads as far away in the metric of the
        # estimate, where the element's curvature vanishes: that note does not apply.)
        u, info, verified, note = edge.u, edge.info, edge.info["ok"], ""
    grad = info["grad_natural"]
    grad_norm = float(np.max(np.abs(grad))) if grad.size else 0.0
    diagnostics: list[str] = []
    converged = bool(verified and np.all(np.isfinite(info["reported"])))

    same = None
    if n_starts > 1:
        ests = np.array([engine.info(runs[i].u)["reported"] for i in finite])
        se_flat = info["se"]
        spread = np.max(np.abs(ests - info["reported"]), axis=0)
        tol = 1e-4 * np.where(np.isfinite(se_flat), se_flat, 0.0) + 1e-8 * np.abs(info["reported"])
        same = bool(len(finite) == n_starts and np.all(spread <= tol))
        if not same:
            diagnostics.append(dg.Diagnostic.MULTIPLE_OPTIMA)
            warn_or_raise(messages.multiple_optima(n_starts, values), MultipleOptimaWarning, strict)
    flags: dict[str, str] = {}
    for finding in findings:
        diagnostics.append(finding.code)
        flags.update(finding.flags)
        warn_or_raise(finding.message, finding.category, strict)
    info = _apply_findings(info, findings, labels)
    dec = info["decrement"]
    if not all(f.exists for f in findings):
        converged = False
        message = messages.no_mle(best.message)
    elif converged and any(f.code == dg.Diagnostic.BOUNDARY for f in findings):
        message = messages.converged_on_boundary(best.message, flagged=True)
    elif converged:
        message = messages.converged(dec, gtol, best.message)
    elif not info["hessian_ok"] and dec <= gtol and not findings and not _untrusted(info):
        # stationary, but the Hessian is singular there: not a verified optimum, and no SEs (a
        # decrement measured with an untrusted difference Hessian says nothing about stationarity)
        diagnostics.append(dg.Diagnostic.SINGULAR_HESSIAN)
        message = messages.stationary_singular(info["hessian_message"], best.message)
        warn_or_raise(messages.standard_errors_nan(info["hessian_message"]), HessianWarning, strict)
    elif edge is None and any(f.code == dg.Diagnostic.BOUNDARY for f in findings):
        converged = True  # an exact boundary value reported by the existence checks
        message = messages.converged_on_boundary(best.message, flagged=False)
    else:
        why = note or _why_not(best, info, gtol)
        message = messages.not_converged(why, best.message)
        warn_or_raise(messages.not_converged_warning(method, why), ConvergenceWarning, strict)
    if info["hessian_differences"]:
        message = f"{message} {messages.hessian_from_differences()}"

    return _result(
        engine,
        info,
        method=method,
        n_obs=n_obs,
        n_obs_note=n_obs_note,
        labels=labels,
        model_name=model_name,
        converged=converged,
        message=message,
        grad_norm=grad_norm,
        diagnostics=tuple(dg.Diagnostic(d) for d in diagnostics),
        n_starts=n_starts,
        same=same,
        n_eval=sum(r.n_eval for r in runs) + sum(r.iters for r in runs),
        to_free=to_free,
        flags=flags,
        u=u,
        n_iter=best.first_iters + best.iters,
    )


def _join(engine: Engine, run: Run, gtol: float) -> kernel.Join | None:
    """The end point of `run` as a route's target (:class:`pplmle.pymc.kernel.Join`) if it is a
    verified optimum, else None."""
    info = engine.info(run.u, gtol)
    factor = scaled_cholesky(info) if info["ok"] else None
    if factor is None:
        return None
    engine.single.pin(run.u)  # assessed again when the fit is reported
    L, D = factor
    return kernel.Join(u=np.asarray(run.u, dtype=float), f=info["objective"], L=L, D=D)


def _choose(engine: Engine, first: Run, second: Run, gtol: float) -> tuple[Run, str]:
    """The better of two routes from one start, and "" or why the better one cannot be trusted.

    A second route that joined the first's verified optimum (status JOINED, see :func:`_join`)
    agrees with it: the first is kept.

    A verified optimum beats an unverified point, and a lower NLL a higher one. When the better
    point is a verified optimum but the other route stopped, unverified, at a point far from it
    (more than 3 standard errors) with an NLL within 1 of it, the likelihood is nearly flat
    between two distant regions: which one the optimizer stops in depends on the route, and
    the better point is not reported as converged.
    """
    if second.status == kernel.JOINED:
        return first, ""
    a, b = engine.info(first.u, gtol), engine.info(second.u, gtol)

    def key(item):
        info = item[1]
        f = info["objective"]
        return (not info["ok"], f if np.isfinite(f) else np.inf)

    (run, info), (_, other) = sorted([(first, a), (second, b)], key=key)
    if not info["ok"] or other["ok"] or not np.isfinite(other["objective"]):
        return run, ""
    delta = other["objective"] - info["objective"]
    step = np.nan_to_num(second.u - first.u if run is first else first.u - second.u)
    dist = float(np.sqrt(max(step @ info["hess_u"] @ step, 0.0)))
    if delta < 1.0 and dist > 3.0:
        return run, messages.route_dependent(dist, delta)
    return run, ""


def _untrusted(info: dict) -> bool:
    """Whether the Hessian at the point came from differences too inconsistent to use."""
    untrusted = info["curv"].untrusted
    return bool(untrusted is not None and untrusted[0])


def _why_not(run: Run, info: dict, gtol: float) -> str:
    """Why the point is not a verified optimum, in words."""
    dec = info["decrement"]
    if not np.isfinite(info["objective"]):
        return messages.why_not_finite()
    if run.status == kernel.EXHAUSTED:
        return messages.why_exhausted(kernel.MAXITER, dec, gtol)
    if not info["hessian_ok"]:
        return messages.why_no_descent(info["hessian_message"])
    return messages.why_floor(dec, gtol)


def _probe(engine: Engine, run: Run, info: dict, labels: list[str]) -> dg.Finding | None:
    """The recession probe from a verified optimum, classified (None when nothing recedes)."""
    u = run.u
    path = (u - run.u_first)[None, :]
    found, points = kernel.recession(
        engine.single,
        u[None, :],
        np.zeros(1, dtype=int),
        np.array([info["objective"]]),
        info["grad_u"][None, :],
        info["curv"],
        extra=path if np.any(path) else None,
    )
    if not found[0]:
        return None
    pts = points[0][2:]  # the three farthest probe points (1/16, 1/4 and 1 standard error)
    reported = [info["reported"]] + [engine.info(p)["reported"] for p in pts]
    nll = [info["objective"]] + [engine.objective(p) for p in pts]
    return dg.classify_recession(labels, reported, nll, se=info["se"])


def _unbounded(engine: Engine, run: Run, info: dict, labels: list[str]) -> dg.Finding | None:
    """From an unfinished point: is the likelihood unbounded (an NLL of -inf was met, or the NLL
    falls at least linearly over twelve doublings along the Newton direction)?"""
    u = run.u
    if not np.isfinite(info["objective"]) or not np.all(np.isfinite(info["grad_u"])):
        return None
    g = info["grad_u"][None, :]
    step, _ = kernel.newton_step(info["curv"], g)
    if not np.all(np.isfinite(step)):  # no usable curvature: probe downhill in the scaled space
        D = info["curv"].D
        step = -D * (D * g)
    if not np.all(np.isfinite(step)) or not np.any(step):
        return None
    step = step / max(float(np.linalg.norm(step / info["curv"].D)), 1e-300)  # one scaled unit
    found, points = kernel.unbounded(
        engine.single, u[None, :], np.zeros(1, dtype=int), np.array([info["objective"]]), step
    )
    if not (found[0] or run.minus_inf):
        return None
    if points[0] is None:
        return dg.unbounded([lab for lab, d in zip(labels, info["jac"] @ step[0], strict=True) if d != 0])
    reported = [info["reported"]] + [engine.info(p)["reported"] for p in points[0]]
    nll = [info["objective"]] + [engine.objective(p) for p in points[0]]
    finding = dg.classify_recession(labels, reported, nll, se=None)
    if finding is None or finding.exists:
        return dg.unbounded([lab for lab, d in zip(labels, info["jac"] @ step[0], strict=True) if d != 0])
    return finding


def _apply_findings(info: dict, findings: list[dg.Finding], labels: list[str]) -> dict:
    """Exact boundary values replace the optimizer's; flagged parameters get NaN standard errors."""
    if not findings:
        return info
    info = dict(info)
    rep = np.array(info["reported"], dtype=float, copy=True)
    cov = np.array(info["cov"], dtype=float, copy=True)
    se = np.array(info.get("se", np.sqrt(np.diag(cov))), dtype=float, copy=True)
    index = {lab: i for i, lab in enumerate(labels)}
    for finding in findings:
        for lab, value in finding.values.items():
            rep[index[lab]] = value
        if not finding.exists:
            cov[:] = np.nan
            se[:] = np.nan
        for lab in finding.flags:
            cov[index[lab], :] = np.nan
            cov[:, index[lab]] = np.nan
            se[index[lab]] = np.nan
    info["reported"], info["cov"], info["se"] = rep, cov, se
    return info


def _fmt(point: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {np.round(v, 6).tolist()}" for k, v in point.items()) + "}"


def _failed(engine, u, msg, method, n_obs, labels, model_name, n_obs_note="") -> MLEResult:
    nan = np.full(len(labels), np.nan)
    info = {"reported": nan, "cov": np.full((nan.size, nan.size), np.nan), "loglik": -np.inf}
    return _result(
        engine,
        info,
        method=method,
        n_obs=n_obs,
        n_obs_note=n_obs_note,
        labels=labels,
        model_name=model_name,
        converged=False,
        message=msg,
        grad_norm=np.nan,
        diagnostics=("non-finite start",),
        n_starts=1,
        same=None,
        n_eval=0,
        to_free=None,
        flags={},
        u=u,
    )


class FitContext(PortableContext):
    """What a result needs to go back to its likelihood: the model, its data and the optimum.

    Profiles, surfaces and ``nllf`` run the engine on the result's own data (an engine is shared
    by every fit of the same structure, and may have moved on to other data since) and restore
    it, holding the engine's lock meanwhile: two threads may use two results at once. The
    context pickles without its engine (compiled functions stay in their process); the engine is
    found again, or compiled, from `source` on first use after unpickling.
    """

    def __init__(
        self,
        engine: Engine | None,
        data: dict[str, np.ndarray],
        u: np.ndarray,
        labels: list[str],
        to_free,
        source: Any = None,
        method: str = "MLE",
        nan_policy: str = "raise",
        derived: Sequence[str] = (),
    ):
        self._engine = engine
        #: names of the reported Deterministics (derived quantities, after the free parameters)
        self.derived = tuple(derived)
        self.data = {k: np.array(v, copy=True) for k, v in data.items()}
        self.u, self.labels, self.to_free = np.array(u), list(labels), to_free
        #: the family instance or pm.Model that was fitted (for the bootstrap and unpickling)
        self.source = source
        self.method, self.nan_policy = method, nan_policy
        #: mle()'s `hierarchy` (its engine, found again after unpickling, depends on it)
        self.hierarchy = "refuse"
        #: derived quantities computed on first use (profile intervals by label and level)
        self.cache: dict[Any, Any] = {}

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            if self.source is None:
                raise ValueError("This result carries no model to recompute its likelihood from.")
            if isinstance(self.source, Family):
                self._engine = family_engine(self.source)
            else:
                hierarchy = getattr(self, "hierarchy", "refuse")
                base = model_engine(self.source, self.method, self.nan_policy, hierarchy)[0]
                self._engine = base.with_derived(self.derived)
        return self._engine

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("derived", ())
        super().__setstate__(state)

    @contextlib.contextmanager
    def active(self):
        engine = self.engine
        with engine.lock:
            current = {k: np.array(v, copy=True) for k, v in engine.data_snapshot().items()}
            engine.set_data(self.data)
            try:
                yield engine
            finally:
                engine.set_data(current)

    def free(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Free-variable values (natural scale) for reported parameter values (derived ones, the
        reported Deterministics, are left out: they are functions of the free values)."""
        if self.to_free is not None:
            return self.to_free(params)
        return {k: v for k, v in params.items() if k not in self.derived}

    def nll(self, params: Mapping[str, Any]) -> float:
        """The NLL at reported parameter values (natural scale), on the fitted data.

        Derived quantities in `params` must agree with the values the free parameters give
        (ValueError otherwise); they may be left out.
        """
        with self.active() as engine:
            free = self.free(params)
            _check_derived(engine, params, free)
            base = engine.base or engine
            return -base.info(base.to_unconstrained(free))["loglik"]

    def supports(self, params: Mapping[str, Any]) -> bool:
        """Whether the transforms map these reported values to finite unconstrained ones."""
        with self.active() as engine:
            try:
                engine.to_unconstrained(self.free(params))
            except ValueError:
                return False
        return True

    def constrained_minimum(
        self, start: np.ndarray, fixed: list[int], values: list[float]
    ) -> tuple[np.ndarray, float, bool]:
        """The NLL minimized with reported parameters `fixed` held at `values` (see the protocol)."""
        with self.active() as engine:
            if engine.base is not None and max(fixed) < engine.n_primary:
                engine = engine.base  # a free parameter: the base engine's compiled functions do
            u, f, ok = engine.constrained_minimum(start, fixed, values)
            if ok and self.method == "MAP":  # the likelihood's NLL, not the objective's
                f = -engine.info(u)["loglik"]
        return u, float(f), bool(ok)

    def predict(self, result, new_data, *, var=None, level=0.95, interval="link", offset=None):
        """Predictions from `result` (see :meth:`pplmle.MLEResult.predict`)."""
        from pplmle.pymc import inference  # it uses this module: imported on use, no cycle

        if isinstance(self.source, Family):
            if var is not None:
                raise ValueError(f"`var` is for a pm.Model; a family predicts its mean (got var={var!r}).")
            return inference.family_predict(result, new_data, level, interval, offset)
        if offset is not None:
            raise ValueError("`offset` is for PoissonRegression; for a pm.Model put it in `new_data`.")
        if interval != "link" and interval != "delta":
            raise ValueError(f"`interval` must be 'link' or 'delta'; got {interval!r}.")
        return inference.predict_model(result, new_data, var, level)


def _check_derived(engine: Engine, params: Mapping[str, Any], free: Mapping[str, Any]) -> None:
    """Refuse derived quantities in `params` that differ from the values the free ones give."""
    given = [name for name in engine.derived if name in params]
    if not given:
        return
    with np.errstate(all="ignore"):
        flat = engine.derived_from_natural(free)
    n = len(engine.reported) - len(engine.derived)
    computed, i = {}, 0
    for name, shape in zip(engine.derived, engine.reported_shapes[n:], strict=True):
        size = int(np.prod(shape))
        computed[name] = flat[i : i + size].reshape(shape)
        i += size
    for name in given:
        value = np.asarray(params[name], dtype=float)
        if value.shape != computed[name].shape or not np.allclose(
            value, computed[name], rtol=1e-7, atol=1e-10, equal_nan=True
        ):
            raise ValueError(
                messages.derived_mismatch(
                    name, np.round(value, 8).tolist(), np.round(computed[name], 8).tolist()
                )
            )


#: the default `report` takes Deterministics of at most this many elements
DEFAULT_REPORT_MAX = 100


def report_names(engine: Engine, report: Any, user_model: pm.Model | None = None) -> tuple[str, ...]:
    """The Deterministics to report for `report` of mle()/map_estimate() (see :func:`mle`), in
    the order of `report`, or for the default rule of `user_model` (default: the engine's)."""
    model = engine.model
    dets = [d.name for d in model.deterministics]
    order = [d.name for d in (user_model or model).deterministics]
    dets = [d for d in order if d in dets] + [d for d in dets if d not in order]
    if report is None:
        if not dets:
            return ()
        n_obs, sizes = observation_count(model), engine.deterministic_sizes()
        return tuple(d for d in dets if sizes[d] < n_obs and sizes[d] <= DEFAULT_REPORT_MAX)
    free = [rv.name for rv in model.free_RVs]
    observed = [rv.name for rv in model.observed_RVs] + [v.name for v in model.data_vars if v.name]
    return check_report(report, dets, free, observed)


def derived_labels(full: Engine, primary: Sequence[str]) -> list[str]:
    """Labels of the derived quantities of `full` (an engine from ``with_derived``), as
    :func:`labels_for` makes them; indexed by integers should one coincide with another label."""
    n = len(full.reported) - len(full.derived)
    pairs = list(zip(full.reported[n:], full.reported_shapes[n:], strict=True))
    out = [
        lab for name, shape in pairs for lab in _element_labels(name, axis_values(full.model, name, shape))
    ]
    if len(set(out) | set(primary)) < len(out) + len(primary):
        out = [lab for name, shape in pairs for lab in _element_labels(name, [range(s) for s in shape])]
    return out


def _with_derived(result: MLEResult, engine: Engine, derived: tuple[str, ...]) -> MLEResult:
    """`result` with the Deterministics `derived` reported after its free parameters.

    Their values are the Deterministics at the reported free values (exact boundary values
    included); their covariance is the delta method ``J H^-1 J'`` with the Hessian of the fit, so
    the free parameters' rows are unchanged. A derived quantity that depends on a free parameter
    without a standard error (a flagged one) has none either, and its flag says on which.
    """
    ctx = fit_context(result)
    full = engine.with_derived(derived)
    full.compile()
    primary_labels = result.labels
    n_p = len(primary_labels)
    labels = primary_labels + derived_labels(full, primary_labels)
    m = len(labels)
    vec, se, cov = np.full(m, np.nan), np.full(m, np.nan), np.full((m, m), np.nan)
    vec[:n_p], se[:n_p] = result.vector(result.params), result.vector(result.se)
    cov[:n_p, :n_p] = result.cov.to_numpy()
    flags = dict(result.flags)
    with np.errstate(all="ignore"):
        vec[n_p:] = full.derived_from_natural(result.params)
    if np.all(np.isfinite(ctx.u)) and np.isfinite(result.loglik):  # not a fit that failed to start
        jac = np.asarray(full.function("rep")(ctx.u)[1], dtype=float).reshape(m, -1)
        cov_all, se_all = delta_method(engine.info(ctx.u), jac)
        cov[n_p:, :], cov[:, n_p:], se[n_p:] = cov_all[n_p:, :], cov_all[:, n_p:], se_all[n_p:]
        bad = [i for i in range(n_p) if not np.isfinite(se[i])]
        for d, via in _dependent(jac[:n_p], jac[n_p:], bad).items():
            cov[n_p + d, :] = cov[:, n_p + d] = se[n_p + d] = np.nan
            flagged = [primary_labels[i] for i in via if primary_labels[i] in result.flags]
            if flagged:
                flags[labels[n_p + d]] = messages.derived_flag(flagged)
    ctx._engine, ctx.labels, ctx.derived = full, labels, derived
    return dataclasses.replace(
        result,
        params=full.unflatten(vec),
        se=full.unflatten(se),
        cov=pd.DataFrame(cov, index=labels, columns=labels),
        flags=flags,
        derived=derived,
    )


def _dependent(jac_p: np.ndarray, jac_d: np.ndarray, bad: list[int]) -> dict[int, list[int]]:
    """For each derived row that depends on a free row in `bad`, those rows.

    With the free values theta(u) (Jacobian `jac_p`) and the derived h(theta(u)) (`jac_d`),
    ``dh/dtheta`` solves ``jac_d = dh/dtheta jac_p`` (least squares: a free vector with a
    constraint, a simplex, has more values than coordinates); an entry above 1e-10 of its row's
    largest is a dependence. Without a finite Jacobian every derived row depends on every bad row.
    """
    if not bad:
        return {}
    if not (np.all(np.isfinite(jac_p)) and np.all(np.isfinite(jac_d))):
        return {d: list(bad) for d in range(jac_d.shape[0])}
    dh = np.linalg.lstsq(jac_p.T, jac_d.T, rcond=None)[0].T  # (m_d, m_p)
    out = {}
    for d, row in enumerate(np.abs(dh)):
        top = float(row.max()) if row.size else 0.0
        via = [i for i in bad if top > 0 and row[i] > 1e-10 * top]
        if via:
            out[d] = via
    return out


def _result(
    engine,
    info,
    *,
    method,
    n_obs,
    labels,
    model_name,
    converged,
    n_obs_note="",
    message,
    grad_norm,
    diagnostics,
    n_starts,
    same,
    n_eval,
    to_free,
    flags,
    u,
    n_iter=0,
) -> MLEResult:
    cov = pd.DataFrame(info["cov"], index=labels, columns=labels)
    # the kernel's standard errors (formed without squaring: right where cov under/overflows)
    se = np.asarray(info["se"], dtype=float) if "se" in info else np.sqrt(np.diag(info["cov"]))
    context = FitContext(engine, engine.data_snapshot(), u, labels, to_free, method=method)
    return MLEResult(
        params=engine.unflatten(info["reported"]),
        se=engine.unflatten(se),
        cov=cov,
        loglik=float(info["loglik"]),
        n_obs=int(n_obs),
        n_obs_note=n_obs_note,
        n_params=int(engine.n_free),
        converged=bool(converged),
        message=message,
        method=method,
        grad_norm=float(grad_norm),
        model_name=model_name,
        diagnostics=tuple(dg.Diagnostic(d) for d in diagnostics),
        n_starts=int(n_starts),
        same_optimum=same,
        n_eval=int(n_eval),
        flags=dict(flags),
        data_key=data_fingerprint(engine.model),
        n_iter=int(n_iter),
        context=context,
    )


class _Setup(TypedDict, total=False):
    """What :func:`_estimate` passes to :func:`fit_from` about the model, by keyword."""

    n_obs: int
    n_obs_note: str
    model_name: str
    to_free: Callable[[Mapping[str, Any]], dict[str, Any]] | None
    findings: list[dg.Finding]
    second_route: bool
    support_bounds: bool


def _estimate(
    model, *, method, start, nan_policy, n_obs=None, report=None, hierarchy="refuse", **options
) -> MLEResult:
    """Set up the engine and starting point for a family or a pm.Model, then fit."""
    given_n = check_n_obs(n_obs)
    check_hierarchy(hierarchy)
    if isinstance(model, Family) and report is not None:
        raise ValueError(messages.report_family(report))
    if isinstance(model, Family):
        if method == "MAP":
            raise ValueError(
                "Families have flat priors, so their MAP is their MLE; use mle(), or "
                "map_estimate() on a pm.Model with the priors you want."
            )
        _check_start_names(start, model.param_names)
        engine = family_engine(model)
        setup: _Setup = {
            "n_obs": model.n_obs,
            "model_name": model.name,
            "to_free": model.to_free,
            "findings": model.findings(),
        }
    else:
        engine, _ = model_engine(model, method, nan_policy, hierarchy)
        counted, potentials = observation_count(engine.model), potential_terms(engine.model)
        setup = {
            "n_obs": counted,
            # a Potential's observations cannot be counted: the count is the user's, or incomplete
            "n_obs_note": messages.n_obs_incomplete(potentials, counted) if potentials else "",
            "model_name": model.name or "pm.Model",
            "to_free": None,
            "second_route": True,
            "support_bounds": True,
        }
    if given_n is not None:
        setup["n_obs"], setup["n_obs_note"] = given_n, ""
    # the engine is shared by every fit of the same structure: one thread at a time
    with engine.lock:
        if isinstance(model, Family):
            engine.set_data(model.data())
            free_start = {**model.start(), **model.to_free(dict(start or {}))}
        else:
            free_start = dict(start or {})
        found = engine.structure if isinstance(engine, HeldEngine) else None
        outside = found.outside if found is not None else ()
        if found is not None:  # hierarchy="flatten": what does not enter the likelihood is NaN
            free_start = {k: v for k, v in free_start.items() if k not in found.held}
            setup["to_free"] = WithoutHeld(found.held)
        u0 = engine.to_unconstrained(free_start)  # compiles the engine on first use
        labels = labels_for(engine, model.labels() if isinstance(model, Family) else None)
        derived = () if isinstance(model, Family) else report_names(engine, report, model)
        if outside:
            setup["findings"] = [dg.not_identified(outside, labels_of(engine, labels, outside))]
        result = fit_from(engine, method=method, start_u=u0, labels=labels, **setup, **options)
        if derived:
            result = _with_derived(result, engine, derived)
    if isinstance(model, Family):
        result = dataclasses.replace(result, **model.summary_info(result.n_params))
    else:
        observed = [rv.name for rv in engine.model.observed_RVs]
        result = dataclasses.replace(result, dep_var=", ".join(observed))
    if isinstance(result.context, FitContext):
        result.context.source = model
        result.context.nan_policy = nan_policy
        result.context.hierarchy = hierarchy
    return result


def fit_context(result: MLEResult) -> FitContext:
    """The PyMC layer's :class:`FitContext` behind `result` (ValueError when it has none)."""
    ctx = result.context
    if not isinstance(ctx, FitContext):
        raise ValueError("This result carries no likelihood to evaluate (the fit failed to start).")
    return ctx


def _check_start_names(start, names) -> None:
    unknown = set(start or {}) - set(names)
    if unknown:
        raise ValueError(messages.start_unknown(sorted(unknown), names))


def mle(
    model: Family | pm.Model,
    *,
    start: Mapping[str, Any] | None = None,
    n_starts: int = 1,
    seed: int | None = None,
    strict: bool = False,
    progressbar: bool = False,
    optimizer: str = "find_MAP",
    maxeval: int = 5000,
    gtol: float = GTOL,
    nan_policy: str = "raise",
    n_obs: int | None = None,
    report: Sequence[str] | None = None,
    hierarchy: str = "refuse",
    cov_type: str = "observed",
    groups: Any = None,
    fixed: Mapping[str, float] | None = None,
    marginalize: str | Sequence[str] | None = None,
    method: str = "ML",
) -> MLEResult:
    """Maximum-likelihood estimate of a pplmle family or of any ``pm.Model``.

    For a ``pm.Model``, every free variable's prior is replaced by a density that
    is flat on that variable's support (its transform is kept, so the optimizer
    works on an unconstrained scale); the likelihood is untouched and the user's
    model is not modified.  ``pm.find_MAP`` then maximizes the log-density with
    ``jacobian=False``, that is on the natural scale of every parameter, so with
    flat priors its optimum is the optimum of the likelihood: the MLE.

    ``find_MAP``'s L-BFGS-B stops where the gradient is small in absolute terms, which depends
    on the units of the data, so the kernel's scale-invariant Newton method on the exact Hessian
    (:func:`pplmle.pymc.kernel.newton`) goes on from wherever it stopped. For a ``pm.Model``,
    Newton's method from the start itself, and for a model of Normal observations with at most 16
    parameters Levenberg-Marquardt then Newton, are two more routes; the best end point is kept,
    and it is not called converged when another route stopped far from it (more than 3 standard
    errors) at a likelihood nearly as high, since the surface is then nearly flat. A later route
    that comes within 2 standard errors of an earlier route's verified optimum, at an NLL no
    lower, where that optimum's quadratic model predicts the NLL and its gradient (to 10%), has
    reached its basin and stops there (its last iterations would repeat that answer); so does a
    route at a point from which a step on that optimum's Hessian lands in the basin so described,
    at a lower NLL than the point's (the step then saves the route's last Newton iteration).
    The result is marked converged only at a verified optimum: a positive-definite Hessian and a
    Newton decrement (the distance to the optimum, in standard errors) at most `gtol`.

    What is compiled, and when: the first fit of a model compiles pplmle's functions (the
    objective and its gradient in one function, the Hessian and Jacobians) and two that
    ``pm.find_MAP`` asks for (the check of the start, the values it returns); the other two it
    asks for, the log-density without the Jacobian term and its gradient, are served by
    pplmle's function of both (the same quantities, one evaluation for find_MAP's paired calls at
    a point). The transforms of the parameters are run by Python (no C code). find_MAP's
    initial point, which it would compile a function for on every call, is handed to it: the
    unconstrained values the fit starts from (pplmle replaces the name
    ``pymc.tuning.starting.make_initial_point_fn`` by one that does this for pplmle's own models
    and calls PyMC's function for every other model). Later fits of the same ``pm.Model`` (the
    same data again, or new values set with ``pm.set_data``), and fits of any family of the same
    type and shape, compile nothing: find_MAP still runs on every fit, on the functions compiled
    once, so a refit gives exactly the value of a first fit. (A MAP, which works on the user's
    model itself, leaves find_MAP to compile its functions on every call.)

    A ``bambi.Model`` is fitted on the user's scale: Bambi centres the predictors of a linear
    predictor with an intercept (``center_predictors=True``, its default), and its PyMC model's
    ``Intercept`` is then the intercept of the centred design; pplmle fits a copy of that model
    whose ``Intercept`` is the intercept of the formula as written, so the estimates, standard
    errors, labels (``Intercept``, ``x1``, ``group[b]``, ``sigma``) and everything computed from
    the result (``nllf``, profiles, surfaces) are those of the uncentred model. An unbuilt
    Bambi model is built first, as its ``fit()`` does (Bambi's ``build()`` sets the model's
    ``backend`` and ``built``). The bootstrap refuses such a result (Bambi's PyMC model holds
    its data as constants, not ``pm.Data``). See :mod:`pplmle.pymc.bambi_adapter`.

    Parameters
    ----------
    model
        A family such as ``pl.Normal(x)``, a ``pm.Model``, or a ``bambi.Model`` (built or not).
    start
        Natural-scale starting values by parameter name (default: the family's
        rough start, or the model's initial point: a variable's ``initval=``
        when it has one; `start` wins over it).
    n_starts
        Number of starts; the extra ones are jittered by U(-1, 1) on the
        unconstrained scale and ``same_optimum`` records whether all agree.
    seed
        Seed for the jitter.
    strict
        Raise :class:`~pplmle.core.errors.EstimationError` instead of warning.
    progressbar
        Show find_MAP's progress bar.
    optimizer
        ``"find_MAP"`` (default) runs ``pm.find_MAP`` then Newton's method (and the other
        routes, see above); ``"compiled"`` leaves find_MAP out: Newton's method from the start,
        on pplmle's compiled functions only (the fastest for many fits of one model).
    maxeval
        Evaluation budget of the first optimizer.
    gtol
        Convergence tolerance, in standard errors (see above).
    nan_policy
        ``"raise"`` (default) refuses observed data with NaN, which PyMC would
        otherwise turn into parameters; ``"omit"`` leaves those entries out of
        the likelihood.
    n_obs
        The number of observations, for BIC (a positive whole number; default:
        counted, see :func:`observation_count`). A ``pm.Potential`` in the
        likelihood (a censored part written by hand, say) has no observations
        that can be counted: without `n_obs` such a fit reports the count of
        its observed variables, with BIC NaN and ``n_obs_note`` saying why.
    report
        For a ``pm.Model``: the ``pm.Deterministic`` quantities reported beside the
        free parameters, as derived quantities (after them in ``params``, ``se``,
        ``cov`` and ``table()``; named in ``result.derived``). Default None: every
        Deterministic with fewer elements than the model's observations
        (:func:`observation_count`) and at most 100 elements; a Deterministic as
        large as the data, such as a linear predictor ``mu``, is a quantity per
        observation, not a parameter. A list of names reports exactly those
        Deterministics (of any size); ``()`` reports none. Their standard errors
        are the delta method's (``J cov J'``), their profile intervals
        (``conf_int(method="profile")``) the likelihood maximized with the
        quantity held fixed. They do not count in ``n_params`` (AIC, BIC), and
        ``nllf`` ignores them but for checking that they agree with the free
        values. A family reports its own parameters: `report` must be None.
    hierarchy
        What to do with a hierarchical or latent-variable model, one whose priors carry part of
        the model (:mod:`pplmle.pymc.structure` says how it is detected: hyperparameters that
        enter only another variable's prior, variables that enter nothing, standardized
        non-centred effects). ``"refuse"`` (default) raises
        :class:`~pplmle.core.errors.HierarchicalModelError`, which names the variables and what
        to use instead. ``"flatten"`` fits the flattened model anyway: for partial pooling, the
        no-pooling model. The variables that do not enter the likelihood are then held fixed,
        reported as NaN with NaN standard errors and flagged ``"not identified"`` (a
        :class:`~pplmle.core.errors.NotIdentifiedWarning`); the others get their estimates,
        standard errors and convergence verdict from the likelihood, which does not depend on
        the held ones.

    cov_type
        What ``cov`` and ``se`` are. ``"observed"`` (default): the inverse observed information
        (the Hessian of the NLL). ``"expected"``: the inverse Fisher information, for the
        built-in families, where it equals the observed one at the MLE (canonical exponential
        families and the Normal scale). ``"robust"`` (or ``"HC0"``): the sandwich ``H^-1 (S'S)
        H^-1`` from the per-observation scores ``S`` (White's; statsmodels' ``HC0``), right when
        the model's variance is wrong but its mean is right. ``"HC1"``: the same times ``n /
        df_resid``. ``"cluster"``: scores summed within the clusters `groups` first, times
        ``G / (G - 1) (n - 1) / df_resid`` (statsmodels' default correction). A model whose
        ``pm.Potential`` depends on the parameters has no per-observation scores: ValueError.
    groups
        For ``cov_type="cluster"``: one cluster label per observation, in the order of the
        observed data.
    fixed
        Parameter labels held at given values, ``{"sigma": 1.0, "beta[x2]": 0.0}``: the MLE of the
        others with these fixed (a constrained fit from the full MLE, which is fitted first). The
        fixed parameters are reported at their values with no standard error, listed in
        ``result.fixed`` and not counted in ``n_params``, so ``pl.lr_test(restricted, full)``
        tests them. Each must be an element of a free variable or a regression coefficient.
    marginalize
        For a hierarchical ``pm.Model``: the latent variables (group effects, random slopes, a
        latent field) to integrate out of the likelihood, by name. Their priors are kept (they are
        part of the model); the other free variables get flat priors and are estimated by
        maximizing the marginal likelihood, integrated by Laplace's method around the conditional
        mode (exact for Gaussian effects with a Gaussian likelihood; lme4's ``glmer`` approximation
        otherwise). ``result.random_effects`` holds the conditional modes (BLUPs) with their
        conditional standard errors, and a variance component whose MLE is zero is reported at
        zero and flagged ``"boundary"``. See :mod:`pplmle.pymc.marginal`; find_MAP is not used (it
        maximizes a joint density, not the marginal likelihood), and `optimizer`, `n_starts`,
        `report`, `hierarchy`, `cov_type` and `fixed` must keep their defaults.
    method
        With `marginalize`: ``"ML"`` (default) or ``"REML"``, which also integrates the fixed
        effects (the free variables on the whole real line) under their flat prior, the restricted
        likelihood of a linear mixed model that lme4 and statsmodels' MixedLM report by default.

    Returns
    -------
    MLEResult

    Raises
    ------
    HierarchicalModelError
        For a hierarchical or latent-variable model, unless ``hierarchy="flatten"``.

    Examples
    --------
    >>> import pplmle as pl
    >>> res = pl.mle(pl.Normal(pl.datasets.heights()))
    >>> round(res.params["mu"], 6)
    168.0
    """
    from pplmle.pymc import inference  # it uses this module: imported on use, no cycle

    if marginalize is not None:
        from pplmle.pymc import marginal  # it uses this module: imported on use, no cycle

        _check_marginal_options(
            optimizer=optimizer,
            n_starts=n_starts,
            report=report,
            hierarchy=hierarchy,
            cov_type=cov_type,
            fixed=fixed,
            groups=groups,
            progressbar=progressbar,
        )
        return marginal.fit_marginal(
            model,
            marginalize,
            method=method,
            start=start,
            strict=strict,
            gtol=gtol,
            nan_policy=nan_policy,
            n_obs=n_obs,
        )
    if method != "ML":
        raise ValueError(
            f"`method={method!r}` applies to a marginal fit: pass `marginalize=` (the latent variables "
            "to integrate out), or leave method='ML'."
        )
    name = None
    inference.check_cov_type(cov_type, groups)
    if fixed is not None and (not isinstance(fixed, Mapping) or not fixed):
        raise ValueError(f"`fixed` must be a non-empty dict of parameter labels to values; got {fixed!r}.")
    if fixed is not None and cov_type != "observed":
        raise ValueError(
            f"`cov_type={cov_type!r}` cannot be combined with `fixed=`; use cov_type='observed'."
        )
    if bambi_adapter.is_bambi_model(model):  # fitted on the user's scale: see bambi_adapter
        model, name = bambi_adapter.user_scale_model(model)
    result = _estimate(
        model,
        method="MLE",
        start=start,
        n_starts=n_starts,
        seed=seed,
        optimizer=optimizer,
        strict=strict,
        progressbar=progressbar,
        maxeval=maxeval,
        gtol=gtol,
        nan_policy=nan_policy,
        n_obs=n_obs,
        report=report,
        hierarchy=hierarchy,
    )
    if fixed is not None:
        result = inference.with_fixed(result, fixed, gtol, strict)
    if cov_type != "observed":
        result = inference.with_cov_type(result, cov_type, groups)
    return result if name is None else dataclasses.replace(result, model_name=name)


def _check_marginal_options(**given: Any) -> None:
    """Refuse options of :func:`mle` that a marginal fit does not take (not their defaults)."""
    defaults = {
        "optimizer": "find_MAP",
        "n_starts": 1,
        "report": None,
        "hierarchy": "refuse",
        "cov_type": "observed",
        "fixed": None,
        "groups": None,
        "progressbar": False,
    }
    for key, default in defaults.items():
        if given[key] != default:
            raise ValueError(
                f"`{key}` cannot be combined with `marginalize=`; got {key}={given[key]!r} (leave it at "
                f"its default, {default!r})."
            )


def map_estimate(
    model: pm.Model,
    *,
    start: Mapping[str, Any] | None = None,
    n_starts: int = 1,
    seed: int | None = None,
    strict: bool = False,
    progressbar: bool = False,
    optimizer: str = "find_MAP",
    maxeval: int = 5000,
    gtol: float = GTOL,
    n_obs: int | None = None,
    report: Sequence[str] | None = None,
) -> MLEResult:
    """Maximum a posteriori estimate of a ``pm.Model``, priors kept.

    The same machinery as :func:`mle` without flattening the priors: the mode of
    the posterior density on the natural scale (``jacobian=False``).  The
    standard errors come from the Hessian of the negative log-posterior (a
    Laplace approximation); ``loglik`` is the log-likelihood at the MAP.
    `n_obs` and `report` (the Deterministics reported, by default those with
    fewer elements than the observations and at most 100) are as for
    :func:`mle`.

    Examples
    --------
    >>> import numpy as np, pymc as pm, pplmle as pl
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu", 0.0, 1.0)
    ...     _ = pm.Normal("y", mu, 1.0, observed=np.array([2.0, 4.0]))
    >>> round(pl.map_estimate(m).params["mu"], 6)  # (0 + 2 + 4) / 3
    2.0
    """
    return _estimate(
        model,
        method="MAP",
        start=start,
        n_starts=n_starts,
        seed=seed,
        optimizer=optimizer,
        strict=strict,
        progressbar=progressbar,
        maxeval=maxeval,
        gtol=gtol,
        nan_policy="raise",
        n_obs=n_obs,
        report=report,
    )

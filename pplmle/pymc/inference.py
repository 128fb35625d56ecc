"""Covariance types, fits with parameters held fixed, and predictions, on a fitted PyMC model.

* :func:`with_cov_type` -- the result with a robust (sandwich), HC1 or cluster-robust covariance,
  from the per-observation scores of the likelihood (``cov_type=`` of :func:`pplmle.mle`).
* :func:`with_fixed` -- the MLE with some parameters held at given values (``fixed=``).
* :func:`predict_model` -- a ``pm.Deterministic`` on new ``pm.Data`` values, with delta-method
  standard errors (:meth:`pplmle.MLEResult.predict` for a ``pm.Model``).

Everything works in the optimizer's unconstrained coordinates ``u`` and maps to the reported
parameters through their Jacobian ``J``: the sandwich ``J H^-1 (S'S) H^-1 J'`` is invariant to
the parameterization at the optimum, as the observed-information covariance ``J H^-1 J'`` is.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import scipy.optimize
import scipy.stats
from pymc.pytensorf import join_nonshared_inputs
from pytensor.graph.traversal import ancestors

from pplmle.core import diagnostics as dg
from pplmle.core.result import MLEResult
from pplmle.pymc.engine import Engine, delta_method, pm_compile, scaled_cholesky


def fit_context(result: MLEResult) -> Any:
    """The fitted likelihood behind `result` (ValueError when it has none)."""
    if result.context is None:
        raise ValueError("This result carries no likelihood to evaluate (the fit failed to start).")
    return result.context


__all__ = ["COV_TYPES", "check_cov_type", "predict_model", "with_cov_type", "with_fixed"]

#: the covariance types of :func:`pplmle.mle`
COV_TYPES = ("observed", "expected", "robust", "HC0", "HC1", "cluster")


def check_cov_type(cov_type: Any, groups: Any) -> None:
    """ValueError for an unknown `cov_type`, or `groups` without ``"cluster"`` (and the reverse)."""
    if cov_type not in COV_TYPES:
        raise ValueError(f"`cov_type` must be one of {COV_TYPES}; got {cov_type!r}.")
    if cov_type == "cluster" and groups is None:
        raise ValueError("`cov_type='cluster'` needs `groups=`: the cluster of each observation.")
    if cov_type != "cluster" and groups is not None:
        raise ValueError(f"`groups=` is for `cov_type='cluster'`; got cov_type={cov_type!r}.")


# -- per-observation scores --------------------------------------------------------------------
def _scores_function(engine: Engine):
    """``f(u, v)`` = the scores matrix times `v`: the directional derivative of each observation's
    log-likelihood (one per observed element, per vector of a multivariate one) along `v`.

    A product with `v` (a forward-mode derivative) instead of the n x k Jacobian: k products of
    one pass over the data each, for any n. Compiled once per engine.
    """
    cache = engine.__dict__.setdefault("_inference_fns", {})
    if "scores" in cache:
        return cache["scores"]
    model = engine.model
    values = set(engine.value_vars)
    for pot in model.potentials:
        if any(a in values for a in ancestors([model.replace_rvs_by_values([pot])[0]])):
            raise ValueError(
                f"A robust covariance needs the likelihood as a sum over observations; the pm.Potential "
                f"{pot.name!r} depends on the parameters, and its terms cannot be told apart."
            )
    if not model.observed_RVs:
        raise ValueError("A robust covariance needs observed variables; this model has none.")
    terms = model.logp(vars=list(model.observed_RVs), sum=False, jacobian=False)
    vec = pt.concatenate([pt.cast(t, "float64").ravel() for t in terms])
    ip = model.initial_point()
    (vec_j,), u = join_nonshared_inputs(ip, [vec], engine.value_vars)
    v = pt.vector("v", dtype=u.dtype)
    jv = pytensor.gradient.Rop(vec_j, u, v)
    fn = pm_compile([u, v], pt.cast(jv, "float64"), on_unused_input="ignore", allow_input_downcast=True)
    cache["scores"] = fn
    return fn


def scores(engine: Engine, u: np.ndarray) -> np.ndarray:
    """The (n, k) matrix of per-observation scores ``d loglik_i / du`` at `u`."""
    fn = _scores_function(engine)
    k = u.size
    eye = np.eye(k)
    return (
        np.column_stack([np.asarray(fn(u, eye[j]), dtype=float) for j in range(k)]) if k else np.zeros((0, 0))
    )


def _bread(info: Mapping[str, Any]) -> np.ndarray | None:
    """``H^-1`` in u coordinates, from the kernel's scaled Cholesky factor (None if not PD)."""
    factor = scaled_cholesky(info)
    if factor is None:
        return None
    L, D = factor
    Li = np.linalg.inv(L)
    return D[:, None] * (Li.T @ Li) * D[None, :]


def with_cov_type(result: MLEResult, cov_type: str, groups: Any = None) -> MLEResult:
    """`result` with its covariance of type `cov_type` (see :func:`pplmle.mle`)."""
    from pplmle.pymc.families import Family

    check_cov_type(cov_type, groups)
    if cov_type == "observed":
        return result
    ctx = fit_context(result)
    if cov_type == "expected":
        if not isinstance(ctx.source, Family) or result.method != "MLE":
            raise ValueError(
                "`cov_type='expected'` is defined for the built-in families' MLE, where the expected "
                "information equals the observed one at the estimate (canonical exponential families, "
                "and the Normal scale); for a pm.Model use 'observed', 'robust' or 'cluster'."
            )
        return dataclasses.replace(result, cov_type="expected")
    if result.method != "MLE":
        raise ValueError(f"`cov_type={cov_type!r}` needs an MLE; this is a {result.method}.")
    labels = result.labels
    with ctx.active() as engine:
        info = engine.info(ctx.u)
        S = scores(engine.base or engine, ctx.u)
    n, k = S.shape[0], ctx.u.size
    dof = result.df_resid
    if cov_type == "cluster":
        g = np.asarray(groups)
        if g.dtype.kind in "cM" or np.ma.isMaskedArray(groups):
            raise ValueError(f"`groups` must be labels (numbers or strings); got dtype {g.dtype}.")
        if g.ndim != 1 or g.shape[0] != n:
            raise ValueError(
                f"`groups` must give one cluster per observation ({n}, in the order of the observed data); "
                f"got shape {g.shape}."
            )
        if pd.isna(pd.Series(g)).any():
            raise ValueError("`groups` must not contain missing values.")
        codes, levels = pd.factorize(pd.Series(g), sort=True)
        G = len(levels)
        if G < 2:
            raise ValueError(f"`groups` must name at least 2 clusters; got {G}.")
        Sg = np.zeros((G, k))
        np.add.at(Sg, codes, S)
        meat = Sg.T @ Sg * (G / (G - 1.0)) * ((n - 1.0) / dof)
    else:
        meat = S.T @ S * (n / dof if cov_type == "HC1" else 1.0)
    B = _bread(info)
    m = len(labels)
    if B is None:
        cov = np.full((m, m), np.nan)
    else:
        J = np.asarray(info["jac"], dtype=float).reshape(m, k)
        cov = J @ B @ meat @ B @ J.T
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    se[~np.isfinite(result.vector(result.se))] = np.nan  # a flagged parameter keeps no SE
    engine = ctx.engine
    return dataclasses.replace(
        result,
        cov=pd.DataFrame(cov, index=labels, columns=labels),
        se=engine.unflatten(se),
        cov_type="robust" if cov_type == "HC0" else cov_type,
    )


# -- parameters held fixed ---------------------------------------------------------------------
def with_fixed(result: MLEResult, fixed: Mapping[str, Any], gtol: float, strict: bool) -> MLEResult:
    """The MLE with the labels of `fixed` held at their values, from the full fit `result`.

    Each fixed label must be an element of a free variable (held in its transformed coordinate)
    or a reported quantity linear in the optimizer's coordinates (a regression family's
    coefficients); the others are maximized over the set where the fixed ones take their values,
    by Newton's method in a basis of that set, and the covariance is the inverse of the Hessian
    on it.
    """
    from pplmle.core.errors import ConvergenceWarning, warn_or_raise

    if not isinstance(fixed, Mapping) or not fixed:
        raise ValueError(f"`fixed` must be a non-empty dict of parameter labels to values; got {fixed!r}.")
    labels = result.labels
    unknown = [lab for lab in fixed if lab not in labels]
    if unknown:
        raise ValueError(f"`fixed` names unknown parameter labels {unknown}; the labels are {labels}.")
    derived = set(result.derived_labels)
    bad = [lab for lab in fixed if lab in derived]
    if bad:
        raise ValueError(f"`fixed` may hold free parameters only; {bad} are derived quantities (report=).")
    vals = {}
    for lab, v in fixed.items():
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"`fixed[{lab!r}]` must be a real number; got {v!r}.") from None
        if isinstance(v, (bool, np.bool_, complex)) or not np.isfinite(fv):
            raise ValueError(f"`fixed[{lab!r}]` must be a finite real number; got {v!r}.")
        vals[lab] = fv
    idx = [labels.index(lab) for lab in vals]
    target = np.array([vals[lab] for lab in vals])
    if len(idx) >= len(result.free_labels):
        raise ValueError(
            "`fixed` must leave at least one parameter free; to evaluate a point use result.nllf()."
        )
    ctx = fit_context(result)
    with ctx.active() as full:
        engine = full.base or full
        u = np.array(ctx.u, dtype=float)
        # the starting point: each fixed element moved to its value
        for j, c in zip(idx, target, strict=True):
            moved = engine._meeting(u, j, c)
            if moved is not None:
                u = moved
        rep, jac = engine.function("rep")(u)
        rep, jac = np.asarray(rep, dtype=float), np.asarray(jac, dtype=float).reshape(len(rep), u.size)
        JF = jac[idx]
        gap = target - rep[idx]
        if np.any(np.abs(gap) > 1e-12 * (1.0 + np.abs(target))):  # a linear reported quantity
            u = u + np.linalg.lstsq(JF, gap, rcond=None)[0]
            rep, jac = engine.function("rep")(u)
            rep, jac = np.asarray(rep, dtype=float), np.asarray(jac, dtype=float).reshape(len(rep), u.size)
        if not np.allclose(rep[idx], target, rtol=1e-9, atol=1e-12) or not np.isfinite(engine.objective(u)):
            raise ValueError(
                f"`fixed`: could not place {dict(vals)} inside the model's support, or a fixed label is "
                "not linear in the model's coordinates (hold whole free variables or coefficients)."
            )
        _, _, Vt = np.linalg.svd(JF)
        N = Vt[len(idx) :].T  # a basis of the directions that keep the fixed values
        u0 = u.copy()

        def fun(z):
            f, g = engine.single.value_grad((u0 + N @ z)[None, :], np.array([0]))
            return float(f[0]), N.T @ g[0]

        def hess(z):
            return N.T @ engine.info(u0 + N @ z)["hess_u"] @ N

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            opt = scipy.optimize.minimize(
                fun,
                np.zeros(N.shape[1]),
                jac=True,
                hess=hess,
                method="trust-exact",
                options={"maxiter": 500, "gtol": 1e-12},
            )
        u = u0 + N @ opt.x
        info = engine.info(u)
        full_info = full.info(u) if full is not engine else info
        Hz = N.T @ info["hess_u"] @ N
        gz = N.T @ info["grad_u"]
        try:
            L = np.linalg.cholesky(0.5 * (Hz + Hz.T))
            w = np.linalg.solve(L, gz)
            dec = float(np.sqrt(w @ w))
            Li = np.linalg.inv(L)
            C = N @ (Li.T @ Li) @ N.T
            pd_ok = True
        except np.linalg.LinAlgError:
            dec, C, pd_ok = float("nan"), np.full((u.size, u.size), np.nan), False
        m = len(labels)
        J = np.asarray(full_info["jac"], dtype=float).reshape(m, u.size)
        cov = J @ C @ J.T
        reported = np.asarray(full_info["reported"], dtype=float).copy()
        reported[idx] = target  # exactly the values asked for
    cov[idx, :] = cov[:, idx] = np.nan
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    se[idx] = np.nan
    converged = bool(pd_ok and dec <= gtol and np.all(np.isfinite(reported)))
    held = ", ".join(f"{lab} = {v:g}" for lab, v in vals.items())
    if converged:
        message = (
            f"converged with {held} held fixed: the distance to the constrained optimum is {dec:.2g} "
            f"standard errors. Newton on the free directions ({opt.nit} iterations) from the full MLE."
        )
    else:
        why = (
            "the Hessian on the free directions is not positive definite"
            if not pd_ok
            else (f"the distance to the constrained optimum is {dec:.3g} standard errors")
        )
        message = f"not converged with {held} held fixed: {why}."
        warn_or_raise(f"The MLE with {held} held fixed did not converge: {why}.", ConvergenceWarning, strict)
    ctx2 = type(ctx)(
        full, ctx.data, u, ctx.labels, ctx.to_free, ctx.source, ctx.method, ctx.nan_policy, ctx.derived
    )
    ctx2.hierarchy = ctx.hierarchy
    keep = tuple(d for d in result.diagnostics if d != dg.Diagnostic.BOUNDARY or converged)
    return dataclasses.replace(
        result,
        params=full.unflatten(reported),
        se=full.unflatten(se),
        cov=pd.DataFrame(cov, index=labels, columns=labels),
        loglik=float(info["loglik"]),
        n_params=int(result.n_params - len(idx)),
        df_resid=int(result.df_resid + len(idx)),
        converged=converged,
        message=message,
        grad_norm=float(np.max(np.abs(N.T @ info["grad_u"]))) if N.size else 0.0,
        diagnostics=keep if not converged else (),
        flags={},
        n_iter=int(result.n_iter + opt.nit),
        fixed=tuple(vals),
        cov_type="observed",
        context=ctx2,
    )


# -- predictions of a pm.Model -----------------------------------------------------------------
def predict_model(
    result: MLEResult, new_data: Mapping[str, Any] | None, var: str | None, level: float
) -> pd.DataFrame:
    """`var` (a ``pm.Deterministic``) with the ``pm.Data`` values `new_data`, at the estimate."""

    ctx = fit_context(result)
    engine = ctx.engine
    model = engine.model
    dets = [d.name for d in model.deterministics]
    if var is None or var not in dets:
        raise ValueError(f"`var` must name a pm.Deterministic of the model ({dets}); got {var!r}.")
    names = set(ctx.data)
    new = {} if new_data is None else dict(new_data)
    unknown = [k for k in new if k not in names]
    if unknown:
        raise ValueError(f"`new_data` names {unknown}, which are not pm.Data of the model ({sorted(names)}).")
    values = {}
    for k, v in new.items():
        arr = np.array(v, copy=True)
        if np.ma.isMaskedArray(v) or arr.dtype.kind not in "biuf":
            raise ValueError(f"`new_data[{k!r}]` must be real numbers; got dtype {arr.dtype}.")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError(f"`new_data[{k!r}]` must be finite.")
        values[k] = arr
    cache = engine.__dict__.setdefault("_inference_fns", {})
    key = ("predict", var)
    if key not in cache:
        out = model.replace_rvs_by_values([model[var]])[0]
        (out_j,), u = join_nonshared_inputs(
            model.initial_point(), [pt.cast(out, "float64").ravel()], engine.value_vars
        )
        jac = pytensor.gradient.jacobian(out_j, u, vectorize=True)
        cache[key] = pm_compile([u], [out_j, jac], on_unused_input="ignore", allow_input_downcast=True)
    fn = cache[key]
    with ctx.active() as eng:
        info = (eng.base or eng).info(ctx.u)
        if values:
            eng.set_data({**ctx.data, **values})
        val, jac = fn(ctx.u)
    val, jac = np.asarray(val, dtype=float), np.asarray(jac, dtype=float).reshape(-1, ctx.u.size)
    if result.cov_type in ("observed", "expected") and not result.fixed:
        _, se = delta_method(info, jac)  # J H^-1 J', formed without squaring
    else:
        # the result's own covariance (robust, or on the free directions of a fit with values
        # fixed) taken back to u through the reported parameters' Jacobian (full column rank)
        J_rep = np.asarray(info["jac"], dtype=float).reshape(-1, ctx.u.size)[: len(result.free_labels)]
        r = J_rep.shape[0]
        V = result.cov.to_numpy()[:r, :r].copy()
        held = [result.labels.index(lab) for lab in result.fixed]
        V[held, :] = V[:, held] = 0.0  # a fixed value has no variance
        P = np.linalg.pinv(J_rep)
        C = P @ V @ P.T
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, C, jac), 0.0, None))
    z = float(scipy.stats.norm.ppf(0.5 + level / 2.0))
    pct = f"{100 * level:g}%"
    return pd.DataFrame({var: val, "se": se, f"lower {pct}": val - z * se, f"upper {pct}": val + z * se})


def family_predict(result: MLEResult, new_data: Any, level: float, interval: str, offset: Any = None):
    """A regression family's predicted means (see :meth:`pplmle.MLEResult.predict`)."""

    fam = fit_context(result).source
    kwargs = {} if offset is None else {"offset": offset}
    cov = result.cov
    if result.fixed:  # a fixed coefficient has no variance: it adds none to a prediction
        cov = cov.copy()
        cov.loc[list(result.fixed), :] = 0.0
        cov.loc[:, list(result.fixed)] = 0.0
    return fam.predict(result.params, cov, new_data, level, interval, **kwargs)

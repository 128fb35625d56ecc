"""Check an estimate three ways: find_MAP, the closed form, and a hand-written NLL minimized by scipy.

:func:`compare` is the comparison layer.  For a family it uses the family's own
``closed_form()`` and ``hand_nll()`` (for the built-in families, the functions of
:mod:`pplmle.reference.closed_form` and :mod:`pplmle.reference.handwritten`); for a
user's ``pm.Model`` the user supplies either or both.  Before fitting anything it
checks that PyMC's log-likelihood equals minus the hand-written NLL at a few random
parameter points, up to float rounding (1e-8 per observation, see
:func:`equivalence_tolerance`), which catches an NLL that drops a term or uses
another parameterization.

The tolerance rule
------------------
Two estimates ``a`` and ``b`` of a parameter *agree* when

    |a - b| <= atol * se    or    |a - b| <= rtol * max(|a|, |b|),

with ``se`` the standard error of the find_MAP estimate (by default ``atol =
1e-3``: a thousandth of a standard error, far below anything that matters for
inference, and ``rtol = 1e-6``).  Where there is no standard error (an
estimate on the boundary), they agree when the NLL at the two estimates agrees
to 1e-9 relative or 1e-8 absolute (a likelihood-ratio statistic of 2e-8).
When two estimates disagree, the one with the lower NLL is the better one
("lower, or close"): :attr:`Comparison.best` names it.

Gradient descent (logistic and softmax regression) is shown for teaching, with
its learning rate, iteration count and final gradient; it stops by its own
rule, so it is not part of :attr:`Comparison.agree`.
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.optimize

from pplmle.core import diagnostics as dg
from pplmle.core import messages
from pplmle.core import values as _values
from pplmle.core.errors import LikelihoodMismatchWarning, warn_or_raise
from pplmle.core.result import MLEResult
from pplmle.pymc.families import Family
from pplmle.pymc.fitting import family_engine, mle, model_engine
from pplmle.pymc.observed import observation_count, observed_data
from pplmle.reference import handwritten as hw

__all__ = ["Comparison", "compare", "equivalence_tolerance"]

_CHECKED = ("closed_form", "scipy")


@dataclass(frozen=True, repr=False, eq=False)
class Comparison(_values.Value):
    """The outcome of :func:`compare`.

    Attributes
    ----------
    table
        One row per scalar parameter and a last row ``NLL``; a column per
        method (``find_MAP``, ``closed_form``, ``scipy``, ``gradient_descent``
        where run), then ``max |diff| / se`` and ``max rel diff`` over the
        checked methods against find_MAP.
    agree
        True when every checked method agrees with find_MAP on every parameter
        (see the module's tolerance rule), the likelihoods are equivalent and
        the MLE exists.
    equivalent
        Whether PyMC's log-likelihood equalled minus the hand-written NLL at the
        random points checked (None when there was no hand-written NLL).
    mismatch
        The first point where it did not: ``{"point", "pymc_loglik",
        "minus_hand_nll", "tolerance"}`` (the difference allowed there, see
        :func:`equivalence_tolerance`); None otherwise.
    result
        The find_MAP :class:`~pplmle.MLEResult` (with its diagnostics).
    estimates
        Parameter dicts by method.
    scipy_fit, gradient_descent
        The :class:`~pplmle.reference.handwritten.HandFit` /
        :class:`~pplmle.reference.handwritten.GradientDescentResult` (or a dict for a
        user NLL), when run.
    notes
        Plain sentences: methods not run and why, diagnostics.
    """

    table: pd.DataFrame
    agree: bool
    equivalent: bool | None
    mismatch: dict[str, Any] | None
    result: MLEResult
    estimates: dict[str, dict[str, Any]]
    disagreements: pd.DataFrame
    rtol: float
    atol: float
    scipy_fit: Any = None
    gradient_descent: Any = None
    notes: tuple[str, ...] = ()
    nll_by_method: dict[str, float] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        """False when the diagnostics say the MLE does not exist."""
        return not any(code in self.result.diagnostics for code in dg.NO_MLE)

    @property
    def best(self) -> str | None:
        """The method whose estimate has the lowest NLL (ties go to find_MAP); None when no MLE exists."""
        if not self.exists:
            return None
        return min(self.nll_by_method, key=lambda m: (self.nll_by_method[m], m != "find_MAP"))

    def _status(self) -> str:
        if not self.exists:
            return "DISAGREE (no MLE exists: " + ", ".join(self.result.diagnostics) + ")"
        return f"{'AGREE' if self.agree else 'DISAGREE'} (best: {self.best})"

    @property
    def worst(self) -> dict[str, Any] | None:
        """The largest disagreement: parameter, methods and distance (None when all agree)."""
        if self.disagreements.empty:
            return None
        row = self.disagreements.iloc[0]
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}

    def assert_agree(self) -> None:
        """Raise ``AssertionError`` with a readable account of every disagreement."""
        if self.agree:
            return
        lines = ["The estimates do not agree:"]
        if self.equivalent is False and self.mismatch is not None:
            m = self.mismatch
            lines.append(
                f"  the likelihoods differ at {m['point']}: PyMC loglik {m['pymc_loglik']:.12g}, "
                f"-(hand-written NLL) {m['minus_hand_nll']:.12g}"
            )
        if not self.exists:
            lines.append(f"  the MLE does not exist ({', '.join(self.result.diagnostics)})")
        for _, r in self.disagreements.iterrows():
            lines.append(
                f"  {r['parameter']}: find_MAP {r['find_MAP']:.12g} vs {r['method']} {r['other']:.12g} "
                f"(|diff| = {r['abs diff']:.3g} = {r['diff / se']:.3g} se, relative {r['rel diff']:.3g})"
            )
        lines.append(f"  rule: |diff| <= {self.atol:g} se or <= {self.rtol:g} relative; best: {self.best}")
        raise AssertionError("\n".join(lines))

    def __repr__(self) -> str:
        head = f"Comparison: {self._status()}"
        body = self.table.to_string(float_format=lambda v: f"{v:.10g}", na_rep="")
        return "\n".join([head, *self.notes, "", body])

    def _repr_html_(self) -> str:
        bad = {(r["parameter"], r["method"]) for _, r in self.disagreements.iterrows()}

        def cell(label: str, col: str, value: Any) -> str:
            text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.10g}"
            style = ' style="background:#fdd"' if (label, col) in bad else ""
            return f"<td{style}>{html.escape(text)}</td>"

        cols = list(self.table.columns)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ["", *cols])
        rows = "".join(
            f"<tr><th>{html.escape(str(label))}</th>"
            + "".join(cell(str(label), c, row[c]) for c in cols)
            + "</tr>"
            for label, row in self.table.iterrows()
        )
        color = "#1b5e20" if self.agree else "#b00020"
        status = self._status()
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (
            f'<div><p style="color:{color}"><b>{html.escape(status)}</b></p><ul>{notes}</ul>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
        )


def _call_closed_form(fn: Callable, data: dict[str, np.ndarray]) -> dict[str, Any]:
    n_args = len(inspect.signature(fn).parameters)
    return dict(fn(data) if n_args else fn())


def _user_data(model) -> dict[str, np.ndarray]:

    data = dict(observed_data(model))
    for var in model.data_vars:
        if hasattr(var, "get_value"):
            data[var.name] = np.asarray(var.get_value())
    return data


def _reported_from_u(engine) -> Callable[[np.ndarray], dict[str, Any]]:
    """The reported parameters of a family at the unconstrained point `u` (its Deterministics too)."""
    return lambda u: engine.unflatten(np.asarray(engine.function("rep")(u)[0], dtype=float))


def _flat(params: Mapping[str, Any], names: list[str]) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(params[k], dtype=float)) for k in names])


def _minimize_user_nll(
    nll: Callable, to_params: Callable, u0: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """Minimize a user's NLL over an unconstrained parameterization: BFGS with 3-point differences."""

    def f(u: np.ndarray) -> float:
        value = float(nll(to_params(u)))
        return value if np.isfinite(value) else np.inf

    # f is +inf where the NLL is not finite: a difference there is inf - inf, which BFGS's line
    # search backs away from; numpy's warning about it says nothing to the user
    with np.errstate(invalid="ignore", over="ignore"):
        res = scipy.optimize.minimize(f, u0, method="BFGS", jac="3-point", options={"gtol": 1e-9})
    params = {k: (float(v) if np.ndim(v) == 0 else np.asarray(v)) for k, v in to_params(res.x).items()}
    return {"params": {k: params[k] for k in names}, "nll": float(res.fun), "message": str(res.message)}


def equivalence_tolerance(loglik: float, n_obs: int) -> float:
    """How far a correct hand-written NLL may be from minus PyMC's log-likelihood: 1e-8 * max(n, |loglik|).

    That is 1e-8 per observation times the typical size of one observation's
    log-density (``|loglik| / n``, at least 1).  The two sides compute each
    observation's log-density by different formulas (PyMC's graph against,
    say, ``scipy.stats.t.logpdf``), and the rounding error of a term is set by
    its intermediate quantities rather than by its value: PyMC's Student-t
    ``gammaln((nu + 1) / 2) - gammaln(nu / 2)`` cancels two numbers of size
    ``nu log nu``, and a correct scipy NLL differs from it by 5e-10 per
    observation at ``nu = 1e6`` and 7e-9 at ``nu = 1e7`` (2e-15 at ``nu = 30``).
    No bound computed from the final values alone is strict, so the rule is a
    margin: rounding errors are allowed up to 1e-8 per observation, which is
    far below any real mistake (a dropped ``log(2 pi) / 2`` is 0.92 per
    observation, another parameterization changes the density) and moves a
    likelihood-ratio statistic by at most ``2e-8 n``.  The former fixed
    ``rtol = atol = 1e-9`` on the total did not scale with ``n`` and called a
    correct Student-t NLL wrong.

    Examples
    --------
    >>> from pplmle.workflows.comparison import equivalence_tolerance
    >>> equivalence_tolerance(-150.0, 200), equivalence_tolerance(-5000.0, 200)
    (2e-06, 5e-05)
    """
    return 1e-8 * max(float(max(int(n_obs), 1)), abs(float(loglik)))


def compare(
    model: Any,
    *,
    start: Mapping[str, Any] | None = None,
    nll: Callable[[Mapping[str, Any]], float] | None = None,
    closed_form: Callable[..., Mapping[str, Any]] | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-3,
    gradient_descent: bool | Mapping[str, Any] = True,
    n_check: int = 3,
    seed: int = 0,
    strict: bool = False,
) -> Comparison:
    """Compare the find_MAP MLE with the closed form and with a hand-written NLL minimized by scipy.

    Parameters
    ----------
    model
        A pplmle family or a ``pm.Model``.
    start
        Natural-scale starting values by parameter name, as in :func:`pplmle.mle`
        (default: the family's rough start, or the model's initial point).  Used
        by the find_MAP fit, the scipy route and as the centre of the random
        points of the likelihood-equivalence check.  Names that are not
        parameters are refused.
    nll
        A hand-written NLL: a callable taking a dict of natural-scale parameters
        (by name, as in ``result.params``) and returning the NLL, all constants
        included.  Replaces a family's built-in one; needed for a ``pm.Model``
        to get the scipy route and the likelihood-equivalence check.
    closed_form
        A callable taking nothing, or a dict of the data (observed variables
        and ``pm.Data`` containers by name), returning the closed-form MLE as a
        parameter dict.  Replaces a family's built-in one.
    rtol, atol
        The tolerance rule (see the module docstring): relative, and in
        standard errors.
    gradient_descent
        For logistic and softmax regression, also run textbook gradient
        descent (a dict passes ``learning_rate``, ``max_iter``, ``tol``).
    n_check
        Number of random points for the likelihood-equivalence check.
    seed
        Seed for those points.
    strict
        Raise :class:`~pplmle.core.errors.EstimationError` instead of warning.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> import pplmle as pl
    >>> cmp = pl.compare(pl.Normal(pl.datasets.heights()))
    >>> cmp.agree, list(cmp.table.columns[:3])
    (True, ['find_MAP', 'closed_form', 'scipy'])
    >>> round(float(cmp.table.loc["sigma", "closed_form"]) ** 2, 10)  # divide by n
    22.4
    """

    if not (rtol >= 0 and atol >= 0):
        raise ValueError(f"`rtol` and `atol` must be >= 0; got rtol={rtol!r}, atol={atol!r}.")
    if not isinstance(n_check, (int, np.integer)) or n_check < 0:
        raise ValueError(f"`n_check` must be a whole number >= 0; got {n_check!r}.")
    for name, fn in (("nll", nll), ("closed_form", closed_form)):
        if fn is not None and not callable(fn):
            raise ValueError(f"`{name}` must be a callable; got {type(fn).__name__}.")
    if start is not None and not isinstance(start, Mapping):
        raise ValueError(f"`start` must be a dict of values by parameter name; got {type(start).__name__}.")
    start = dict(start or {})

    notes: list[str] = []
    hand: hw.HandNLL | None = None  # a family's HandNLL: the scipy route with analytic gradients
    nll_fn: Callable[[Mapping[str, Any]], float] | None = nll
    cf_fn: Callable[[], Mapping[str, Any]] | None = None
    if isinstance(model, Family):
        own = model.hand_nll()
        if isinstance(own, hw.HandNLL):
            hand = own
        if nll_fn is None and own is not None:
            nll_fn = own.nll if isinstance(own, hw.HandNLL) else own
        if closed_form is not None:
            cf_fn = lambda: _call_closed_form(closed_form, model.data())  # noqa: E731
        else:
            estimate = model.closed_form()
            if estimate is not None:
                cf_fn = lambda: estimate  # noqa: E731
            else:
                why = model.no_closed_form or "the family gives none (Family.closed_form returns None)."
                notes.append(f"No closed form for {model.name}: {why}")
        if nll_fn is None:
            notes.append(
                f"No hand-written NLL for {model.name} (Family.hand_nll returns None; or pass nll=...): "
                "the scipy route and the equivalence check are skipped."
            )
        unknown = set(start) - set(model.param_names)
        if unknown:
            raise ValueError(messages.start_unknown(sorted(unknown), model.param_names))
        n_obs = model.n_obs
        engine = family_engine(model)
        to_params = _reported_from_u(engine)
        with engine.lock:
            u0 = engine.to_unconstrained({**model.start(), **model.to_free(start)})
    else:
        engine, _ = model_engine(model, "MLE", "raise")
        free_names = [rv.name for rv in engine.model.free_RVs]
        unknown = set(start) - set(free_names)
        if unknown:
            raise ValueError(messages.start_unknown(sorted(unknown), free_names))
        n_obs = observation_count(engine.model)
        data = _user_data(engine.model)
        cf_fn = (lambda: _call_closed_form(closed_form, data)) if closed_form is not None else None
        if nll is None:
            notes.append(
                "No hand-written NLL given (nll=...): the scipy route and the equivalence check are skipped."
            )
        if closed_form is None:
            notes.append("No closed form given (closed_form=...).")
        to_params = engine.natural_from_u
        with engine.lock:
            u0 = engine.to_unconstrained(start)

    # 1. likelihood equivalence, before any fitting (the engine is shared: hold its lock)
    equivalent, mismatch = None, None
    with engine.lock:
        if isinstance(model, Family):
            engine.set_data(model.data())
        if nll_fn is not None and n_check > 0:
            equivalent = True
            rng = np.random.default_rng(seed)
            for _ in range(n_check):
                u = u0 + rng.uniform(-0.5, 0.5, size=u0.size)
                info = engine.info(u)
                point = engine.unflatten(info["reported"])
                ll, hand_value = info["loglik"], -float(nll_fn(point))
                # float rounding allows 1e-8 per observation (see equivalence_tolerance)
                tol = equivalence_tolerance(ll, n_obs)
                if not abs(ll - hand_value) <= tol:  # NaN on either side is a mismatch too
                    equivalent = False
                    shown = {k: np.round(v, 6).tolist() for k, v in point.items()}
                    mismatch = {
                        "point": shown,
                        "pymc_loglik": float(ll),
                        "minus_hand_nll": hand_value,
                        "tolerance": tol,
                    }
                    warn_or_raise(
                        messages.likelihood_mismatch(str(shown), ll, hand_value, tol, n_obs),
                        LikelihoodMismatchWarning,
                        strict,
                    )
                    break

    # 2. the three (or four) routes
    # a pm.Model's Deterministics are not compared: the other routes estimate the free parameters
    report: tuple[str, ...] | None = None if isinstance(model, Family) else ()
    res = mle(model, start=start or None, strict=strict, report=report)
    names = list(res.params)
    estimates: dict[str, dict[str, Any]] = {"find_MAP": res.params}
    scipy_fit: hw.HandFit | dict[str, Any] | None = None
    gd: hw.GradientDescentResult | None = None
    if cf_fn is not None:
        estimates["closed_form"] = dict(cf_fn())
    if nll_fn is not None:
        if hand is not None and nll is None:  # a family's HandNLL, with its analytic gradient
            scipy_fit = hw.minimize_nll(hand, {**hand.start(), **start} if start else None)
            estimates["scipy"] = scipy_fit.params
        elif hand is not None:  # a family's HandNLL for the unconstrained map, the user's NLL
            u_hand = hand.to_unconstrained({**hand.start(), **start})
            scipy_fit = _minimize_user_nll(nll_fn, hand.from_unconstrained, u_hand, names)
            notes.append("The scipy route minimized the given nll with finite-difference gradients.")
            estimates["scipy"] = scipy_fit["params"]
        else:  # a callable NLL over the model's own transforms (log for sigma, logit for p, ...)
            with engine.lock:
                scipy_fit = _minimize_user_nll(nll_fn, to_params, u0, names)
            if isinstance(model, Family):
                notes.append(
                    "The scipy route minimized the hand-written NLL with finite-difference gradients."
                )
            estimates["scipy"] = scipy_fit["params"]
    if (
        gradient_descent is not False
        and isinstance(hand, (hw.LogisticRegressionNLL, hw.SoftmaxRegressionNLL))
        and dg.Diagnostic.SEPARATION not in res.diagnostics
    ):
        options = dict(gradient_descent) if isinstance(gradient_descent, Mapping) else {}
        gd = hw.gradient_descent(hand, **options)
        estimates["gradient_descent"] = gd.params
        verdict = "converged" if gd.converged else "NOT converged"
        notes.append(
            f"Gradient descent: learning rate {gd.learning_rate:g}, {gd.n_iter} iterations, final "
            f"max |gradient of the mean NLL| {gd.grad_norm:.2g} ({verdict} at tol {gd.tol:g})."
        )
    for method, params in estimates.items():
        missing = set(names) - set(params)
        if missing:
            raise ValueError(f"The {method} estimate lacks parameter(s) {sorted(missing)}; expected {names}.")

    # 3. the table
    labels = res.labels
    se = res.vector(res.se)
    cols = {m: _flat(p, names) for m, p in estimates.items()}
    score = nll_fn if nll_fn is not None else res.nllf
    nll_by = {}
    for m, p in estimates.items():
        try:
            nll_by[m] = float(score(p))
        except ValueError:  # outside the support of the model's parameterization
            nll_by[m] = np.inf
    table = pd.DataFrame(cols, index=labels)
    ref = cols["find_MAP"]
    rows = []
    for m in [c for c in cols if c in _CHECKED]:
        diff = np.abs(cols[m] - ref)
        with np.errstate(divide="ignore", invalid="ignore"):
            in_se = diff / se
            rel = np.where(diff == 0, 0.0, diff / np.maximum(np.abs(cols[m]), np.abs(ref)))
        nll_close = bool(np.isclose(nll_by[m], nll_by["find_MAP"], rtol=1e-9, atol=1e-8))
        ok = np.where(np.isfinite(se), (diff <= atol * se) | (rel <= rtol), (rel <= rtol) | nll_close)
        for i in np.flatnonzero(~ok):
            rows.append(
                {
                    "parameter": labels[i],
                    "method": m,
                    "find_MAP": ref[i],
                    "other": cols[m][i],
                    "abs diff": diff[i],
                    "diff / se": in_se[i],
                    "rel diff": rel[i],
                }
            )
    checked = [c for c in cols if c in _CHECKED]
    if checked:
        stack = np.abs(np.stack([cols[m] for m in checked]) - ref)
        with np.errstate(divide="ignore", invalid="ignore"):
            table["max |diff| / se"] = np.max(stack, axis=0) / se
            table["max rel diff"] = np.max(
                np.where(
                    stack == 0,
                    0.0,
                    stack / np.maximum(np.abs(np.stack([cols[m] for m in checked])), np.abs(ref)),
                ),
                axis=0,
            )
    table.loc["NLL"] = pd.Series({m: nll_by[m] for m in estimates})
    disagreements = pd.DataFrame(
        rows, columns=["parameter", "method", "find_MAP", "other", "abs diff", "diff / se", "rel diff"]
    )
    if not disagreements.empty:
        key = (
            disagreements["diff / se"]
            .fillna(np.inf)
            .where(disagreements["diff / se"].notna(), disagreements["rel diff"])
        )
        disagreements = disagreements.assign(_k=key).sort_values("_k", ascending=False).drop(columns="_k")
        disagreements = disagreements.reset_index(drop=True)
    if res.diagnostics:
        notes.append(f"Diagnostics of the find_MAP fit: {', '.join(res.diagnostics)}. {res.message}")
    exists = res.mle_exists
    agree = bool(disagreements.empty and equivalent is not False and exists and res.converged)
    return Comparison(
        table=table,
        agree=agree,
        equivalent=equivalent,
        mismatch=mismatch,
        result=res,
        estimates=estimates,
        disagreements=disagreements,
        rtol=float(rtol),
        atol=float(atol),
        scipy_fit=scipy_fit,
        gradient_descent=gd,
        notes=tuple(notes),
        nll_by_method=nll_by,
    )

"""Every sentence pplmle says about a fit, in one place.

The fitting code decides *what* is wrong (a :class:`~pplmle.core.diagnostics.Diagnostic`, a
verdict, a number); the functions here say it in words, so that one problem always reads the
same whichever route found it.  They return plain strings and compute nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "bambi_bounded_intercept",
    "bambi_layout",
    "boundary_from_data",
    "boundary_receding",
    "converged",
    "converged_on_boundary",
    "drift",
    "hessian_differences_inconsistent",
    "hessian_from_differences",
    "hessian_not_finite",
    "hessian_not_positive_definite",
    "hessian_singular",
    "likelihood_mismatch",
    "multiple_optima",
    "n_obs_incomplete",
    "no_mle",
    "not_converged",
    "not_converged_warning",
    "number",
    "params_empty",
    "params_need_profile",
    "params_unknown",
    "replicates_invalid",
    "replicates_warned",
    "route_dependent",
    "separation",
    "standard_errors_nan",
    "start_not_finite",
    "start_unknown",
    "stationary_singular",
    "symbolic_initval",
    "unbounded",
    "untrusted_in_comparison",
    "why_exhausted",
    "why_floor",
    "why_no_descent",
    "why_not_finite",
]


def number(v: float) -> str:
    """A parameter value as the messages print it."""
    return f"{v:.6g}"


# -- existence and trust: the findings of core.diagnostics --------------------------------------


def separation(description: str) -> str:
    return (
        f"The MLE does not exist: {description}. The likelihood keeps increasing as the "
        "coefficients run off to infinity, so the reported values are only where the optimizer "
        "stopped and the standard errors are meaningless. Remove or merge the separating "
        "column(s), or use a prior (map_estimate) or a penalized fit."
    )


def boundary_from_data(values: Mapping[str, float], why: str) -> str:
    where = ", ".join(f"{k} = {number(v)}" for k, v in values.items())
    return (
        f"The MLE is on the boundary of the parameter space ({where}) because {why}. "
        "Wald standard errors and intervals assume an interior optimum and are not reported; "
        "use a profile interval or an exact method."
    )


def boundary_receding(where: str) -> str:
    return (
        f"The MLE is on the boundary of the parameter space ({where}): the likelihood keeps "
        "increasing towards the edge of the support. Wald standard errors and intervals are "
        "meaningless there and are not reported."
    )


def unbounded(names: Sequence[str], detail: str) -> str:
    return (
        f"The likelihood is unbounded: the NLL keeps falling without limit as {list(names)} move "
        f"({detail}). No MLE exists; typical causes are constant data or a single observation "
        "for a scale parameter."
    )


def drift(names: Sequence[str]) -> str:
    return (
        f"The estimate keeps moving when the optimization is continued: {list(names)} run off "
        "to infinity while the likelihood still increases. The MLE does not exist (for a "
        "regression: separation, or a group whose counts are all zero); the reported values "
        "are only where the optimizer stopped."
    )


def multiple_optima(n_starts: int, values: Sequence[float]) -> str:
    nlls = ", ".join(f"{v:.8g}" for v in values)
    return (
        f"The {n_starts} starts reached different optima (objective values {nlls}); the best one is reported."
    )


def n_obs_incomplete(potentials: Sequence[str], counted: int) -> str:
    return (
        f"BIC is NaN: the likelihood includes the pm.Potential term(s) {list(potentials)}, whose "
        f"observations cannot be counted, so n_obs = {counted} counts only the observed variables. "
        "Pass n_obs= (the number of observations) to mle() or map_estimate() for BIC."
    )


# -- the Hessian --------------------------------------------------------------------------------


def hessian_not_finite() -> str:
    return "the Hessian of the NLL is not finite at the estimate"


def hessian_from_differences() -> str:
    return (
        "The Hessian is from differences of the exact gradient (central, Richardson-extrapolated): "
        "where the compiled Hessian is not finite, or parameters or standard errors lie beyond 1e30 "
        "(or standard errors below 1e-30), its graph can leave float64."
    )


def hessian_differences_inconsistent() -> str:
    return (
        "the Hessian of the NLL cannot be trusted at the estimate: the compiled one is not finite or "
        "at magnitudes where its graph can leave float64, and differences of the gradient do not "
        "give a consistent one"
    )


def hessian_not_positive_definite(smallest: float) -> str:
    return (
        "the Hessian of the NLL is not positive definite at the estimate (smallest eigenvalue "
        f"{smallest:.3g} of the scaled Hessian, whose diagonal is 1): the point is not a strict "
        "minimum, or some parameters are not identified"
    )


def hessian_singular(cond: float) -> str:
    return (
        f"the Hessian of the NLL is numerically singular (condition number {cond:.3g} "
        "after scaling to a unit diagonal): some parameters are not identified"
    )


def standard_errors_nan(hessian: str) -> str:
    return f"Standard errors are NaN: {hessian}."


# -- the verdict: result.message, and the warning when there is no verified optimum -------------


def start_not_finite(point: str) -> str:
    return (
        f"The log-likelihood is not finite at the starting point {point}; pass a `start` inside the support."
    )


def symbolic_initval(name: str, error: str) -> str:
    return (
        f"The `initval` of `{name}` must be a number, an array or a PyMC strategy name for mle(); it "
        f"is a symbolic expression that cannot be evaluated on its own ({error}). Pass its value as "
        f"`start={{{name!r}: ...}}` instead."
    )


def no_mle(optimizer: str) -> str:
    return f"the MLE does not exist; {optimizer}"


def converged(decrement: float, gtol: float, optimizer: str) -> str:
    return (
        f"converged: the distance to the optimum is {decrement:.2g} standard errors (Newton decrement "
        f"<= gtol={gtol:g}) and the Hessian is positive definite. {optimizer}"
    )


def converged_on_boundary(optimizer: str, *, flagged: bool) -> str:
    see = " (see the flags)" if flagged else ""
    return f"converged: on the boundary of the parameter space{see}. {optimizer}"


def stationary_singular(hessian: str, optimizer: str) -> str:
    return f"not converged: a stationary point, but {hessian}. {optimizer}"


def not_converged(why: str, optimizer: str) -> str:
    return f"not converged: {why}. {optimizer}"


def not_converged_warning(method: str, why: str) -> str:
    return f"The {method} did not converge: {why}."


def _far(decrement: float) -> str:
    return f"the distance to the optimum of the local quadratic is {decrement:.3g} standard errors"


def why_not_finite() -> str:
    return "the NLL is not finite at the last point"


def why_exhausted(maxiter: int, decrement: float, gtol: float) -> str:
    return f"Newton's method used all its {maxiter} iterations; {_far(decrement)} (gtol={gtol:g})"


def why_no_descent(hessian: str) -> str:
    return (
        f"{hessian or 'the Hessian gives no standard errors'}, and no step lowers "
        "the NLL: the last point is not a verified optimum"
    )


def why_floor(decrement: float, gtol: float) -> str:
    return f"no step lowers the NLL any more (the rounding floor), but {_far(decrement)}, above gtol={gtol:g}"


def route_dependent(distance: float, delta: float) -> str:
    return (
        f"Newton's method from the start stopped {distance:.3g} standard errors away, at an NLL only "
        f"{delta:.3g} higher, without reaching an optimum: the likelihood is nearly flat between "
        "distant regions, so the optimum found depends on the route (try other starts, "
        "n_starts=, or reparameterize)"
    )


# -- workflows: many fits at once -----------------------------------------------------------------


def untrusted_in_comparison(label: str, model_name: str, what: str, problems: Sequence[str]) -> str:
    return (
        f"{label} ({model_name}) {what}: {', '.join(problems)}. Its log-likelihood may not be "
        "the maximum, or its standard asymptotics may not hold, so comparisons involving it can "
        "mislead; see the fit's message and diagnostics."
    )


def replicates_warned(count: int, reps: int, what: str, warning: str) -> str:
    return f"{count} of {reps} {what} raised {warning}; see the `diagnostics` column."


def replicates_invalid(count: int, reps: int, what: str) -> str:
    return (
        f"{count} of {reps} {what} could not be fitted (invalid data; see `diagnostics`): "
        "they are left out of the summaries."
    )


# -- arguments of MLEResult.conf_int and table --------------------------------------------------


def params_unknown(bad: Sequence[object], valid: Sequence[str]) -> str:
    return f"`params` names unknown parameter(s) {list(bad)}; the parameters are {list(valid)}."


def params_empty(valid: Sequence[str]) -> str:
    return f"`params` must name at least one parameter (or be None for all of {list(valid)})."


def params_need_profile() -> str:
    return "`params` chooses the rows that get profile intervals: it needs `profile=True`."


# -- arguments and checks of compare() and mle() --------------------------------------------------


def start_unknown(bad: Sequence[str], valid: Sequence[str]) -> str:
    return f"`start` names unknown parameter(s) {sorted(bad)}; the parameters are {list(valid)}."


def likelihood_mismatch(point: str, loglik: float, minus_nll: float, tolerance: float, n_obs: int) -> str:
    return (
        f"The hand-written NLL is not minus PyMC's log-likelihood: at {point} PyMC gives loglik = "
        f"{loglik:.12g} but -nll = {minus_nll:.12g} (difference {minus_nll - loglik:.6g}; float "
        f"rounding over {n_obs} observations explains at most {tolerance:.2g}). A dropped constant "
        "or another parameterization does this."
    )


def bambi_layout(intercept: str, n_means: int | None, terms: Sequence[tuple[str, int]]) -> str:
    """A Bambi model whose centring pplmle cannot read (a Bambi layout it does not know)."""
    listed = ", ".join(f"{name} ({p} column{'s' * (p != 1)})" for name, p in terms)
    found = (
        "Bambi kept no uncentred design matrix"
        if n_means is None
        else f"Bambi subtracted {n_means} column means from common terms {listed}"
    )
    return (
        f"Cannot undo Bambi's centring of the predictors of {intercept!r}: {found} (a Bambi version "
        "whose model layout pplmle does not know?). Build the model with `center_predictors=False` "
        "to fit it."
    )


def bambi_bounded_intercept(intercept: str) -> str:
    """A centred Bambi intercept whose prior has a bounded support."""
    return (
        f"Bambi's centred intercept {intercept!r} has a prior with a bounded support, which has no "
        "counterpart on the user's (uncentred) scale; give it an unbounded prior or build the model "
        "with `center_predictors=False`."
    )

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
    "boundary_of_support",
    "boundary_receding",
    "converged",
    "converged_on_boundary",
    "drift",
    "fixed_both_ways",
    "fixed_not_mapping",
    "fixed_outside_support",
    "fixed_shape",
    "grid_coupled",
    "hessian_differences_inconsistent",
    "hessian_from_differences",
    "hessian_not_finite",
    "hessian_not_positive_definite",
    "hessian_singular",
    "hierarchical_model",
    "likelihood_mismatch",
    "multiple_optima",
    "n_obs_incomplete",
    "no_mle",
    "not_converged",
    "not_converged_warning",
    "not_identified",
    "not_identified_flag",
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
    "start_not_mapping",
    "start_unknown",
    "stationary_singular",
    "support_rule",
    "surface_all_nan",
    "surface_no_best",
    "surface_profile_fixed",
    "surface_profile_one",
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


def boundary_of_support(
    values: Mapping[str, float], sides: Mapping[str, str], others: Sequence[str], method: str = "MLE"
) -> str:
    where = ", ".join(f"{k} = {number(v)} (its {sides[k]} bound)" for k, v in values.items())
    held = ", ".join(values)
    rest = (
        f" The standard errors of {list(others)} are conditional on {held} held there (from the "
        "Hessian of the remaining parameters at the bound)."
        if others
        else ""
    )
    density = "likelihood" if method == "MLE" else "posterior density"
    return (
        f"The {method} is on the boundary of the support: {where}; the {density} still increases "
        f"towards the bound. Wald standard errors and intervals assume an interior optimum and are "
        f"not reported for {held}.{rest} Use a profile interval, or a test for a boundary value."
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


# -- hierarchical and latent-variable models: what flattening the priors would do ----------------


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _do(names: Sequence[str]) -> str:
    return "{" + ", ".join(f'"{n}": ...' for n in names) + "}"


def hierarchical_model(
    children: Sequence[tuple[str, Sequence[str], str]],
    hyper: Sequence[str],
    leftover: Sequence[str],
    standardized: Mapping[str, Sequence[str]],
) -> str:
    """Why mle() refuses a model whose priors carry part of the model.

    `children`: (variable, the hyperparameters its prior depends on, its elements in words, or ""
    for a scalar); `hyper`: every hyperparameter; `leftover`: variables in neither the likelihood
    nor a prior; `standardized`: standardized effects with their scale variables.
    """
    head = "pl.mle() flattens every prior, and in this model priors carry part of the model"
    parts = [] if children else [f"{head}."]
    one = len(hyper) == 1
    if children:
        fits = []
        for name, parents, elements in children:
            what = (
                f"the no-pooling model: {elements} by its own data"
                if elements
                else f"`{name}` by the data alone"
            )
            fits.append(f"flattening the prior of `{name}` (which depends on {_names(parents)}) fits {what}")
        verb = "does" if one else "do"
        parts.append(f"{head}: {'; '.join(fits)}, and {_names(hyper)} {verb} not enter the likelihood.")
    elif hyper:
        parts.append(
            f"{_names(hyper)} {'does' if one else 'do'} not enter the likelihood, only the priors of "
            "other variables that do not enter it either."
        )
    if leftover:
        single = len(leftover) == 1
        it = "it" if single else "them"
        parts.append(
            f"{_names(leftover)} {'enters' if single else 'enter'} neither the likelihood nor the prior of "
            f"another variable: the data say nothing about {it} (remove {it} from the model)."
        )
    for name, scales in standardized.items():
        parts.append(
            f"`{name}` enters the likelihood only multiplied by {_names(scales)}: a standardized "
            "(non-centred) effect, whose prior fixes its scale (it is the group-level or latent "
            f"distribution); flattened, only the product is identified: `{name}` and {_names(scales)} "
            "trade off."
        )
    if hyper:
        effects = [c[0] for c in children] or list(hyper)
        parts.append(
            f"Instead: {_names(hyper)} {'is' if one else 'are'} identified by the marginal likelihood, "
            f"with {_names(effects)} integrated out: "
            f"pl.mle(model, marginalize={[str(e) for e in effects]!r}). "
            "To fix the hyperparameters at known values, "
            f"pl.map_estimate(pm.do(model, {_do(hyper)})) keeps the prior of {_names(effects)} and "
            "shrinks the estimates towards them (pl.mle of that model would flatten that prior "
            "again). pl.map_estimate(model) keeps every prior, but maximizes over the hyperparameters "
            "too: for a group-level scale that joint mode is typically at 0, with every effect equal."
        )
    elif standardized:
        parts.append(
            "Instead: integrate the effects out (the marginal likelihood; pplmle does not build it "
            "yet), or fix the scale with pm.do and use pl.map_estimate, which keeps the priors."
        )
    parts.append(
        'Pass hierarchy="flatten" to pl.mle to fit the flattened model anyway (variables that do '
        "not enter the likelihood are then held fixed and reported as NaN)."
    )
    return " ".join(parts)


def not_identified(names: Sequence[str]) -> str:
    one = len(names) == 1
    return (
        f"{_names(names)} {'does' if one else 'do'} not enter the likelihood of the flattened model "
        f'(hierarchy="flatten"): the data say nothing about {"it" if one else "them"}, so '
        f"{'it is' if one else 'they are'} reported as NaN, held fixed during the fit; the other "
        "parameters are estimated without them."
    )


def not_identified_flag() -> str:
    return "not identified: does not enter the likelihood"


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


# -- report= of mle() and map_estimate(): Deterministics as derived quantities --------------------

_REPORT_RULE = (
    "`report` must be None (the default: every Deterministic with fewer elements than the "
    "observations and at most 100), a list of names of the model's Deterministics, or () for none"
)


def report_not_list(value: object) -> str:
    return f"{_REPORT_RULE}; got {value!r}."


def report_not_string(bad: Sequence[object]) -> str:
    return f"{_REPORT_RULE}: every name a string; got {list(bad)!r}."


def report_not_deterministic(bad: Sequence[str], why: str, deterministics: Sequence[str]) -> str:
    return f"{_REPORT_RULE}; got {list(bad)!r}, {why}. The model's Deterministics are {list(deterministics)}."


def report_free(bad: Sequence[str], deterministics: Sequence[str]) -> str:
    return report_not_deterministic(bad, "free variable(s), which are always reported", deterministics)


def report_observed(bad: Sequence[str], deterministics: Sequence[str]) -> str:
    return report_not_deterministic(
        bad, "observed variable(s) or data, not functions of the parameters", deterministics
    )


def report_unknown(bad: Sequence[str], deterministics: Sequence[str]) -> str:
    return report_not_deterministic(bad, "which the model does not have", deterministics)


def report_family(value: object) -> str:
    return (
        "`report` must be None for a family (it reports its own parameters; `report` chooses the "
        f"Deterministics of a pm.Model); got {value!r}."
    )


def derived_flag(labels: Sequence[str]) -> str:
    return f"depends on flagged {', '.join(labels)}"


def derived_mismatch(name: str, given: object, computed: object) -> str:
    return (
        f"`params[{name!r}]` is a Deterministic of the free parameters (a derived quantity): it must "
        f"equal the value they give, {computed!r}, or be left out; got {given!r}. Change the free "
        "parameters instead."
    )


def derived_on_grid(argument: str, label: str) -> str:
    return (
        f"`{argument}` names {label!r}, a Deterministic reported as a derived quantity: it is a "
        "function of the free parameters and cannot be held at given values while they are fixed. "
        f"Use its profile instead: pl.profile(result, {label!r}), or surface(..., profile=True)."
    )


def start_not_mapping(got: str) -> str:
    return f"`start` must be a dict of values by parameter name; got {got}."


# -- arguments of surface() ----------------------------------------------------------------------

#: what "inside the support" means, by the kind of transform that maps a variable to the real line
_SUPPORT_RULES = {
    "ordered": "strictly increasing",
    "simplex": "positive elements summing to 1",
    "zerosum": "elements summing to 0",
    "cholesky": "a packed Cholesky factor with a positive diagonal",
    "positive": "positive",
    "interval": "strictly inside its bounds",
    "unit": "strictly between 0 and 1",
}


def support_rule(kind: str) -> str:
    """The support of a variable in words, for its transform's `kind` (a key of the table above)."""
    return _SUPPORT_RULES.get(kind, "inside the support of its transform")


def grid_coupled(label: str, variable: str) -> str:
    return (
        f"A grid over {label!r} alone is not defined: the elements of {variable!r} are tied by its "
        "constraint (a simplex sums to 1, a zero-sum vector to 0), so one element cannot move while "
        "the others stay put; grid another parameter, or fix the whole vector with `fixed=`."
    )


def fixed_not_mapping(got: str) -> str:
    return f"`fixed` must be a dict of values by parameter name or label; got {got}."


def fixed_shape(key: str, shape: tuple[int, ...], got: tuple[int, ...]) -> str:
    what = "a single number" if shape == () else f"an array of shape {shape}"
    return f"`fixed[{key!r}]` must be {what}, the shape of the parameter; got shape {got}."


def fixed_both_ways(name: str, label: str) -> str:
    return f"`fixed` gives {label!r} twice: on its own and inside {name!r}; give it once."


def fixed_outside_support(where: str, value: str, variable: str, rule: str) -> str:
    return f"`{where}` puts {variable!r} outside its support: it must be {rule}; got {value}."


def surface_profile_one(names: Sequence[str]) -> str:
    return (
        "A profile surface (`profile=True`) is over one parameter (one constrained fit per grid point); "
        f"`grid` names {list(names)}."
    )


def surface_profile_fixed(keys: Sequence[str]) -> str:
    return (
        "`fixed` cannot be combined with `profile=True`: a profile re-optimizes every parameter off "
        f"the grid; got fixed values for {list(keys)}."
    )


def surface_all_nan(n: int) -> str:
    return (
        f"None of the {n} grid point(s) has a finite log-likelihood: every one lies outside the support "
        "of the parameters (or has likelihood 0) with the other parameters where they are fixed."
    )


def surface_no_best(n: int) -> str:
    return f"The surface has no best grid point: none of its {n} point(s) has a finite log-likelihood."


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


# -- marginal (Laplace) fits ----------------------------------------------------------------------


def laplace_exact() -> str:
    return (
        "marginal likelihood, the integrated variables by Laplace's method, exact here (the joint "
        "density is Gaussian in them)"
    )


def laplace_approximate() -> str:
    return (
        "marginal likelihood, the integrated variables by the Laplace approximation (not exact for "
        "this likelihood; lme4's glmer with nAGQ=1 makes the same approximation)"
    )


def variance_at_zero(labels: Sequence[str]) -> str:
    return (
        f"the marginal likelihood is highest with {_names(labels)} at zero (the data show no variation "
        "between the groups beyond what the other terms explain). The other standard errors hold "
        "it at zero; its profile interval starts at zero, and a likelihood-ratio test of it against "
        "zero is a boundary test (a 50:50 mixture of 0 and chi2(1))"
    )


def marginal_not_verified(decrement: float, positive_definite: bool, status: str) -> str:
    hess = "" if positive_definite else "the Hessian of the marginal NLL is not positive definite; "
    return f"{hess}Newton's method {status}, {_far(decrement)}: not a verified optimum"


def marginal_start_outside(name: str, value: object) -> str:
    return f"`start` gives `{name}` = {value!r}, outside its support."


def variance_tested_at_zero(names: Sequence[str]) -> str:
    return (
        f"Note: the restricted model leaves out the integrated effects {_names(names)}, so their "
        "variance is tested at zero, on the boundary of the parameter space: the chi2(df) reference "
        "is conservative (for one variance the null distribution is a 50:50 mixture of 0 and "
        "chi2(1), and the p-value is half the one shown)."
    )

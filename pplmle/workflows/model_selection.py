"""Compare fitted models: information criteria and the likelihood-ratio test.

Use :func:`compare_models` to rank several models fitted to the same
observations by AIC, with AICc (small samples), BIC and Akaike weights, and, when
posterior samples are given, PSIS-LOO and WAIC from ArviZ.  Use :func:`lr_test`
to test a model against a larger one that contains it (nested models).

Both work on :class:`~pplmle.MLEResult` objects and refuse what cannot be
compared: fits to different data (their ``data_key`` or ``n_obs`` differ) and
MAP estimates (information criteria and the likelihood-ratio test need the
maximized likelihood).  A fit that did not converge or has diagnostics is
compared with a :class:`~pplmle.core.errors.ConvergenceWarning`: its log-likelihood
may not be the maximum.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.stats

from pplmle.core import messages
from pplmle.core.errors import ConvergenceWarning, warn
from pplmle.core.result import MLEResult

if TYPE_CHECKING:
    import arviz as az

__all__ = ["LRTest", "compare_models", "lr_test"]

_IC_COLUMNS = ["loglik", "k", "n", "AIC", "AICc", "BIC", "dAIC", "weight"]
_POSTERIOR_COLUMNS = ["elpd_loo", "p_loo", "se_loo", "elpd_waic", "p_waic", "se_waic"]


# ---------------------------------------------------------------------------------
# checks shared by both functions


def _check_result(label: str, res: Any) -> None:
    """Refuse anything but a finite, fingerprinted maximum-likelihood estimate."""
    if not isinstance(res, MLEResult):
        raise ValueError(f"{label} must be an MLEResult (from pplmle.mle); got {type(res).__name__}.")
    if res.method == "REML":
        raise ValueError(
            f"{label} is a REML fit: restricted likelihoods compare only models with the same fixed "
            "effects, so information criteria and likelihood-ratio tests need the ML fit "
            "(pplmle.mle(model, marginalize=..., method='ML'))."
        )
    if res.method != "MLE":
        raise ValueError(
            f"{label} must be a maximum-likelihood estimate (method 'MLE'); got method {res.method!r}. "
            "Information criteria and likelihood-ratio tests need the maximized likelihood, and a MAP "
            "maximizes the posterior instead: fit the model with pplmle.mle."
        )
    if not math.isfinite(res.loglik):
        raise ValueError(f"{label} must have a finite log-likelihood; got loglik={res.loglik!r}.")
    if not res.data_key:
        raise ValueError(
            f"{label} must carry a fingerprint of its data (`data_key`); it is empty, so it cannot be "
            "checked to be fitted to the same data as the others."
        )


def _check_same_data(labelled: list[tuple[str, MLEResult]]) -> None:
    """Refuse results fitted to different observations: their likelihoods are not comparable."""
    first_label, first = labelled[0]
    for label, res in labelled[1:]:
        if res.n_obs != first.n_obs:
            raise ValueError(
                f"Models must be fitted to the same data; {first_label} has n={first.n_obs} observations "
                f"and {label} has n={res.n_obs}."
            )
        if res.data_key != first.data_key:
            raise ValueError(
                f"Models must be fitted to the same data; {first_label} and {label} were fitted to "
                f"different data (data_key {first.data_key[:12]}... and {res.data_key[:12]}...), so their "
                "likelihoods cannot be compared."
            )


def _problems(res: MLEResult) -> list[str]:
    return ([] if res.converged else ["not converged"]) + list(res.diagnostics)


def _warn_untrusted(label: str, res: MLEResult) -> str:
    """Warn about a fit whose log-likelihood may not be the maximum; return its note ("" when clean)."""
    problems = _problems(res)
    if problems:
        what = "did not converge" if not res.converged else "has diagnostics"
        warn(messages.untrusted_in_comparison(label, res.model_name, what, problems), ConvergenceWarning)
    return "; ".join(problems)


# ---------------------------------------------------------------------------------
# information criteria


def _aicc(aic: float, k: int, n: int) -> float:
    return aic + 2.0 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else math.inf


def compare_models(
    results: Mapping[str, MLEResult],
    *,
    posteriors: Mapping[str, az.InferenceData] | None = None,
) -> pd.DataFrame:
    """Rank models fitted to the same data by AIC, with AICc, BIC and Akaike weights.

    Parameters
    ----------
    results
        Maximum-likelihood estimates by model name, at least two, all fitted to
        the same observations (equal ``data_key`` and ``n_obs``; covariates may
        differ).  MAP estimates are refused.
    posteriors
        Optional ``arviz.InferenceData`` with a ``log_likelihood`` group, by model
        name, for some or all of the models (for example from
        ``pm.sample(idata_kwargs={"log_likelihood": True})``).  Adds PSIS-LOO and
        WAIC computed by ``arviz.compare`` on the log scale (higher is better).

    Returns
    -------
    pandas.DataFrame
        One row per model, sorted by AIC (ties keep the given order), with columns

        - ``loglik``, ``k``, ``n``: maximized log-likelihood, number of free
          parameters, number of observations;
        - ``AIC = 2k - 2 loglik``; ``AICc = AIC + 2k(k+1)/(n-k-1)``, the
          small-sample correction, which is ``inf`` when ``n - k - 1 <= 0``
          (too few observations for the correction to exist);
          ``BIC = k log(n) - 2 loglik``; AICc and BIC are NaN for a fit whose
          ``n`` is not known (its ``n_obs_note``: a ``pm.Potential`` in the
          likelihood and no ``n_obs=`` given);
        - ``dAIC``: AIC minus the smallest AIC;
        - ``weight``: Akaike weights ``exp(-dAIC/2)``, normalized to sum to 1;
        - with `posteriors`: ``elpd_loo``, ``p_loo``, ``se_loo``, ``elpd_waic``,
          ``p_waic``, ``se_waic`` (NaN for models without a posterior);
        - only when some fit did not converge, has diagnostics or has no known
          ``n``: ``note``, listing the problems ("" for a clean fit).

    Warns
    -----
    ConvergenceWarning
        For each fit that did not converge or has diagnostics (its log-likelihood
        may not be the maximum).  ArviZ's own warnings (for example on large
        Pareto k or on WAIC) pass through unchanged.

    Raises
    ------
    ValueError
        Fewer than two results, a value that is not an :class:`~pplmle.MLEResult`,
        a MAP estimate, fits to different data, or posteriors for models not in
        `results` or without a ``log_likelihood`` group.

    Notes
    -----
    AIC and its weights compare expected out-of-sample predictive accuracy and
    need no nesting; with flat priors and enough data, ``-2 elpd_loo`` and
    ``-2 elpd_waic`` estimate the same quantity as AIC.  ArviZ emits a pandas
    deprecation notice about its own use of ``sort_values(inplace=True)``; that
    one notice is silenced here, nothing else.

    Examples
    --------
    >>> import pplmle as pl
    >>> from pplmle.workflows.model_selection import compare_models
    >>> x = pl.datasets.heights()
    >>> fits = {name: pl.mle(fam(x)) for name, fam in
    ...         [("normal", pl.Normal), ("lognormal", pl.LogNormal), ("gamma", pl.Gamma)]}
    >>> table = compare_models(fits)
    >>> print(table[["loglik", "k", "AIC", "dAIC", "weight"]].round(4))
                loglik  k      AIC    dAIC  weight
    normal    -29.7347  2  63.4694  0.0000  0.3339
    gamma     -29.7363  2  63.4725  0.0031  0.3334
    lognormal -29.7385  2  63.4770  0.0076  0.3327
    """
    if not isinstance(results, Mapping):
        raise ValueError(
            f"`results` must be a mapping of model name to MLEResult; got {type(results).__name__}."
        )
    if len(results) < 2:
        raise ValueError(
            f"`results` must hold at least 2 models to compare; got {len(results)}: {list(results)}."
        )
    labelled = [(f"`results[{name!r}]`", res) for name, res in results.items()]
    for label, res in labelled:
        _check_result(label, res)
    _check_same_data(labelled)
    extra = None
    if posteriors is not None:
        extra = _posterior_criteria(posteriors, results)
    notes = [_warn_untrusted(label, res) for label, res in labelled]
    # a fit whose n is not known (a Potential in its likelihood, no n_obs= given) has no BIC or AICc
    unknown_n = np.array([bool(res.n_obs_note) for res in results.values()])
    notes = [
        "; ".join(filter(None, [note, res.n_obs_note]))
        for note, res in zip(notes, results.values(), strict=True)
    ]

    loglik = np.array([res.loglik for res in results.values()], dtype=float)
    k = np.array([res.n_params for res in results.values()], dtype=np.int64)
    n = np.array([res.n_obs for res in results.values()], dtype=np.int64)
    aic = 2.0 * k - 2.0 * loglik
    d_aic = aic - aic.min()
    rel = np.exp(-d_aic / 2.0)
    table = pd.DataFrame(
        {
            "loglik": loglik,
            "k": k,
            "n": n,
            "AIC": aic,
            "AICc": np.where(
                unknown_n, np.nan, [_aicc(a, int(kk), int(nn)) for a, kk, nn in zip(aic, k, n, strict=True)]
            ),
            "BIC": [res.bic for res in results.values()],
            "dAIC": d_aic,
            "weight": rel / rel.sum(),
        },
        index=list(results),
    )
    if extra is not None:
        table = table.join(extra, how="left")
    if any(notes):
        table["note"] = notes
    return table.sort_values("AIC", kind="stable")


def _posterior_criteria(posteriors: Mapping[str, Any], results: Mapping[str, MLEResult]) -> pd.DataFrame:
    """LOO and WAIC columns from ``arviz.compare``, indexed by model name."""
    import arviz as az

    if not isinstance(posteriors, Mapping):
        raise ValueError(
            f"`posteriors` must be a mapping of model name to arviz.InferenceData; got "
            f"{type(posteriors).__name__}."
        )
    if len(posteriors) == 0:
        raise ValueError("`posteriors` must name at least one model when given; got an empty mapping.")
    unknown = [name for name in posteriors if name not in results]
    if unknown:
        raise ValueError(
            f"`posteriors` must name models in `results`; {unknown} are not among {list(results)}."
        )
    for name, idata in posteriors.items():
        label = f"`posteriors[{name!r}]`"
        if not isinstance(idata, az.InferenceData):
            raise ValueError(f"{label} must be an arviz.InferenceData; got {type(idata).__name__}.")
        if "log_likelihood" not in idata.groups():
            raise ValueError(
                f"{label} must have a `log_likelihood` group; it has {idata.groups()}. Sample with "
                'pm.sample(idata_kwargs={"log_likelihood": True}) or call pm.compute_log_likelihood.'
            )
        loglik = idata["log_likelihood"]
        if len(loglik.data_vars) == 1:
            arr = next(iter(loglik.data_vars.values()))
            per_draw = int(np.prod([size for dim, size in arr.sizes.items() if dim not in ("chain", "draw")]))
            if per_draw != results[name].n_obs:
                raise ValueError(
                    f"{label} must hold the log-likelihood of the data the MLE was fitted to; it has "
                    f"{per_draw} pointwise values per draw, but `results[{name!r}]` has "
                    f"n={results[name].n_obs} observations."
                )

    columns = []
    for ic in ("loo", "waic"):
        with warnings.catch_warnings():
            # ArviZ 0.x calls DataFrame.sort_values(inplace=True), which pandas 3 deprecates;
            # a notice about ArviZ's internals, nothing the caller can act on.
            warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.sort_values")
            ics = az.compare(dict(posteriors), ic=ic, scale="log")
        columns.append(ics[[f"elpd_{ic}", f"p_{ic}", "se"]].rename(columns={"se": f"se_{ic}"}).astype(float))
    return pd.concat(columns, axis=1)[_POSTERIOR_COLUMNS]


# ---------------------------------------------------------------------------------
# likelihood-ratio test


@dataclass(frozen=True, repr=False)
class LRTest:
    """The result of :func:`lr_test`.

    Attributes
    ----------
    statistic
        ``2 (loglik_full - loglik_restricted)``, at least 0.
    df
        Degrees of freedom of the chi-square reference: the difference in the
        number of free parameters.
    p_value
        ``P(chi2(df) >= statistic)``.
    note
        A caveat on that reference distribution, when one applies: empty, or (for a marginal fit
        whose integrated effects the restricted model leaves out) that their variance is tested
        on the boundary, zero.
    """

    statistic: float
    df: int
    p_value: float
    note: str = ""

    def __repr__(self) -> str:
        text = f"LRTest(statistic={self.statistic:.6g}, df={self.df}, p_value={self.p_value:.4g})"
        return f"{text}\n{self.note}" if self.note else text


def lr_test(restricted: MLEResult, full: MLEResult) -> LRTest:
    """Likelihood-ratio test of a restricted model against a larger model that contains it.

    The statistic ``2 (loglik_full - loglik_restricted)`` is referred to a
    chi-square distribution with ``df = k_full - k_restricted`` degrees of
    freedom (Wilks' theorem).  That reference distribution assumes

    - nested models: `restricted` is `full` with some parameters fixed (for
      example a regression without some covariates, or an Exponential inside a
      Gamma with shape 1); non-nested models, such as Poisson against Normal,
      have no such reference: compare them with :func:`compare_models`;
    - the restricted parameter values lie in the interior of the full parameter
      space, not on its boundary: testing a variance component = 0 or a mixture
      weight = 0 does not give chi2(df) (for one variance it is a 50:50 mixture of
      0 and chi2(1), and this p-value is then conservative);
    - enough data for the asymptotics.

    Parameters
    ----------
    restricted, full
        Maximum-likelihood estimates fitted to the same observations, `full`
        with more free parameters.

    Returns
    -------
    LRTest

    Warns
    -----
    ConvergenceWarning
        When a fit did not converge or has diagnostics.

    Raises
    ------
    ValueError
        A value that is not an MLEResult, a MAP estimate, fits to different data,
        ``df < 1``, or a clearly negative statistic (`full` fits worse than
        `restricted`: the models are not nested, or a fit did not reach the
        maximum).  A negative statistic within rounding
        (``> -1e-6 max(1, |loglik|)``) is set to 0.

    Examples
    --------
    >>> import numpy as np, pplmle as pl
    >>> from pplmle.workflows.model_selection import lr_test
    >>> y = pl.datasets.heights()
    >>> t = np.arange(10.0)
    >>> line = pl.mle(pl.LinearRegression(t, y))
    >>> parabola = pl.mle(pl.LinearRegression(np.column_stack([t, t**2]), y))
    >>> lr_test(line, parabola)  # no evidence of curvature
    LRTest(statistic=0.82421, df=1, p_value=0.364)
    """
    checked = [("`restricted`", restricted), ("`full`", full)]
    for label, res in checked:
        _check_result(label, res)
    _check_same_data(checked)
    df = full.n_params - restricted.n_params
    if df < 1:
        raise ValueError(
            f"`full` must have more parameters than `restricted`; got k={full.n_params} and "
            f"k={restricted.n_params}."
        )
    for label, res in checked:
        _warn_untrusted(label, res)
    statistic = 2.0 * (full.loglik - restricted.loglik)
    if statistic < 0.0:
        tolerance = 1e-6 * max(1.0, abs(full.loglik), abs(restricted.loglik))
        if statistic < -tolerance:
            raise ValueError(
                f"The likelihood-ratio statistic must be non-negative; got {statistic!r}: `full` "
                f"(loglik={full.loglik!r}) fits worse than `restricted` (loglik={restricted.loglik!r}), "
                "so the models are not nested or a fit did not converge to the maximum."
            )
        statistic = 0.0
    left_out = [n for n in full.marginalized if n not in restricted.marginalized]
    note = messages.variance_tested_at_zero(left_out) if left_out else ""
    return LRTest(
        statistic=statistic, df=int(df), p_value=float(scipy.stats.chi2.sf(statistic, df)), note=note
    )

"""The result of an estimate: :class:`MLEResult`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from pplmle.core import display as _display
from pplmle.core import messages
from pplmle.core import values as _values
from pplmle.core.diagnostics import NO_MLE
from pplmle.core.likelihood import Likelihood
from pplmle.core.profiles import profile_intervals
from pplmle.core.validate import check_params


@dataclass(frozen=True, repr=False, eq=False)
class MLEResult(_values.Value):
    """A maximum-likelihood (or MAP) estimate that knows whether it can be trusted.

    Attributes
    ----------
    params
        Estimates on the natural scale of each parameter, by name (float or array).
    se
        Standard errors in the same layout, from the inverse observed information
        (Hessian of the NLL on the natural scale).  NaN where the Hessian is
        singular or not positive definite.
    cov
        Covariance of the flattened parameters, labelled like :meth:`table`.
    loglik, nll
        Log-likelihood at the estimate and its negative.  For a MAP this is the
        likelihood at the MAP, not the log-posterior.
    aic, bic
        ``2k - 2 loglik`` and ``k log(n) - 2 loglik`` (BIC is NaN when
        :attr:`n_obs_note` says that ``n`` is not known).
    n_obs, n_params
        Number of observations ``n`` and of free parameters ``k`` (a simplex of
        ``K`` probabilities has ``K - 1``). For a ``pm.Model``, ``n`` counts the
        observed values of its likelihood terms: one per observed element, one
        per observed vector of a multivariate distribution (``pm.MvNormal``),
        one per time step of a time series (``pm.AR``); or the ``n_obs=`` given
        to :func:`pplmle.mle`.
    n_obs_note
        Empty when ``n_obs`` counts every observation; otherwise why it does not
        (a ``pm.Potential`` in the likelihood, whose observations cannot be
        counted, and no ``n_obs=`` given): BIC is then NaN.
    converged
        True only when the optimizer ended where the natural-scale gradient,
        measured in standard errors, is below ``gtol``.
    message
        What the optimizer(s) said.
    method
        ``"MLE"`` or ``"MAP"``.
    grad_norm
        Largest absolute natural-scale gradient of the NLL at the estimate.
    diagnostics
        The problems found, as :class:`pplmle.core.diagnostics.Diagnostic` members (strings:
        ``"separation"``, ``"boundary"``, ``"drift"``, ``"unbounded likelihood"``,
        ``"singular Hessian"``, ``"multiple optima"``; see :mod:`pplmle.core.diagnostics`).
        Empty for a clean estimate; :attr:`mle_exists` says whether any means no MLE.
    flags
        Note per affected parameter label, shown in :meth:`table`'s ``flag`` column.
    data_key
        Fingerprint of the observed data (not of covariates): two results with
        equal keys were fitted to the same observations, so their likelihoods
        can be compared (:func:`pplmle.compare_models`, :func:`pplmle.lr_test`).
    n_starts, same_optimum
        How many starting points were used and whether they reached the same
        optimum (None for a single start).
    dep_var
        Name of the response (the observed variables of a ``pm.Model``; ``"y"`` for a family).
    df_resid
        Residual degrees of freedom, ``n - k``; for a regression family ``k`` counts the
        coefficients (not ``sigma``), as R and statsmodels do. Used by ``use_t=True``.
    null_loglik, null_n_params
        Log-likelihood and parameter count of the null model (intercept only, offset kept) where
        one is defined (the regression families); NaN and 0 otherwise.
    saturated_loglik
        Log-likelihood of the saturated model where the deviance is defined (counts and binary
        responses); NaN otherwise.
    scale_param
        The label of a residual scale that has an unbiased version (``"sigma"`` of a linear
        regression), for :meth:`summary`'s ``unbiased_sigma``; empty otherwise.
    n_iter
        Iterations of the optimizers (find_MAP's and the Newton polish's) of the chosen route.
    cov_type
        What :attr:`cov` is: ``"observed"`` (inverse observed information, the default),
        ``"expected"``, ``"robust"``/``"HC0"``, ``"HC1"`` or ``"cluster"`` (see :func:`pplmle.mle`).
    fixed
        Labels held fixed at given values (``fixed=`` of :func:`pplmle.mle`): no standard error,
        not counted in :attr:`n_params`.
    derived
        Names of the reported Deterministics of a ``pm.Model`` (``report=`` of
        :func:`pplmle.mle`): derived quantities, functions of the free
        parameters, after them in :attr:`params`, :attr:`se` and :attr:`cov`
        (delta-method standard errors), marked in :meth:`table`'s ``derived``
        column. Not counted in :attr:`n_params`.
    marginalized
        The latent variables integrated out of the likelihood (``marginalize=`` of
        :func:`pplmle.mle`); empty for an ordinary fit. The estimates are then those of the marginal
        likelihood, and ``loglik`` is its maximum (for ``method="REML"``, ``method`` is ``"REML"``
        and ``loglik`` is the restricted log-likelihood).
    random_effects
        For a marginal fit: the conditional modes of the integrated variables at the estimate (the
        BLUPs of a linear mixed model), by label, with their conditional standard errors (columns
        ``mode`` and ``se``); None otherwise.
    approximation
        For a marginal fit: ``"exact"`` when the Laplace integral is exact (the joint density is
        Gaussian in the integrated variables), ``"Laplace"`` when it is an approximation.
    context
        The fitted likelihood (:class:`pplmle.core.likelihood.Likelihood`): a copy of the
        data and what recomputes the NLL on it, for :meth:`nllf`, profiles and surfaces.
        Not part of equality (two results are equal when their numbers are).
    """

    params: dict[str, float | np.ndarray]
    se: dict[str, float | np.ndarray]
    cov: pd.DataFrame
    loglik: float
    n_obs: int
    n_params: int
    converged: bool
    message: str
    method: str
    grad_norm: float
    model_name: str = "model"
    diagnostics: tuple[str, ...] = ()
    n_starts: int = 1
    same_optimum: bool | None = None
    n_eval: int = 0
    flags: dict[str, str] = field(default_factory=dict)
    data_key: str = ""
    n_obs_note: str = ""
    derived: tuple[str, ...] = ()
    dep_var: str = ""
    df_resid: int = -1
    null_loglik: float = float("nan")
    null_n_params: int = 0
    saturated_loglik: float = float("nan")
    scale_param: str = ""
    n_iter: int = 0
    cov_type: str = "observed"
    fixed: tuple[str, ...] = ()
    marginalized: tuple[str, ...] = ()
    random_effects: pd.DataFrame | None = None
    approximation: str = ""
    context: Likelihood | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.df_resid == -1:  # the default: every free parameter costs a degree of freedom
            object.__setattr__(self, "df_resid", int(self.n_obs - self.n_params))

    @property
    def mle_exists(self) -> bool:
        """False when a diagnostic says that no MLE exists (separation, drift, an unbounded
        likelihood): the estimate is then where the optimizer stopped, not an MLE."""
        return not any(code in NO_MLE for code in self.diagnostics)

    @property
    def nll(self) -> float:
        """Negative log-likelihood at the estimate."""
        return -self.loglik

    @property
    def aic(self) -> float:
        """Akaike information criterion, ``2k - 2 loglik``."""
        return 2.0 * self.n_params - 2.0 * self.loglik

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``k log(n) - 2 loglik``; NaN when ``n`` is not known
        (see :attr:`n_obs_note`)."""
        if self.n_obs_note:
            return float("nan")
        return self.n_params * np.log(self.n_obs) - 2.0 * self.loglik

    @property
    def labels(self) -> list[str]:
        """Labels of the flattened scalar parameters, in the order of :attr:`cov`."""
        return list(self.cov.index)

    @property
    def derived_labels(self) -> list[str]:
        """Labels of the derived quantities (the elements of :attr:`derived`), in label order."""
        out, i = [], 0
        labels = self.labels
        for name, value in self.params.items():
            size = int(np.size(value))
            if name in self.derived:
                out.extend(labels[i : i + size])
            i += size
        return out

    @property
    def free_labels(self) -> list[str]:
        """Labels of the free parameters: :attr:`labels` without :attr:`derived_labels`."""
        derived = set(self.derived_labels)
        return [lab for lab in self.labels if lab not in derived]

    def vector(self, values: Mapping[str, Any]) -> np.ndarray:
        """`values` (laid out like :attr:`params`, such as :attr:`se`) as one flat vector in the
        order of :attr:`labels`.

        Examples
        --------
        >>> import pplmle as pl
        >>> res = pl.mle(pl.Normal(pl.datasets.heights()))
        >>> res.vector(res.params).round(4).tolist()
        [168.0, 4.7329]
        """
        return np.concatenate([np.ravel(np.asarray(values[k], dtype=float)) for k in self.params])

    def _chosen(self, params: str | Sequence[str] | None) -> list[str]:
        """The labels `params` names, in its order without repeats (all labels for None)."""
        labels = self.labels
        if params is None:
            return list(labels)
        chosen = [params] if isinstance(params, str) else list(params)
        bad = [p for p in chosen if not isinstance(p, str) or p not in labels]
        if bad:
            raise ValueError(messages.params_unknown(bad, labels))
        if not chosen:
            raise ValueError(messages.params_empty(labels))
        return list(dict.fromkeys(chosen))

    def conf_int(
        self, level: float = 0.95, method: str = "wald", *, params: str | Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Confidence intervals with columns ``lower`` and ``upper``.

        Parameters
        ----------
        level
            Coverage, strictly between 0 and 1.
        method
            ``"wald"``: estimate +/- z * se (symmetric; NaN where se is NaN).
            ``"profile"``: the likelihood-ratio interval ``{c : 2 (loglik -
            profile_loglik(c)) <= chi2_1(level)}``, by root-finding on the
            profile log-likelihood (see :mod:`pplmle.core.profiles`); asymmetric where
            the likelihood is, and invariant to reparameterization.
        params
            A label (``"sigma"``, ``"beta[x]"``) or a list of labels from
            :attr:`labels`: only these rows are returned, in the order given
            (repeats dropped).  Default None: every parameter.  With
            ``method="profile"`` only these parameters are profiled, each one
            costing a series of constrained fits; each (label, level) is
            computed once and kept with the result, so asking for one label and
            later for all profiles that label only once.

        Examples
        --------
        >>> import pplmle as pl
        >>> res = pl.mle(pl.Normal(pl.datasets.heights()))
        >>> res.conf_int(0.95).round(2).loc["mu"].tolist()
        [165.07, 170.93]
        >>> res.conf_int(0.95, method="profile").round(2).loc["sigma"].tolist()
        [3.23, 7.9]
        >>> res.conf_int(0.95, method="profile", params="sigma").round(2)
               lower  upper
        sigma   3.23    7.9
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"`level` must be strictly between 0 and 1; got {level!r}.")
        chosen = self._chosen(params)
        index = pd.Index(chosen, name=self.cov.index.name)
        if method == "wald":
            z = scipy.stats.norm.ppf(0.5 + level / 2.0)
            est, se = self.vector(self.params), self.vector(self.se)
            rows = [self.labels.index(label) for label in chosen]
            lower, upper = est[rows] - z * se[rows], est[rows] + z * se[rows]
        elif method == "profile":
            if self.fixed:
                raise ValueError(
                    "`method='profile'` is not available for a fit with parameters held fixed "
                    f"({list(self.fixed)}); profile the full fit instead."
                )
            if self.method != "MLE":
                raise ValueError(f"`method='profile'` needs an MLE result; this is a {self.method}.")
            # computed once per (label, level) and kept with the result's context (the value is
            # unchanged): each label is profiled on its own, so its ends do not depend on the others
            cache = self.context.cache if self.context is not None else {}
            keys = {label: ("profile interval", label, float(level)) for label in chosen}
            todo = [label for label in chosen if keys[label] not in cache]
            if todo:
                lows, highs = profile_intervals(self, level, todo)
                for label, lo, hi in zip(todo, lows, highs, strict=True):
                    cache[keys[label]] = (float(lo), float(hi))
            lower = np.array([cache[keys[label]][0] for label in chosen], dtype=float)
            upper = np.array([cache[keys[label]][1] for label in chosen], dtype=float)
        else:
            raise ValueError(f"`method` must be 'wald' or 'profile'; got {method!r}.")
        return pd.DataFrame({"lower": lower, "upper": upper}, index=index)

    def table(
        self, level: float = 0.95, *, profile: bool = False, params: str | Sequence[str] | None = None
    ) -> pd.DataFrame:
        """One row per scalar parameter: estimate, se and the Wald interval at `level`.

        With ``profile=True`` the profile-likelihood interval is added beside the
        Wald one; ``params`` (a label or a list of labels, with ``profile=True``)
        profiles only those parameters, and the other rows get NaN in the profile
        columns (NaN there means "not computed", not "no interval").  When the
        result reports derived quantities (:attr:`derived`), a boolean
        ``derived`` column marks their rows.  When a diagnostic affects some
        parameters, a ``flag`` column says how (for example
        ``"separation: -> inf"`` or ``"boundary: = 0"``).
        """
        if params is not None and not profile:
            raise ValueError(messages.params_need_profile())
        ci = self.conf_int(level)
        pct = f"{100 * level:g}%"
        out = pd.DataFrame(
            {
                "estimate": self.vector(self.params),
                "se": self.vector(self.se),
                f"lower {pct}": ci["lower"].to_numpy(),
                f"upper {pct}": ci["upper"].to_numpy(),
            },
            index=self.cov.index,
        )
        if profile:
            prof = self.conf_int(level, method="profile", params=params).reindex(out.index)
            out[f"profile lower {pct}"] = prof["lower"].to_numpy()
            out[f"profile upper {pct}"] = prof["upper"].to_numpy()
        if self.derived:
            derived = set(self.derived_labels)
            out["derived"] = [lab in derived for lab in out.index]
        if self.flags:
            out["flag"] = [self.flags.get(lab, "") for lab in out.index]
        return out

    def summary(
        self,
        level: float = 0.95,
        *,
        use_t: bool = False,
        unbiased_sigma: bool = False,
        profile: bool = False,
    ) -> Any:
        """The statsmodels- or R-style summary: verdict, header, coefficient table, notes.

        The header has the model, the dependent variable, n, the residual degrees of freedom,
        the log-likelihood, the null model's where one is defined (with the likelihood-ratio
        p-value against it), the deviance, AIC, BIC, a pseudo-R² (McFadden's; R² for a linear
        regression), the covariance type, the verdict and the iterations. The table has
        estimate, se, z, P>|z| and the Wald interval at `level` (``profile=True`` adds the
        profile-likelihood interval). ``use_t=True`` tests against Student's t with
        :attr:`df_resid` degrees of freedom; ``unbiased_sigma=True`` (a linear regression)
        reports ``s = sqrt(RSS / (n - p))`` and standard errors based on it: with both, the
        numbers of R's ``summary(lm(...))``.

        Returns a :class:`pplmle.core.inference.Summary`: ``print`` it for text, a notebook shows
        HTML, ``.to_frame()`` gives the table as a DataFrame.

        Examples
        --------
        >>> import pplmle as pl
        >>> s = pl.mle(pl.Normal(pl.datasets.heights())).summary()
        >>> s.to_frame().round(3).loc["mu", ["estimate", "se", "z"]].tolist()
        [168.0, 1.497, 112.25]
        """
        from pplmle.core.inference import summary

        return summary(self, level, use_t=use_t, unbiased_sigma=unbiased_sigma, profile=profile)

    def wald_test(self, hypotheses: Any, *, use_f: bool = False) -> Any:
        """Wald test of linear hypotheses ``R theta = q`` on the parameters (and derived quantities).

        `hypotheses` is a string of equations in the labels of :attr:`labels`, separated by
        commas (``"beta[x1] = beta[x2], beta[x3] = 0"``; a side without ``=`` means ``= 0``), a
        list of such strings, a matrix ``R`` (hypothesis ``R theta = 0``) or a pair ``(R, q)``.
        The statistic ``(R theta - q)' (R V R')^-1 (R theta - q)`` uses :attr:`cov` (so a robust
        covariance gives a robust test) and is chi-square with as many degrees of freedom as
        hypotheses; ``use_f=True`` divides it by that number and refers it to F with
        :attr:`df_resid` denominator degrees of freedom. Returns a
        :class:`pplmle.core.inference.WaldTest`.

        Examples
        --------
        >>> import pplmle as pl
        >>> res = pl.mle(pl.Normal(pl.datasets.heights()))
        >>> round(res.wald_test("mu = 170").pvalue, 4)
        0.1814
        """
        from pplmle.core.inference import wald_test

        return wald_test(self, hypotheses, use_f=use_f)

    def predict(
        self,
        new_data: Any = None,
        *,
        var: str | None = None,
        level: float = 0.95,
        interval: str = "link",
        offset: Any = None,
    ) -> pd.DataFrame:
        """Predictions with delta-method standard errors and intervals at `level`.

        For a regression family, `new_data` is a design like the fitted ``X`` (same columns; a
        DataFrame's columns must match by name; default: the fitted design, with the fitted
        ``offset``; `offset` gives a PoissonRegression's offset for the new rows, zero when not
        given): the rows give the mean of the response, ``mean_se`` from the delta method
        (``g'(eta) sqrt(x' V x)``), and the interval: ``interval="link"`` (default) is the Wald
        interval of the linear predictor mapped through the inverse link (it stays inside the
        range of the mean, as statsmodels' GLM predictions do); ``"delta"`` is
        ``mean +/- z mean_se``. A ``pm.Model``: `new_data` maps ``pm.Data`` names to new values
        (default: the fitted data) and `var` names the ``pm.Deterministic`` to predict (for
        example the mean ``mu``); its values at the estimate, with delta-method standard errors
        and ``mean +/- z se`` intervals.
        """
        if self.context is None or not hasattr(self.context, "predict"):
            raise ValueError("This result carries no model to predict from (the fit failed to start).")
        if not 0.0 < level < 1.0:
            raise ValueError(f"`level` must be strictly between 0 and 1; got {level!r}.")
        if interval not in ("link", "delta"):
            raise ValueError(f"`interval` must be 'link' or 'delta'; got {interval!r}.")
        return self.context.predict(self, new_data, var=var, level=level, interval=interval, offset=offset)

    def to_inference_data(self, draws: int = 4000, seed: int | None = 0) -> Any:
        """An ``az.InferenceData`` of this estimate, for ArviZ's summaries and plots.

        Groups
        ------
        mle
            ``estimate`` and ``se`` (dimension ``parameter``, the labels) and
            ``cov`` (``parameter`` x ``parameter_bis``); attributes ``loglik``,
            ``n_obs`` and ``method``.
        posterior
            `draws` draws (one chain) of the flat-prior posterior: from the
            likelihood normalized on a grid of +/- 5 standard errors when there
            are at most two scalar parameters (its ``source`` attribute says
            so), else from the large-sample normal approximation N(MLE, cov).
            One variable per parameter; for a ``pm.Model`` whose variable has
            ``dims=``, with the model's dims and coordinate values (integer
            indices for a dim without values), else ``{name}_dim_{d}``.
            Absent when the covariance is not available.
        likelihood_surface
            The grid surface, when a grid was used.
        """
        from pplmle.workflows.bayes import result_inference_data

        return result_inference_data(self, draws=draws, seed=seed)

    def bootstrap(
        self,
        reps: int = 1000,
        kind: str = "nonparametric",
        seed: int | None = None,
        *,
        executor: Any = None,
        level: float = 0.95,
        progressbar: bool = True,
        chunk_size: int = 100,
    ) -> Any:
        """Bootstrap standard errors and percentile intervals, in the layout of :meth:`table`.

        ``kind="nonparametric"`` refits the model to `reps` samples of the
        observations drawn with replacement (for a ``pm.Model``: the rows of
        every ``pm.Data`` container with one row per observation);
        ``"parametric"`` refits it to `reps` datasets drawn from the fitted
        model at this estimate.  The model is compiled once for all of them
        (see :func:`pplmle.simulate`, which shares the machinery, `executor`
        and the seeding).  Returns a :class:`pplmle.workflows.simulation.BootstrapResult`
        whose ``table`` has ``estimate``, the bootstrap ``se``, the percentile
        interval, the Hessian's ``mle se``, ``bias`` and ``used``.
        """
        from pplmle.workflows.simulation import bootstrap

        return bootstrap(
            self,
            reps,
            kind,
            seed,
            executor=executor,
            level=level,
            progressbar=progressbar,
            chunk_size=chunk_size,
        )

    def nllf(self, params: Mapping[str, Any] | None = None) -> float:
        """The NLL at `params` (natural scale, by name; default: the estimate), on the fitted data.

        `params` must give every parameter of the result (the keys of ``params``), each with the
        shape of its estimate: none is filled in from a default. Derived quantities
        (:attr:`derived`) are functions of the free parameters: they may be left out, and when
        given must agree with the values the free parameters give (ValueError otherwise).
        """
        if self.context is None:
            raise ValueError("This result carries no likelihood function.")
        if params is None:
            return self.context.nll(self.params)
        expected = self.params
        if self.derived and isinstance(params, Mapping):
            expected = {k: v for k, v in self.params.items() if k not in self.derived or k in params}
        return self.context.nll(check_params(params, expected))

    def __repr__(self) -> str:
        return _display.result_text(self)

    def _repr_html_(self) -> str:
        return _display.result_html(self)

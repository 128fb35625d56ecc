"""MLE, MAP and posterior side by side; ArviZ views of results; the parameterization effect.

* :func:`bayes_vs_mle` samples a model with its own priors (``pm.Sample``),
  fits its MLE (priors flattened) and its MAP (priors kept), and returns one
  table with a row per parameter.
* :func:`result_inference_data` (``MLEResult.to_inference_data``) turns an MLE
  into an ``az.InferenceData`` so ArviZ's summaries and plots apply.
* :func:`posterior_and_likelihood` puts one parameter's posterior density (a
  KDE of the draws) beside its profile likelihood normalized to a density
  (``BayesVsMLE.plot`` draws it).
* :func:`parameterization_effect` shows that a mode depends on the scale it is
  taken on, while the MLE does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pplmle.core import values as _values
from pplmle.core.profiles import Profiler, profile
from pplmle.core.result import MLEResult
from pplmle.core.validate import as_float_array, check_finite
from pplmle.pymc.families import Family, Normal
from pplmle.pymc.fitting import fit_context, map_estimate, mle
from pplmle.pymc.observed import axis_values, variable_dims
from pplmle.workflows.surfaces import inference_data, surface

if TYPE_CHECKING:  # pragma: no cover
    import arviz as az
    import matplotlib.axes
    import xarray as xr

__all__ = [
    "BayesVsMLE",
    "PosteriorAndLikelihood",
    "bayes_vs_mle",
    "parameterization_effect",
    "posterior_and_likelihood",
    "result_inference_data",
]


@dataclass(frozen=True, repr=False)
class BayesVsMLE:
    """The outcome of :func:`bayes_vs_mle`.

    Attributes
    ----------
    table
        One row per scalar parameter; columns ``MLE``, ``SE``, ``Wald lower``,
        ``Wald upper``, ``profile lower``, ``profile upper``, ``MAP``, ``mean``,
        ``sd``, the HDI columns from ``az.summary`` (``hdi_2.5%``,
        ``hdi_97.5%`` at level 0.95) and ``r_hat``.
    idata
        The posterior draws (``az.InferenceData``).
    mle, map
        The :class:`~pplmle.MLEResult` of the MLE and of the MAP.
    level
        Level of the intervals.
    """

    table: pd.DataFrame
    idata: Any
    mle: MLEResult
    map: MLEResult
    level: float

    def plot(self, name: str, ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
        """Posterior density, normalized profile likelihood, and lines at the MLE and MAP."""
        from pplmle.viz.plots import posterior_vs_likelihood

        return posterior_vs_likelihood(self, name, ax=ax)

    def __repr__(self) -> str:
        return (
            f"Bayes vs MLE at level {self.level:g}\n{self.table.to_string(float_format=lambda v: f'{v:.6g}')}"
        )

    def _repr_html_(self) -> str:
        return self.table.to_html(float_format=lambda v: f"{v:.6g}")


def bayes_vs_mle(
    model: Any,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    random_seed: int | None = None,
    progressbar: bool = False,
    level: float = 0.95,
) -> BayesVsMLE:
    """Sample `model` with its priors and put MLE, MAP and posterior side by side.

    Parameters
    ----------
    model
        A ``pm.Model`` with priors (a family has flat priors: its MAP is its
        MLE and its posterior is the normalized likelihood).
    draws, tune, chains, random_seed, progressbar
        Passed to ``pm.sample`` (one core, so results repeat with a seed).
    level
        Level of the Wald, profile and HDI intervals.

    Returns
    -------
    BayesVsMLE
    """
    import arviz as az
    import pymc as pm

    if not 0.0 < level < 1.0:
        raise ValueError(f"`level` must be strictly between 0 and 1; got {level!r}.")
    for name, value, least in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"`{name}` must be a whole number >= {least}; got {value!r}.")
    mle_res = mle(model)
    map_res = mle_res if isinstance(model, Family) else map_estimate(model)
    pm_model = model.model if isinstance(model, Family) else model
    idata = pm.sample(
        draws=draws,
        tune=tune,
        chains=chains,
        cores=1,
        random_seed=random_seed,
        progressbar=progressbar,
        model=pm_model,
        compute_convergence_checks=False,
    )
    names = list(mle_res.params)
    summary = az.summary(idata, var_names=names, hdi_prob=level, round_to="none")
    if len(summary) != len(mle_res.labels):
        raise ValueError(
            f"The posterior has {len(summary)} scalar parameters but the MLE has {len(mle_res.labels)}."
        )
    summary.index = mle_res.labels  # az.summary lists elements in C order, as pplmle does
    wald = mle_res.conf_int(level, "wald")
    prof = mle_res.conf_int(level, "profile")
    hdi = [c for c in summary.columns if c.startswith("hdi_")]
    table = pd.DataFrame(
        {
            "MLE": mle_res.vector(mle_res.params),
            "SE": mle_res.vector(mle_res.se),
            "Wald lower": wald["lower"].to_numpy(),
            "Wald upper": wald["upper"].to_numpy(),
            "profile lower": prof["lower"].to_numpy(),
            "profile upper": prof["upper"].to_numpy(),
            "MAP": map_res.vector(map_res.params),
            "mean": summary["mean"].to_numpy(),
            "sd": summary["sd"].to_numpy(),
            **{c: summary[c].to_numpy() for c in hdi},
            "r_hat": summary["r_hat"].to_numpy(),
        },
        index=mle_res.labels,
    )
    return BayesVsMLE(table=table, idata=idata, mle=mle_res, map=map_res, level=float(level))


_NEGLIGIBLE_LEVEL = 1 - 1e-6  # profile interval at this level: relative likelihood exp(-11.96) at its ends


@dataclass(frozen=True, repr=False, eq=False)
class PosteriorAndLikelihood(_values.Value):
    """One parameter's posterior density beside its normalized profile likelihood.

    From :func:`posterior_and_likelihood`.

    Attributes
    ----------
    name
        The parameter.
    level
        Level of the HDI.
    n_draws
        The number of posterior draws.
    posterior_grid, posterior_density
        The kernel density estimate of the draws (``arviz.stats.density_utils.kde``).
    hdi
        The highest-density interval of the draws at `level`.
    likelihood_grid, likelihood_density
        ``exp(profile_loglik - max)`` divided by its integral over its grid
        (trapezoids), so that it integrates to 1: the flat-prior posterior up
        to the profiling.  The grid spans the profile interval at level
        ``1 - 1e-6``, where the relative likelihood is about ``exp(-12)``.
    mle, map
        The parameter's MLE and MAP.
    """

    name: str
    level: float
    n_draws: int
    posterior_grid: np.ndarray
    posterior_density: np.ndarray
    hdi: tuple[float, float]
    likelihood_grid: np.ndarray
    likelihood_density: np.ndarray
    mle: float
    map: float

    def __repr__(self) -> str:
        return (
            f"PosteriorAndLikelihood of {self.name}: MLE {self.mle:.6g}, MAP {self.map:.6g}, "
            f"{100 * self.level:g}% HDI [{self.hdi[0]:.6g}, {self.hdi[1]:.6g}] ({self.n_draws} draws)"
        )


def posterior_and_likelihood(comparison: BayesVsMLE, name: str) -> PosteriorAndLikelihood:
    """One parameter's posterior density and its profile likelihood, normalized to a density.

    Parameters
    ----------
    comparison
        From :func:`bayes_vs_mle` (its ``idata``, ``mle``, ``map`` and ``level``
        are used; any object with those attributes will do).
    name
        A scalar parameter of the model (a variable of the posterior).

    Returns
    -------
    PosteriorAndLikelihood

    Examples
    --------
    >>> import numpy as np, pymc as pm, pplmle as pl
    >>> from pplmle.workflows.bayes import posterior_and_likelihood
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu", 160.0, 5.0)
    ...     sigma = pm.HalfNormal("sigma", 10.0)
    ...     x = pm.Normal("x", mu, sigma, observed=pl.datasets.heights())
    >>> cmp = pl.bayes_vs_mle(model, draws=200, tune=200, random_seed=0)
    >>> d = posterior_and_likelihood(cmp, "mu")
    >>> d.mle == cmp.mle.params["mu"], round(float(np.trapezoid(d.likelihood_density, d.likelihood_grid)), 12)
    (True, 1.0)
    """
    import arviz as az
    from arviz.stats.density_utils import kde

    mle_res, map_res = comparison.mle, comparison.map
    if name not in mle_res.labels:
        raise ValueError(f"`name` must be one of the result's parameters {mle_res.labels}; got {name!r}.")
    j = mle_res.labels.index(name)
    posterior = comparison.idata.posterior
    if name not in posterior.data_vars or posterior[name].ndim != 2:
        scalars = [v for v in posterior.data_vars if posterior[v].ndim == 2]
        raise ValueError(
            f"`name` must be a scalar variable of the posterior, one of {scalars}; got {name!r}."
        )
    level = comparison.level
    if not isinstance(level, (int, float, np.floating)) or not 0.0 < level < 1.0:
        raise ValueError(f"`level` must be strictly between 0 and 1; got {level!r}.")
    draws = np.asarray(posterior[name].values, dtype=float).ravel()
    x_kde, pdf = kde(draws)
    # the profile is evaluated where the likelihood is not negligible (above exp(-12) of its maximum):
    # far out, near the edge of the support, the constrained optimizations are both useless and fragile
    far = np.array(Profiler(mle_res, name).interval(_NEGLIGIBLE_LEVEL), dtype=float)
    if not np.all(np.isfinite(far)):  # flat to one side: exp(profile) does not integrate
        raise ValueError(
            f"The profile likelihood of {name} does not fall off on both sides of the MLE "
            f"(interval ends {far.tolist()}); it cannot be normalized to a density."
        )
    prof = profile(mle_res, name, np.linspace(far[0], far[1], 161))
    grid = prof[name].values
    lik = np.nan_to_num(np.exp(prof.values - np.nanmax(prof.values)), nan=0.0)
    lik = lik / np.trapezoid(lik, grid)
    hdi_lo, hdi_hi = (float(v) for v in np.asarray(az.hdi(draws, hdi_prob=level), dtype=float))
    return PosteriorAndLikelihood(
        name=name,
        level=float(level),
        n_draws=int(draws.size),
        posterior_grid=np.asarray(x_kde, dtype=float),
        posterior_density=np.asarray(pdf, dtype=float),
        hdi=(hdi_lo, hdi_hi),
        likelihood_grid=np.array(grid, dtype=float),
        likelihood_density=lik,
        mle=float(mle_res.vector(mle_res.params)[j]),
        map=float(map_res.vector(map_res.params)[map_res.labels.index(name)]),
    )


def result_inference_data(result: MLEResult, draws: int = 4000, seed: int | None = 0) -> az.InferenceData:
    """``MLEResult.to_inference_data``: see that method."""
    import arviz as az
    import xarray as xr

    if not isinstance(draws, (int, np.integer)) or draws < 1:
        raise ValueError(f"`draws` must be a whole number >= 1; got {draws!r}.")
    labels = result.labels
    est, se = result.vector(result.params), result.vector(result.se)
    mle_group = xr.Dataset(
        {
            "estimate": (("parameter",), est),
            "se": (("parameter",), se),
            "cov": (("parameter", "parameter_bis"), result.cov.to_numpy()),
        },
        coords={"parameter": labels, "parameter_bis": labels},
        attrs={"loglik": result.loglik, "n_obs": result.n_obs, "method": result.method},
    )
    groups: dict[str, Any] = {"mle": mle_group}
    # the draws are of the free parameters; derived quantities (reported Deterministics) are
    # computed from each draw, as the model defines them
    free = [i for i, lab in enumerate(labels) if lab not in set(result.derived_labels)]
    free_labels = [labels[i] for i in free]
    cov = result.cov.to_numpy()[np.ix_(free, free)]
    if len(free) <= 2 and np.all(np.isfinite(se[free])) and np.all(se[free] > 0):
        n = 201 if len(free) == 1 else 81
        grid = {labels[i]: est[i] + np.linspace(-5.0, 5.0, n) * se[i] for i in free}
        surf = surface(result, grid)
        idata = surf.to_inference_data(draws=draws, seed=seed)
        # a group by key: InferenceData's groups are dynamic attributes that its type does not declare
        posterior = idata["posterior"]
        if result.derived or any(np.ndim(value) for value in result.params.values()):
            # regroup the elements by variable
            columns = np.stack([posterior[lab].values for lab in free_labels], axis=-1)
            posterior = _posterior_dataset(result, _with_derived_draws(result, columns), draws)
        posterior.attrs["source"] = "normalized likelihood on a grid (flat-prior posterior)"
        groups["posterior"] = posterior
        groups["likelihood_surface"] = surf.dataset
    elif np.all(np.isfinite(cov)):
        rng = np.random.default_rng(seed)
        flat = rng.multivariate_normal(est[free], cov, size=draws)
        posterior = _posterior_dataset(result, _with_derived_draws(result, flat[None, :, :]), draws)
        posterior.attrs["source"] = "large-sample normal approximation N(MLE, cov)"
        if result.derived:
            posterior.attrs["derived"] = "the model's Deterministics at each draw: " + ", ".join(
                result.derived
            )
        groups["posterior"] = posterior
    return inference_data(az, **groups)


def _with_derived_draws(result: MLEResult, columns: np.ndarray) -> np.ndarray:
    """Draws of the free parameters (chain x draw x free label) with the derived quantities of each
    draw appended (NaN where the model's Deterministics are not defined there)."""
    if not result.derived:
        return columns
    ctx = fit_context(result)
    names = [name for name in result.params if name not in result.derived]
    shapes = [np.shape(result.params[name]) for name in names]
    flat = columns.reshape(-1, columns.shape[-1])
    out = []
    with ctx.active() as engine:
        for row in flat:
            point, i = {}, 0
            for name, shape in zip(names, shapes, strict=True):
                size = int(np.prod(shape))
                point[name] = row[i : i + size].reshape(shape)
                i += size
            with np.errstate(all="ignore"):
                out.append(engine.derived_from_natural(ctx.free(point)))
    derived = np.asarray(out, dtype=float).reshape(*columns.shape[:-1], -1)
    return np.concatenate([columns, derived], axis=-1)


def _posterior_dataset(result: MLEResult, columns: np.ndarray, draws: int) -> xr.Dataset:
    """Draws of the flat parameter vector (chain x draw x label) as one variable per parameter."""
    import xarray as xr

    post, coords, i = {}, {"chain": [0], "draw": np.arange(draws)}, 0
    for name, value in result.params.items():
        shape = np.shape(value)
        size = int(np.prod(shape))
        dims, axis_coords = _posterior_dims(result, name, shape)
        post[name] = (("chain", "draw", *dims), columns[:, :, i : i + size].reshape(1, draws, *shape))
        coords.update(axis_coords)
        i += size
    return xr.Dataset(post, coords=coords)


def _posterior_dims(result: MLEResult, name: str, shape: tuple[int, ...]) -> tuple[tuple[str, ...], dict]:
    """Dims and coordinates of parameter `name` in the posterior: the fitted ``pm.Model``'s own
    (``dims=``, with its coordinate values, or integer indices for a dim without them), else
    ``{name}_dim_{d}``."""
    import pymc as pm

    model = getattr(result.context, "source", None)
    dims = variable_dims(model, name, shape) if isinstance(model, pm.Model) else None
    if dims is None:
        return tuple(f"{name}_dim_{d}" for d in range(len(shape))), {}
    assert isinstance(model, pm.Model)
    return dims, dict(zip(dims, (list(v) for v in axis_values(model, name, shape)), strict=True))


def parameterization_effect(x: Any) -> pd.DataFrame:
    """The mode depends on the scale it is taken on; the MLE does not.

    With flat priors on ``(mu, sigma)``, ``find_MAP`` (``jacobian=False``)
    returns the MLE ``sigma = sqrt(S / n)``, ``S = sum (x - mean)^2``.  Written
    on the ``(mu, log sigma)`` scale, the same flat prior carries the Jacobian
    ``d sigma / d log sigma = sigma``, so the density maximized there is
    ``L(mu, sigma) * sigma``; its mode is ``sigma = sqrt(S / (n - 1))``.  The
    second row is computed by ``find_MAP`` on a model with a flat prior on
    ``log_sigma`` plus ``pm.Potential("jacobian", log_sigma)``.

    Examples
    --------
    >>> import pplmle as pl
    >>> tab = pl.parameterization_effect(pl.datasets.heights())
    >>> tab["sigma"].round(6).tolist()  # sqrt(224 / 10), sqrt(224 / 9)
    [4.732864, 4.988877]
    """
    import pymc as pm

    arr = as_float_array("x", x, ndim=1)
    check_finite("x", arr)
    fam = Normal(arr)  # refuses fewer than two distinct values
    S, n = float(np.sum((arr - arr.mean()) ** 2)), arr.size
    flat = mle(fam)
    with pm.Model() as log_scale:
        mu = pm.Flat("mu")
        log_sigma = pm.Flat("log_sigma")
        # flat on sigma, seen on the log scale (a new tensor: Potential renames the one it gets)
        pm.Potential("jacobian", log_sigma + 0.0)
        pm.Normal("x", mu, pm.math.exp(log_sigma), observed=arr)
    start = {"mu": float(arr.mean()), "log_sigma": float(np.log(arr.std()))}
    mode = map_estimate(log_scale, start=start)
    return pd.DataFrame(
        {
            "sigma": [flat.params["sigma"], float(np.exp(mode.params["log_sigma"]))],
            "formula": ["sqrt(S / n)", "sqrt(S / (n - 1))"],
            "formula value": [np.sqrt(S / n), np.sqrt(S / (n - 1))],
        },
        index=["MLE: find_MAP, flat prior on sigma", "mode on the log-sigma scale (Jacobian on)"],
    )

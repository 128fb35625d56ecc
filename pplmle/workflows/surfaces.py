"""Likelihood surfaces over a 1-D or 2-D grid of parameters: :func:`surface`, :class:`LikelihoodSurface`.

The log-likelihood is evaluated by one compiled PyTensor function vectorized
over the grid points (``pytensor.graph.replace.vectorize_graph``), a chunk of
points at a time so that memory stays bounded (about ``4e6`` point x
observation terms per chunk).  With ``profile=True`` the other parameters are
re-optimized at every grid point instead (one constrained optimization per
point, warm-started from its neighbour).

Why logs, and why the *relative* likelihood: the likelihood of i.i.d. data is a
product of densities, and for a few thousand observations that product is
smaller than the smallest double and rounds to 0:

>>> import numpy as np, scipy.stats as st
>>> x = np.random.default_rng(0).normal(size=3000)
>>> float(np.prod(st.norm.pdf(x)))  # the raw product underflows
0.0
>>> round(float(np.sum(st.norm.logpdf(x))), 3)  # its logarithm is an ordinary number
-4241.011

so pplmle reports ``loglik``, ``nll = -loglik`` and ``likelihood = exp(loglik -
max loglik)``, the likelihood relative to its largest value on the grid, which
is 1 at the best grid point and never underflows there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from pplmle.core.result import MLEResult
from pplmle.pymc.families import Family

if TYPE_CHECKING:  # pragma: no cover
    import arviz as az
    import matplotlib.axes
    import xarray as xr

__all__ = ["LikelihoodSurface", "surface"]

_TERMS_PER_CHUNK = 4_000_000


class LikelihoodSurface:
    """A log-likelihood evaluated on a grid, as an ``xarray.Dataset``.

    Attributes
    ----------
    dataset
        Variables ``loglik``, ``nll`` and ``likelihood`` (relative: ``L / L_max``
        over the grid), with one dimension per grid parameter.  Attributes:
        ``fixed`` (values of the other parameters; "profiled" when
        re-optimized), ``profile``, ``n_obs`` and ``model``.
    loglik, nll, likelihood
        The dataset's variables.
    """

    __slots__ = ("_dataset",)
    _dataset: xr.Dataset

    def __init__(self, dataset: xr.Dataset):
        object.__setattr__(self, "_dataset", dataset)

    @property
    def dataset(self) -> xr.Dataset:
        return self._dataset

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"A LikelihoodSurface is a value; its {name!r} cannot be set.")

    def __getstate__(self) -> dict[str, Any]:
        return {"dataset": self._dataset}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_dataset", state["dataset"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LikelihoodSurface):
            return NotImplemented
        return bool(self._dataset.identical(other._dataset))

    __hash__ = None  # type: ignore[assignment]

    @property
    def loglik(self) -> xr.DataArray:
        return self.dataset["loglik"]

    @property
    def nll(self) -> xr.DataArray:
        return self.dataset["nll"]

    @property
    def likelihood(self) -> xr.DataArray:
        return self.dataset["likelihood"]

    @property
    def names(self) -> list[str]:
        """The grid parameters, in dimension order."""
        # xarray types dimension names as Hashable; the grid's are the parameters' names
        return [str(dim) for dim in self.dataset["loglik"].dims]

    def argmax(self) -> dict[str, float]:
        """Grid values of the parameters at the largest log-likelihood on the grid."""
        ll = self.loglik
        flat = int(np.nanargmax(ll.values))
        idx = np.unravel_index(flat, ll.shape)
        return {str(name): float(ll[name].values[i]) for name, i in zip(ll.dims, idx, strict=True)}

    def plot(self, kind: str = "likelihood", ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
        """Draw the surface: a curve over one parameter, filled contours over two."""
        from pplmle.viz.plots import surface_plot

        return surface_plot(self, kind=kind, ax=ax)

    def to_inference_data(self, draws: int = 4000, seed: int | None = 0) -> az.InferenceData:
        """An ``az.InferenceData`` for ArviZ's summaries and plots of the normalized likelihood.

        Groups
        ------
        posterior
            `draws` draws (one chain) from the likelihood normalized over the
            grid, i.e. the posterior under a flat prior on the grid: a grid cell
            is drawn with probability proportional to its likelihood, then the
            point is spread uniformly over the cell (half a grid step each way),
            so ``az.summary``, ``az.hdi`` and ``az.plot_posterior`` work.
        likelihood_surface
            The grid surface itself (this object's ``dataset``).
        """
        import arviz as az
        import xarray as xr

        if not isinstance(draws, (int, np.integer)) or draws < 1:
            raise ValueError(f"`draws` must be a whole number >= 1; got {draws!r}.")
        rng = np.random.default_rng(seed)
        weights = np.nan_to_num(self.likelihood.values.ravel(), nan=0.0)
        cells = rng.choice(weights.size, size=draws, p=weights / weights.sum())
        idx = np.unravel_index(cells, self.likelihood.shape)
        posterior = {}
        for name, i in zip(self.names, idx, strict=True):
            grid = self.dataset[name].values
            half = np.gradient(grid) / 2 if grid.size > 1 else np.zeros(1)
            posterior[name] = (("chain", "draw"), (grid[i] + rng.uniform(-1, 1, draws) * half[i])[None, :])
        post = xr.Dataset(posterior, coords={"chain": [0], "draw": np.arange(draws)})
        return _inference_data(az, posterior=post, likelihood_surface=self.dataset)

    def __repr__(self) -> str:
        best = ", ".join(f"{k}={v:.6g}" for k, v in self.argmax().items())
        return f"LikelihoodSurface over {self.names} (best grid point: {best})\n{self.dataset}"


def _inference_data(az, **groups):
    """az.InferenceData with our own (documented) groups; ArviZ warns about non-standard names."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*group is not defined in the InferenceData scheme.*")
        return az.InferenceData(**groups)


def _resolve(model: Any):
    """(context, result or None, labels, to_free_batch, n_obs, model name) for a model or result."""
    from pplmle.pymc.fitting import FitContext, _family_engine, _labels_for, _model_engine, _n_obs

    if isinstance(model, MLEResult):
        ctx = model._context
        if ctx is None:
            raise ValueError("`model` is a result without a likelihood to evaluate.")
        family = getattr(ctx.to_free, "__self__", None)
        batch = family._free_batch if isinstance(family, Family) else None
        return ctx, model, ctx.labels, batch, model.n_obs, model.model_name
    if isinstance(model, Family):
        engine = _family_engine(model)
        engine._compile()
        labels = _labels_for(engine, model._labels())
        ctx = FitContext(engine, model._data(), engine.u_default, labels, model._to_free, source=model)
        return ctx, None, labels, model._free_batch, model.n_obs, model.name
    engine, _ = _model_engine(model, "MLE", "raise")
    engine._compile()
    labels = _labels_for(engine, None)
    snapshot = {k: np.array(v, copy=True) for k, v in engine.data_snapshot().items()}
    ctx = FitContext(engine, snapshot, engine.u_default, labels, None, source=model)
    return ctx, None, labels, None, _n_obs(engine.model), model.name or "pm.Model"


def surface(
    model: Family | MLEResult | Any,
    grid: Mapping[str, Any],
    fixed: Mapping[str, Any] | None = None,
    *,
    profile: bool = False,
    chunk_size: int | None = None,
) -> LikelihoodSurface:
    """Evaluate the log-likelihood over a 1-D or 2-D grid of named parameters.

    Parameters
    ----------
    model
        A family, a ``pm.Model`` or an :class:`~pplmle.MLEResult` (its data and
        its estimates as the default fixed values).
    grid
        One or two scalar parameters (labels as in ``result.labels``) mapped to
        1-D arrays of values.
    fixed
        Values of the other parameters, by label or by parameter name.  Missing
        ones are fixed at the MLE (computed if `model` is not a result).
    profile
        Re-optimize the other parameters at every grid point (profile
        likelihood) instead of fixing them.
    chunk_size
        Grid points per evaluation (default: about 4e6 / n_obs).

    Returns
    -------
    LikelihoodSurface

    Examples
    --------
    The ten heights with sigma fixed at 5: the likelihood peaks at the mean.

    >>> import numpy as np, pplmle as pl
    >>> s = pl.surface(pl.Normal(pl.datasets.heights()), {"mu": np.arange(160.0, 181.0)}, {"sigma": 5.0})
    >>> s.argmax()
    {'mu': 168.0}
    >>> round(float(s.likelihood.sel(mu=170.0)), 6)  # exp(-10 (170 - 168)^2 / (2 * 25))
    0.449329
    """
    import xarray as xr

    from pplmle.pymc.fitting import mle

    ctx, result, labels, to_free_batch, n_obs, model_name = _resolve(model)
    engine = ctx.engine
    if not isinstance(grid, Mapping) or not 1 <= len(grid) <= 2:
        raise ValueError(f"`grid` must map one or two parameter names to values; got {grid!r}.")
    axes = {}
    for name, values in grid.items():
        if name not in labels:
            raise ValueError(f"`grid` names unknown parameter {name!r}; the scalar parameters are {labels}.")
        arr = np.array(values, dtype=float, copy=True).ravel()
        if arr.size == 0 or not np.all(np.isfinite(arr)):
            raise ValueError(f"`grid[{name!r}]` must be a non-empty array of finite numbers; got {values!r}.")
        axes[name] = arr
    for name in axes:
        coupled = _coupled_variable(engine, name)
        if coupled:
            raise ValueError(
                f"A grid over {name!r} alone is not defined: the elements of {coupled!r} are coupled by its "
                "constraint (a simplex, a zero sum or an ordering); grid another parameter."
            )
    if chunk_size is not None and (not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise ValueError(f"`chunk_size` must be a whole number >= 1; got {chunk_size!r}.")

    # values of the parameters off the grid
    fixed = dict(fixed or {})
    base = np.full(len(labels), np.nan)
    with ctx.active():
        names_shapes = list(zip(engine.reported, engine.reported_shapes, strict=True))
    offset, by_name = 0, {}
    for name, shape in names_shapes:
        size = int(np.prod(shape))
        by_name[name] = slice(offset, offset + size)
        offset += size
    used = set()
    for key, value in fixed.items():
        if key in by_name:
            base[by_name[key]] = np.ravel(np.asarray(value, dtype=float))
        elif key in labels:
            base[labels.index(key)] = float(value)
        else:
            raise ValueError(f"`fixed` names unknown parameter {key!r}; the parameters are {labels}.")
        used.add(key)
    clash = set(fixed) & set(axes)
    if clash:
        raise ValueError(f"`fixed` and `grid` both name {sorted(clash)}.")
    grid_idx = [labels.index(n) for n in axes]
    missing = [i for i in range(len(labels)) if np.isnan(base[i]) and i not in grid_idx]
    if missing and not profile:
        if result is None:
            result = mle(model)
        est = result._flat(result.params)
        for i in missing:
            base[i] = est[i]
    fixed_attr = {
        labels[i]: ("profiled" if profile else float(base[i]))
        for i in range(len(labels))
        if i not in grid_idx
    }

    mesh = np.meshgrid(*axes.values(), indexing="ij")
    points = np.tile(base, (mesh[0].size, 1))
    for j, m in zip(grid_idx, mesh, strict=True):
        points[:, j] = m.ravel()
    chunk = chunk_size or max(1, _TERMS_PER_CHUNK // max(int(n_obs), 1))

    with ctx.active():
        if profile:
            loglik = _profile_points(engine, result, model, points, grid_idx)
        else:
            loglik = _fixed_points(engine, points, names_shapes, by_name, to_free_batch, chunk)
    shape = tuple(a.size for a in axes.values())
    loglik = loglik.reshape(shape)
    dims = list(axes)
    with np.errstate(invalid="ignore"):
        rel = np.exp(loglik - np.nanmax(loglik))
    ds = xr.Dataset(
        {
            "loglik": (dims, loglik),
            "nll": (dims, -loglik),
            "likelihood": (dims, rel),
        },
        coords=dict(axes),
        attrs={"fixed": str(fixed_attr), "profile": int(profile), "n_obs": int(n_obs), "model": model_name},
    )
    ds["likelihood"].attrs["long_name"] = "relative likelihood L / max L on the grid"
    return LikelihoodSurface(ds)


_COUPLING = ("Simplex", "ZeroSum", "Ordered", "CholeskyCov", "Chain")


def _coupled_variable(engine, label: str) -> str | None:
    """Name of the free variable behind `label` when its transform couples its elements."""
    name = label.split("[")[0]
    for rv in engine.model.free_RVs:
        tr = engine.model.rvs_to_transforms.get(rv)
        if rv.name == name and tr is not None and any(c in type(tr).__name__ for c in _COUPLING):
            return name
    return None


def _fixed_points(engine, points, names_shapes, by_name, to_free_batch, chunk) -> np.ndarray:
    """Vectorized log-likelihood at fixed points; NaN outside the support."""
    reported = {name: points[:, by_name[name]].reshape(-1, *shape) for name, shape in names_shapes}
    free = to_free_batch(reported) if to_free_batch is not None else reported
    ok = np.ones(points.shape[0], dtype=bool)
    # support: every distinct value of every coordinate maps to a finite unconstrained value
    transforms = {rv.name: engine.model.rvs_to_transforms.get(rv) for rv in engine.model.free_RVs}
    # (by free variable: a family's reported parameter may be a Deterministic of one)
    for name, value in free.items():
        if transforms.get(name) is None:  # unbounded (or not a free variable): nothing to check
            continue
        shape = np.shape(value)[1:]
        values = np.asarray(value).reshape(points.shape[0], -1)
        for col in range(values.shape[1]):
            for v in np.unique(values[:, col]):
                point = {name: np.full(shape, v) if shape else v}
                try:
                    engine.to_unconstrained(point)
                except ValueError:
                    ok &= values[:, col] != v
    out = np.full(points.shape[0], np.nan)
    if ok.any():
        out[ok] = engine.loglik_batch({k: np.asarray(v)[ok] for k, v in free.items()}, chunk)
    return out


def _profile_points(engine, result, model, points, grid_idx) -> np.ndarray:
    """Maximize over the other parameters at each grid point, walking from the best start."""
    from pplmle.pymc.fitting import mle

    if result is None:
        result = mle(model)
    u_hat = result._context.u
    est = result._flat(result.params)[grid_idx]
    order = np.argsort(np.sum(((points[:, grid_idx] - est) / (np.abs(est) + 1.0)) ** 2, axis=1))
    out = np.full(points.shape[0], np.nan)
    done: list[tuple[np.ndarray, np.ndarray]] = []
    for i in order:
        target = points[i, grid_idx]
        start = u_hat if not done else min(done, key=lambda d: float(np.sum((d[0] - target) ** 2)))[1]
        u, _, ok = engine.constrained_minimum(start, grid_idx, target)
        if ok:
            out[i] = engine.info(u)["loglik"]
            done.append((target, u))
    return out

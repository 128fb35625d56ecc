"""Likelihood surfaces over a 1-D or 2-D grid of parameters: :func:`surface`, :class:`LikelihoodSurface`;
the joint likelihood region of two parameters: :func:`joint_region`, :class:`JointRegion`;
candidate normal distributions for data: :func:`candidate_likelihoods`, :class:`Candidates`.

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

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.stats

from pplmle.core import messages
from pplmle.core import values as _values
from pplmle.core.errors import PPLMLEWarning, warn
from pplmle.core.result import MLEResult
from pplmle.core.validate import as_float_array, check_finite, check_fixed_value
from pplmle.pymc.families import Family
from pplmle.pymc.fitting import FitContext, family_engine, labels_for, mle, model_engine, observation_count

if TYPE_CHECKING:  # pragma: no cover
    import arviz as az
    import matplotlib.axes
    import xarray as xr

__all__ = [
    "Candidates",
    "JointRegion",
    "LikelihoodSurface",
    "candidate_likelihoods",
    "joint_region",
    "surface",
]

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
        if not np.any(np.isfinite(ll.values)):
            raise ValueError(messages.surface_no_best(ll.size))
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
        return inference_data(az, posterior=post, likelihood_surface=self.dataset)

    def __repr__(self) -> str:
        if np.any(np.isfinite(self.loglik.values)):
            best = ", ".join(f"{k}={v:.6g}" for k, v in self.argmax().items())
        else:
            best = "none, no finite log-likelihood"
        return f"LikelihoodSurface over {self.names} (best grid point: {best})\n{self.dataset}"


def inference_data(az, **groups):
    """az.InferenceData with our own (documented) groups; ArviZ warns about non-standard names."""

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*group is not defined in the InferenceData scheme.*")
        return az.InferenceData(**groups)


def _resolve(model: Any):
    """(context, result or None, labels, to_free_batch, n_obs, model name) for a model or result."""

    if isinstance(model, MLEResult):
        if not isinstance(model.context, FitContext):
            raise ValueError("`model` is a result without a likelihood to evaluate.")
        ctx = model.context
        family = getattr(ctx.to_free, "__self__", None)
        batch = family.free_batch if isinstance(family, Family) else None
        return ctx, model, ctx.labels, batch, model.n_obs, model.model_name
    if isinstance(model, Family):
        engine = family_engine(model)
        engine.compile()
        labels = labels_for(engine, model.labels())
        ctx = FitContext(engine, model.data(), engine.u_default, labels, model.to_free, source=model)
        return ctx, None, labels, model.free_batch, model.n_obs, model.name
    engine, _ = model_engine(model, "MLE", "raise")
    engine.compile()
    labels = labels_for(engine, None)
    snapshot = {k: np.array(v, copy=True) for k, v in engine.data_snapshot().items()}
    ctx = FitContext(engine, snapshot, engine.u_default, labels, None, source=model)
    return ctx, None, labels, None, observation_count(engine.model), model.name or "pm.Model"


def surface(
    model: Family | MLEResult | Any,
    grid: Mapping[str, Any],
    fixed: Mapping[str, Any] | None = None,
    *,
    profile: bool = False,
    start: Mapping[str, Any] | None = None,
    chunk_size: int | None = None,
) -> LikelihoodSurface:
    """Evaluate the log-likelihood over a 1-D or 2-D grid of named parameters.

    Parameters
    ----------
    model
        A family, a ``pm.Model`` or an :class:`~pplmle.MLEResult` (its data and
        its estimates as the default fixed values).
    grid
        One or two scalar parameters (labels as in ``result.labels``: ``"mu"``,
        ``"beta[age]"``, ``"cutpoints[0]"``) mapped to 1-D arrays of values.  A
        label of one element of a vector varies that element only; the other
        elements stay where they are fixed.  A grid point that leaves the
        support (an ordered vector no longer increasing, a Cholesky factor
        with a diagonal element <= 0, a scale <= 0) has log-likelihood NaN,
        that point only.  A grid over one element of a simplex or of a
        zero-sum vector is refused (``ValueError``): its elements are tied by
        the constraint, so one of them cannot move alone.
    fixed
        Values of the other parameters: by parameter name (a whole array of
        the parameter's shape for a vector: ``{"cutpoints": [-1, 0.2, 1]}``)
        or by label (one element: ``{"cutpoints[1]": 0.3}``).  Missing ones,
        and the other elements of a vector given by labels, are fixed at the
        MLE (computed if `model` is not a result).  A whole vector may hold a
        grid element: the grid's values replace that element.  Values must be
        finite and, for a parameter entirely off the grid, inside its support.
    profile
        Re-optimize the other parameters at every grid point (profile
        likelihood) instead of fixing them; a grid over one parameter, without
        `fixed`.
    start
        Natural-scale starting values by parameter name, as in
        :func:`pplmle.mle` and :func:`pplmle.compare`: the start of the MLE fit
        when `model` is not a result, and with ``profile=True`` the starting
        point of the other parameters at the first grid point (the MLE for
        the parameters `start` leaves out; later points start from their
        neighbour's optimum).  Names that are not parameters are refused.
        Unused when nothing is optimized (fixed values and a result).
    chunk_size
        Grid points per evaluation (default: about 4e6 / n_obs).

    Returns
    -------
    LikelihoodSurface

    Warns
    -----
    PPLMLEWarning
        When no grid point has a finite log-likelihood.

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

    ctx, result, labels, to_free_batch, n_obs, model_name = _resolve(model)
    engine = ctx.engine
    source = model if result is None else ctx.source  # what mle() fits when an estimate is needed
    if not isinstance(grid, Mapping) or not 1 <= len(grid) <= 2:
        raise ValueError(f"`grid` must map one or two parameter names to values; got {grid!r}.")
    # a result's derived quantities (reported Deterministics) are functions of the free parameters
    derived = set(result.derived_labels) if result is not None else set()
    derived_names = set(result.derived) if result is not None else set()
    axes = {}
    for name, values in grid.items():
        if name not in labels:
            raise ValueError(f"`grid` names unknown parameter {name!r}; the scalar parameters are {labels}.")
        if name in derived and not profile:
            raise ValueError(messages.derived_on_grid("grid", name))
        arr = np.array(values, dtype=float, copy=True).ravel()
        if arr.size == 0 or not np.all(np.isfinite(arr)):
            raise ValueError(f"`grid[{name!r}]` must be a non-empty array of finite numbers; got {values!r}.")
        axes[name] = arr
    for name in axes:
        coupled = _coupled_variable(engine, name)
        if coupled:
            raise ValueError(messages.grid_coupled(name, coupled))
    if chunk_size is not None and (not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
        raise ValueError(f"`chunk_size` must be a whole number >= 1; got {chunk_size!r}.")
    if fixed is not None and not isinstance(fixed, Mapping):
        raise ValueError(messages.fixed_not_mapping(type(fixed).__name__))
    if profile and len(axes) != 1:
        raise ValueError(messages.surface_profile_one(list(axes)))
    if profile and fixed:
        raise ValueError(messages.surface_profile_fixed(list(fixed)))
    start = _check_start(start, source, ctx)

    # values of the parameters off the grid: the user's, then the MLE's (whole vectors, never one
    # element spread over a vector)
    with ctx.active():
        names_shapes = list(zip(engine.reported, engine.reported_shapes, strict=True))
    offset, by_name, owner = 0, {}, []
    for name, shape in names_shapes:
        size = int(np.prod(shape))
        by_name[name] = slice(offset, offset + size)
        owner += [name] * size
        offset += size
    for key in dict(fixed or {}):
        if key in derived or key in derived_names:
            raise ValueError(messages.derived_on_grid("fixed", key))
    base, given = _fixed_vector(dict(fixed or {}), labels, by_name, dict(names_shapes), axes)
    grid_idx = [labels.index(n) for n in axes]
    missing = [i for i in range(len(labels)) if np.isnan(base[i]) and i not in grid_idx]
    if (missing and not profile) or (profile and result is None):
        if result is None:
            given_start = start or None
            result = (
                mle(source, start=given_start)
                if isinstance(source, Family)
                else mle(source, start=given_start, report=())
            )
        est = result.vector(result.params)
        if not profile:
            base[missing] = est[missing]
    fixed_attr = {
        labels[i]: ("profiled" if profile else float(base[i]))
        for i in range(len(labels))
        if i not in grid_idx and labels[i] not in derived
    }

    mesh = np.meshgrid(*axes.values(), indexing="ij")
    points = np.tile(base, (mesh[0].size, 1))
    for j, m in zip(grid_idx, mesh, strict=True):
        points[:, j] = m.ravel()
    chunk = chunk_size or max(1, _TERMS_PER_CHUNK // max(int(n_obs), 1))

    with ctx.active():
        if profile:
            assert result is not None  # fitted above
            u0 = result.context.u
            if start:
                u0 = engine.to_unconstrained(_free_start(source, ctx, start, result.params))
            loglik = _profile_points(engine, u0, result.vector(result.params), points, grid_idx)
        else:
            on_grid = {owner[j] for j in grid_idx}
            for name, shape in names_shapes:
                if name not in on_grid and given.get(name):
                    _check_fixed_support(engine, ctx, name, base[by_name[name]].reshape(shape), given[name])
            loglik = _fixed_points(engine, points, names_shapes, by_name, to_free_batch, chunk)
    shape = tuple(a.size for a in axes.values())
    loglik = loglik.reshape(shape)
    dims = list(axes)
    if not np.any(np.isfinite(loglik)):
        warn(messages.surface_all_nan(loglik.size), PPLMLEWarning)
        rel = np.full(shape, np.nan)
    else:
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


def _check_start(start: Any, source: Any, ctx: FitContext) -> dict[str, Any]:
    """`start` as a dict, its names and values checked as compare() and mle() check them."""
    if start is None:
        return {}
    if not isinstance(start, Mapping):
        raise ValueError(messages.start_not_mapping(type(start).__name__))
    start = dict(start)
    if isinstance(source, Family):
        names = list(source.param_names)
    else:
        names = [rv.name for rv in ctx.engine.model.free_RVs]
    unknown = set(start) - set(names)
    if unknown:
        raise ValueError(messages.start_unknown(sorted(unknown), names))
    with ctx.active() as engine:  # shapes and the support, before any fitting
        engine.to_unconstrained(_free_start(source, ctx, start, None))
    return start


def _free_start(source: Any, ctx: FitContext, start: Mapping[str, Any], params: Mapping[str, Any] | None):
    """Natural-scale free-variable values: `start` over `params` (or the default start)."""
    if isinstance(source, Family):
        around = ctx.free(params) if params is not None else source.start()
        return {**around, **source.to_free(start)}
    return {**(ctx.free(params) if params is not None else {}), **start}


def _fixed_vector(
    fixed: dict[str, Any],
    labels: list[str],
    by_name: dict[str, slice],
    shapes: dict[str, tuple[int, ...]],
    axes: Mapping[str, np.ndarray],
) -> tuple[np.ndarray, dict[str, dict[str, Any]]]:
    """The flat vector of the user's fixed values (NaN where not given), and by parameter the
    user's keys and values that went into it (for messages)."""
    base = np.full(len(labels), np.nan)
    source_key: dict[int, str] = {}  # element -> the key that gave it
    given: dict[str, dict[str, Any]] = {}
    for key, value in fixed.items():
        if key in by_name:  # a whole parameter
            arr = check_fixed_value(key, value, shapes[key])
            idx = list(range(by_name[key].start, by_name[key].stop))
            name = key
        elif key in labels:  # one element
            arr = check_fixed_value(key, value, ())
            idx = [labels.index(key)]
            name = next(n for n, sl in by_name.items() if sl.start <= idx[0] < sl.stop)
        else:
            raise ValueError(f"`fixed` names unknown parameter {key!r}; the parameters are {labels}.")
        for i in idx:
            if i in source_key:
                whole, one = (source_key[i], key) if source_key[i] in by_name else (key, source_key[i])
                raise ValueError(messages.fixed_both_ways(whole, one))
            source_key[i] = key
        base[idx] = np.ravel(arr)
        given.setdefault(name, {})[key] = arr
    # a scalar parameter or an element named in both; a whole vector may hold a grid element
    clash = sorted(set(fixed) & set(axes))
    if clash:
        raise ValueError(f"`fixed` and `grid` both name {clash}.")
    return base, given


# the kind of constraint behind a transform, by (part of) its class name; the first match wins
_TRANSFORM_KINDS = (
    ("Ordered", "ordered"),
    ("Simplex", "simplex"),
    ("SumTo1", "simplex"),
    ("ZeroSum", "zerosum"),
    ("CholeskyCov", "cholesky"),
    ("LogOdds", "unit"),
    ("Interval", "interval"),
    ("Log", "positive"),
)
#: constraints that tie a vector's elements so that one element cannot move alone
_TIED = ("simplex", "zerosum")


def _transform_kind(transform: Any) -> str:
    parts = getattr(transform, "transform_list", None) or [transform]
    names = [type(t).__name__ for t in parts]
    for key, kind in _TRANSFORM_KINDS:
        if any(key in n for n in names):
            return kind
    return "other"


def _coupled_variable(engine, label: str) -> str | None:
    """Name of the free variable behind `label` when its constraint ties its elements together
    (a simplex, a zero-sum vector): a grid over one element alone is then not defined.

    An ordered vector or a Cholesky factor is not tied so: one element can move while the others
    stay, and the points where that leaves the support are NaN on the surface.
    """
    name = label.split("[")[0]
    for rv in engine.model.free_RVs:
        tr = engine.model.rvs_to_transforms.get(rv)
        if rv.name == name and tr is not None and _transform_kind(tr) in _TIED:
            return name
    return None


def _in_support(engine, name: str, value: np.ndarray) -> bool:
    """Whether the free variable `name` at `value` (natural scale) lies in its support.

    The transform maps it to finite unconstrained values *and* back to the same values: the
    round trip catches the points a transform maps to a finite but different point (a vector
    that does not sum to 1 comes back from a simplex transform normalized).
    """
    value = np.asarray(value, dtype=float)
    try:
        u = engine.to_unconstrained({name: value})
    except ValueError:
        return False
    back = np.asarray(engine.natural_from_u(u)[name], dtype=float)
    if back.shape != value.shape:
        return False
    scale = float(np.max(np.abs(value))) if value.size else 0.0
    return bool(np.allclose(back, value, rtol=1e-8, atol=1e-12 * scale))


def _check_fixed_support(
    engine, ctx: FitContext, name: str, value: np.ndarray, given: dict[str, Any]
) -> None:
    """Raise when the user's fixed values put parameter `name` (entirely off the grid) outside its
    support."""
    try:
        free = ctx.free({name: value})
    except (KeyError, ValueError, TypeError, IndexError):  # a family that maps several parameters together
        return
    transforms = {rv.name: engine.model.rvs_to_transforms.get(rv) for rv in engine.model.free_RVs}
    for fname, fvalue in free.items():
        tr = transforms.get(fname)
        if tr is None or _in_support(engine, fname, np.asarray(fvalue, dtype=float)):
            continue
        if len(given) == 1:
            key, user = next(iter(given.items()))
            where, shown = f"fixed[{key!r}]", repr(_values_plain(user))
        else:
            where = "fixed"
            shown = ", ".join(f"{k}={_values_plain(v)!r}" for k, v in given.items())
        if set(given) != {name}:  # elements by label: show the vector they are part of
            shown += f" (so {name} = {_values_plain(value)!r})"
        rule = messages.support_rule(_transform_kind(tr))
        raise ValueError(messages.fixed_outside_support(where, shown, name, rule))


def _values_plain(arr: Any) -> Any:
    arr = np.asarray(arr, dtype=float)
    return float(arr) if arr.ndim == 0 else arr.tolist()


def _fixed_points(engine, points, names_shapes, by_name, to_free_batch, chunk) -> np.ndarray:
    """Vectorized log-likelihood at fixed points; NaN at the points outside the support."""
    reported = {name: points[:, by_name[name]].reshape(-1, *shape) for name, shape in names_shapes}
    free = to_free_batch(reported) if to_free_batch is not None else reported
    ok = np.ones(points.shape[0], dtype=bool)
    # support, point by point: each distinct value of each constrained free variable (the whole
    # vector, as it is at that point) is checked once
    transforms = {rv.name: engine.model.rvs_to_transforms.get(rv) for rv in engine.model.free_RVs}
    # (by free variable: a family's reported parameter may be a Deterministic of one)
    for name, value in free.items():
        if transforms.get(name) is None:  # unbounded (or not a free variable): nothing to check
            continue
        values = np.asarray(value, dtype=float)
        rows = values.reshape(points.shape[0], -1)
        distinct, inverse = np.unique(rows, axis=0, return_inverse=True)
        inside = np.array([_in_support(engine, name, row.reshape(values.shape[1:])) for row in distinct])
        ok &= inside[np.ravel(inverse)]
    out = np.full(points.shape[0], np.nan)
    if ok.any():
        out[ok] = engine.loglik_batch({k: np.asarray(v)[ok] for k, v in free.items()}, chunk)
    return out


def _profile_points(engine, u_start, est_all, points, grid_idx) -> np.ndarray:
    """Maximize over the other parameters at each grid point, walking from the start (the MLE or
    the user's `start`) outwards from the MLE, each point warm-started from its nearest done one."""

    est = est_all[grid_idx]
    order = np.argsort(np.sum(((points[:, grid_idx] - est) / (np.abs(est) + 1.0)) ** 2, axis=1))
    out = np.full(points.shape[0], np.nan)
    done: list[tuple[np.ndarray, np.ndarray]] = []
    for i in order:
        target = points[i, grid_idx]
        start = u_start if not done else min(done, key=lambda d: float(np.sum((d[0] - target) ** 2)))[1]
        u, _, ok = engine.constrained_minimum(start, grid_idx, target)
        if ok:
            out[i] = engine.info(u)["loglik"]
            done.append((target, u))
    return out


# ---------------------------------------------------------------------------------
# the joint likelihood region of two parameters

_WIDEN_TIMES = 6  # joint_region(): times the default grid may grow to hold the region


def _check_level(level: Any) -> float:
    if not isinstance(level, (int, float, np.floating)) or not 0.0 < level < 1.0:
        raise ValueError(f"`level` must be strictly between 0 and 1; got {level!r}.")
    return float(level)


def _label_index(result: MLEResult, name: str, argument: str) -> int:
    """Index of `name` among the result's scalar labels, or a ValueError naming the argument."""
    if name not in result.labels:
        raise ValueError(
            f"`{argument}` must be one of the result's parameters {result.labels}; got {name!r}."
        )
    return result.labels.index(name)


def _conditional_cholesky(cov: np.ndarray, idx: list[int]) -> np.ndarray | None:
    """Cholesky factor of the covariance of ``idx`` given the other parameters (None if unavailable).

    With the others fixed at the MLE the quadratic approximation of the
    log-likelihood has the Hessian block ``inv(cov)[idx, idx]``, so the Wald
    ellipse of the fixed-others surface uses its inverse (the plain block
    ``cov[idx, idx]`` when there are no other parameters).
    """
    if not np.all(np.isfinite(cov)):
        return None
    try:
        np.linalg.cholesky(cov)  # positive definite, or no ellipse
        precision = np.linalg.inv(cov)
        return np.linalg.cholesky(np.linalg.inv(precision[np.ix_(idx, idx)]))
    except np.linalg.LinAlgError:
        return None


@dataclass(frozen=True, repr=False, eq=False)
class JointRegion(_values.Value):
    """The joint likelihood region of two parameters, from :func:`joint_region`.

    Attributes
    ----------
    x, y
        The two parameter labels (the grid's first and second dimension).
    level
        Level of the region.
    cutoff
        ``-chi2_2(level) / 2``: the region is where :attr:`relative` is above it.
    surface
        The log-likelihood on the grid, every other parameter fixed at the MLE.
    loglik_max
        The log-likelihood at the MLE.
    estimate
        The MLE of ``(x, y)``.
    fixed
        The other parameters (labels) and the MLE values they are fixed at.
    ellipse
        361 points ``(x, y)`` (one per row, closed) of the Wald ellipse
        ``d' P d = chi2_2(level)``, ``d = t - estimate``, ``P`` the ``(x, y)``
        block of ``inv(cov)``; None when the covariance is not positive definite.
    truncated
        Whether the region reaches the edge of the grid (it is cut off there).
    """

    x: str
    y: str
    level: float
    cutoff: float
    surface: LikelihoodSurface
    loglik_max: float
    estimate: tuple[float, float]
    fixed: dict[str, float]
    ellipse: np.ndarray | None
    truncated: bool

    @property
    def relative(self) -> xr.DataArray:
        """``loglik(x, y) - loglik_max`` on the grid (dimensions ``(x, y)``; NaN outside the support)."""
        out = self.surface.loglik - self.loglik_max
        out.name = "relative_loglik"
        return out

    @property
    def grid(self) -> dict[str, np.ndarray]:
        """The grid values of `x` and `y`."""
        return {name: self.surface.dataset[name].values for name in (self.x, self.y)}

    def __repr__(self) -> str:
        shape = " x ".join(str(v.size) for v in self.grid.values())
        cut = ", cut off at the grid's edge" if self.truncated else ""
        return (
            f"JointRegion of ({self.x}, {self.y}) at level {self.level:g}: cut-off {self.cutoff:.6g} "
            f"on a {shape} grid{cut}; MLE ({self.estimate[0]:.6g}, {self.estimate[1]:.6g})"
        )


def joint_region(
    result: MLEResult,
    x: str,
    y: str,
    level: float = 0.95,
    grid: Mapping[str, npt.ArrayLike] | None = None,
    n: int = 60,
    width: float = 3.5,
) -> JointRegion:
    """The joint likelihood region of two parameters, with the Wald ellipse for comparison.

    The log-likelihood ``loglik(x, y)`` is evaluated on a grid with every other
    parameter fixed at its MLE; the region at `level` is where
    ``loglik(x, y) - loglik >= -chi2_2(level) / 2``.  The Wald ellipse is the
    same boundary for the quadratic approximation of that surface,
    ``d' P d = chi2_2(level)``, ``d = t - est``, where ``P`` is the ``(x, y)``
    block of ``inv(result.cov)``.  (With no other parameters ``P`` is
    ``inv(cov)``; the plain block ``cov[(x, y), (x, y)]`` would instead describe
    the others re-optimized, and be wider.)

    Parameters
    ----------
    result
        An MLE result.
    x, y
        Two different scalar parameter labels (``"mu"``, ``"beta[0]"``, ...).
    level
        Level of the region.
    grid
        ``{x: values, y: values}``.  Default: `n` points over est +/- `width` se
        each, widened by ``width / 2`` se on every side the region reaches
        (up to six times).
    n, width
        The default grid's size and half-width in standard errors.

    Returns
    -------
    JointRegion

    Warns
    -----
    PPLMLEWarning
        When the region reaches the edge of the grid (it is cut off there;
        ``truncated`` is then True).

    Examples
    --------
    >>> import numpy as np, pplmle as pl
    >>> res = pl.mle(pl.Normal(pl.datasets.heights()))
    >>> region = pl.joint_region(res, "mu", "sigma")
    >>> round(region.cutoff, 6), region.truncated  # -chi2_2(0.95) / 2 = log(0.05)
    (-2.995732, False)
    >>> region.relative.dims, region.relative.shape
    (('mu', 'sigma'), (60, 60))
    >>> d = region.ellipse - region.estimate  # on the ellipse d' inv(cov) d = chi2_2(0.95)
    >>> np.allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(res.cov.to_numpy()), d), -2 * region.cutoff)
    True
    """
    level = _check_level(level)
    jx, jy = _label_index(result, x, "x"), _label_index(result, y, "y")
    for argument, label in (("x", x), ("y", y)):
        if label in result.derived_labels:
            raise ValueError(messages.derived_on_grid(argument, label))
    if jx == jy:
        raise ValueError(f"`x` and `y` must be different parameters; both are {x!r}.")
    est, se = result.vector(result.params), result.vector(result.se)
    q = float(scipy.stats.chi2.ppf(level, 2))
    cut = -q / 2
    default = grid is None
    if default:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"`n` must be a whole number >= 2; got {n!r}.")
        if not (np.isfinite(width) and width > 0):
            raise ValueError(f"`width` must be a positive number; got {width!r}.")
        bad = [lab for lab, j in ((x, jx), (y, jy)) if not (np.isfinite(se[j]) and se[j] > 0)]
        if bad:
            raise ValueError(f"{bad} have no standard error to scale a default grid; pass `grid`.")
        # in standard errors from the MLE: (x low, x high, y low, y high)
        reach = np.full(4, float(width))
    elif not isinstance(grid, Mapping) or set(grid) != {x, y}:
        raise ValueError(f"`grid` must map exactly {x!r} and {y!r} to values; got {grid!r}.")
    truncated = True
    for _ in range(_WIDEN_TIMES + 1 if default else 1):
        if default:
            grid = {
                lab: est[j] + np.linspace(-reach[2 * k], reach[2 * k + 1], n) * se[j]
                for k, (lab, j) in enumerate(((x, jx), (y, jy)))
            }
        assert grid is not None  # given, or the default built just above
        surf = surface(result, {x: grid[x], y: grid[y]})
        rel = surf.loglik.values - result.loglik  # rows follow x
        above = np.isfinite(rel) & (rel > cut)
        inside = np.array([above[0].any(), above[-1].any(), above[:, 0].any(), above[:, -1].any()])
        if not inside.any():
            truncated = False
            break
        if default:  # the default grid grows on the sides the region reaches
            reach = np.where(inside, reach + width / 2, reach)
    if truncated:
        warn(
            f"The {100 * level:g}% joint region of ({x}, {y}) reaches the edge of the grid and is cut off "
            "there; " + ("pass a wider `grid`." if default else "widen `grid`."),
            PPLMLEWarning,
        )
    # given the other free parameters: the derived quantities' rows make the covariance singular
    free = [i for i, lab in enumerate(result.labels) if lab not in result.derived_labels]
    cov = result.cov.to_numpy()[np.ix_(free, free)]
    chol = _conditional_cholesky(cov, [free.index(jx), free.index(jy)])
    ellipse = None
    if chol is not None:
        t = np.linspace(0.0, 2 * np.pi, 361)
        ellipse = (est[[jx, jy]][:, None] + np.sqrt(q) * chol @ np.vstack([np.cos(t), np.sin(t)])).T
    return JointRegion(
        x=x,
        y=y,
        level=level,
        cutoff=cut,
        surface=surf,
        loglik_max=float(result.loglik),
        estimate=(float(est[jx]), float(est[jy])),
        fixed={lab: float(est[i]) for i, lab in enumerate(result.labels) if i in free and i not in (jx, jy)},
        ellipse=ellipse,
        truncated=truncated,
    )


# ---------------------------------------------------------------------------------
# candidate normal distributions for data (the first picture of the likelihood)


@dataclass(frozen=True, repr=False, eq=False)
class Candidates(_values.Value):
    """Candidate normal distributions for data and their likelihoods, from :func:`candidate_likelihoods`.

    Attributes
    ----------
    x
        The data.
    mu, sigma
        The candidates' parameters, one entry per candidate.
    density
        ``density[i, k]``: the density of candidate ``i`` at ``x[k]``, the
        factors of its likelihood.
    loglik
        The log-likelihood of each candidate (the sum of the log densities).
    best
        Index of the candidate with the largest likelihood.
    """

    x: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    density: np.ndarray
    loglik: np.ndarray
    best: int

    def pdf(self, points: npt.ArrayLike) -> np.ndarray:
        """The candidates' densities at `points`: one row per candidate."""
        t = np.asarray(points, dtype=float)
        return scipy.stats.norm.pdf(t[None, :], self.mu[:, None], self.sigma[:, None])

    def __repr__(self) -> str:
        rows = "\n".join(
            f"  mu = {m:g}, sigma = {s:g}: loglik {ll:.6g}" + (" (best)" if i == self.best else "")
            for i, (m, s, ll) in enumerate(zip(self.mu, self.sigma, self.loglik, strict=True))
        )
        return f"Candidates for {self.x.size} observations\n{rows}"


def candidate_likelihoods(x: npt.ArrayLike, params: Sequence[Mapping[str, float]]) -> Candidates:
    """The likelihood of data under a few candidate normal distributions.

    The likelihood of a candidate is the product of its densities at the data
    points; its logarithm (the sum of the log densities) never underflows.

    Parameters
    ----------
    x
        The data, a non-empty 1-D array of finite numbers.
    params
        Candidates, a non-empty list of ``{"mu": ..., "sigma": ...}`` with
        ``sigma > 0``.

    Returns
    -------
    Candidates

    Examples
    --------
    >>> import pplmle as pl
    >>> cands = [{"mu": 160, "sigma": 5}, {"mu": 168, "sigma": 5}, {"mu": 175, "sigma": 5}]
    >>> c = candidate_likelihoods(pl.datasets.heights(), cands)
    >>> c.loglik.round(2).tolist(), c.best
    ([-42.56, -29.76, -39.56], 1)
    """

    data = as_float_array("x", x, ndim=1)
    check_finite("x", data)
    if isinstance(params, (str, bytes, Mapping)) or not isinstance(params, Sequence) or len(params) == 0:
        raise ValueError(
            f"`params` must be a non-empty list of dicts with keys 'mu' and 'sigma'; got {params!r}."
        )
    mus, sigmas = [], []
    for i, p in enumerate(params):
        if not isinstance(p, Mapping) or not {"mu", "sigma"} <= set(p):
            raise ValueError(f"`params[{i}]` must be a dict with keys 'mu' and 'sigma'; got {p!r}.")
        try:
            mu, sigma = float(p["mu"]), float(p["sigma"])
        except (TypeError, ValueError):
            raise ValueError(f"`params[{i}]` must hold numbers for 'mu' and 'sigma'; got {p!r}.") from None
        if not np.isfinite(mu):
            raise ValueError(f"`params[{i}]['mu']` must be finite; got {mu!r}.")
        if not (np.isfinite(sigma) and sigma > 0):
            raise ValueError(f"`params[{i}]['sigma']` must be positive and finite; got {sigma!r}.")
        mus.append(mu)
        sigmas.append(sigma)
    mu_arr, sigma_arr = np.array(mus), np.array(sigmas)
    loglik = np.array(
        [float(np.sum(scipy.stats.norm.logpdf(data, m, s))) for m, s in zip(mus, sigmas, strict=True)]
    )
    density = scipy.stats.norm.pdf(data[None, :], mu_arr[:, None], sigma_arr[:, None])
    return Candidates(
        x=data.copy(), mu=mu_arr, sigma=sigma_arr, density=density, loglik=loglik, best=int(np.argmax(loglik))
    )

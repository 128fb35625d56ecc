"""Profile likelihood: the log-likelihood of one parameter with every other one re-optimized.

For a scalar parameter ``theta_j`` the profile log-likelihood is

    l_p(c) = max over the other parameters of l(theta) subject to theta_j = c,

and the profile (likelihood-ratio) interval at level ``1 - alpha`` is
``{c : 2 (l(theta_hat) - l_p(c)) <= chi2_1(1 - alpha)}``.  Unlike the Wald
interval it is invariant to reparameterization and asymmetric where the
likelihood is.  pplmle finds its ends by root-finding (``brentq``) on
``2 (l_hat - l_p(c)) - chi2_1(level)``, after bracketing each side by steps of
one, two, four, ... standard errors; the constrained maximization is SciPy's
SLSQP on the model's compiled NLL and its exact gradient, warm-started from the
neighbouring point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.optimize
import scipy.stats

from pplmle.core import values as _values

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from pplmle.core.likelihood import Likelihood
    from pplmle.core.result import MLEResult

__all__ = ["ProfileCurve", "profile", "profile_curve"]


def _likelihood_of(result: MLEResult) -> Likelihood:
    ctx = result.context
    if ctx is None or not np.all(np.isfinite(ctx.u)):
        raise ValueError("This result has no usable optimum to profile (the fit failed to start).")
    return ctx


def _index(result: MLEResult, name: str) -> int:
    labels = result.labels
    if name not in labels:
        raise ValueError(f"`name` must be one of the scalar parameters {labels}; got {name!r}.")
    return labels.index(name)


class Profiler:
    """Evaluates the profile NLL of one parameter, remembering warm starts."""

    def __init__(self, result: MLEResult, name: str):
        self.result = result
        self.ctx = _likelihood_of(result)
        self.j = _index(result, name)
        self.name = name
        self.estimate = float(result.vector(result.params)[self.j])
        self.nll_hat = result.nll
        self._starts: list[tuple[float, np.ndarray]] = [(self.estimate, self.ctx.u)]

    def _in_support(self, c: float) -> bool:
        """Whether the parameter may take the value `c` (its transform maps it to a finite value)."""
        flat = self.result.vector(self.result.params).copy()
        flat[self.j] = c
        params, i = {}, 0
        for name, value in self.result.params.items():
            size = int(np.size(value))
            params[name] = flat[i] if np.ndim(value) == 0 else flat[i : i + size].reshape(np.shape(value))
            i += size
        return self.ctx.supports(params)

    def _warm(self, c: float) -> np.ndarray:
        return min(self._starts, key=lambda s: abs(s[0] - c))[1]

    def nll(self, c: float) -> float:
        """Profile NLL at ``theta_j = c``; NaN where the constraint cannot be met (outside the support)."""
        if c == self.estimate:
            return self.nll_hat
        if not self._in_support(c):
            return np.nan
        u, f, ok = self.ctx.constrained_minimum(self._warm(c), [self.j], [c])
        if not ok:
            return np.nan
        self._starts.append((c, u))
        return float(f)

    def interval(self, level: float) -> tuple[float, float]:
        target = scipy.stats.chi2.ppf(level, 1) / 2.0

        def g(c: float) -> float:
            return self.nll(c) - self.nll_hat - target

        se = float(self.result.vector(self.result.se)[self.j])
        step0 = se if np.isfinite(se) and se > 0 else max(0.1 * abs(self.estimate), 1e-3)
        ends = []
        for side in (-1.0, 1.0):
            inside, step, end = self.estimate, step0, np.nan
            for _ in range(60):
                c = inside + side * step
                value = g(c)
                if np.isnan(value):  # past the edge of the support: approach it
                    lo, hi = inside, c
                    for _ in range(60):
                        mid = 0.5 * (lo + hi)
                        if np.isnan(g(mid)):
                            hi = mid
                        else:
                            lo = mid
                    if g(lo) <= 0:
                        end = lo  # the likelihood never drops enough: the interval reaches the edge
                    else:
                        end = scipy.optimize.brentq(g, inside, lo, xtol=1e-12 * (1 + abs(lo)), rtol=1e-13)
                    break
                if value > 0:
                    end = scipy.optimize.brentq(g, inside, c, xtol=1e-12 * (1 + abs(c)), rtol=1e-13)
                    break
                inside, step = c, 2 * step
            ends.append(end)
        return ends[0], ends[1]


def profile(
    result: MLEResult,
    name: str,
    values: Any = None,
    *,
    n: int = 41,
    width: float = 3.0,
) -> xr.DataArray:
    """Profile log-likelihood of one scalar parameter as an ``xarray.DataArray``.

    Parameters
    ----------
    result
        An MLE (or MAP: then the profile of the likelihood at the MAP's prior is
        not meaningful; use MLE results).
    name
        A label from ``result.labels`` (``"mu"``, ``"beta[x]"``, ...).
    values
        Where to evaluate it; default `n` points over the estimate +/- `width`
        standard errors (clipped to values where the parameter is defined).

    Returns
    -------
    xarray.DataArray
        Named ``"profile_loglik"`` with dimension `name`; attributes ``estimate``,
        ``loglik_max`` and ``nll_max``.  NaN where the parameter value is
        outside its support.

    Examples
    --------
    >>> import numpy as np, pplmle as pl
    >>> res = pl.mle(pl.Normal(pl.datasets.heights()))
    >>> prof = pl.profile(res, "mu", [166.0, 168.0, 170.0])
    >>> np.round(prof.values - res.loglik, 6).tolist()  # -n/2 log(1 + n (168 - mu)^2 / S)
    [-0.821515, 0.0, -0.821515]
    """
    import xarray as xr

    prof = Profiler(result, name)
    if values is None:
        if not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"`n` must be a whole number >= 2; got {n!r}.")
        se = float(result.vector(result.se)[prof.j])
        if not np.isfinite(se):
            raise ValueError(f"{name} has no standard error to scale a default grid; pass `values`.")
        values = prof.estimate + np.linspace(-width, width, n) * se
    grid = np.array(values, dtype=float, copy=True).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)):
        raise ValueError(f"`values` must be a non-empty array of finite numbers; got {values!r}.")
    out = np.full(grid.size, np.nan)
    # walk outwards from the estimate so that every solve starts next to its neighbour
    for i in sorted(range(grid.size), key=lambda i: abs(grid[i] - prof.estimate)):
        out[i] = -prof.nll(grid[i])
    return xr.DataArray(
        out,
        coords={name: grid},
        dims=(name,),
        name="profile_loglik",
        attrs={"estimate": prof.estimate, "loglik_max": result.loglik, "nll_max": result.nll},
    )


@dataclass(frozen=True, repr=False, eq=False)
class ProfileCurve(_values.Value):
    """The profile log-likelihood of one parameter with its intervals, from :func:`profile_curve`.

    Attributes
    ----------
    name
        The parameter label.
    level
        Level of the intervals.
    estimate, se
        The MLE of the parameter and its standard error.
    profile
        The profile log-likelihood on the grid (:func:`profile`).
    cutoff
        ``-chi2_1(level) / 2``: the profile interval is where :attr:`relative` is above it.
    profile_interval, wald_interval
        The ends of the two intervals at `level` (``result.conf_int``).
    """

    name: str
    level: float
    estimate: float
    se: float
    profile: xr.DataArray
    cutoff: float
    profile_interval: tuple[float, float]
    wald_interval: tuple[float, float]

    @property
    def relative(self) -> xr.DataArray:
        """``profile_loglik(c) - loglik``: 0 at the MLE."""
        out = self.profile - self.profile.attrs["loglik_max"]
        out.name = "relative_profile_loglik"
        return out

    @property
    def wald(self) -> xr.DataArray | None:
        """The Wald quadratic ``-(c - estimate)^2 / (2 se^2)`` on the grid; None without a usable se."""
        if not (np.isfinite(self.se) and self.se > 0):
            return None
        c = self.profile[self.name]
        out = -((c - self.estimate) ** 2) / (2 * self.se**2)
        out.name = "wald_quadratic"
        return out

    def __repr__(self) -> str:
        lo, hi = self.profile_interval
        return (
            f"ProfileCurve of {self.name} on {self.profile.size} points: estimate {self.estimate:.6g}, "
            f"{100 * self.level:g}% profile interval [{lo:.6g}, {hi:.6g}]"
        )


def _default_grid(name: str, estimate: float, ends: np.ndarray, n: int = 81) -> np.ndarray:
    """`n` points spanning the interval ends and the estimate, with a third of their width each side."""
    finite = ends[np.isfinite(ends)]
    if finite.size == 0:
        raise ValueError(
            f"{name} has neither a profile nor a Wald interval to scale a default grid; pass `values`."
        )
    lo, hi = min(finite.min(), estimate), max(finite.max(), estimate)
    pad = (hi - lo) / 3 if hi > lo else max(abs(estimate), 1.0)
    return np.linspace(lo - pad, hi + pad, n)


def profile_curve(result: MLEResult, name: str, level: float = 0.95, values: Any = None) -> ProfileCurve:
    """The profile log-likelihood of one parameter, with its profile and Wald intervals.

    Parameters
    ----------
    result
        An MLE result.
    name
        A scalar parameter label (``"mu"``, ``"beta[x]"``, ...).
    level
        Level of the intervals.
    values
        Where to evaluate the profile (default: 81 points spanning both
        intervals with a margin of a third of their width on each side).

    Returns
    -------
    ProfileCurve

    Examples
    --------
    >>> import numpy as np, pplmle as pl
    >>> from pplmle.core.profiles import profile_curve
    >>> curve = profile_curve(pl.mle(pl.Normal(pl.datasets.heights())), "sigma")
    >>> np.round(curve.profile_interval, 2).tolist(), round(curve.cutoff, 4)
    ([3.23, 7.9], -1.9207)
    >>> curve.relative.size, float(curve.relative.max()) <= 0.0
    (81, True)
    """
    if not isinstance(level, (int, float, np.floating)) or not 0.0 < level < 1.0:
        raise ValueError(f"`level` must be strictly between 0 and 1; got {level!r}.")
    level = float(level)
    if name not in result.labels:
        raise ValueError(f"`name` must be one of the result's parameters {result.labels}; got {name!r}.")
    j = result.labels.index(name)
    est = float(result.vector(result.params)[j])
    se = float(result.vector(result.se)[j])
    prof_lo, prof_hi = (float(v) for v in result.conf_int(level, method="profile", params=name).loc[name])
    wald_lo, wald_hi = (float(v) for v in result.conf_int(level, method="wald").loc[name])
    if values is None:
        values = _default_grid(name, est, np.array([prof_lo, prof_hi, wald_lo, wald_hi]))
    return ProfileCurve(
        name=name,
        level=level,
        estimate=est,
        se=se,
        profile=profile(result, name, values),
        cutoff=float(-scipy.stats.chi2.ppf(level, 1) / 2),
        profile_interval=(prof_lo, prof_hi),
        wald_interval=(wald_lo, wald_hi),
    )


def profile_intervals(
    result: MLEResult, level: float, labels: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper profile-likelihood interval ends, one per label of `labels` (default: all).

    Each parameter is profiled on its own (one :class:`Profiler` per label, the
    others re-optimized), so the ends of one label do not depend on which other
    labels are asked for.
    """
    lower, upper = [], []
    estimate = dict(zip(result.labels, result.vector(result.params), strict=True))
    for label in result.labels if labels is None else labels:
        if not np.isfinite(estimate.get(label, 0.0)):
            # a parameter reported as NaN (one that does not enter the likelihood) has no profile
            lower.append(np.nan)
            upper.append(np.nan)
            continue
        lo, hi = Profiler(result, label).interval(level)
        lower.append(lo)
        upper.append(hi)
    return np.array(lower), np.array(upper)

"""Matplotlib figures (imported lazily; nothing is drawn on import).

Every function takes ``ax=None`` (a new figure is made) and returns the Axes.  Computing and
drawing are separate (as iminuit's ``profile`` and ``draw_profile``): each figure validates its
drawing arguments, asks a lower layer for the numbers, and draws them; the numbers are values of
their own, to print, test or draw another way.

* :func:`candidates` -- the first picture: data under a few candidate normal
  distributions, each with its likelihood (the product of the densities);
  computed by :func:`pplmle.workflows.surfaces.candidate_likelihoods`.
* :func:`likelihood_curve` and :func:`surface_plot` -- the likelihood swept over
  one parameter, or over two as filled contours (``LikelihoodSurface.plot``),
  computed by :func:`pplmle.surface`.
* :func:`profile_plot` -- the profile log-likelihood of one parameter with its
  profile and Wald intervals (:func:`pplmle.core.profiles.profile_curve`);
  :func:`contour` -- the joint region of two parameters with the Wald ellipse
  (:func:`pplmle.joint_region`).
* :func:`posterior_vs_likelihood` -- a posterior beside the normalized profile
  likelihood, with the MLE and the MAP (``BayesVsMLE.plot``), computed by
  :func:`pplmle.workflows.bayes.posterior_and_likelihood`.
* :func:`sampling_distribution` -- the estimates of a simulation study against the
  truth and the normal law their standard errors claim (``SimulationResult.plot``),
  computed by :func:`pplmle.workflows.simulation.estimate_distribution`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from pplmle.core.profiles import profile_curve
from pplmle.workflows.bayes import posterior_and_likelihood
from pplmle.workflows.simulation import estimate_distribution
from pplmle.workflows.surfaces import LikelihoodSurface, candidate_likelihoods, joint_region, surface

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from pplmle.core.result import MLEResult
    from pplmle.workflows.bayes import BayesVsMLE
    from pplmle.workflows.simulation import SimulationResult
    from pplmle.workflows.surfaces import LikelihoodSurface

__all__ = [
    "candidates",
    "contour",
    "likelihood_curve",
    "posterior_vs_likelihood",
    "profile_plot",
    "sampling_distribution",
    "surface_plot",
]


def likelihood_curve(
    result: MLEResult,
    name: str,
    grid: npt.ArrayLike,
    fixed: dict[str, Any] | None = None,
    *,
    kind: str = "likelihood",
    unit: str = "",
    ax: Axes | None = None,
) -> Axes:
    """Plot the likelihood of `result` as a function of one parameter.

    The curve is :func:`pplmle.surface` over ``{name: grid}``.

    Parameters
    ----------
    result
        A fitted result; its data and NLL are used.
    name
        The scalar parameter to sweep over `grid`.
    fixed
        Values of the other parameters (default: their estimates).
    kind
        ``"likelihood"`` (relative to its maximum on the grid, so it never
        underflows), ``"loglik"`` or ``"nll"``.
    unit
        Unit of the parameter, for the axis label.
    """
    import matplotlib.pyplot as plt

    kinds = ("likelihood", "loglik", "nll")
    if kind not in kinds:
        raise ValueError(f"`kind` must be one of {kinds}; got {kind!r}.")
    if name not in result.params or np.ndim(result.params[name]) != 0:
        scalars = [k for k, v in result.params.items() if np.ndim(v) == 0]
        raise ValueError(f"`name` must be a scalar parameter of the result, one of {scalars}; got {name!r}.")
    curve = surface(result, {name: grid}, fixed)
    points = curve.dataset[name].values
    values = curve.dataset[kind].values
    labels = {
        "likelihood": "likelihood / max likelihood",
        "loglik": "log-likelihood",
        "nll": "negative log-likelihood",
    }
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(points, values, marker="o", ms=3)
    best = curve.argmax()[name]
    ax.axvline(best, color="C3", ls="--", lw=1, label=f"best on grid: {name} = {best:g}")
    point = {**result.params, **(fixed or {})}
    others = ", ".join(f"{k} = {np.round(v, 4):g}" for k, v in point.items() if k != name and np.ndim(v) == 0)
    ax.set_xlabel(f"{name} ({unit})" if unit else name)
    ax.set_ylabel(labels[kind])
    ax.set_title(
        f"{result.model_name}: {labels[kind]} as a function of {name}" + (f"\n({others})" if others else "")
    )
    ax.legend()
    return ax


_KIND_LABELS = {
    "likelihood": "relative likelihood L / max L",
    "loglik": "log-likelihood",
    "nll": "negative log-likelihood",
}


def _axis_label(name: str, unit: str | None) -> str:
    return f"{name} ({unit})" if unit else name


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _fixed_text(attrs: Mapping[str, Any]) -> str:
    """The surface's ``fixed`` attribute (the ``str`` of a dict) as a short sentence."""
    import ast

    raw = attrs.get("fixed", "")
    try:
        fixed = ast.literal_eval(raw) if raw else {}
    except (ValueError, SyntaxError):
        return f"other parameters: {raw}"
    if not isinstance(fixed, dict):
        return f"other parameters: {raw}"
    if not fixed:
        return "no other parameters"
    if attrs.get("profile"):
        return f"{', '.join(fixed)} re-optimized at every point (profile)"
    return "fixed: " + ", ".join(
        f"{k} = {v:.6g}" if isinstance(v, float) else f"{k} = {v}" for k, v in fixed.items()
    )


def surface_plot(surface: LikelihoodSurface, kind: str = "likelihood", ax: Axes | None = None) -> Axes:
    """Draw a likelihood surface: a curve over one parameter, filled contours over two.

    Parameters
    ----------
    surface
        From :func:`pplmle.surface`.
    kind
        ``"likelihood"`` (``L / max L`` on the grid), ``"loglik"`` or ``"nll"``.
    ax
        Axes to draw on (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
        The best grid point is the line labelled ``"best grid point: ..."``.

    Examples
    --------
    >>> import numpy as np, pplmle as pl
    >>> from pplmle.viz.plots import surface_plot
    >>> s = pl.surface(pl.Normal(pl.datasets.heights()), {"mu": np.arange(160.0, 181.0)}, {"sigma": 5.0})
    >>> ax = surface_plot(s)
    >>> ax.get_xlabel(), ax.get_title()
    ('mu', 'Normal: relative likelihood L / max L over mu\\nfixed: sigma = 5')
    >>> import matplotlib.pyplot as plt; plt.close(ax.figure)
    """

    if kind not in _KIND_LABELS:
        raise ValueError(f"`kind` must be one of {tuple(_KIND_LABELS)}; got {kind!r}.")
    if not isinstance(surface, LikelihoodSurface):
        raise TypeError(f"`surface` must be a LikelihoodSurface (from pplmle.surface); got {type(surface)}.")
    ds = surface.dataset
    names = surface.names
    values = ds[kind].values
    best = surface.argmax()
    label = ("profile " if ds.attrs.get("profile") else "") + _KIND_LABELS[kind]
    best_text = ", ".join(f"{k} = {v:.6g}" for k, v in best.items())
    ax = _new_axes(ax, (6.4, 4.4) if len(names) == 1 else (6.4, 5.2))
    if len(names) == 1:
        (name,) = names
        grid = ds[name].values
        ax.plot(grid, values, marker="o", ms=3, lw=1.5, label=label)
        y_best = float(ds[kind].sel({name: best[name]}).values)
        ax.plot([best[name]], [y_best], "D", color="C3", ms=8, label=f"best grid point: {best_text}")
        ax.axvline(best[name], color="C3", ls=":", lw=1)
        ax.set_xlabel(name)
        ax.set_ylabel(label)
        ax.legend(loc="best")
    else:
        xname, yname = names
        z = np.ma.masked_invalid(values.T)  # rows follow the second parameter (y)
        levels, extend = _fill_levels(z, kind)
        filled = ax.contourf(
            ds[xname].values,
            ds[yname].values,
            z,
            levels=levels,
            cmap="viridis",
            extend=extend,
        )
        ax.figure.colorbar(filled, ax=ax, label=label)
        ax.plot(
            [best[xname]],
            [best[yname]],
            "X",
            color="C3",
            mec="white",
            ms=11,
            label=f"best grid point: {best_text}",
        )
        ax.set_xlabel(xname)
        ax.set_ylabel(yname)
        ax.legend(loc="upper right", framealpha=0.9)
    what = f"{label} over {' and '.join(names)}"
    ax.set_title(f"{ds.attrs.get('model', 'model')}: {what}\n{_fixed_text(ds.attrs)}")
    return ax


_LOG_SPAN = 20.0  # log-likelihood units shown by the filled contours of loglik / nll


def _fill_levels(z: np.ma.MaskedArray, kind: str) -> tuple[np.ndarray, str]:
    """Round contour levels and the colorbar `extend`: at most `_LOG_SPAN` log units below the best."""
    if kind == "likelihood":
        return np.linspace(0.0, 1.0, 11), "neither"
    ll = z if kind == "loglik" else -z
    top, bottom = float(ll.max()), float(ll.min())
    low = max(top - _LOG_SPAN, bottom)
    # whole log units (half units for a shallow surface): round levels chosen here, not by a
    # tick locator, whose choices change between matplotlib versions
    step = 1.0 if top - low > 5.0 else 0.5
    levels = np.arange(np.floor(low / step) * step, np.ceil(top / step) * step + step / 2, step)
    if levels.size < 2:
        levels = np.array([levels[0] - step, levels[0]]) if levels.size else np.array([low, top])
    clipped = bottom < levels[0]
    if kind == "loglik":
        return levels, "min" if clipped else "neither"
    return -levels[::-1], "max" if clipped else "neither"


def profile_plot(
    result: MLEResult,
    name: str,
    level: float = 0.95,
    values: npt.ArrayLike | None = None,
    ax: Axes | None = None,
    *,
    unit: str = "",
) -> Axes:
    """Draw the profile log-likelihood of one parameter with its profile and Wald intervals.

    The curve is ``profile_loglik(c) - loglik``, so it is 0 at the MLE; the
    profile interval is where it lies above the cut-off ``-chi2_1(level) / 2``.
    Dashed, for comparison: the Wald quadratic ``-(c - est)^2 / (2 se^2)`` and
    the Wald interval ``est +/- z se``.  All of it is computed by
    :func:`pplmle.core.profiles.profile_curve`.

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
    ax
        Axes to draw on (default: a new figure).
    unit
        Unit of the parameter, for the axis label.

    Returns
    -------
    matplotlib.axes.Axes
        Lines with ``gid`` ``"cut-off"``, ``"profile interval"``, ``"Wald interval"``
        and ``"MLE"`` mark what they draw.

    Examples
    --------
    >>> import pplmle as pl
    >>> from pplmle.viz.plots import profile_plot
    >>> res = pl.mle(pl.Normal(pl.datasets.heights()))
    >>> ax = profile_plot(res, "sigma", unit="cm")
    >>> [round(line.get_xdata()[0], 2) for line in ax.lines if line.get_gid() == "profile interval"]
    [3.23, 7.9]
    >>> import matplotlib.pyplot as plt; plt.close(ax.figure)
    """

    curve = profile_curve(result, name, level, values)
    est, se, cut = curve.estimate, curve.se, curve.cutoff
    prof_lo, prof_hi = curve.profile_interval
    wald_lo, wald_hi = curve.wald_interval
    grid = curve.profile[name].values
    rel = curve.relative.values
    wald = curve.wald
    pct = f"{100 * curve.level:g}%"

    ax = _new_axes(ax, (9.0, 4.6))
    ax.plot(grid, rel, color="C0", lw=2, label="profile log-likelihood")
    if wald is not None:
        ax.plot(
            grid,
            wald.values,
            color="C1",
            ls="--",
            lw=1.5,
            label=f"Wald quadratic, se = {se:.4g}",
        )
    ax.axhline(cut, color="0.3", lw=1, gid="cut-off", label=f"cut-off −χ²₁({curve.level:g})/2 = {cut:.4f}")
    for i, end in enumerate((prof_lo, prof_hi)):
        if np.isfinite(end):
            ax.axvline(
                end,
                color="C2",
                lw=1.5,
                gid="profile interval",
                label=f"{pct} profile interval [{prof_lo:.4g}, {prof_hi:.4g}]" if i == 0 else None,
            )
    for i, end in enumerate((wald_lo, wald_hi)):
        if np.isfinite(end):
            ax.axvline(
                end,
                color="C1",
                lw=1.2,
                ls="--",
                gid="Wald interval",
                label=f"{pct} Wald interval [{wald_lo:.4g}, {wald_hi:.4g}]" if i == 0 else None,
            )
    ax.plot([est], [0.0], "o", color="k", ms=7, gid="MLE", label=f"MLE {name} = {est:.4g}")
    finite = rel[np.isfinite(rel)]
    bottom = max(float(finite.min()) if finite.size else 4 * cut, 4 * cut)
    ax.set_ylim(bottom - 0.05 * abs(cut), 0.25 * abs(cut))
    ax.set_xlim(grid.min(), grid.max())
    ax.set_xlabel(_axis_label(name, unit))
    ax.set_ylabel("log-likelihood − its maximum")
    ax.set_title(f"{result.model_name}: profile likelihood of {name}, {pct} intervals")
    ax.legend(loc="best", fontsize="small", framealpha=0.9)  # inside: never clipped on a user Axes
    return ax


def contour(
    result: MLEResult,
    x: str,
    y: str,
    level: float = 0.95,
    grid: Mapping[str, npt.ArrayLike] | None = None,
    n: int = 60,
    width: float = 3.5,
    ax: Axes | None = None,
    *,
    units: Mapping[str, str] | None = None,
) -> Axes:
    """Draw the joint likelihood region of two parameters, with the Wald ellipse for comparison.

    Filled contours show ``loglik(x, y) - loglik`` with every other parameter
    fixed at its MLE (the title says so).  The region is the contour at
    ``-chi2_2(level) / 2``; the dashed Wald ellipse is
    ``d' P d = chi2_2(level)``, ``d = t - est``, where ``P`` is the
    ``(x, y)`` block of ``inv(result.cov)``: the quadratic approximation of the
    same surface with the others fixed.  (With no other parameters ``P`` is
    ``inv(cov)``; the plain block ``cov[(x, y), (x, y)]`` would instead describe
    the others re-optimized, and be wider.)  Region, grid and ellipse are
    computed by :func:`pplmle.joint_region`.

    Parameters
    ----------
    result
        An MLE result.
    x, y
        Two different scalar parameter labels, for the horizontal and vertical axes.
    level
        Level of the joint region.
    grid
        ``{x: values, y: values}``.  Default: `n` points over est +/- `width` se
        each, widened by ``width / 2`` se on every side the region reaches
        (up to six times).
    ax
        Axes to draw on (default: a new figure).
    units
        Units by parameter label, for the axis labels.

    Returns
    -------
    matplotlib.axes.Axes
        The MLE is the line with ``gid="MLE"``, the ellipse ``gid="Wald ellipse"``.

    Warns
    -----
    PPLMLEWarning
        When the region reaches the edge of the grid (it is cut off there;
        raised by :func:`pplmle.joint_region`).

    Examples
    --------
    >>> import pplmle as pl
    >>> from pplmle.viz.plots import contour
    >>> res = pl.mle(pl.Normal(pl.datasets.heights()))
    >>> ax = contour(res, "mu", "sigma")
    >>> [line.get_xydata()[0].round(10).tolist() for line in ax.lines if line.get_gid() == "MLE"]
    [[168.0, 4.7328638265]]
    >>> import matplotlib.pyplot as plt; plt.close(ax.figure)
    """
    import matplotlib.lines

    region = joint_region(result, x, y, level, grid, n, width)
    rel = np.ma.masked_invalid(region.relative.values.T)  # rows follow y
    gx, gy = region.grid[x], region.grid[y]
    cut, pct = region.cutoff, f"{100 * region.level:g}%"

    ax = _new_axes(ax, (6.6, 6.2))
    floor = float(np.floor(4 * cut))  # whole log-likelihood units, 0 to about 4x the cut-off
    filled = ax.contourf(
        gx,
        gy,
        np.ma.maximum(rel, floor - 1e-9),
        levels=np.linspace(floor, 0.0, int(-floor) + 1),
        cmap="Blues",
        extend="min",
    )
    ax.figure.colorbar(filled, ax=ax, label="log-likelihood − its maximum")
    ax.contour(gx, gy, rel, levels=[cut], colors="C3", linewidths=2, linestyles="solid")
    handles = [
        matplotlib.lines.Line2D([], [], color="C3", lw=2, label=f"{pct} joint region (χ²₂ cut-off {cut:.3f})")
    ]
    others = region.fixed
    if region.ellipse is not None:
        (line,) = ax.plot(
            region.ellipse[:, 0],
            region.ellipse[:, 1],
            color="k",
            ls="--",
            lw=1.5,
            gid="Wald ellipse",
            label=f"{pct} Wald ellipse (from cov{', others fixed' if others else ''})",
        )
        handles.append(line)
    else:
        handles.append(matplotlib.lines.Line2D([], [], ls="none", label="Wald ellipse: no covariance"))
    ex, ey = region.estimate
    (mle_point,) = ax.plot(
        [ex],
        [ey],
        "o",
        color="k",
        mec="white",
        ms=8,
        gid="MLE",
        label=f"MLE ({ex:.4g}, {ey:.4g})",
    )
    handles.append(mle_point)
    note = (
        "others fixed at the MLE: " + ", ".join(f"{lab} = {value:.4g}" for lab, value in others.items())
        if others
        else "no other parameters"
    )
    units = dict(units or {})
    ax.set_xlabel(_axis_label(x, units.get(x)))
    ax.set_ylabel(_axis_label(y, units.get(y)))
    ax.set_title(f"{result.model_name}: {pct} joint likelihood region of ({x}, {y})\n{note}")
    ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.9)  # inside: never clipped
    return ax


def _sci(loglik: float) -> str:
    """exp(`loglik`) as ``1.23e-14``, from the logarithm when the value would underflow."""
    value = np.exp(loglik)
    if value > np.finfo(float).tiny and np.isfinite(value):
        return f"{value:.2e}"
    if not np.isfinite(loglik):
        return "0" if loglik < 0 else "inf"
    exponent = int(np.floor(loglik / np.log(10)))
    mantissa = 10 ** (loglik / np.log(10) - exponent)
    if round(mantissa, 2) >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.2f}e{exponent:+03d}"


def candidates(
    x: Sequence[float],
    params: Sequence[Mapping[str, float]],
    ax: Axes | None = None,
    *,
    unit: str | None = None,
) -> Axes:
    """Draw data under several candidate normal distributions, each labelled with its likelihood.

    The likelihood of a candidate is the product of the densities at the data
    points (the markers on its curve); its legend entry gives that product and
    its logarithm, and the best candidate is drawn thicker and marked
    ``"(best)"``.  The likelihoods are computed by
    :func:`pplmle.workflows.surfaces.candidate_likelihoods`.

    Parameters
    ----------
    x
        The data, a non-empty 1-D array of finite numbers.
    params
        Candidates, a non-empty list of ``{"mu": ..., "sigma": ...}`` with
        ``sigma > 0``.
    ax
        Axes to draw on (default: a new figure).
    unit
        Unit of the data, for the axis label.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pplmle as pl
    >>> from pplmle.viz.plots import candidates
    >>> cands = [{"mu": 160, "sigma": 5}, {"mu": 168, "sigma": 5}, {"mu": 175, "sigma": 5}]
    >>> ax = candidates(pl.datasets.heights(), cands, unit="cm")
    >>> [t.get_text() for t in ax.get_legend().get_texts()][1]
    'μ = 168, σ = 5: L = 1.19e-13, log L = -29.76 (best)'
    >>> import matplotlib.pyplot as plt; plt.close(ax.figure)
    """

    cands = candidate_likelihoods(x, params)
    data, best = cands.x, cands.best

    ax = _new_axes(ax, (7.2, 4.8))
    lo = min(data.min(), *(cands.mu - 3.5 * cands.sigma))
    hi = max(data.max(), *(cands.mu + 3.5 * cands.sigma))
    grid = np.linspace(lo, hi, 400)
    curves = cands.pdf(grid)
    top = 0.0
    for i, (mu, sigma, ll) in enumerate(zip(cands.mu, cands.sigma, cands.loglik, strict=True)):
        color = f"C{i % 10}"
        is_best = i == best
        curve, dens = curves[i], cands.density[i]
        top = max(top, float(curve.max()))
        label = f"μ = {mu:g}, σ = {sigma:g}: L = {_sci(ll)}, log L = {ll:.2f}" + (
            " (best)" if is_best else ""
        )
        ax.plot(grid, curve, color=color, lw=3.0 if is_best else 1.3, zorder=3 if is_best else 2, label=label)
        ax.plot(data, dens, "o", color=color, ms=4.5, mec="white", mew=0.6, zorder=4)
        if is_best:  # the factors of the best likelihood
            ax.vlines(data, 0.0, dens, colors=color, lw=0.8, ls=":", zorder=1)
    ax.plot(
        data,
        np.zeros_like(data),
        "|",
        color="k",
        ms=18,
        mew=1.5,
        zorder=5,
        clip_on=False,
        label=f"data (n = {data.size})",
    )
    ax.set_ylim(0.0, top * 1.55)  # room for the legend above the curves
    ax.set_xlim(lo, hi)
    ax.set_xlabel(_axis_label("x", unit))
    ax.set_ylabel("density f(x | μ, σ)" + (f" (1/{unit})" if unit else ""))
    ax.set_title(
        f"Which normal distribution explains the {data.size} observations best?\n"
        "L = product of the densities at the data points (markers)"
    )
    ax.legend(loc="upper left", fontsize="small", framealpha=0.9)
    return ax


def posterior_vs_likelihood(
    comparison: BayesVsMLE, name: str, ax: Axes | None = None, *, unit: str = ""
) -> Axes:
    """Draw the posterior density of one parameter beside its normalized profile likelihood.

    The posterior (priors kept) is a kernel density estimate of the draws
    (``arviz.stats.density_utils.kde``) with its HDI at ``comparison.level``
    shaded; the profile likelihood ``exp(profile_loglik - max)`` is divided by
    its integral over the plotted grid, so it is the flat-prior posterior of
    that parameter up to the profiling.  Vertical lines mark the MLE and the MAP.
    The densities are computed by :func:`pplmle.workflows.bayes.posterior_and_likelihood`.

    Parameters
    ----------
    comparison
        From :func:`pplmle.bayes_vs_mle` (uses ``idata``, ``mle``, ``map`` and ``level``).
    name
        A scalar parameter of the model (a variable of the posterior).
    ax
        Axes to draw on (default: a new figure).
    unit
        Unit of the parameter, for the axis label.

    Returns
    -------
    matplotlib.axes.Axes
        Lines with ``gid`` ``"posterior"``, ``"profile likelihood"``, ``"MLE"`` and ``"MAP"``.

    Examples
    --------
    >>> import numpy as np, pymc as pm, pplmle as pl
    >>> from pplmle.viz.plots import posterior_vs_likelihood
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu", 160.0, 5.0)
    ...     sigma = pm.HalfNormal("sigma", 10.0)
    ...     x = pm.Normal("x", mu, sigma, observed=pl.datasets.heights())
    >>> cmp = pl.bayes_vs_mle(model, draws=200, tune=200, random_seed=0)
    >>> ax = posterior_vs_likelihood(cmp, "mu", unit="cm")
    >>> [line.get_xdata()[0] for line in ax.lines if line.get_gid() == "MLE"] == [cmp.mle.params["mu"]]
    True
    >>> import matplotlib.pyplot as plt; plt.close(ax.figure)
    """

    dens = posterior_and_likelihood(comparison, name)
    x_kde, pdf = dens.posterior_grid, dens.posterior_density
    grid, lik = dens.likelihood_grid, dens.likelihood_density
    est, map_value = dens.mle, dens.map
    hdi_lo, hdi_hi = dens.hdi
    visible = grid[lik >= 1e-3 * lik.max()]  # show the posterior and where the likelihood is visible
    lo, hi = min(float(x_kde.min()), float(visible.min())), max(float(x_kde.max()), float(visible.max()))
    pct = f"{100 * dens.level:g}%"

    ax = _new_axes(ax, (9.5, 4.6))
    ax.plot(x_kde, pdf, color="C0", lw=2, gid="posterior", label=f"posterior (KDE of {dens.n_draws} draws)")
    inside = (x_kde >= hdi_lo) & (x_kde <= hdi_hi)
    ax.fill_between(
        x_kde[inside],
        0.0,
        pdf[inside],
        color="C0",
        alpha=0.2,
        label=f"{pct} HDI [{hdi_lo:.4g}, {hdi_hi:.4g}]",
    )
    ax.plot(
        grid,
        lik,
        color="C1",
        lw=2,
        ls="--",
        gid="profile likelihood",
        label="profile likelihood, normalized to area 1",
    )
    ax.axvline(est, color="k", lw=1.5, gid="MLE", label=f"MLE {name} = {est:.4g}")
    ax.axvline(map_value, color="C3", lw=1.5, ls=":", gid="MAP", label=f"MAP {name} = {map_value:.4g}")
    ax.set_xlim(lo, hi)
    # headroom above the densities for the legend, which sits inside the axes so that it is never
    # clipped on a user's Axes of default size
    ax.set_ylim(0.0, 1.75 * max(float(pdf.max()), float(lik.max())))
    ax.set_xlabel(_axis_label(name, unit))
    ax.set_ylabel("density" + (f" (1/{unit})" if unit else ""))
    ax.set_title(f"{name}: posterior (with priors) vs profile likelihood (no priors)")
    ax.legend(loc="upper left", fontsize="small", framealpha=0.9, ncol=2)
    return ax


#: mathtext symbols for the usual parameter names (anything else is written out)
_HATS = {"mu": "\\mu", "sigma": "\\sigma", "p": "p", "lam": "\\lambda", "alpha": "\\alpha", "beta": "\\beta"}


def sampling_distribution(
    sim: SimulationResult,
    name: str,
    *,
    square: bool = False,
    unit: str = "",
    bins: int = 40,
    ax: Axes | None = None,
) -> Axes:
    """Histogram of the estimates of `name` over the replicates of a simulation study.

    Drawn with it: the true value, the mean estimate (their gap is the bias),
    and the normal density centred at the truth with the mean standard error as
    its sd, which is what the Wald interval assumes.  With ``square=True`` the
    squared estimates are shown against the squared truth (sigma_hat^2 and its
    (n - 1)/n bias).  The numbers are computed by
    :func:`pplmle.workflows.simulation.estimate_distribution`.
    """

    dist = estimate_distribution(sim, name, square=square)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"`bins` must be a whole number >= 2; got {bins!r}.")
    values, truth = dist.values, dist.truth
    symbol = _HATS.get(name)
    label = f"$\\hat{{{symbol}}}$" if symbol else f"estimate of {name}"
    if square:
        label = f"$\\hat{{{symbol}}}^2$" if symbol else f"(estimate of {name})²"
    ax = _new_axes(ax, (6.4, 4.0))
    ax.hist(values, bins=bins, density=True, color="0.8", edgecolor="0.55", label=f"{values.size} estimates")
    grid = np.linspace(*ax.get_xlim(), 400)
    claimed = dist.claimed_pdf(grid)
    if claimed is not None:
        ax.plot(grid, claimed, color="C0", label=f"N(truth, mean se = {dist.mean_se:.3g})")
    ax.axvline(truth, color="C3", lw=2, label=f"truth {truth:.4g}")
    ax.axvline(
        dist.mean,
        color="k",
        ls="--",
        lw=1.5,
        label=f"mean {dist.mean:.4g} (bias {dist.bias:+.3g})",
    )
    n = f", n = {sim.n}" if sim.n else ""
    ax.set_title(f"Sampling distribution of {label} ({sim.reps} replicates{n})")
    ax.set_xlabel(_axis_label(label, unit))
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize="small")
    return ax

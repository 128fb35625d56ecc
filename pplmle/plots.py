"""Matplotlib figures (imported lazily; nothing is drawn on import).

Every function takes ``ax=None`` (a new figure is made) and returns the Axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from pplmle.result import MLEResult

__all__ = ["likelihood_curve"]


def likelihood_curve(
    result: MLEResult,
    name: str,
    grid: Sequence[float],
    fixed: dict[str, Any] | None = None,
    *,
    kind: str = "likelihood",
    unit: str = "",
    ax: Axes | None = None,
) -> Axes:
    """Plot the likelihood of `result` as a function of one parameter.

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
    grid = np.asarray(grid, dtype=float)
    point = {**result.params, **(fixed or {})}
    nll = np.array([result.nllf({**point, name: g}) for g in grid])
    values = {"likelihood": np.exp(-(nll - nll.min())), "loglik": -nll, "nll": nll}[kind]
    labels = {
        "likelihood": "likelihood / max likelihood",
        "loglik": "log-likelihood",
        "nll": "negative log-likelihood",
    }
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(grid, values, marker="o", ms=3)
    best = grid[np.argmin(nll)]
    ax.axvline(best, color="C3", ls="--", lw=1, label=f"best on grid: {name} = {best:g}")
    others = ", ".join(f"{k} = {np.round(v, 4):g}" for k, v in point.items() if k != name and np.ndim(v) == 0)
    ax.set_xlabel(f"{name} ({unit})" if unit else name)
    ax.set_ylabel(labels[kind])
    ax.set_title(
        f"{result.model_name}: {labels[kind]} as a function of {name}" + (f"\n({others})" if others else "")
    )
    ax.legend()
    return ax

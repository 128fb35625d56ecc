"""Figures (front door): the public name of :mod:`pplmle.viz`, which draws what the layers below computed.

``import pplmle.plots`` and ``pl.plots.contour(...)`` reach the same functions as
``pplmle.viz``; matplotlib is imported when a function is called.
"""

from pplmle.viz import (
    candidates,
    contour,
    likelihood_curve,
    posterior_vs_likelihood,
    profile_plot,
    sampling_distribution,
    surface_plot,
)

__all__ = [
    "candidates",
    "contour",
    "likelihood_curve",
    "posterior_vs_likelihood",
    "profile_plot",
    "sampling_distribution",
    "surface_plot",
]

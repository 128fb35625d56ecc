"""Figures (front door): the public names of :mod:`pplmle.viz.plots`, which draws what the layers
below computed; matplotlib is imported when a function is called.
"""

from pplmle.viz.plots import (
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

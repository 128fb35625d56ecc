"""The protocol a fitted likelihood offers the core layer.

A result computes its profiles, intervals and ``nllf`` through this protocol alone, so the core
never imports the layer that compiled the model.  :class:`pplmle.pymc.fitting.FitContext`
implements it for every PyMC fit: it owns a copy of the fitted data and swaps it into the
shared compiled functions only while it evaluates, under their lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Likelihood"]


@runtime_checkable
class Likelihood(Protocol):
    """A likelihood fitted to one data set, evaluated on the natural scale of its parameters.

    Attributes
    ----------
    u
        The optimum in the optimizer's unconstrained coordinates (the warm start of profiles).
    labels
        Labels of the flattened reported parameters, in the order of ``MLEResult.cov``.
    cache
        Derived quantities computed on first use (profile intervals by label and level).
    """

    u: np.ndarray
    labels: list[str]
    cache: dict[Any, Any]

    def nll(self, params: Mapping[str, Any]) -> float:
        """The NLL at reported parameter values, by name, on the fitted data."""
        ...

    def supports(self, params: Mapping[str, Any]) -> bool:
        """Whether the parameters may take these values (inside the model's support)."""
        ...

    def constrained_minimum(
        self, start: np.ndarray, fixed: list[int], values: list[float]
    ) -> tuple[np.ndarray, float, bool]:
        """Minimize the NLL with the flattened parameters `fixed` held at `values`.

        Returns the unconstrained point, the NLL of the likelihood there (for a MAP, without
        the prior) and whether the minimization succeeded.
        """
        ...

"""Warnings and errors raised by pplmle.

Every warning pplmle emits is a :class:`PPLMLEWarning`, so one filter silences
or escalates them all.  Functions that take ``strict=True`` raise
:class:`EstimationError` instead of warning.
"""

from __future__ import annotations

import warnings

__all__ = [
    "ConvergenceWarning",
    "EstimationError",
    "HessianWarning",
    "MultipleOptimaWarning",
    "PPLMLEWarning",
]


class PPLMLEWarning(RuntimeWarning):
    """Base class of every warning pplmle emits."""


class ConvergenceWarning(PPLMLEWarning):
    """The optimizer did not reach a point where the gradient vanishes."""


class HessianWarning(PPLMLEWarning):
    """The Hessian at the estimate is singular or not positive definite."""


class MultipleOptimaWarning(PPLMLEWarning):
    """Different starting points reached different optima."""


class EstimationError(RuntimeError):
    """Raised instead of a :class:`PPLMLEWarning` when ``strict=True``."""


def warn_or_raise(message: str, category: type[PPLMLEWarning], strict: bool, stacklevel: int = 3) -> None:
    """Warn with `category`, or raise :class:`EstimationError` when `strict`."""
    if strict:
        raise EstimationError(message)
    warnings.warn(message, category, stacklevel=stacklevel)

"""Warnings and errors raised by pplmle.

Every warning pplmle emits is a :class:`PPLMLEWarning`, so one filter silences
or escalates them all.  Functions that take ``strict=True`` raise
:class:`EstimationError` instead of warning.
"""

from __future__ import annotations

import os
import sys
import types
import warnings

__all__ = [
    "BoundaryWarning",
    "ConvergenceWarning",
    "DriftWarning",
    "EstimationError",
    "ExistenceWarning",
    "HessianWarning",
    "HierarchicalModelError",
    "LikelihoodMismatchWarning",
    "MultipleOptimaWarning",
    "NotIdentifiedWarning",
    "PPLMLEWarning",
    "SeparationWarning",
    "UnboundedLikelihoodWarning",
]


class PPLMLEWarning(RuntimeWarning):
    """Base class of every warning pplmle emits."""


class ConvergenceWarning(PPLMLEWarning):
    """The optimizer did not reach a point where the gradient vanishes."""


class HessianWarning(PPLMLEWarning):
    """The Hessian at the estimate is singular or not positive definite."""


class NotIdentifiedWarning(PPLMLEWarning):
    """Some parameters do not enter the likelihood: the data say nothing about them.

    Emitted by ``pl.mle(model, hierarchy="flatten")`` for the hyperparameters of a hierarchical
    model, which leave the likelihood when the priors are flattened; they are reported as NaN.
    """


class MultipleOptimaWarning(PPLMLEWarning):
    """Different starting points reached different optima."""


class BoundaryWarning(PPLMLEWarning):
    """The estimate lies on the boundary of the parameter space (``p_hat = 0``, ``lam_hat = 0``).

    The MLE exists but the Wald standard errors and intervals, which assume an
    interior optimum with a quadratic log-likelihood around it, are meaningless.
    """


class ExistenceWarning(PPLMLEWarning):
    """The MLE does not exist: the likelihood keeps increasing towards infinity."""


class SeparationWarning(ExistenceWarning):
    """Perfect or quasi-complete separation in a logistic or softmax regression."""


class DriftWarning(ExistenceWarning):
    """The estimate keeps moving when the optimization is continued (drift towards infinity)."""


class UnboundedLikelihoodWarning(ExistenceWarning):
    """The likelihood grows without bound (for example ``sigma -> 0`` on constant data)."""


class LikelihoodMismatchWarning(PPLMLEWarning):
    """A hand-written NLL does not equal minus PyMC's log-likelihood."""


class HierarchicalModelError(ValueError):
    """``pl.mle`` refuses a model whose priors carry part of the model (a hierarchical or
    latent-variable model): flattening them would fit another model.

    The message names the variables and says what flattening would do and what to use instead;
    ``hierarchy="flatten"`` fits the flattened model anyway.
    """


class EstimationError(RuntimeError):
    """Raised instead of a :class:`PPLMLEWarning` when ``strict=True``."""


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside pplmle.

    Counted from the function that calls this one (level 1), so a warning names the user's line
    however deep inside pplmle it was raised (``pl.mle``, a figure that computes, a workflow that
    fits), as a ``warnings.warn(..., stacklevel=user_stacklevel())`` in that function.
    """
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` pointed at the user's line (see :func:`user_stacklevel`)."""
    warnings.warn(message, category, stacklevel=user_stacklevel())


def warn_or_raise(message: str, category: type[PPLMLEWarning], strict: bool) -> None:
    """Warn with `category` at the user's line, or raise :class:`EstimationError` when `strict`."""
    if strict:
        raise EstimationError(message)
    warn(message, category)

"""Existence and trust diagnostics: findings that turn an estimate from a number into a flagged one.

Each problem pplmle can detect is a :class:`Finding` with a short ``code`` (listed
in :attr:`MLEResult.diagnostics <pplmle.MLEResult.diagnostics>`), a message, the
warning category it is raised with, and a note per affected parameter (shown in
:meth:`MLEResult.table <pplmle.MLEResult.table>`'s ``flag`` column).

======================  =========================================  ==============================
code                    meaning                                    warning
======================  =========================================  ==============================
``separation``          logistic/softmax classes separated by      :class:`SeparationWarning`
                        the design: no MLE, coefficients -> inf
``boundary``            the MLE is on the edge of the parameter    :class:`BoundaryWarning`
                        space (``p = 0``): Wald SEs meaningless
``drift``               the estimate keeps moving when the         :class:`DriftWarning`
                        optimization is continued: no MLE
``unbounded likelihood``  the likelihood grows without bound       :class:`UnboundedLikelihoodWarning`
``singular Hessian``    not positive definite or a flat ridge      :class:`HessianWarning`
                        (parameters not identified)
``multiple optima``     starts disagree                            :class:`MultipleOptimaWarning`
``not identified``      a parameter does not enter the likelihood  :class:`NotIdentifiedWarning`
                        (a flattened hierarchy's hyperparameter):
                        reported as NaN
======================  =========================================  ==============================

This module is NumPy-only: the PyMC layer supplies the numbers.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pplmle.core import messages
from pplmle.core.errors import (
    BoundaryWarning,
    DriftWarning,
    NotIdentifiedWarning,
    PPLMLEWarning,
    SeparationWarning,
    UnboundedLikelihoodWarning,
)

__all__ = [
    "NO_MLE",
    "Diagnostic",
    "Finding",
    "boundary",
    "classify_recession",
    "not_identified",
    "separation",
    "support_boundary",
    "unbounded",
]


class Diagnostic(enum.StrEnum):
    """The problems pplmle detects, as listed in ``result.diagnostics`` (see the table above).

    Members are strings (``Diagnostic.DRIFT == "drift"``), so ``"drift" in res.diagnostics``
    works as well as ``Diagnostic.DRIFT in res.diagnostics``.
    """

    SEPARATION = "separation"
    BOUNDARY = "boundary"
    DRIFT = "drift"
    UNBOUNDED = "unbounded likelihood"
    SINGULAR_HESSIAN = "singular Hessian"
    MULTIPLE_OPTIMA = "multiple optima"
    NOT_IDENTIFIED = "not identified"

    @property
    def no_mle(self) -> bool:
        """Whether this finding means that no MLE exists."""
        return self in NO_MLE


#: the diagnostics that say no MLE exists
NO_MLE = frozenset({Diagnostic.SEPARATION, Diagnostic.DRIFT, Diagnostic.UNBOUNDED})


@dataclass(frozen=True)
class Finding:
    """One problem with an estimate.

    Attributes
    ----------
    code
        Short name, listed in ``result.diagnostics``.
    message
        A sentence for the user (the warning's text).
    category
        The warning class raised for it.
    flags
        Note per affected parameter label (for example ``"-> +inf"``).
    values
        Exact values to report for some parameters (a boundary estimate known
        from the data, such as ``p = 0`` when every ``y`` is 0).
    exists
        False when the MLE does not exist (the estimate cannot have converged).
    """

    code: Diagnostic
    message: str
    category: type[PPLMLEWarning]
    flags: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    exists: bool = True


def separation(description: str, labels: Sequence[str], signs: Sequence[float] | None = None) -> Finding:
    """The finding for a separated logistic or softmax regression (`signs`: where each label runs)."""
    signs = list(signs) if signs is not None else [0.0] * len(labels)
    return Finding(
        code=Diagnostic.SEPARATION,
        message=messages.separation(description),
        category=SeparationWarning,
        flags={
            lab: f"separation: -> {'+' if sg > 0 else '-' if sg < 0 else ''}inf"
            for lab, sg in zip(labels, signs, strict=True)
        },
        exists=False,
    )


def boundary(values: dict[str, float], why: str) -> Finding:
    """The finding for an MLE on the boundary of the parameter space, known from the data."""
    return Finding(
        code=Diagnostic.BOUNDARY,
        message=messages.boundary_from_data(values, why),
        category=BoundaryWarning,
        flags={k: f"boundary: = {messages.number(v)}" for k, v in values.items()},
        values=dict(values),
    )


def not_identified(names: Sequence[str], labels: Sequence[str]) -> Finding:
    """The finding for the variables `names` (with element labels `labels`) that do not enter
    the likelihood: each label reported as NaN with a NaN standard error."""
    return Finding(
        code=Diagnostic.NOT_IDENTIFIED,
        message=messages.not_identified(names),
        category=NotIdentifiedWarning,
        flags=dict.fromkeys(labels, messages.not_identified_flag()),
        values=dict.fromkeys(labels, float("nan")),
    )


def support_boundary(
    values: dict[str, float], sides: dict[str, str], others: Sequence[str], method: str = "MLE"
) -> Finding:
    """The finding for an estimate on the edge of its parameters' support, found by refitting.

    `values` are the bounds the labels are held at, `sides` whether each is the ``"lower"`` or
    ``"upper"`` bound, `others` the labels whose standard errors are conditional on them.
    """
    return Finding(
        code=Diagnostic.BOUNDARY,
        message=messages.boundary_of_support(values, sides, list(others), method),
        category=BoundaryWarning,
        flags={k: f"boundary: = {messages.number(v)} ({sides[k]} bound)" for k, v in values.items()},
        values=dict(values),
    )


def _limit(v: float) -> str:
    for target in (0.0, 1.0, -1.0):
        if abs(v - target) < 1e-8:
            return messages.number(target)
    return messages.number(v)


def unbounded(names: Sequence[str], detail: str = "an NLL of -inf was reached") -> Finding:
    """The finding for a likelihood that grows without bound as the parameters `names` move."""
    names = list(names)
    return Finding(
        code=Diagnostic.UNBOUNDED,
        message=messages.unbounded(names, detail),
        category=UnboundedLikelihoodWarning,
        flags={lab: "unbounded likelihood" for lab in names},
        exists=False,
    )


def classify_recession(
    labels: Sequence[str],
    reported: Sequence[np.ndarray],
    nll: Sequence[float],
    se: np.ndarray | None = None,
) -> Finding | None:
    """Turn a falling-NLL probe into a finding.

    Parameters
    ----------
    labels
        Labels of the flattened reported parameters.
    reported
        Reported values at the estimate and at three points further and further out along the
        direction where the NLL kept falling.
    nll
        The NLL at those four points.

    A parameter has moved when it changed by 0.1% of its size, or by 10% of its
    distance to the nearest whole number (the usual bounds are 0 and +-1).  A
    parameter that moved and whose steps do not shrink (the step from 8 to 16
    is more than half the step from 4 to 8) runs off to infinity: *drift*, no
    MLE.  Parameters that move but settle approach a finite edge of their
    support: a *boundary* estimate.  An NLL that falls at least as much from 8
    to 16 as from 4 to 8 is heading to minus infinity: an *unbounded
    likelihood*.

    Examples
    --------
    >>> f = classify_recession(["p"], [np.array([1e-9]), np.array([2e-11]), np.array([3e-13]),
    ...                               np.array([1e-16])], [1e-8, 2e-10, 3e-12, 1e-15])
    >>> str(f.code), f.flags
    ('boundary', {'p': 'boundary: -> 0'})
    """
    r0, r4, r8, r16 = (np.asarray(r, dtype=float) for r in reported)
    f0, f4, f8, f16 = (float(v) for v in nll)
    size = np.maximum(np.maximum(np.abs(r0), np.abs(r16)), 1e-300)
    step = np.abs(r16 - r0)
    # moved: by 0.1% of its size, or by 10% of its distance to the nearest whole number (the
    # usual bounds 0 and +-1: p = 1 - 1e-15 moving to 1 - 1e-17 is a big move towards p = 1)
    near_bound = (step > 0) & (step >= 0.1 * np.abs(r0 - np.round(r0)))
    if se is not None and np.all(np.isfinite(se)):
        # scale-free: moved by a tenth of its own standard error
        moved = (step >= 0.1 * np.asarray(se, dtype=float)) | near_bound
    else:
        moved = (step > 1e-3 * size) | near_bound
    if not np.any(moved):
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        diverging = moved & (np.abs(r16 - r8) > 0.5 * np.abs(r8 - r4))
        is_unbounded = f16 == -np.inf or (f16 - f8) <= (f8 - f4) < 0
    if is_unbounded:
        return unbounded(
            [labels[int(i)] for i in np.flatnonzero(moved)], f"it fell by {f0 - f16:.3g} over the probe"
        )
    if np.any(diverging):
        flags = {
            labels[int(i)]: f"drift: -> {'+' if r16[i] > r8[i] else '-'}inf"
            for i in np.flatnonzero(diverging)
        }
        return Finding(
            code=Diagnostic.DRIFT,
            message=messages.drift(list(flags)),
            category=DriftWarning,
            flags=flags,
            exists=False,
        )
    flags = {labels[int(i)]: f"boundary: -> {_limit(r16[i])}" for i in np.flatnonzero(moved)}
    where = ", ".join(f"{k} {v.split(': ')[1]}" for k, v in flags.items())
    return Finding(
        code=Diagnostic.BOUNDARY,
        message=messages.boundary_receding(where),
        category=BoundaryWarning,
        flags=flags,
    )

"""The typed diagnoses of a fit (front door): the public names of :mod:`pplmle.core.diagnostics`."""

from pplmle.core.diagnostics import NO_MLE, Diagnostic, Finding

__all__ = ["NO_MLE", "Diagnostic", "Finding"]

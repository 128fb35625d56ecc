"""Each gallery model built and fitted once per process, with its warnings and times recorded.

The tests and the table share these fits: :func:`fitted` builds the model, runs ``pl.mle`` with
the entry's options (recording every warning instead of raising it) and keeps the result, or the
exception a refused model raised.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pymc as pm

import pplmle as pl
from gallery.models import BY_NAME, Entry, Reference


@dataclass
class Fitted:
    entry: Entry
    model: pm.Model
    result: pl.MLEResult | None
    error: BaseException | None
    warnings: list[warnings.WarningMessage]
    build_time: float
    fit_time: float
    warm_time: float = float("nan")
    cache: dict = field(default_factory=dict)

    @property
    def pplmle_warnings(self) -> list[str]:
        return [type(w.message).__name__ for w in self.warnings if isinstance(w.message, pl.PPLMLEWarning)]


_FITS: dict[str, Fitted] = {}
_REFERENCES: dict[str, Reference] = {}


def fit_recorded(model: pm.Model, **kwargs):
    """``pl.mle(model, **kwargs)`` with its warnings recorded: (result or None, error or None,
    warnings, seconds)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        try:
            result, error = pl.mle(model, **kwargs), None
        except Exception as exc:  # a refusal: the tests check its type and message
            result, error = None, exc
        seconds = time.perf_counter() - start
    return result, error, list(caught), seconds


def fitted(name: str, warm: bool = False) -> Fitted:
    """The entry's model and its fit (built and fitted on first use; `warm`: also time a second
    fit of the same model object)."""
    if name not in _FITS:
        entry = BY_NAME[name]
        start = time.perf_counter()
        model = entry.build()
        build = time.perf_counter() - start
        result, error, caught, seconds = fit_recorded(model, **entry.fit_kwargs)
        _FITS[name] = Fitted(entry, model, result, error, caught, build, seconds)
    fit = _FITS[name]
    if warm and np.isnan(fit.warm_time) and fit.error is None:
        fit.warm_time = fit_recorded(fit.model, **fit.entry.fit_kwargs)[3]
    return fit


def reference(name: str) -> Reference:
    if name not in _REFERENCES:
        entry = BY_NAME[name]
        assert entry.reference is not None, f"{name} has no reference"
        with warnings.catch_warnings():  # the optimizers' overflow warnings on their way
            warnings.simplefilter("ignore")
            _REFERENCES[name] = entry.reference()
    return _REFERENCES[name]


def errors(result: pl.MLEResult, ref: Reference) -> tuple[dict[str, float], dict[str, float]]:
    """Per label: the estimate's error relative to max(|reference|, reference SE) (relative,
    or in SEs for a value near 0), and the SE's relative error."""
    est = dict(zip(result.labels, result.vector(result.params), strict=True))
    se = dict(zip(result.labels, result.vector(result.se), strict=True))
    est_err = {
        lab: abs(est.get(lab, np.nan) - v) / max(abs(v), ref.se[lab]) for lab, v in ref.estimates.items()
    }
    se_err = {lab: abs(se.get(lab, np.nan) - v) / v for lab, v in ref.se.items()}
    return est_err, se_err

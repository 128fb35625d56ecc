"""What a ``pm.Model`` observes: its data, their count and fingerprint, and element labels.

The helpers that a fit (:mod:`pplmle.pymc.fitting`) and a marginal fit
(:mod:`pplmle.pymc.marginal`) share: the current observed values (``pm.Data`` containers and
graphs of them included), the number of observations for BIC, the fingerprint that tells two fits
of the same data, and the labels of a variable's elements from its ``dims``.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import pymc as pm
import pytensor.scalar as ps
from pytensor.tensor.elemwise import Elemwise

from pplmle.core.validate import check_whole_observed

__all__ = [
    "axis_values",
    "check_discrete_observed",
    "check_n_obs",
    "data_fingerprint",
    "observation_count",
    "observed_data",
    "potential_terms",
    "variable_dims",
]

# guards the cache of compiled observed values
_REGISTRY_LOCK = threading.RLock()


def axis_values(model: pm.Model, name: str, shape: tuple[int, ...]) -> list[Sequence[Any]]:
    """What indexes each axis of variable `name` (of `shape`): its dim's coordinate values when
    the model has them, one distinct value per element, else ``range(length)``."""
    dims = tuple(model.named_vars_to_dims.get(name) or ())
    out: list[Sequence[Any]] = []
    for axis, size in enumerate(shape):
        values = model.coords.get(dims[axis]) if len(dims) == len(shape) and dims[axis] else None
        if values is None or len(values) != size or len({str(v) for v in values}) != size:
            out.append(range(size))
        else:
            out.append(list(values))
    return out


def variable_dims(model: pm.Model, name: str, shape: tuple[int, ...]) -> tuple[str, ...] | None:
    """The model's dim names for variable `name` when it has one per axis of `shape`, else None."""
    dims = tuple(model.named_vars_to_dims.get(name) or ())
    if len(dims) != len(shape) or not all(dims):
        return None
    return dims


def _element_labels(name: str, axes: list[Sequence[Any]]) -> list[str]:
    if not axes:
        return [name]
    # coordinate values may be numbers or strings (str() of a numpy scalar is its plain value)
    return [f"{name}[{', '.join(str(v) for v in idx)}]" for idx in itertools.product(*axes)]


#: per model, the compiled function of each observed value that is a graph (of pm.Data, say);
#: it reads the data containers when called, so it serves every later fit of the model
_OBSERVED_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def observed_data(model: pm.Model) -> dict[str, np.ndarray]:
    """Current values of the observed variables, by name."""
    out = {}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        data = value.get_value(borrow=True) if hasattr(value, "get_value") else getattr(value, "data", None)
        if data is None:
            with _REGISTRY_LOCK:
                fns = _OBSERVED_FNS.setdefault(model, {})
                if value not in fns:
                    # run by Python (no C code to compile): called once per fit
                    fns[value] = model.compile_fn(outs=value, inputs=[], point_fn=False, mode="FAST_COMPILE")
            data = fns[value]()
        out[rv.name] = np.asarray(data)
    return out


def check_discrete_observed(model: pm.Model) -> None:
    """Refuse non-integer observations of a discrete likelihood that PyMC would truncate.

    PyMC casts the observed data of a discrete variable (Poisson, Binomial, Bernoulli,
    Categorical, ...) to integers. Data given as an array are cast when the model is built, so
    1.5 is already 1 and nothing can tell; data given as a ``pm.Data`` container keep their
    float values behind the cast, and those are checked here.
    """
    for rv in model.observed_RVs:
        if not rv.type.dtype.startswith(("int", "uint", "bool")):
            continue
        node = model.rvs_to_values[rv].owner
        if node is None or not (isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, ps.Cast)):
            continue
        source = node.inputs[0]
        if not source.type.dtype.startswith(("float", "complex")):
            continue
        data = (
            source.get_value(borrow=True) if hasattr(source, "get_value") else getattr(source, "data", None)
        )
        if data is None:
            data = model.compile_fn(outs=source, inputs=[], point_fn=False, mode="FAST_COMPILE")()
        check_whole_observed(rv.name, data)


def observation_count(model: pm.Model) -> int:
    """The number of observed values of the model's likelihood terms (its observed variables).

    One per observed element of a univariate distribution (a ``pm.Censored`` one included: a
    censored row is an observation); one per observed vector of a multivariate one (a
    ``pm.MvNormal`` or ``pm.Multinomial`` row); one per time step of a time series
    (``pm.AR``, ``pm.GaussianRandomWalk``, ``pm.GARCH11``, ``pm.EulerMaruyama``: a series of
    200 values counts 200, its first values, given by ``init_dist``, included). A
    ``pm.Potential`` has no observations to count (see :func:`potential_terms`).
    """
    total = 0
    data = observed_data(model)
    for rv in model.observed_RVs:
        ndim_supp = getattr(rv.owner.op, "ndim_supp", 0) or 0
        if ndim_supp and isinstance(rv.owner.op, _TIME_SERIES):
            ndim_supp -= 1  # the time axis is counted, the values at one time step are one
        shape = np.shape(data[rv.name])
        total += int(np.prod(shape[: len(shape) - ndim_supp])) if shape else 1
    return total


def potential_terms(model: pm.Model) -> list[str]:
    """Names of the ``pm.Potential`` terms, which enter the likelihood without observations."""
    return [p.name for p in model.potentials if p.name is not None]


def _time_series_ops() -> tuple[type, ...]:
    import pymc.distributions.timeseries as ts

    names = ("AutoRegressiveRV", "RandomWalkRV", "GARCH11RV", "EulerMaruyamaRV")
    return tuple(getattr(ts, name) for name in names if hasattr(ts, name))


_TIME_SERIES = _time_series_ops()


def check_n_obs(n_obs: Any) -> int | None:
    """`n_obs` of mle() and map_estimate(): None or a positive whole number."""
    if n_obs is None:
        return None
    if isinstance(n_obs, (bool, np.bool_)) or not isinstance(n_obs, (int, np.integer)) or n_obs < 1:
        raise ValueError(f"`n_obs` must be None or a positive whole number; got {n_obs!r}.")
    return int(n_obs)


def data_fingerprint(model: pm.Model) -> str:
    """A fingerprint of the observed data (values and shapes, not names): equal for fits to the same data."""
    digest = hashlib.sha1()
    # a family fitted in units observes data / unit (a power of two): fingerprint the data itself
    names = {p.name for p in model.potentials}
    unit = float(model["unit"].get_value()) if "unit_jacobian" in names else 1.0
    for data in observed_data(model).values():
        arr = np.ascontiguousarray(data, dtype=float)
        digest.update(str(arr.shape).encode())
        if unit == 1.0:
            digest.update(arr.data.cast("B"))  # the bytes as they are: no copy
            continue
        # scaled back a block at a time into one small buffer (the digest of the blocks is the
        # digest of the whole): a copy of a million values costs more than hashing them
        flat = arr.reshape(-1)
        buf = np.empty(min(flat.size, _BLOCK))
        for i in range(0, flat.size, _BLOCK):
            part = np.multiply(flat[i : i + _BLOCK], unit, out=buf[: min(_BLOCK, flat.size - i)])
            digest.update(part.data.cast("B"))
    return digest.hexdigest()


#: values scaled back at a time by :func:`data_fingerprint`
_BLOCK = 1 << 15

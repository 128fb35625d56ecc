"""Sampling distributions of the MLE, and the bootstrap: many fits of one compiled model.

:func:`simulate` draws ``reps`` datasets from a model at known parameter values,
fits each one and summarizes the estimates: bias, spread, how well the
standard errors describe that spread, and how often the Wald and profile
intervals cover the truth.  :meth:`pplmle.MLEResult.bootstrap` does the same
around an estimate (parametric: draws from the fitted model; nonparametric:
rows resampled with replacement).

How it stays fast: the model is compiled once, for all replicates at a time
(:mod:`pplmle.pymc.batch`): Newton's method runs on every dataset of a chunk
side by side, vectorized.  A fit that the batch cannot vouch for (no positive
definite Hessian, a gradient above the rule of :func:`pplmle.mle`, or a
direction along which the likelihood keeps rising) is refitted alone with the
full diagnostics of :func:`pplmle.mle`, and its warnings are recorded in the
``diagnostics`` column.

Reproducibility: replicate ``i`` draws from its own random stream,
``SeedSequence(seed, spawn_key=(i,))``, and the replicates are cut into fixed
chunks, so the estimates are identical whatever runs the chunks: this process,
a ``concurrent.futures`` process pool, or a Dask cluster (``executor=``).

Profile coverage: the profile interval at level ``1 - alpha`` covers the true
``theta_0`` exactly when the likelihood-ratio statistic
``2 (l(theta_hat) - l_p(theta_0))`` is at most ``chi2_1(1 - alpha)``; a
simulation therefore needs one constrained fit per parameter at the truth, not
the interval's two ends (the intervals of :meth:`MLEResult.conf_int` are these
sets when the profile has one peak).
"""

from __future__ import annotations

import sys
import uuid
import warnings
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import scipy.stats

from pplmle.core import diagnostics as dg
from pplmle.core import errors, messages
from pplmle.core import values as _values
from pplmle.core.errors import PPLMLEWarning
from pplmle.pymc import batch as _batch
from pplmle.pymc.batch import batch_engine
from pplmle.pymc.engine import portable, restore
from pplmle.pymc.families import Family
from pplmle.pymc.fitting import (
    FitContext,
    data_fingerprint,
    derived_labels,
    family_engine,
    fit_context,
    fit_from,
    labels_for,
    model_engine,
    observation_count,
)
from pplmle.pymc.kernel import GTOL

__all__ = ["BootstrapResult", "EstimateDistribution", "SimulationResult", "estimate_distribution", "simulate"]

_KINDS = ("parametric", "nonparametric")
#: diagnostics meaning that the MLE does not exist (see pplmle.core.diagnostics)
_NO_MLE = dg.NO_MLE


@dataclass
class _Study:
    """Everything a worker needs to run chunks of a study; pickled once per task."""

    kind: str  # "simulate", "parametric" or "nonparametric"
    source: Any  # a Family instance (the template) or a pm.Model
    free: dict[str, np.ndarray]  # natural-scale values of the free variables to draw from
    truth: np.ndarray | None  # flat reported values (for coverage), or None
    seed: Any
    gtol: float
    profile: bool
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: the reported Deterministics (derived quantities) of the estimate, computed for every replicate
    derived: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        # a pm.Model source travels as cloudpickle bytes inside the standard pickle
        return {**self.__dict__, "source": portable(self.source)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({**state, "source": restore(state["source"])})


# per process: the prepared runner of each study, so chunks after the first reuse its compiled functions
_RUNNERS: dict[str, _Runner] = {}


def _runner(study: _Study) -> _Runner:
    runner = _RUNNERS.get(study.token)
    if runner is None:
        while len(_RUNNERS) >= 4:  # keep the compiled functions of the latest few studies only
            del _RUNNERS[next(iter(_RUNNERS))]
        runner = _RUNNERS[study.token] = _Runner(study)
    return runner


def _run_chunk(payload: bytes | _Study, indices: list[int]) -> dict[str, Any]:
    """Worker entry point: fit replicates `indices` of the (pickled) study."""
    if isinstance(payload, bytes):
        import cloudpickle

        study: _Study = cloudpickle.loads(payload)
    else:
        study = payload
    return _runner(study).run(np.asarray(indices, dtype=int))


class _Runner:
    """Compiles a study's model once (batch and single-fit engines, data sampler) and fits chunks."""

    def __init__(self, study: _Study):

        source = study.source
        if isinstance(source, Family):
            engine = family_engine(source)
        else:
            engine = model_engine(source, "MLE", "raise")[0]
        with engine.lock:  # the setup sets the shared engine's data and compiles on it
            self._setup(study)

    def _setup(self, study: _Study) -> None:

        self.study = study
        source = study.source
        self.family = source if isinstance(source, Family) else None
        if self.family is not None:
            self.engine = family_engine(self.family)
            self.engine.set_data(self.family.data())
            self.labels = labels_for(self.engine, self.family.labels())
            self.n_obs = self.family.n_obs
            self.base_data = dict(self.family.data())
        else:
            self.engine, _ = model_engine(source, "MLE", "raise")
            self.labels = labels_for(self.engine, None)
            self.n_obs = observation_count(self.engine.model)
            self.base_data = {k: np.array(v, copy=True) for k, v in self.engine.data_snapshot().items()}
        self.derived = self.engine.with_derived(getattr(study, "derived", ()))
        model = self.engine.model
        self.observed = _observed_containers(model)
        if study.kind == "nonparametric":
            batched = list(self.base_data) if self.family is not None else _row_containers(model, self.n_obs)
        else:
            batched = list(self.observed.values())
        self.batched = list(batched)  # the containers each replicate replaces
        self.batch = batch_engine(self.engine, batched)  # None: the graph does not vectorize
        self.sampler: _Sampler | None = None
        if study.kind != "nonparametric":
            samplers = self.engine.__dict__.setdefault("_samplers", {})
            key = tuple(self.observed.items())
            if key not in samplers:
                samplers[key] = _Sampler(model, self.observed)
            self.sampler = samplers[key]

    # -- one replicate's data ------------------------------------------------------
    def _stream(self, i: int) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.study.seed, spawn_key=(int(i),))

    def replicate(self, i: int) -> Family | dict[str, np.ndarray]:
        """Replicate `i`'s data: a family instance, or the model's container values."""
        stream = self._stream(i)
        if self.study.kind == "nonparametric":
            rows = np.random.default_rng(stream).integers(0, self.n_obs, self.n_obs)
            if self.family is not None:
                return self.family.resample(rows)
            return {**self.base_data, **{k: self.base_data[k][rows] for k in self.batched}}
        assert self.sampler is not None  # every study but a nonparametric bootstrap has one
        draws = self.sampler.draw(self.study.free, stream)
        if self.family is not None:
            (value,) = draws.values()
            return self.family.with_response(value)
        return {**self.base_data, **draws}

    # -- a chunk -----------------------------------------------------------------------
    def run(self, indices: np.ndarray) -> dict[str, Any]:
        # the engines are shared with every fit of the same structure in this process
        with self.engine.lock:
            return self._run(indices)

    def _run(self, indices: np.ndarray) -> dict[str, Any]:

        c, m = indices.size, len(self.labels)
        out: dict[str, Any] = {
            "index": indices,
            "estimate": np.full((c, m), np.nan),
            "se": np.full((c, m), np.nan),
            "nll": np.full(c, np.nan),
            "converged": np.zeros(c, dtype=bool),
            "diagnostics": [""] * c,
            "warnings": [()] * c,
            "lr": np.full((c, m), np.nan),
            "u": [None] * c,
        }
        data: list[dict[str, np.ndarray]] = []
        starts: list[dict[str, Any]] = []
        fams: list[Family | None] = []
        batch_rows: list[int] = []
        single_rows: list[int] = []
        for r, i in enumerate(indices):
            try:
                rep = self.replicate(int(i))
            except ValueError as exc:  # a resample or draw the model cannot be fitted to
                out["diagnostics"][r] = f"invalid data: {exc}"
                # placeholders, never read: this row is in neither batch_rows nor single_rows
                data.append({})
                fams.append(None)
                starts.append({})
                continue
            if isinstance(rep, Family):
                fams.append(rep)
                data.append(rep.data())
                starts.append({**rep.start()})
                clean = not rep.findings()
            else:
                fams.append(None)
                data.append(rep)
                starts.append({})
                clean = True
            (batch_rows if clean and self.batch is not None else single_rows).append(r)

        saved = {k: np.array(v, copy=True) for k, v in self.engine.data_snapshot().items()}
        try:
            if batch_rows:
                assert self.batch is not None  # rows go to batch_rows only when there is a batch engine
                rows = np.asarray(batch_rows)
                bdata = {k: np.stack([data[r][k] for r in rows]) for k in self.batch.batched}
                U0 = np.stack([self._u0(starts[r]) for r in rows])
                U, _ = _batch.newton(self.batch, U0, bdata)
                res = _batch.assess(self.batch, U, bdata, self.study.gtol)
                good = res["ok"]
                g_rows = rows[good]
                out["estimate"][g_rows] = res["reported"][good]
                out["se"][g_rows] = np.sqrt(np.diagonal(res["cov"][good], axis1=1, axis2=2))
                out["nll"][g_rows] = -res["loglik"][good]
                out["converged"][g_rows] = True
                for r, u in zip(g_rows, U[good], strict=True):
                    out["u"][r] = u
                single_rows.extend(rows[~good].tolist())
                if self.study.truth is not None and self.study.profile and good.any():
                    sub = {k: v[good] for k, v in bdata.items()}
                    f_hat = res["objective"][good]
                    for j in range(m):
                        target = np.full(int(good.sum()), self.study.truth[j])
                        _, f_c, ok = _batch.constrained(self.batch, U[good], sub, j, target)
                        lr = 2.0 * (f_c - f_hat)
                        for r, val, okr in zip(g_rows, lr, ok, strict=True):
                            out["lr"][r, j] = val if okr else self._lr_single(data[r], out["u"][r], j)
            for r in sorted(single_rows):
                self._single(r, data[r], fams[r], starts[r], out)
            if self.derived.derived:
                self._add_derived(out, data)
        finally:
            self.engine.set_data(saved)
        del out["u"]
        return out

    def _add_derived(self, out: dict[str, Any], data: list[dict[str, np.ndarray]]) -> None:
        """Append each replicate's derived quantities (the Deterministics at its estimate, on its
        data) to its estimates; their standard errors and likelihood ratios are left NaN."""
        c = out["estimate"].shape[0]
        derived = np.full((c, len(self.derived_labels)), np.nan)
        for r in range(c):
            row = out["estimate"][r]
            if not np.all(np.isfinite(row)):
                continue
            self.engine.set_data(self._full_data(data[r]))
            with np.errstate(all="ignore"):
                derived[r] = self.derived.derived_from_natural(self.engine.unflatten(row))
        nan = np.full_like(derived, np.nan)
        out["estimate"] = np.hstack([out["estimate"], derived])
        out["se"] = np.hstack([out["se"], nan])
        out["lr"] = np.hstack([out["lr"], nan])

    @property
    def derived_labels(self) -> list[str]:
        return derived_labels(self.derived, self.labels)

    def _full_data(self, data: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {**self.base_data, **data}

    def _u0(self, start: Mapping[str, Any]) -> np.ndarray:
        """The unconstrained start: a family's data-based start (free variables), else the model's."""
        return self.engine.to_unconstrained(start) if start else self.engine.u_default

    def _single(self, r: int, data, fam: Family | None, start, out) -> None:
        """Refit replicate row `r` alone, with every diagnostic of mle(); record its warnings."""

        self.engine.set_data(self._full_data(data))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PPLMLEWarning)
            result = fit_from(
                self.engine,
                method="MLE",
                start_u=self._u0(start),
                n_starts=1,
                seed=None,
                optimizer="compiled",
                strict=False,
                progressbar=False,
                maxeval=5000,
                gtol=self.study.gtol,
                n_obs=fam.n_obs if fam is not None else self.n_obs,
                labels=self.labels,
                model_name="replicate",
                to_free=fam.to_free if fam is not None else None,
                findings=fam.findings() if fam is not None else None,
            )
        out["diagnostics"][r] = "; ".join(result.diagnostics) or ("" if result.converged else "not converged")
        out["warnings"][r] = tuple(
            sorted({w.category.__name__ for w in caught if issubclass(w.category, PPLMLEWarning)})
        )
        exists = not set(result.diagnostics) & _NO_MLE
        if not exists:  # where the optimizer stopped is not an estimate: leave the row NaN
            return
        out["estimate"][r] = result.vector(result.params)
        out["se"][r] = result.vector(result.se)
        out["nll"][r] = result.nll
        out["converged"][r] = result.converged
        exists = bool(np.all(np.isfinite(out["estimate"][r])))
        if self.study.truth is not None and self.study.profile and exists:
            for j in range(len(self.labels)):
                out["lr"][r, j] = self._lr_single(data, fit_context(result).u, j)

    def _lr_single(self, data, u_hat: np.ndarray, j: int) -> float:
        """The likelihood-ratio statistic at the truth for one replicate, one parameter (SLSQP + KKT)."""
        assert self.study.truth is not None  # only studies with a truth compute likelihood ratios
        self.engine.set_data(self._full_data(data))
        f_hat = self.engine.objective(u_hat)
        _, f_c, ok = self.engine.constrained_minimum(u_hat, [j], [self.study.truth[j]])
        return 2.0 * (f_c - f_hat) if ok and np.isfinite(f_hat) else np.nan


def _observed_containers(model: pm.Model) -> dict[str, str]:
    """For each observed variable, the name of the pm.Data container holding its values."""
    out = {}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        if value.owner is not None and len(value.owner.inputs) == 1:  # a dtype cast of the container
            value = value.owner.inputs[0]
        if value not in model.data_vars or not hasattr(value, "set_value"):
            raise ValueError(
                f"The observed values of `{rv.name}` must be a pm.Data container for repeated fits "
                f"(pm.Data('{rv.name}_data', values) and observed=that container); they are fixed "
                "constants in this model."
            )
        out[rv.name] = value.name
    return out


def _row_containers(model: pm.Model, n_obs: int) -> list[str]:
    """pm.Data containers whose first dimension is the number of observations (resampled by row)."""
    names = [
        v.name
        for v in model.data_vars
        if hasattr(v, "get_value") and np.ndim(v.get_value()) >= 1 and np.shape(v.get_value())[0] == n_obs
    ]
    if not names:
        raise ValueError(f"No pm.Data container has {n_obs} rows (one per observation) to resample.")
    return names


class _Sampler:
    """Draws the observed variables of a model at given free-variable values, with PyMC's RNGs."""

    def __init__(self, model: pm.Model, observed: Mapping[str, str]):
        from pymc.pytensorf import compile as pm_compile
        from pymc.pytensorf import find_rng_nodes, replace_rng_nodes
        from pytensor.graph.replace import graph_replace

        free = list(model.free_RVs)
        self.names = [rv.name for rv in free]
        inputs = [rv.type() for rv in free]
        outs = [model[name] for name in observed]
        outs = graph_replace(outs, dict(zip(free, inputs, strict=True)), strict=False)
        outs = replace_rng_nodes(outs)
        self.rngs = find_rng_nodes(outs)
        self.containers = list(observed.values())
        self.fn = pm_compile(inputs, outs, random_seed=0)

    def draw(self, free: Mapping[str, Any], stream: np.random.SeedSequence) -> dict[str, np.ndarray]:
        from pymc.pytensorf import reseed_rngs

        reseed_rngs(self.rngs, stream.generate_state(4))
        values = self.fn(*[free[name] for name in self.names])
        return {c: np.asarray(v) for c, v in zip(self.containers, values, strict=True)}


# ---------------------------------------------------------------------------------
# running a study


def _chunks(reps: int, size: int) -> list[list[int]]:
    return [list(range(s, min(s + size, reps))) for s in range(0, reps, size)]


def _run(study: _Study, reps: int, executor: Executor | None, progressbar: bool, chunk_size: int) -> dict:
    import cloudpickle

    # here the study itself; a pool gets it pickled (cloudpickle: a pm.Model needs it)
    payload = study if executor is None else cloudpickle.dumps(study)
    chunks = _chunks(reps, chunk_size)
    show = bool(progressbar) and sys.stderr.isatty()
    parts: list[dict] = []
    with _progress(show, reps) as advance:
        if executor is None:
            for idx in chunks:
                parts.append(_run_chunk(payload, idx))
                advance(len(idx))
        else:
            futures = [executor.submit(_run_chunk, payload, idx) for idx in chunks]
            for fut in futures:  # in order: the result does not depend on which finishes first
                parts.append(fut.result())
                advance(len(parts[-1]["index"]))
    merged = {}
    for key in parts[0]:
        values = [p[key] for p in parts]
        merged[key] = (
            np.concatenate(values) if isinstance(values[0], np.ndarray) else [v for p in values for v in p]
        )
    return merged


class _progress:
    """A rich progress bar over replicates (PyMC's own progress library), or nothing."""

    def __init__(self, show: bool, total: int):
        self.show, self.total = show, total

    def __enter__(self):
        if not self.show:
            return lambda k: None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.start()
        task = self._bar.add_task("fitting replicates", total=self.total)
        return lambda k: self._bar.advance(task, k)

    def __exit__(self, *exc):
        if self.show:
            self._bar.stop()
        return False


def _check_reps(reps: Any) -> int:
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 2:
        raise ValueError(f"`reps` must be a whole number >= 2; got {reps!r}.")
    return int(reps)


def _check_chunk(chunk_size: Any) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"`chunk_size` must be a whole number >= 1; got {chunk_size!r}.")
    return int(chunk_size)


def _check_executor(executor: Any) -> None:
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(
            f"`executor` must be a concurrent.futures.Executor (a process pool, or a Dask "
            f"client's get_executor()); got {type(executor).__name__}."
        )


def _seed(seed: Any) -> int:
    if seed is None:
        entropy = np.random.SeedSequence().entropy
        assert isinstance(entropy, int)  # fresh entropy from the OS is one int
        return entropy
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative whole number or None; got {seed!r}.")
    return int(seed)


def _dataset(study: _Study, reps: int, i: Any) -> Family | dict[str, np.ndarray]:
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < reps:
        raise ValueError(f"`i` must be a replicate number in 0..{reps - 1}; got {i!r}.")
    runner = _runner(study)
    with runner.engine.lock:
        return runner.replicate(int(i))


def _frame(merged: dict, labels: list[str], key: str) -> pd.DataFrame:
    return pd.DataFrame(merged[key], columns=labels, index=pd.Index(merged["index"], name="replicate"))


def _warn_summary(merged: dict, reps: int, what: str) -> None:
    """One warning per kind of problem met among the replicates, with the count."""

    counts: dict[str, int] = {}
    for names in merged["warnings"]:
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    invalid = sum(d.startswith("invalid data") for d in merged["diagnostics"])
    for name, count in sorted(counts.items()):
        errors.warn(messages.replicates_warned(count, reps, what, name), getattr(errors, name))
    if invalid:
        errors.warn(messages.replicates_invalid(invalid, reps, what), errors.ConvergenceWarning)


# ---------------------------------------------------------------------------------
# simulate


def _template(model: Any, n: int | None, family_kwargs: dict) -> Family | pm.Model:
    if isinstance(model, type) and issubclass(model, Family):
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
            raise ValueError(f"`n` must be a whole number >= 1; got {n!r}.")
        return model.template(None if n is None else int(n), **family_kwargs)  # regressions: n = len(X)
    if isinstance(model, Family):
        raise TypeError(
            "`model` must be a family class such as pl.Normal (not an instance) or a pm.Model; "
            "to study an estimate, use result.bootstrap()."
        )
    if isinstance(model, pm.Model):
        if family_kwargs:
            raise TypeError(f"Unexpected keyword argument(s) {sorted(family_kwargs)} for a pm.Model.")
        return model
    raise TypeError(f"`model` must be a pplmle family class or a pm.Model; got {type(model).__name__}.")


def _true_values(source: Family | pm.Model, true: Mapping[str, Any], n: int | None):
    """Validate `true`; return (free-variable values to draw from, flat reported truth, labels)."""

    if not isinstance(true, Mapping):
        raise TypeError(f"`true` must be a dict of parameter values by name; got {type(true).__name__}.")
    if isinstance(source, Family):
        names = list(source.param_names)
        engine = family_engine(source)
        engine.compile()
        to_free = source.to_free
        labels = labels_for(engine, source.labels())
        shapes = dict(zip(engine.reported, engine.reported_shapes, strict=True))
    else:
        engine, _ = model_engine(source, "MLE", "raise")
        engine.compile()
        names = list(engine.reported)
        labels = labels_for(engine, None)
        shapes = dict(zip(engine.reported, engine.reported_shapes, strict=True))

        def to_free(params):
            return dict(params)

        n_model = observation_count(engine.model)
        if n is not None and n != n_model:
            raise ValueError(
                f"`n` must be None or the model's number of observations ({n_model}) for a "
                f"pm.Model; got {n!r}. Resize its pm.Data containers with pm.set_data instead."
            )
    missing, unknown = set(names) - set(true), set(true) - set(names)
    if missing or unknown:
        raise ValueError(
            f"`true` must give every parameter, {names}; missing {sorted(missing)}, "
            f"unknown {sorted(unknown)}."
        )
    values = {}
    for name in names:
        arr = np.asarray(true[name], dtype=float)
        if arr.shape != shapes[name]:
            raise ValueError(f"`true[{name!r}]` must have shape {shapes[name]}; got {arr.shape}.")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`true[{name!r}]` must be finite; got {arr.tolist()}.")
        values[name] = arr
    free = to_free(values)
    try:
        with engine.lock:
            if isinstance(source, Family):
                engine.set_data(source.data())
            engine.to_unconstrained(free)
    except ValueError:
        shown = ", ".join(f"{k}: {v.tolist()}" for k, v in values.items())
        raise ValueError(f"`true` lies outside the parameters' support: {{{shown}}}.") from None
    free = {k: np.asarray(v, dtype=float) for k, v in free.items()}
    truth = np.concatenate([values[name].ravel() for name in engine.reported])
    return free, truth, labels


def simulate(
    model: Any,
    true: Mapping[str, Any],
    n: int | None = None,
    reps: int = 1000,
    seed: int | None = None,
    *,
    executor: Executor | None = None,
    progressbar: bool = True,
    profile: bool = True,
    gtol: float = GTOL,
    chunk_size: int = 100,
    **family_kwargs: Any,
) -> SimulationResult:
    """The sampling distribution of the MLE, by simulation: draw, refit, summarize.

    Draws `reps` datasets of size `n` from the model at the parameter values
    `true`, fits each with the model compiled once, and returns every estimate
    with :meth:`SimulationResult.summary`: bias, standard deviation, RMSE, mean
    standard error against the spread, and the coverage of the Wald and profile
    intervals.

    Parameters
    ----------
    model
        A family class (``pl.Normal``, ``pl.LinearRegression``, ...) or a
        ``pm.Model`` whose observed values are ``pm.Data`` containers (their
        current values give the shapes; covariates in other containers stay
        fixed).
    true
        Every parameter's true value, by name (natural scale).
    n
        Observations per dataset (families); for a ``pm.Model``, None or its
        current number of observations.
    reps
        Number of datasets.
    seed
        Seed of the study: replicate ``i`` uses ``SeedSequence(seed, spawn_key=(i,))``.
        None draws a fresh one (recorded on the result).
    executor
        A ``concurrent.futures.Executor`` to run the chunks on (a process pool,
        or ``dask.distributed.Client(...).get_executor()``); None runs them here.
        The estimates are the same either way.
    progressbar
        Show a progress bar (only when standard error is a terminal).
    profile
        Also compute the likelihood-ratio statistic at the truth, for the
        coverage of profile intervals (one constrained fit per parameter).
    gtol
        The convergence rule of :func:`pplmle.mle`.
    chunk_size
        Replicates per task.
    **family_kwargs
        What the family needs besides its response: ``X`` (and ``intercept``,
        ``offset``) for regressions, ``trials`` for Binomial, ``k`` for
        Categorical and SoftmaxRegression.

    Examples
    --------
    >>> import pplmle as pl
    >>> sim = pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": 1.0}, n=10, reps=200, seed=1,
    ...                   progressbar=False)
    >>> sim.estimates.shape
    (200, 4)
    """
    reps = _check_reps(reps)
    chunk_size = _check_chunk(chunk_size)
    _check_executor(executor)
    if not gtol > 0:
        raise ValueError(f"`gtol` must be positive; got {gtol!r}.")
    source = _template(model, n, family_kwargs)
    free, truth, labels = _true_values(source, true, n)
    seed = _seed(seed)
    study = _Study("simulate", source, free, truth, seed, float(gtol), bool(profile))
    merged = _run(study, reps, executor, progressbar, chunk_size)
    _warn_summary(merged, reps, "replicates")
    return SimulationResult(
        labels=labels,
        true=dict(zip(labels, truth.tolist(), strict=True)),
        n=source.n_obs if isinstance(source, Family) else None,
        reps=reps,
        seed=seed,
        _merged=merged,
        _study=study,
    )


@dataclass(frozen=True, repr=False, eq=False)
class SimulationResult(_values.Value):
    """The estimates of a simulation study and their summaries.

    Attributes
    ----------
    estimates
        One row per replicate: the estimates (columns = parameter labels),
        ``converged`` and ``diagnostics`` (empty when clean).
    se
        The standard error of each estimate (NaN where the Hessian could not give one).
    lr
        ``2 (l(theta_hat) - l_p(theta_0))`` per replicate and parameter: the
        likelihood-ratio statistic at the truth (NaN where not computed).
    true, n, reps, seed
        What was simulated.
    """

    labels: list[str]
    true: dict[str, float]
    n: int | None
    reps: int
    seed: int
    _merged: dict = field(repr=False)
    _study: _Study = field(repr=False, compare=False)

    @property
    def estimates(self) -> pd.DataFrame:
        out = _frame(self._merged, self.labels, "estimate")
        out["converged"] = self._merged["converged"]
        out["diagnostics"] = self._merged["diagnostics"]
        return out

    @property
    def se(self) -> pd.DataFrame:
        return _frame(self._merged, self.labels, "se")

    @property
    def lr(self) -> pd.DataFrame:
        return _frame(self._merged, self.labels, "lr")

    @property
    def nll(self) -> pd.Series:
        return pd.Series(self._merged["nll"], index=pd.Index(self._merged["index"], name="replicate"))

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Per parameter: the truth, the mean estimate, bias, sd, RMSE, standard errors and coverage.

        Columns: ``true``, ``mean``, ``bias``, ``bias mcse`` (Monte Carlo standard
        error of the bias, sd / sqrt(R)), ``sd``, ``rmse``, ``mean se``,
        ``se / sd`` (near 1 when the standard errors describe the spread),
        ``wald coverage``, ``profile coverage``, ``coverage mcse`` and ``used``
        (replicates with a converged estimate).  Replicates whose MLE does not
        exist (NaN estimates) or whose fit did not converge are left out; those
        without a standard error (a boundary estimate) are left out of the Wald
        coverage.
        """
        if not 0 < level < 1:
            raise ValueError(f"`level` must be strictly between 0 and 1; got {level!r}.")
        keep = self._merged["converged"][:, None]  # a fit that did not converge is not an estimate
        est = np.where(keep, self._merged["estimate"], np.nan)
        se = np.where(keep, self._merged["se"], np.nan)
        lr = np.where(keep, self._merged["lr"], np.nan)
        truth = np.array([self.true[lab] for lab in self.labels])
        z = scipy.stats.norm.ppf(0.5 + level / 2)
        cut = scipy.stats.chi2.ppf(level, 1)
        rows = []
        for j in range(len(self.labels)):
            e = est[:, j][np.isfinite(est[:, j])]
            used = e.size
            sd = float(np.std(e, ddof=1)) if used > 1 else np.nan
            has_se = np.isfinite(est[:, j]) & np.isfinite(se[:, j])
            wald = np.abs(est[has_se, j] - truth[j]) <= z * se[has_se, j]
            has_lr = np.isfinite(lr[:, j])
            prof = lr[has_lr, j] <= cut
            cover = wald.mean() if wald.size else np.nan
            rows.append(
                {
                    "true": truth[j],
                    "mean": float(np.mean(e)) if used else np.nan,
                    "bias": float(np.mean(e) - truth[j]) if used else np.nan,
                    "bias mcse": sd / np.sqrt(used) if used > 1 else np.nan,
                    "sd": sd,
                    "rmse": float(np.sqrt(np.mean((e - truth[j]) ** 2))) if used else np.nan,
                    "mean se": float(np.mean(se[has_se, j])) if has_se.any() else np.nan,
                    "se / sd": float(np.mean(se[has_se, j])) / sd if has_se.any() and sd > 0 else np.nan,
                    "wald coverage": cover,
                    "profile coverage": prof.mean() if prof.size else np.nan,
                    "coverage mcse": float(np.sqrt(level * (1 - level) / max(int(has_se.sum()), 1))),
                    "used": used,
                }
            )
        return pd.DataFrame(rows, index=pd.Index(self.labels, name="parameter"))

    def plot(self, name: str, *, square: bool = False, unit: str = "", ax: Any = None) -> Any:
        """Histogram of the estimates of `name` with the truth and the normal law the SEs claim;
        see :func:`pplmle.viz.plots.sampling_distribution`."""
        from pplmle.viz.plots import sampling_distribution

        return sampling_distribution(self, name, square=square, unit=unit, ax=ax)

    def dataset(self, i: int) -> Family | dict[str, np.ndarray]:
        """Replicate `i`'s data, drawn again from its own stream (identical to the one fitted)."""
        return _dataset(self._study, self.reps, i)

    def __repr__(self) -> str:
        head = f"SimulationResult: {self.reps} replicates" + (f" of n = {self.n}" if self.n else "")
        bad = int((~self._merged["converged"]).sum())
        note = f"; {bad} not converged or flagged (see estimates['diagnostics'])" if bad else ""
        return f"{head}, seed {self.seed}{note}\n{self.summary().round(4).to_string()}"

    def _repr_html_(self) -> str:
        return f"<p>{self.__repr__().splitlines()[0]}</p>" + self.summary().round(4).to_html()


@dataclass(frozen=True, repr=False, eq=False)
class EstimateDistribution(_values.Value):
    """The estimates of one parameter over a simulation's replicates, from :func:`estimate_distribution`.

    Attributes
    ----------
    name
        The parameter.
    square
        Whether the estimates (and the truth) are squared.
    values
        The estimates of the converged replicates (their squares when `square`).
    truth
        The true value (squared when `square`).
    se
        The standard error of each kept estimate (of its square by the delta
        method, ``2 |estimate| se``, when `square`; NaN where there is none).
    mean_se
        The mean standard error: the sd of the normal law the Wald interval assumes.
    """

    name: str
    square: bool
    values: np.ndarray
    truth: float
    se: np.ndarray
    mean_se: float

    @property
    def mean(self) -> float:
        """The mean estimate."""
        return float(self.values.mean())

    @property
    def bias(self) -> float:
        """The mean estimate minus the truth."""
        return self.mean - self.truth

    def claimed_pdf(self, points: Any) -> np.ndarray | None:
        """The density of ``N(truth, mean_se)`` at `points`; None without a positive mean se."""
        if not (np.isfinite(self.mean_se) and self.mean_se > 0):
            return None
        return scipy.stats.norm.pdf(np.asarray(points, dtype=float), self.truth, self.mean_se)

    def __repr__(self) -> str:
        what = f"{self.name}^2" if self.square else self.name
        return (
            f"EstimateDistribution of {what} over {self.values.size} replicates: truth {self.truth:.6g}, "
            f"mean {self.mean:.6g} (bias {self.bias:+.3g}), mean se {self.mean_se:.4g}"
        )


def estimate_distribution(sim: SimulationResult, name: str, *, square: bool = False) -> EstimateDistribution:
    """The estimates of `name` over the converged replicates of a simulation study, with the truth.

    Parameters
    ----------
    sim
        From :func:`simulate`.
    name
        A simulated parameter.
    square
        Square the estimates and the truth (``sigma_hat^2`` and its ``(n - 1) / n``
        bias); the standard errors follow by the delta method.

    Returns
    -------
    EstimateDistribution

    Examples
    --------
    >>> import pplmle as pl
    >>> from pplmle.workflows.simulation import estimate_distribution
    >>> true = {"mu": 0.0, "sigma": 2.0}
    >>> sim = pl.simulate(pl.Normal, true=true, n=10, reps=200, seed=1, progressbar=False)
    >>> d = estimate_distribution(sim, "sigma", square=True)
    >>> d.truth, d.values.size
    (4.0, 200)
    >>> round(d.mean / d.truth, 1)  # E[sigma_hat^2] = (n - 1) / n sigma^2
    0.9
    """
    if name not in sim.labels:
        raise ValueError(f"`name` must be one of the simulated parameters {sim.labels}; got {name!r}.")
    est = sim.estimates
    keep = est["converged"].to_numpy() & np.isfinite(est[name].to_numpy(float))
    values = est.loc[keep, name].to_numpy(float)
    truth = float(sim.true[name])
    se = sim.se.loc[keep, name].to_numpy(float)
    if square:
        values, truth, se = values**2, truth**2, 2 * np.abs(values) * se  # delta method
    return EstimateDistribution(
        name=name,
        square=bool(square),
        values=values,
        truth=truth,
        se=se,
        mean_se=float(np.nanmean(se)),
    )


# ---------------------------------------------------------------------------------
# bootstrap


def bootstrap(
    result: Any,
    reps: int = 1000,
    kind: str = "nonparametric",
    seed: int | None = None,
    *,
    executor: Executor | None = None,
    level: float = 0.95,
    progressbar: bool = True,
    chunk_size: int = 100,
) -> BootstrapResult:
    """Bootstrap standard errors and percentile intervals of an MLE; see :meth:`MLEResult.bootstrap`."""
    if getattr(result, "fixed", ()):
        raise ValueError(
            f"`bootstrap` refits the full model; this fit holds {list(result.fixed)} fixed. Bootstrap "
            "the full fit instead."
        )
    reps = _check_reps(reps)
    chunk_size = _check_chunk(chunk_size)
    _check_executor(executor)
    if kind not in _KINDS:
        raise ValueError(f"`kind` must be one of {_KINDS}; got {kind!r}.")
    if not 0 < level < 1:
        raise ValueError(f"`level` must be strictly between 0 and 1; got {level!r}.")
    ctx = result.context
    if result.method != "MLE" or not isinstance(ctx, FitContext) or ctx.source is None:
        raise ValueError("Only an MLE from pl.mle() can be bootstrapped (not a MAP or a failed fit).")
    if not np.all(np.isfinite(result.vector(result.params))) or any(
        d in result.diagnostics for d in dg.NO_MLE
    ):
        raise ValueError(
            f"The estimate does not exist ({', '.join(result.diagnostics)}): there is nothing to bootstrap."
        )
    source = ctx.source
    if isinstance(source, pm.Model):
        engine, _ = model_engine(source, "MLE", "raise")
        if data_fingerprint(engine.model) != result.data_key:
            raise ValueError(
                "The model's observed data changed (pm.set_data) since this estimate was made; "
                "bootstrap the estimate of the current data, or set the fitted data back."
            )
    free = ctx.free(result.params) if kind == "parametric" else {}
    free = {k: np.asarray(v, dtype=float) for k, v in free.items()}
    seed = _seed(seed)
    study = _Study(kind, source, free, None, seed, GTOL, False, derived=tuple(result.derived))
    merged = _run(study, reps, executor, progressbar, chunk_size)
    _warn_summary(merged, reps, "bootstrap fits")
    return BootstrapResult(
        result=result, kind=kind, reps=reps, seed=seed, level=level, _merged=merged, _study=study
    )


@dataclass(frozen=True, repr=False, eq=False)
class BootstrapResult(_values.Value):
    """Bootstrap replicates of an estimate: :attr:`table` has the layout of ``result.table()``.

    Attributes
    ----------
    table
        ``estimate`` (the MLE), ``se`` (the bootstrap standard error: sd of the
        replicates), the percentile interval at `level`, ``mle se`` (from the
        Hessian, for comparison), ``bias`` (mean replicate minus the MLE) and
        ``used`` (replicates with an estimate).
    estimates
        One row per bootstrap replicate.
    """

    result: Any
    kind: str
    reps: int
    seed: int
    level: float
    _merged: dict = field(repr=False)
    _study: _Study = field(repr=False, compare=False)

    def dataset(self, i: int) -> Family | dict[str, np.ndarray]:
        """Bootstrap sample `i`, drawn again from its own stream (identical to the one fitted)."""
        return _dataset(self._study, self.reps, i)

    @property
    def estimates(self) -> pd.DataFrame:
        out = _frame(self._merged, self.result.labels, "estimate")
        out["converged"] = self._merged["converged"]
        out["diagnostics"] = self._merged["diagnostics"]
        return out

    @property
    def table(self) -> pd.DataFrame:
        est = self._merged["estimate"]
        mle = self.result.vector(self.result.params)
        pct = f"{100 * self.level:g}%"
        a = (1 - self.level) / 2
        cols: dict[str, list[float]] = {k: [] for k in ("se", "lower", "upper", "bias", "used")}
        for j in range(len(mle)):
            e = est[:, j][np.isfinite(est[:, j])]
            cols["se"].append(float(np.std(e, ddof=1)) if e.size > 1 else np.nan)
            cols["lower"].append(float(np.quantile(e, a)) if e.size else np.nan)
            cols["upper"].append(float(np.quantile(e, 1 - a)) if e.size else np.nan)
            cols["bias"].append(float(np.mean(e) - mle[j]) if e.size else np.nan)
            cols["used"].append(e.size)
        out = pd.DataFrame(
            {
                "estimate": mle,
                "se": cols["se"],
                f"lower {pct}": cols["lower"],
                f"upper {pct}": cols["upper"],
                "mle se": self.result.vector(self.result.se),
                "bias": cols["bias"],
                "used": cols["used"],
            },
            index=pd.Index(self.result.labels),
        )
        if self.result.flags:
            out["flag"] = [self.result.flags.get(lab, "") for lab in out.index]
        return out

    def __repr__(self) -> str:
        return (
            f"BootstrapResult: {self.reps} {self.kind} replicates, seed {self.seed}, "
            f"percentile intervals\n{self.table.round(6).to_string()}"
        )

    def _repr_html_(self) -> str:
        return f"<p>{self.__repr__().splitlines()[0]}</p>" + self.table.round(6).to_html()

"""Smoke test of pplmle against the lowest dependency versions (run by .ci/lowest).

Real work through the public API only (``import pplmle as pl``): one line per check,
exit status 1 if any check fails.  Run it with the python of the venv under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)

failures: list[str] = []
passed: list[str] = []


# the warnings that pyproject.toml's pytest filterwarnings ignore; any other warning fails its check
HARMLESS = (
    "PyTensor could not link to a BLAS",
    "ArviZ is undergoing a major refactor",
    "The inplace keyword in DataFrame.sort_values",
)


def _harmless(w: warnings.WarningMessage) -> bool:
    text = str(w.message)
    return any(h in text for h in HARMLESS) or (
        issubclass(w.category, FutureWarning) and "arviz" in (w.filename or "")
    )


def check(name):
    """Run the decorated function now; print 'ok'/'FAIL' with its detail and time.

    A check fails on an exception or on any warning that the test suite would not ignore.
    """

    def run(fn):
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                detail = fn()
            bad = [w for w in caught if not _harmless(w)]
            if bad:
                first = str(bad[0].message).strip().splitlines()[0]
                raise AssertionError(
                    f"{len(bad)} unexpected warning(s), first {bad[0].category.__name__} from "
                    f"{bad[0].filename}:{bad[0].lineno}: {first}"
                )
        except Exception as exc:  # every failure is reported, then the exit status
            failures.append(name)
            print(f"FAIL  {name}: {type(exc).__name__}: {exc}", flush=True)
            if not isinstance(exc, AssertionError):
                traceback.print_exc(file=sys.stdout)
        else:
            passed.append(name)
            took = f"{time.perf_counter() - t0:.1f} s"
            print(f"ok    {name} ({took}){': ' + detail if detail else ''}", flush=True)
        return fn

    return run


def close(a, b, tol, what):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    err = float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))
    if not err <= tol:
        raise AssertionError(f"{what}: {a} vs {b} (rel. error {err:.3g} > {tol:g})")
    return err


import pymc as pm  # noqa: E402

import pplmle as pl  # noqa: E402

x = pl.datasets.heights()
rng = np.random.default_rng(20240601)
t = rng.normal(size=60)
y = 1.5 + 2.0 * t + rng.normal(scale=0.7, size=60)
design = np.column_stack([np.ones_like(t), t])
beta_ls = np.linalg.lstsq(design, y, rcond=None)[0]
t10 = np.arange(10.0)
design10 = np.column_stack([np.ones_like(t10), t10])
fits: dict = {}


@check("import pplmle")
def _():
    import arviz  # noqa: F401
    import matplotlib  # noqa: F401
    import pandas  # noqa: F401
    import pytensor
    import scipy  # noqa: F401
    import xarray  # noqa: F401

    return f"pplmle {pl.__version__}, pymc {pm.__version__}, pytensor {pytensor.__version__}"


@check("mle(Normal(heights)): converged, mu = mean, sigma = sqrt(mean sq. dev.)")
def _():
    res = pl.mle(pl.Normal(x))
    assert res.converged is True or res.converged == True, f"converged={res.converged}"  # noqa: E712
    close(res.params["mu"], x.mean(), 1e-8, "mu")
    close(res.params["sigma"], np.sqrt(np.mean((x - x.mean()) ** 2)), 1e-8, "sigma")
    se = res.se
    assert np.all(np.isfinite(np.asarray(list(se.values()) if isinstance(se, dict) else se, dtype=float)))
    fits["normal"] = res
    return f"mu={res.params['mu']:.10g}, sigma={res.params['sigma']:.8g}"


@check("mle(pm.Model) with Flat priors: linear regression on 2 coefficients = numpy lstsq")
def _():
    with pm.Model() as model:
        a = pm.Flat("a")
        b = pm.Flat("b")
        sigma = pm.HalfFlat("sigma")
        pm.Normal("h", a + b * t10, sigma, observed=x)
    res = pl.mle(model)
    assert res.converged, f"converged={res.converged}, diagnostics={res.diagnostics}"
    coef, ssr, *_ = np.linalg.lstsq(design10, x, rcond=None)
    close([res.params["a"], res.params["b"]], coef, 1e-6, "coefficients")
    close(res.params["sigma"], np.sqrt(ssr[0] / len(x)), 1e-6, "sigma")
    fits["line"] = res
    return f"a={res.params['a']:.10g}, b={res.params['b']:.10g}"


@check("mle(pm.Model) with coords/dims, pm.Data and informative priors (flattened)")
def _():
    with pm.Model(coords={"coef": ["intercept", "slope"], "obs": np.arange(len(y))}) as model:
        X = pm.Data("X", design, dims=("obs", "coef"))
        beta = pm.Normal("beta", 0.0, 0.1, dims="coef")  # a strong prior: mle() must ignore it
        sigma = pm.HalfNormal("sigma", 0.1)
        pm.Normal("y", pm.math.dot(X, beta), sigma, observed=y, dims="obs")
    res = pl.mle(model)
    assert res.converged, f"converged={res.converged}, diagnostics={res.diagnostics}"
    close(res.params["beta"], beta_ls, 1e-6, "beta")
    return f"beta={np.round(res.params['beta'], 8)}"


@check("compare(Normal): find_MAP, closed form and scipy agree")
def _():
    cmp = pl.compare(pl.Normal(x))
    assert cmp.agree, f"routes disagree:\n{cmp.table}"
    cmp.assert_agree()
    return f"{len(cmp.table.columns)} columns, routes agree"


@check("compare_models / lr_test: Normal family inside the user's line")
def _():
    normal, line = fits["normal"], fits["line"]
    table = pl.compare_models({"normal": normal, "line": line})
    assert set(table.index) == {"normal", "line"} and np.isclose(table["weight"].sum(), 1.0), table
    test = pl.lr_test(normal, line)
    ssr1 = np.linalg.lstsq(design10, x, rcond=None)[1][0]
    ssr0 = np.sum((x - x.mean()) ** 2)
    assert test.df == 1, test
    close(test.statistic, len(x) * np.log(ssr0 / ssr1), 1e-6, "LR statistic = n log(SSR0/SSR1)")
    return f"best by AIC: {table.index[0]}; LR statistic {test.statistic:.6g}, p = {test.p_value:.4g}"


@check("surface(Normal) on a grid and the profile likelihood / profile intervals")
def _():
    surf = pl.surface(pl.Normal(x), {"mu": np.arange(160.0, 181.0)}, {"sigma": 5.0})
    assert surf.argmax() == {"mu": 168.0}, surf.argmax()
    ll = np.asarray(surf.loglik)
    assert ll.shape == (21,) and np.all(np.isfinite(ll)), ll
    res = fits["normal"]
    prof = pl.profile(res, "mu")
    assert prof.dims == ("mu",)
    close(float(np.nanmax(prof.values)), prof.attrs["loglik_max"], 1e-8, "profile max")
    ci = res.conf_int(0.95, method="profile")
    lo, hi = ci.loc["mu"]
    assert lo < x.mean() < hi and ci.loc["sigma"].iloc[0] > 0, ci
    return f"mu profile 95% [{lo:.4f}, {hi:.4f}]"


@check("to_inference_data (ArviZ) and a plot (matplotlib)")
def _():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idata = fits["normal"].to_inference_data()
    assert hasattr(idata, "groups") and len(idata.groups()) > 0, idata
    surf = pl.surface(pl.Normal(x), {"mu": np.linspace(164, 172, 9), "sigma": np.linspace(3, 8, 6)})
    ax = surf.plot()
    ax.figure.savefig(Path(tempfile.mkdtemp()) / "surface.png")
    plt.close(ax.figure)
    return f"groups {list(idata.groups())}"


@check("simulate(Normal, reps=200): batched fits")
def _():
    sim = pl.simulate(pl.Normal, true={"mu": 0.0, "sigma": 1.0}, n=20, reps=200, seed=1)
    est = sim.estimates
    assert len(est) == 200 and bool(np.all(est["converged"])), est.head()
    summary = sim.summary()
    assert summary is not None and len(summary) > 0
    mean_mu = float(est["mu"].mean())
    assert abs(mean_mu) < 0.1, mean_mu
    return f"mean mu-hat {mean_mu:.4f}"


@check("`pplmle demo` (subprocess)")
def _():
    exe = Path(sys.executable).with_name("pplmle")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "demo.png"
        proc = subprocess.run(
            [str(exe), "demo", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "MPLBACKEND": "Agg"},
        )
        if proc.returncode != 0:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        assert "168" in proc.stdout, proc.stdout
        assert out.is_file() and out.stat().st_size > 1000, "no PNG written"
        warned = [line for line in proc.stderr.splitlines() if "Warning" in line]
        assert not warned, f"the demo warned: {warned[0]}"
    return f"exit 0, {len(proc.stdout.splitlines())} lines, PNG written"


# not pytest's "N passed, N failed" shape: CI's test count is pytest's, not this script's
n = len(passed) + len(failures)
print(
    f"smoke test: all {n} checks ok" if not failures else f"smoke test: {len(failures)} of {n} checks FAILED"
)
sys.exit(1 if failures else 0)

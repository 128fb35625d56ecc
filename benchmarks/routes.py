"""What the Levenberg-Marquardt route costs a user's Normal-response model.

``pl.mle`` fits a ``pm.Model`` along two routes (find_MAP then Newton; Newton from the start),
and, when every likelihood term is a ``pm.Normal`` observation and there are at most 16
parameters, along a third: Gauss-Newton curvature with a trust radius, then Newton. This script
times warm fits of the same models with the third route and without it (the engine's
``GAUSS_NEWTON_MAX_PARAMS`` set to 0 for the second copy of each model), alternated, medians,
and checks that both reach the same optimum where both converge.

Writes the section "## Routes (benchmarks/routes.py)" of ``benchmarks/RESULTS.md``
(``--no-write`` to print only).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

BLAS_THREADS = {v: os.environ.setdefault(v, "1") for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}

import numpy as np  # noqa: E402  (after the thread settings)
from many_params import write_section  # noqa: E402  (this directory is on sys.path as a script)
from ratios import fmt_time, machine  # noqa: E402

HEADING = "## Routes (benchmarks/routes.py)"


def models(pm):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(1000, 3))
    y_lin = 5.0 + X @ [1.0, 2.0, 3.0] + rng.normal(size=1000)
    s = np.array([0.02, 0.06, 0.11, 0.22, 0.56, 1.10] * 2)
    v = 0.2 * s / (0.06 + s) + rng.normal(0, 0.005, s.size)  # Michaelis-Menten
    x_pk = np.arange(400.0, 500.1, 2.5)
    y_pk = 1.5544 / 4.0888 * np.exp(-0.5 * ((x_pk - 451.54) / 4.0888) ** 2) + rng.normal(0, 0.002, x_pk.size)

    def linear():
        with pm.Model() as m:
            b, a, sigma = pm.Flat("b", shape=3), pm.Flat("a"), pm.HalfFlat("sigma")
            pm.Normal("y", a + pm.math.dot(X, b), sigma, observed=y_lin)
        return m, {}

    def michaelis_menten():
        with pm.Model() as m:
            vmax, km, sigma = pm.Flat("vmax"), pm.Flat("km"), pm.HalfFlat("sigma")
            pm.Normal("v", vmax * s / (km + s), sigma, observed=v)
        return m, {"vmax": 1.0, "km": 1.0, "sigma": 0.1}

    def gaussian_peak():  # Eckerle4-like, NIST start 1
        with pm.Model() as m:
            b1, b2, b3, sigma = pm.Flat("b1"), pm.Flat("b2"), pm.Flat("b3"), pm.HalfFlat("sigma")
            pm.Normal("y", b1 / b2 * pm.math.exp(-0.5 * ((x_pk - b3) / b2) ** 2), sigma, observed=y_pk)
        return m, {"b1": 1.0, "b2": 10.0, "b3": 500.0, "sigma": 0.1}

    return {
        "linear regression, p = 3, n = 1000": linear,
        "Michaelis-Menten, n = 12": michaelis_menten,
        "Gaussian peak (Eckerle4-like), n = 41": gaussian_peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5, help="timed warm fits per model and variant")
    parser.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import pymc as pm

    import pplmle as pl
    import pplmle.pymc.engine as engine_module

    rows = []
    for name, build in models(pm).items():
        variants = {}
        for label, limit in (("with", engine_module.GAUSS_NEWTON_MAX_PARAMS), ("without", 0)):
            saved = engine_module.GAUSS_NEWTON_MAX_PARAMS
            engine_module.GAUSS_NEWTON_MAX_PARAMS = limit
            try:
                model, start = build()
                t0 = time.perf_counter()
                res = pl.mle(model, start=start)  # the first fit compiles (timed apart)
                first = time.perf_counter() - t0
            finally:
                engine_module.GAUSS_NEWTON_MAX_PARAMS = saved
            variants[label] = {"model": model, "start": start, "first": first, "res": res, "times": []}
        for _ in range(args.reps):  # alternated
            for v in variants.values():
                t0 = time.perf_counter()
                v["res"] = pl.mle(v["model"], start=v["start"])
                v["times"].append(time.perf_counter() - t0)
        w, wo = variants["with"], variants["without"]
        same = ""
        if w["res"].converged and wo["res"].converged:
            a, b = w["res"].vector(w["res"].params), wo["res"].vector(wo["res"].params)
            same = f"{np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)):.1e}"
        rows.append(
            {
                "model": name,
                "with": statistics.median(w["times"]),
                "without": statistics.median(wo["times"]),
                "first with": w["first"],
                "first without": wo["first"],
                "conv": (w["res"].converged, wo["res"].converged),
                "nll": (w["res"].nll, wo["res"].nll),
                "same": same,
            }
        )
        print(f"{name} done", flush=True)
    lines = [
        "| model | warm fit, 3 routes | warm fit, 2 routes | ratio | first fit, 3 / 2 routes "
        "| converged (3 / 2) | NLL (3 / 2) | max rel. diff |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        warm = f"{fmt_time(r['with'])} | {fmt_time(r['without'])} | {r['with'] / r['without']:.2f}"
        first = f"{fmt_time(r['first with'])} / {fmt_time(r['first without'])}"
        verdict = f"{r['conv'][0]} / {r['conv'][1]} | {r['nll'][0]:.10g} / {r['nll'][1]:.10g}"
        lines.append(f"| {r['model']} | {warm} | {first} | {verdict} | {r['same'] or 'n/a'} |")
    text = (
        f"{HEADING}\n\nWarm `pl.mle` of user `pm.Model`s with the Levenberg-Marquardt (Gauss-Newton) route "
        f"and without it, alternated, median of {args.reps}; BLAS threads {BLAS_THREADS}. The first fits "
        "(compiles; the first model pays the process's first compile) are timed apart.\n\n"
        f"Machine: {machine()}\n\n" + "\n".join(lines) + "\n"
    )
    print(text)
    if not args.no_write:
        write_section(text, HEADING)


if __name__ == "__main__":
    main()

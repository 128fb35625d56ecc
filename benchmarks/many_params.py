"""pl.mle on a user pm.Model with many parameters: `python benchmarks/many_params.py`.

A linear regression written as a ``pm.Model`` (intercept, ``p`` coefficients, sigma; ``n`` rows,
X standard normal from a seeded generator, y = 1 + X @ beta_true + N(0, 1) noise), for
p = 10, 100, 300, 1000 by default.  For each p, side by side in one run (alternated, medians):

- ``pl.mle(model)`` warm: the model is built once, a first fit (compiles) is timed apart, then
  repeated fits of the same model are timed (``--reps``; from p = 1000 on, reduced to 1 if the
  first fit took over 60 s, which the table says);
- statsmodels ``sm.OLS(y, sm.add_constant(X)).fit()`` on the same data (many calls per rep);
- bare ``pm.find_MAP(model=model, progressbar=False)`` on the same model (it rebuilds its
  functions on every call).

Agreement is checked too: the largest relative difference of pl.mle's intercept and coefficients
from the OLS estimates, and ``converged``.  The log-log slope of each time against p (least
squares of log t on log p over the p measured) says how each scales.

Targets: p = 300 within 20x of OLS (pl.mle / OLS <= 20); p = 1000 within 3x of OLS warm (issue 16;
the first target, under 60 s, is implied).

The table is printed and written, with the date and the machine, to the section
"## Many parameters (benchmarks/many_params.py)" of ``benchmarks/RESULTS.md`` (replaced if it
exists, the rest of the file kept); ``--no-write`` skips that.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

# One BLAS thread unless the caller chose, as in ratios.py (set before numpy is imported).
BLAS_THREADS = {v: os.environ.setdefault(v, "1") for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}

import numpy as np  # noqa: E402  (after the thread settings)
from ratios import fmt_time, machine  # noqa: E402  (this directory is on sys.path as a script)

HERE = Path(__file__).resolve().parent
HEADING = "## Many parameters (benchmarks/many_params.py)"
# from p = SLOW_P on, a first fit over SLOW_FIRST_FIT s leaves one warm fit to time (at small p the
# first fit can take that long only because it pays the process's first compile, on a cold cache)
SLOW_P, SLOW_FIRST_FIT = 1000, 60.0
# per alternated rep: OLS calls until OLS_BUDGET s are spent, at least OLS_MIN and at most OLS_MAX calls
OLS_BUDGET, OLS_MIN, OLS_MAX = 0.5, 3, 50
TARGETS = {  # p: (target, check of a row)
    300: ("pl.mle / OLS <= 20", lambda r: r["mle"] / r["ols"] <= 20),
    1000: ("pl.mle / OLS <= 3", lambda r: r["mle"] / r["ols"] <= 3),
}


def make_data(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, p])
    X = rng.standard_normal((n, p))
    # coefficients away from zero, so that relative differences of the estimates mean something
    beta_true = rng.choice([-1.0, 1.0], size=p) * rng.uniform(0.5, 1.5, size=p)
    y = 1.0 + X @ beta_true + rng.standard_normal(n)
    return X, y


def build_model(pm, X: np.ndarray, y: np.ndarray):
    p = X.shape[1]
    with pm.Model() as m:
        X_data = pm.Data("X", X)
        a = pm.Normal("intercept", 0, 10)
        beta = pm.Normal("beta", 0, 10, shape=p)
        sigma = pm.HalfNormal("sigma", 10)
        pm.Normal("y", a + X_data @ beta, sigma, observed=y)
    return m


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def coefs(params) -> np.ndarray:
    return np.concatenate([[float(params["intercept"])], np.ravel(params["beta"])])


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def measure(pl, pm, sm, n: int, p: int, reps: int, seed: int) -> dict:
    X, y = make_data(n, p, seed)
    model = build_model(pm, X, y)

    def mle():
        return pl.mle(model)

    def ols():
        return sm.OLS(y, sm.add_constant(X)).fit()

    def find_map():
        return pm.find_MAP(model=model, progressbar=False)

    # first fits, untimed in the medians: pl.mle compiles; OLS and find_MAP warm up too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t_first, res = timed(mle)
    warned = sorted({w.category.__name__ for w in caught if issubclass(w.category, pl.PPLMLEWarning)})
    ols_res = ols()
    map_res = find_map()
    note = ""
    if p >= SLOW_P and t_first > SLOW_FIRST_FIT and reps > 1:
        note = f"reps reduced from {reps} to 1: the first fit took {t_first:.0f} s (> {SLOW_FIRST_FIT:.0f} s)"
        reps = 1

    ref = np.asarray(ols_res.params)
    t_mle, t_ols, t_map = [], [], []
    converged, rel = [res.converged], [max_rel(coefs(res.params), ref)]
    for _ in range(reps):
        t, r = timed(mle)
        t_mle.append(t)
        converged.append(r.converged)
        rel.append(max_rel(coefs(r.params), ref))
        spent = 0.0
        for k in range(OLS_MAX):
            t_ols.append(timed(ols)[0])
            spent += t_ols[-1]
            if spent >= OLS_BUDGET and k + 1 >= OLS_MIN:
                break
        t_map.append(timed(find_map)[0])

    return {
        "p": p,
        "reps": reps,
        "n_ols": len(t_ols),
        "first": t_first,
        "mle": statistics.median(t_mle),
        "ols": statistics.median(t_ols),
        "map": statistics.median(t_map),
        "rel": max(rel),
        "rel_map": max_rel(coefs(map_res), ref),
        "converged": all(converged),
        "warned": warned,
        "note": note,
    }


def slope(xs: list[int], ts: list[float], what: str = "p") -> str:
    """The log-log slope of times `ts` against sizes `xs` (least squares), "n/a" for one size."""
    if len(set(xs)) < 2:
        return f"n/a (one {what})"
    return f"{np.polyfit(np.log(xs), np.log(ts), 1)[0]:.2f}"


def table(rows: list[dict]) -> str:
    lines = [
        "| p | reps | pl.mle first fit | pl.mle warm | OLS | find_MAP | pl.mle / OLS | pl.mle / find_MAP "
        "| max rel diff vs OLS | converged | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        target, check = TARGETS.get(r["p"], ("", None))
        met = "" if check is None else ("yes" if check(r) else "**no**")
        reps = f"{r['reps']}*" if r["note"] else str(r["reps"])
        lines.append(
            f"| {r['p']} | {reps} | {fmt_time(r['first'])} | {fmt_time(r['mle'])} | {fmt_time(r['ols'])} "
            f"| {fmt_time(r['map'])} | {r['mle'] / r['ols']:.3g} | {r['mle'] / r['map']:.3g} "
            f"| {r['rel']:.1e} | {'yes' if r['converged'] else '**no**'} | {target} | {met} |"
        )
    return "\n".join(lines)


def notes(rows: list[dict]) -> list[str]:
    ps = [r["p"] for r in rows]
    out = [
        "- log-log slope of time against p (least squares of log t on log p, p = "
        f"{', '.join(map(str, ps))}): pl.mle warm {slope(ps, [r['mle'] for r in rows])}, "
        f"find_MAP {slope(ps, [r['map'] for r in rows])}, OLS {slope(ps, [r['ols'] for r in rows])}",
        "- OLS is the median of "
        + ", ".join(f"{r['n_ols']} calls (p = {r['p']})" for r in rows)
        + "; find_MAP's largest relative difference from OLS (a MAP under the Normal(0, 10) priors): "
        + ", ".join(f"{r['rel_map']:.1e} (p = {r['p']})" for r in rows),
    ]
    for r in rows:
        if r["note"]:
            out.append(f"- \\* p = {r['p']}: {r['note']}")
        if r["warned"]:
            out.append(f"- p = {r['p']}: the first pl.mle fit warned {', '.join(r['warned'])}")
    missing = [f"p = {p}" for p in TARGETS if p not in ps]
    if missing:
        out.append(f"- not measured in this run, so their targets are not checked: {', '.join(missing)}")
    return out


def write_section(text: str, heading: str = HEADING) -> None:
    """Replace the section under `heading` of RESULTS.md by `text` (or append it)."""
    path = HERE / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    lines = old.splitlines()
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        before, after = lines[:start], lines[end:]
    else:
        before, after = lines, []
    before = "\n".join(before).rstrip("\n")
    after = "\n".join(after).strip("\n")
    new = f"{before}\n\n{text.rstrip()}\n" + (f"\n{after}\n" if after else "")
    path.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--p", type=int, nargs="+", default=[10, 100, 300, 1000], help="numbers of coefficients"
    )
    parser.add_argument("--n", type=int, default=5000, help="rows (default 5000)")
    parser.add_argument("--reps", type=int, default=3, help="timed warm fits per p (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    args = parser.parse_args()
    if args.reps < 1 or args.n < 2 or min(args.p) < 1:
        parser.error("--reps, --n and every --p must be positive (n >= 2)")

    warnings.simplefilter("ignore")
    start = time.perf_counter()
    import pymc as pm
    import statsmodels
    import statsmodels.api as sm

    import pplmle as pl

    rows = []
    for p in args.p:
        rows.append(measure(pl, pm, sm, args.n, p, args.reps, args.seed))
        print(f"p = {p} done ({time.perf_counter() - start:.0f} s)", flush=True)
    total = time.perf_counter() - start
    tab, extra = table(rows), "\n".join(notes(rows))
    print()
    print(tab)
    print(extra)
    print(f"\ntotal {total:.0f} s")
    if args.no_write:
        return
    command = " ".join(["python", "benchmarks/many_params.py", *sys.argv[1:]])
    write_section(
        f"""{HEADING}

Written by `{command}` on {datetime.date.today().isoformat()} ({total:.0f} s in all), n = {args.n}.
Per p, the three are run alternately on the same model and data; times are medians (pl.mle
warm: the model built once, its first fit timed apart).  Targets: p = 300 within 20x of
statsmodels OLS, p = 1000 within 3x of it warm.

Machine: {machine()}; statsmodels {statsmodels.__version__}

{tab}

{extra}
"""
    )


if __name__ == "__main__":
    main()

"""Linear mixed models against statsmodels' MixedLM: `python benchmarks/mixed.py`.

``pl.mle(model, marginalize=["a"])`` on a ``pm.Model`` with Normal group intercepts
``a ~ Normal(mu_a, sigma_a)`` (integrated out by Laplace, exact for a linear mixed model), and
``smf.mixedlm("y ~ x", df, groups=...).fit(reml=False)`` on the same data, on:

- **radon**: the Minnesota radon data shipped with ArviZ (919 houses, 85 counties; log radon
  on the floor of the measurement);
- **simulated** random-intercept models with G groups, 10 observations per group and one
  covariate (true mu_a 1, b 0.5, sigma_a 0.5, sigma_y 1; seeded), for G = 100, 300, 1000, 3000 by
  default (``--groups``).

For each model, side by side in one run (alternated, medians of ``--reps``): ``pl.mle`` warm (the
model built once, its first fit, which compiles, timed apart; from G = 1000 on, reps reduced to
1 if that first fit took over 120 s, which the table says) and MixedLM's ML fit (many calls per
rep when a call is short). Agreement is checked too: the largest relative difference of the
fixed effects (mu_a, b against ``fe_params``), of the variances (sigma_a**2 against ``cov_re``,
sigma_y**2 against ``scale``) and of the log-likelihood (against ``llf``), and ``converged``.
The log-log slope of each warm time against G (least squares of log t on log G over the
simulated models) says how each cost grows with the number of groups.

The table is printed and written, with the date and the machine, to the section
"## Mixed models (benchmarks/mixed.py)" of ``benchmarks/RESULTS.md`` (replaced if it exists, the
rest of the file kept); ``--no-write`` skips that.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

# One BLAS thread unless the caller chose, as in ratios.py (set before numpy is imported).
BLAS_THREADS = {v: os.environ.setdefault(v, "1") for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}

import numpy as np  # noqa: E402  (after the thread settings)
import pandas as pd  # noqa: E402
from many_params import slope, timed, write_section  # noqa: E402  (this directory is on sys.path as a script)
from ratios import fmt_time, machine  # noqa: E402

HEADING = "## Mixed models (benchmarks/mixed.py)"
PER_GROUP = 10  # observations per group of a simulated model
TRUE = {"mu_a": 1.0, "b": 0.5, "sigma_a": 0.5, "sigma_y": 1.0}
# from G = SLOW_G on, a first fit over SLOW_FIRST_FIT s leaves one warm fit to time
SLOW_G, SLOW_FIRST_FIT = 1000, 120.0
# per alternated rep: MixedLM calls until SM_BUDGET s are spent, at least SM_MIN and at most SM_MAX
SM_BUDGET, SM_MIN, SM_MAX = 0.5, 1, 20


def radon_data() -> dict:
    import arviz

    path = Path(arviz.__file__).parent / "data" / "example_data" / "code" / "radon" / "radon.json"
    d = json.loads(path.read_text())
    return {
        "y": np.array(d["y"], dtype=float),
        "x": np.array(d["x"], dtype=float),
        "group": np.array(d["county"]),
        "names": list(d["county_name"]),
    }


def simulated_data(groups: int, seed: int) -> dict:
    rng = np.random.default_rng([seed, groups])
    group = np.repeat(np.arange(groups), PER_GROUP)
    x = rng.standard_normal(group.size)
    a = TRUE["mu_a"] + TRUE["sigma_a"] * rng.standard_normal(groups)
    y = a[group] + TRUE["b"] * x + TRUE["sigma_y"] * rng.standard_normal(group.size)
    return {"y": y, "x": x, "group": group, "names": [f"g{j}" for j in range(groups)]}


def build_model(pm, d: dict):
    with pm.Model(coords={"group": d["names"]}) as model:
        mu_a = pm.Normal("mu_a", 0.0, 10.0)
        b = pm.Normal("b", 0.0, 10.0)
        sigma_a = pm.HalfNormal("sigma_a", 1.0)
        a = pm.Normal("a", mu_a, sigma_a, dims="group")
        sigma_y = pm.HalfNormal("sigma_y", 1.0)
        pm.Normal("y", a[d["group"]] + b * d["x"], sigma_y, observed=d["y"])
    return model


def rel(a, b) -> float:
    a, b = np.atleast_1d(np.asarray(a, dtype=float)), np.atleast_1d(np.asarray(b, dtype=float))
    return float(np.max(np.abs(a - b) / np.abs(b)))


def agreement(res, sm_res) -> dict:
    p = res.params
    return {
        "fe": rel([p["mu_a"], p["b"]], sm_res.fe_params.to_numpy()),
        "var": max(
            rel(p["sigma_a"] ** 2, sm_res.cov_re.to_numpy()[0, 0]), rel(p["sigma_y"] ** 2, sm_res.scale)
        ),
        "ll": rel(res.loglik, sm_res.llf),
        "dll": float(res.loglik - sm_res.llf),
    }


def measure(pl, pm, smf, label: str, d: dict, reps: int) -> dict:
    groups = len(d["names"])
    model = build_model(pm, d)
    df = pd.DataFrame({"y": d["y"], "x": d["x"], "group": d["group"]})

    def mle():
        return pl.mle(model, marginalize=["a"])

    def mixedlm():
        return smf.mixedlm("y ~ x", df, groups="group").fit(reml=False)

    # first fits, untimed in the medians: pl.mle compiles; MixedLM warms up too
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t_first, res = timed(mle)
    warned = sorted({w.category.__name__ for w in caught if issubclass(w.category, pl.PPLMLEWarning)})
    sm_res = mixedlm()
    note = ""
    if groups >= SLOW_G and t_first > SLOW_FIRST_FIT and reps > 1:
        note = f"reps reduced from {reps} to 1: the first fit took {t_first:.0f} s (> {SLOW_FIRST_FIT:.0f} s)"
        reps = 1

    t_mle, t_sm, converged, agree = [], [], [res.converged], [agreement(res, sm_res)]
    for _ in range(reps):
        t, res = timed(mle)
        t_mle.append(t)
        converged.append(res.converged)
        agree.append(agreement(res, sm_res))
        spent = 0.0
        for k in range(SM_MAX):
            t, sm_res = timed(mixedlm)
            t_sm.append(t)
            spent += t
            if spent >= SM_BUDGET and k + 1 >= SM_MIN:
                break

    return {
        "label": label,
        "G": groups,
        "n": d["y"].size,
        "reps": reps,
        "n_sm": len(t_sm),
        "first": t_first,
        "mle": statistics.median(t_mle),
        "sm": statistics.median(t_sm),
        "n_eval": res.n_eval,
        "n_iter": res.n_iter,
        "fe": max(a["fe"] for a in agree),
        "var": max(a["var"] for a in agree),
        "ll": max(a["ll"] for a in agree),
        "dll": agree[-1]["dll"],
        "converged": all(converged),
        "sm_converged": bool(sm_res.converged),
        "warned": warned,
        "note": note,
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| model | G | n | reps | pl.mle first fit | pl.mle warm | MixedLM | pl.mle / MixedLM | n_eval "
        "| n_iter | max rel diff fixed effects | variances | loglik | converged |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        reps = f"{r['reps']}*" if r["note"] else str(r["reps"])
        lines.append(
            f"| {r['label']} | {r['G']} | {r['n']} | {reps} | {fmt_time(r['first'])} | {fmt_time(r['mle'])} "
            f"| {fmt_time(r['sm'])} | {r['mle'] / r['sm']:.3g} | {r['n_eval']} | {r['n_iter']} "
            f"| {r['fe']:.1e} | {r['var']:.1e} | {r['ll']:.1e} | {'yes' if r['converged'] else '**no**'} |"
        )
    return "\n".join(lines)


def notes(rows: list[dict]) -> list[str]:
    sim = [r for r in rows if r["label"] == "simulated"]
    gs = [r["G"] for r in sim]
    out = []
    if sim:
        out.append(
            "- log-log slope of warm time against G (least squares of log t on log G, simulated, G = "
            f"{', '.join(map(str, gs))}): pl.mle {slope(gs, [r['mle'] for r in sim], 'G')}, "
            f"MixedLM {slope(gs, [r['sm'] for r in sim], 'G')}"
        )
    out.append(
        "- MixedLM is the median of "
        + ", ".join(f"{r['n_sm']} calls ({r['label']}, G = {r['G']})" for r in rows)
        + "; pl.mle loglik - MixedLM llf: "
        + ", ".join(f"{r['dll']:.1e} ({r['label']}, G = {r['G']})" for r in rows)
    )
    for r in rows:
        if r["note"]:
            out.append(f"- \\* G = {r['G']}: {r['note']}")
        if r["warned"]:
            out.append(f"- {r['label']}, G = {r['G']}: the first pl.mle fit warned {', '.join(r['warned'])}")
        if not r["sm_converged"]:
            out.append(f"- {r['label']}, G = {r['G']}: MixedLM reported that it did not converge")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--groups", type=int, nargs="+", default=[100, 300, 1000, 3000], help="groups of the simulated models"
    )
    parser.add_argument("--reps", type=int, default=3, help="timed warm fits per model (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-radon", action="store_true", help="only the simulated models")
    parser.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    args = parser.parse_args()
    if args.reps < 1 or min(args.groups) < 2:
        parser.error("--reps must be positive and every --groups at least 2")

    warnings.simplefilter("ignore")
    start = time.perf_counter()
    import pymc as pm
    import statsmodels
    import statsmodels.formula.api as smf

    import pplmle as pl

    cases = [] if args.no_radon else [("radon", radon_data)]
    cases += [("simulated", lambda g=g: simulated_data(g, args.seed)) for g in args.groups]
    rows = []
    for label, data in cases:
        rows.append(measure(pl, pm, smf, label, data(), args.reps))
        r = rows[-1]
        print(
            f"{label}, G = {r['G']} done ({time.perf_counter() - start:.0f} s): "
            f"first {fmt_time(r['first'])}, warm {fmt_time(r['mle'])}, MixedLM {fmt_time(r['sm'])}",
            flush=True,
        )
    total = time.perf_counter() - start
    load = os.getloadavg()[0]
    tab, extra = table(rows), "\n".join(notes(rows))
    print()
    print(tab)
    print(extra)
    print(f"\ntotal {total:.0f} s; load average {load:.2f}")
    if args.no_write:
        return
    command = " ".join(["python", "benchmarks/mixed.py", *sys.argv[1:]])
    write_section(
        f"""{HEADING}

Written by `{command}` on {datetime.date.today().isoformat()} ({total:.0f} s in all).
`pl.mle(model, marginalize=["a"])` (group intercepts integrated out, exact for a linear mixed
model) against `smf.mixedlm("y ~ x", df, groups=...).fit(reml=False)` on the same data: radon
(919 houses, 85 counties) and simulated random-intercept models ({PER_GROUP} observations per
group, one covariate). Per model the two are run alternately; times are medians (pl.mle warm:
the model built once, its first fit timed apart). Differences are relative to MixedLM's.

Machine: {machine()}; statsmodels {statsmodels.__version__}; load average {load:.2f} at the end

{tab}

{extra}
""",
        HEADING,
    )


if __name__ == "__main__":
    main()

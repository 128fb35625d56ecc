"""Everyday fits against statsmodels: `python benchmarks/everyday.py`.

Side by side in one run (alternated, medians of ``--reps``), on data from seeded generators:

- **refit**: a second fit of a 10-parameter user ``pm.Model`` (a linear regression: intercept,
  8 coefficients, sigma; n = 1000) with ``pl.mle`` (find_MAP then Newton, every route, on the
  functions its first fit compiled), with ``optimizer="compiled"``, and bare ``pm.find_MAP`` on
  the same model, against ``sm.OLS(...).fit()``. Target: ``pl.mle`` <= 2 x OLS + 20 ms.
- **GLMs at n = 20,000**: the families ``LogisticRegression`` and ``PoissonRegression`` and user
  ``pm.Model`` GLMs (Poisson, negative binomial and logistic regressions, a Gamma regression with a
  log link; 5 coefficients and the intercept), each fitted warm (its first fit, which compiles,
  timed apart) against statsmodels' ``GLM(...).fit()`` (``NegativeBinomial(...).fit()`` for the
  negative binomial, whose dispersion statsmodels estimates by ML too). Target: <= 3 x statsmodels.

Agreement is checked too: the largest relative difference of the coefficients from statsmodels'.

The table is printed and written, with the date and the machine, to the section
"## Everyday fits (benchmarks/everyday.py)" of ``benchmarks/RESULTS.md`` (replaced if it exists,
the rest of the file kept); ``--no-write`` skips that.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time
import warnings

# One BLAS thread unless the caller chose, as in ratios.py (set before numpy is imported).
BLAS_THREADS = {v: os.environ.setdefault(v, "1") for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}

import numpy as np  # noqa: E402  (after the thread settings)
from many_params import timed, write_section  # noqa: E402  (this directory is on sys.path as a script)
from ratios import fmt_time, machine  # noqa: E402

HEADING = "## Everyday fits (benchmarks/everyday.py)"
N_GLM, P_GLM = 20_000, 5


def alternate(fns: dict, reps: int) -> dict[str, float]:
    """Median time of each function, the functions called in turn `reps` times."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            times[name].append(timed(fn)[0])
    return {k: statistics.median(v) for k, v in times.items()}


def per_call(fn, budget: float = 0.3, most: int = 200) -> float:
    """Time of one call of a fast function, averaged over calls until `budget` s are spent."""
    calls, start = 0, time.perf_counter()
    while calls < most and (calls < 3 or time.perf_counter() - start < budget):
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def glm_data(kind: str, seed: int):
    rng = np.random.default_rng([seed, len(kind)])
    X = rng.standard_normal((N_GLM, P_GLM))
    beta = np.array([0.3, -0.2, 0.15, 0.1, -0.25])
    eta = 0.5 + X @ beta
    if kind == "logistic":
        y = (rng.uniform(size=N_GLM) < 1 / (1 + np.exp(-eta))).astype(float)
    elif kind == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    elif kind == "negbin":  # NB2 with alpha = 0.5: variance mu + 0.5 mu^2
        mu = np.exp(eta)
        y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu)).astype(float)
    else:  # gamma, shape 2, log link
        y = rng.gamma(2.0, np.exp(eta) / 2.0)
    return X, y


def user_glm(pm, kind: str, X, y):
    with pm.Model(coords={"coef": [f"x{j}" for j in range(X.shape[1])]}) as model:
        a = pm.Normal("intercept", 0.0, 10.0)
        b = pm.Normal("beta", 0.0, 10.0, dims="coef")
        eta = a + pm.math.dot(X, b)
        if kind == "logistic":
            pm.Bernoulli("y", logit_p=eta, observed=y)
        elif kind == "poisson":
            pm.Poisson("y", pm.math.exp(eta), observed=y)
        elif kind == "negbin":
            alpha = pm.HalfNormal("alpha", 1.0)  # NB2 dispersion: PyMC's alpha is 1 / alpha
            pm.NegativeBinomial("y", mu=pm.math.exp(eta), alpha=1.0 / alpha, observed=y)
        else:
            shape = pm.HalfNormal("shape", 5.0)
            pm.Gamma("y", alpha=shape, beta=shape / pm.math.exp(eta), observed=y)
    return model


def statsmodels_fit(sm, kind: str, X, y):
    Xc = sm.add_constant(X)
    if kind == "negbin":
        return lambda: sm.NegativeBinomial(y, Xc).fit(disp=0)
    family = {
        "logistic": sm.families.Binomial(),
        "poisson": sm.families.Poisson(),
        "gamma": sm.families.Gamma(sm.families.links.Log()),
    }[kind]
    return lambda: sm.GLM(y, Xc, family=family).fit()


def coefficients(res) -> np.ndarray:
    if "intercept" in res.params:
        return np.concatenate([[res.params["intercept"]], np.ravel(res.params["beta"])])
    return np.ravel(res.params["beta"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    began = time.perf_counter()
    warnings.filterwarnings("ignore")
    import pymc as pm
    import statsmodels.api as sm

    import pplmle as pl

    rows = []
    # -- refit of a 10-parameter user model ------------------------------------------------------
    rng = np.random.default_rng(10)
    X = rng.standard_normal((1000, 8))
    y = 1.0 + X @ rng.uniform(-1.0, 1.0, 8) + rng.standard_normal(1000)
    with pm.Model() as model:
        a = pm.Normal("intercept", 0.0, 10.0)
        b = pm.Normal("beta", 0.0, 10.0, shape=8)
        s = pm.HalfNormal("sigma", 5.0)
        pm.Normal("y", a + pm.math.dot(X, b), s, observed=y)
    first, res = timed(lambda: pl.mle(model))
    ols = sm.OLS(y, sm.add_constant(X)).fit()
    diff = float(np.max(np.abs(coefficients(res) / ols.params - 1)))
    t = alternate(
        {
            "mle": lambda: pl.mle(model),
            "compiled": lambda: pl.mle(model, optimizer="compiled"),
            "find_map": lambda: pm.find_MAP(model=model, progressbar=False),
        },
        args.reps,
    )
    t_ols = statistics.median(per_call(lambda: sm.OLS(y, sm.add_constant(X)).fit()) for _ in range(args.reps))
    bound = 2 * t_ols + 0.020
    rows.append(
        [
            "second fit, user linear regression, 10 parameters, n = 1000",
            fmt_time(first),
            fmt_time(t["mle"]),
            f"{fmt_time(t['compiled'])}; bare find_MAP {fmt_time(t['find_map'])}",
            f"OLS {fmt_time(t_ols)}",
            f"{t['mle'] / t_ols:.3g}",
            f"{diff:.1e}",
            "yes" if res.converged else "NO",
            f"<= 2 x OLS + 20 ms = {fmt_time(bound)}",
            "yes" if t["mle"] <= bound else "**no**",
        ]
    )
    print(rows[-1], flush=True)

    # -- GLMs at n = 20,000 ------------------------------------------------------------------------
    cases = [
        ("LogisticRegression (family)", "logistic", lambda X, y: pl.LogisticRegression(X, y)),
        ("PoissonRegression (family)", "poisson", lambda X, y: pl.PoissonRegression(X, y)),
        ("user Poisson regression", "poisson", None),
        ("user negative binomial regression", "negbin", None),
        ("user logistic regression", "logistic", None),
        ("user Gamma regression (log link)", "gamma", None),
    ]
    for label, kind, family in cases:
        X, y = glm_data(kind, 1)
        target = family(X, y) if family is not None else user_glm(pm, kind, X, y)
        first, res = timed(lambda target=target: pl.mle(target))
        fit_sm = statsmodels_fit(sm, kind, X, y)
        ref = fit_sm()
        ref_coef = np.asarray(ref.params)[: P_GLM + 1]
        diff = float(np.max(np.abs(coefficients(res) / ref_coef - 1)))
        t = alternate({"mle": lambda target=target: pl.mle(target), "sm": fit_sm}, args.reps)
        ratio = t["mle"] / t["sm"]
        rows.append(
            [
                f"{label}, n = {N_GLM:,}",
                fmt_time(first),
                fmt_time(t["mle"]),
                "",
                f"statsmodels {fmt_time(t['sm'])}",
                f"{ratio:.3g}",
                f"{diff:.1e}",
                "yes" if res.converged else "NO",
                "<= 3",
                "yes" if ratio <= 3 else "**no**",
            ]
        )
        print(rows[-1], flush=True)

    header = [
        "fit",
        "first fit",
        "pl.mle warm",
        "other",
        "baseline",
        "pl.mle / baseline",
        "max rel diff",
        "converged",
        "target",
        "met",
    ]
    lines = [
        HEADING,
        "",
        f"Written by `python benchmarks/everyday.py --reps {args.reps}` on {datetime.date.today()} "
        f"({time.perf_counter() - began:.0f} s in all). Warm fits alternated with their baseline, "
        "medians; the first fit (compiles) timed apart.",
        "",
        f"Machine: {machine()}; statsmodels {sm.__version__}; load average "
        f"{os.getloadavg()[0]:.2f} at the end",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_section(text, HEADING)


if __name__ == "__main__":
    main()

"""Speed ratios of pplmle against baselines run side by side: `python benchmarks/ratios.py`.

Each ratio divides two times measured in the same run on the same machine, so
it does not depend much on how fast the machine is.  The numerator and the
baseline are run alternately and each is summarized by its median.  The table
is printed and written, with a description of the machine, to
``benchmarks/RESULTS.md``.

R1  simulate(Normal, n = 100, 1000 replicates) per fit
    / hand-written NumPy NLL + analytic gradient + scipy L-BFGS-B per fit      target <= 1.5
R2  naive loop (new pm.Model + pm.find_MAP per dataset) per fit
    / simulate per fit                                                         target >= 20
R3  pl.surface(Normal), 100 x 100 grid, n = 20,000
    / scipy.stats.norm.logpdf broadcast in chunks                             target <= 1.0, < 1 GiB
R4  pl.mle(Normal) at n = 1,000,000 (warm) / the closed form                  target <= 20 (report)
R5  first fit in a fresh process, warm compile cache: import pplmle + mle
    / import pymc + pm.find_MAP                                                target <= 1.2
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

# One BLAS thread for this process and its children, unless the caller chose: with two threads
# on a two-core machine that is also doing other work, single small fits of the NumPy baseline
# stall for milliseconds now and then, and R1 would measure the machine's load, not the code.
BLAS_THREADS = {v: os.environ.setdefault(v, "1") for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}

import numpy as np  # noqa: E402  (after the thread settings)
import scipy.optimize  # noqa: E402
import scipy.stats  # noqa: E402

HERE = Path(__file__).resolve().parent


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def alternate(a, b, repeats: int) -> tuple[float, float]:
    """Median times of `a` and `b`, run alternately so that load on the machine hits both."""
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


# -- R1, R2 ---------------------------------------------------------------------------


def hand_fit(x: np.ndarray) -> np.ndarray:
    """The baseline: Normal NLL over (mu, log sigma) with its analytic gradient, scipy L-BFGS-B."""
    n = x.size

    def nll(theta):
        mu, log_s = theta
        r = x - mu
        s2 = np.exp(2 * log_s)
        ss = r @ r
        f = n * log_s + 0.5 * ss / s2 + 0.5 * n * np.log(2 * np.pi)
        return f, np.array([-r.sum() / s2, n - ss / s2])

    start = np.array([np.median(x), np.log(np.std(x))])
    return scipy.optimize.minimize(nll, start, jac=True, method="L-BFGS-B").x


def r1_r2(pl, pm) -> list[dict]:
    n, reps = 100, 1000
    rng = np.random.default_rng(0)
    data = rng.normal(size=(reps, n))
    kw = {"true": {"mu": 0.0, "sigma": 1.0}, "n": n, "seed": 0, "progressbar": False}
    pl.simulate(pl.Normal, reps=50, **kw)  # compile (once per shape)

    def sim():
        return pl.simulate(pl.Normal, reps=reps, **kw)

    def hand():
        return [hand_fit(x) for x in data]

    t_sim, t_hand = alternate(sim, hand, 5)
    t_noprof = median_time(lambda: pl.simulate(pl.Normal, reps=reps, profile=False, **kw), 3)
    # the hand fits are right: compare with the closed form
    est = np.array(hand())
    assert np.allclose(est[:, 0], data.mean(1), atol=1e-4) and np.allclose(
        np.exp(est[:, 1]), data.std(1), rtol=1e-3
    )

    def naive(x):
        with pm.Model():
            mu = pm.Flat("mu")
            sigma = pm.HalfFlat("sigma")
            pm.Normal("obs", mu, sigma, observed=x)
            return pm.find_MAP(progressbar=False)

    naive(data[0])  # warm the compile cache
    k = 10
    t_naive = median_time(lambda: [naive(x) for x in data[1 : 1 + k]], 1) / k
    per_sim, per_hand, per_noprof = t_sim / reps, t_hand / reps, t_noprof / reps
    return [
        {
            "id": "R1",
            "what": "simulate(Normal, n=100, 1000 reps) / hand NumPy NLL + gradient + L-BFGS-B, per fit",
            "num": per_sim,
            "den": per_hand,
            "ratio": per_sim / per_hand,
            "target": "<= 1.5",
            "ok": per_sim / per_hand <= 1.5,
        },
        {
            "id": "R1'",
            "what": "the same without the profile statistics (profile=False) / hand, per fit",
            "num": per_noprof,
            "den": per_hand,
            "ratio": per_noprof / per_hand,
            "target": "(report)",
            "ok": None,
        },
        {
            "id": "R2",
            "what": f"naive new pm.Model + pm.find_MAP per dataset ({k} datasets) / simulate, per fit",
            "num": t_naive,
            "den": per_sim,
            "ratio": t_naive / per_sim,
            "target": ">= 20",
            "ok": t_naive / per_sim >= 20,
        },
    ]


# -- R3 ---------------------------------------------------------------------------------

R3_CHILD = """
import sys, time, warnings
warnings.simplefilter("ignore")

def hwm():  # peak resident memory of this process, MiB (VmHWM: unlike ru_maxrss, reset by exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

import numpy as np
which = sys.argv[1]
rng = np.random.default_rng(1)
x = rng.normal(170, 7, size=20_000)
mu = np.linspace(165, 175, 100)
sigma = np.linspace(5, 9, 100)
if which == "pplmle":
    import pplmle as pl
    fam = pl.Normal(x)
    pl.surface(fam, {"mu": mu[:10], "sigma": sigma[:10]})  # compile once (warm)
    base = hwm()
    t = time.perf_counter()
    ll = pl.surface(fam, {"mu": mu, "sigma": sigma}).loglik.transpose("mu", "sigma").to_numpy()
    dt = time.perf_counter() - t
else:
    import scipy.stats
    M, S = np.meshgrid(mu, sigma, indexing="ij")
    M, S = M.ravel(), S.ravel()
    chunk = max(1, int(4e6) // x.size)
    base = hwm()
    t = time.perf_counter()
    out = np.empty(M.size)
    for i in range(0, M.size, chunk):
        sl = slice(i, i + chunk)
        out[sl] = scipy.stats.norm.logpdf(x[None, :], M[sl, None], S[sl, None]).sum(axis=1)
    ll = out.reshape(100, 100)
    dt = time.perf_counter() - t
peak = hwm()
np.save(sys.argv[2], ll)
print(dt, peak, peak - base)
"""


def child(code: str, *args: str, env: dict | None = None) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
        check=True,
        capture_output=True,
        text=True,
    )
    return [float(v) for v in out.stdout.strip().splitlines()[-1].split()]


def r3() -> list[dict]:
    with tempfile.TemporaryDirectory() as d:
        runs = {"pplmle": [], "scipy": []}
        for _ in range(3):
            for which in runs:
                runs[which].append(child(R3_CHILD, which, f"{d}/{which}.npy"))
        a, b = np.load(f"{d}/pplmle.npy"), np.load(f"{d}/scipy.npy")
        worst = float(np.max(np.abs(a - b) / np.abs(b)))
    t_pl = statistics.median(r[0] for r in runs["pplmle"])
    t_sp = statistics.median(r[0] for r in runs["scipy"])
    peak_pl = statistics.median(r[1] for r in runs["pplmle"])
    peak_sp = statistics.median(r[1] for r in runs["scipy"])
    grow_pl = statistics.median(r[2] for r in runs["pplmle"])
    grow_sp = statistics.median(r[2] for r in runs["scipy"])
    ok = t_pl / t_sp <= 1.0 and peak_pl < 1024
    return [
        {
            "id": "R3",
            "what": "pl.surface(Normal) 100 x 100 grid, n = 20,000 / scipy.stats.norm.logpdf in chunks "
            f"(same values to {worst:.1e} relative)",
            "num": t_pl,
            "den": t_sp,
            "ratio": t_pl / t_sp,
            "target": "<= 1.0, peak < 1 GiB",
            "ok": ok,
            "note": f"peak RSS of the whole process (median of 3): pplmle {peak_pl:.0f} MiB (PyMC imported), "
            f"scipy {peak_sp:.0f} MiB; growth during the evaluation: pplmle {grow_pl:.0f} MiB, "
            f"scipy {grow_sp:.0f} MiB",
        }
    ]


# -- R4 ---------------------------------------------------------------------------------


def r4(pl) -> list[dict]:
    rng = np.random.default_rng(2)
    x = rng.normal(3.0, 2.0, size=1_000_000)
    warm = rng.normal(3.0, 2.0, size=1_000_000)
    rows = []
    for optimizer in ("find_MAP", "compiled"):
        pl.mle(pl.Normal(warm), optimizer=optimizer)  # compile (warm)
        res = pl.mle(pl.Normal(x), optimizer=optimizer)
        assert abs(res.params["mu"] - x.mean()) < 1e-9 * abs(x.mean())
        assert abs(res.params["sigma"] - x.std()) < 1e-9 * x.std()
        t_mle, t_cf = alternate(
            lambda o=optimizer: pl.mle(pl.Normal(x), optimizer=o), lambda: (x.mean(), x.std()), 3
        )
        rows.append(
            {
                "id": "R4" if optimizer == "find_MAP" else "R4'",
                "what": f"pl.mle(Normal) at n = 1,000,000, optimizer={optimizer!r}, warm / closed form",
                "num": t_mle,
                "den": t_cf,
                "ratio": t_mle / t_cf,
                "target": "<= 20 (report)",
                "ok": t_mle / t_cf <= 20,
            }
        )
    return rows


# -- R5 ---------------------------------------------------------------------------------

# the two child programs of first_fit.py (this directory is on sys.path when run as a script)
from first_fit import BARE as R5_BARE  # noqa: E402
from first_fit import PPLMLE as R5_PPLMLE  # noqa: E402


def r5() -> list[dict]:
    with tempfile.TemporaryDirectory() as d:
        env = {"PYTENSOR_FLAGS": f"base_compiledir={d}"}
        child(R5_PPLMLE, env=env)  # fill the cache
        child(R5_BARE, env=env)
        t_pl, t_bare = [], []
        for _ in range(3):
            t_pl.append(child(R5_PPLMLE, env=env)[0])
            t_bare.append(child(R5_BARE, env=env)[0])
    a, b = statistics.median(t_pl), statistics.median(t_bare)
    return [
        {
            "id": "R5",
            "what": "fresh process, warm cache: import pplmle + mle / import pymc + pm.find_MAP",
            "num": a,
            "den": b,
            "ratio": a / b,
            "target": "<= 1.2",
            "ok": a / b <= 1.2,
        }
    ]


# -- report -------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import pymc
    import pytensor

    import pplmle

    threads = ", ".join(f"{k}={v}" for k, v in BLAS_THREADS.items())
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, numpy {numpy.__version__}, "
        f"pymc {pymc.__version__}, pytensor {pytensor.__version__}, pplmle {pplmle.__version__}; {threads}"
    )


def fmt_time(t: float) -> str:
    return f"{t * 1e3:.3g} ms" if t < 1 else f"{t:.3g} s"


def main() -> None:
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    import pymc as pm

    import pplmle as pl

    rows = []
    for part in (r3, lambda: r1_r2(pl, pm), lambda: r4(pl), r5):
        rows.extend(part())
        last = rows[-1]
        print(f"{last['id']:4s} done ({time.perf_counter() - start:.0f} s)", flush=True)
    total = time.perf_counter() - start
    header = "| ratio | numerator / denominator | numerator | denominator | ratio | target | met |"
    lines = [header, "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        met = "" if r["ok"] is None else ("yes" if r["ok"] else "**no**")
        lines.append(
            f"| {r['id']} | {r['what']} | {fmt_time(r['num'])} | {fmt_time(r['den'])} | "
            f"{r['ratio']:.3g} | {r['target']} | {met} |"
        )
    notes = [f"- {r['id']}: {r['note']}" for r in rows if r.get("note")]
    table = "\n".join(lines)
    print()
    print(table)
    print("\n".join(notes))
    print(f"\ntotal {total:.0f} s")
    text = f"""# Benchmark results

Written by `python benchmarks/ratios.py` on {datetime.date.today().isoformat()} ({total:.0f} s in all).
Each ratio divides two times measured side by side in the same run (medians; numerator and
baseline alternated), so it depends little on the speed of the machine.

Machine: {machine()}

{table}

{chr(10).join(notes)}

What limits each ratio is discussed in [`README.md`](README.md).
"""
    # keep the sections other scripts write (for example "## Many parameters" of many_params.py)
    path = HERE / "RESULTS.md"
    old = path.read_text() if path.exists() else ""
    kept = old[old.index("\n## ") :] if "\n## " in old else ""
    path.write_text(text + kept)


if __name__ == "__main__":
    main()

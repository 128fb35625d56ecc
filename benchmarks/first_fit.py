"""Time of a first fit in a fresh Python process, with a cold and a warm PyTensor cache.

Run: python benchmarks/first_fit.py [--repeats 3]

Each measurement is a new interpreter that imports pplmle and fits the Normal
family to the ten heights; "cold" uses an empty compile directory, "warm" one
that the cold run filled.  Side by side, the same with bare PyMC
(``import pymc`` + ``pm.find_MAP`` on the same model) is the baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap

PPLMLE = """
import time; t = time.perf_counter()
import pplmle as pl
res = pl.mle(pl.Normal(pl.datasets.heights()))
assert res.converged
print(time.perf_counter() - t)
"""

BARE = """
import time; t = time.perf_counter()
import numpy as np, pymc as pm
x = np.array([162., 165, 171, 168, 174, 160, 169, 176, 166, 169])
with pm.Model():
    mu = pm.Flat("mu"); sigma = pm.HalfFlat("sigma")
    pm.Normal("obs", mu, sigma, observed=x)
    pm.find_MAP(progressbar=False)
print(time.perf_counter() - t)
"""


def run(code: str, compiledir: str) -> float:
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={compiledir}", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    for label, code in (("pplmle.mle", PPLMLE), ("bare pm.find_MAP", BARE)):
        cold, warm = [], []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as d:
                cold.append(run(code, d))
                warm.append(run(code, d))
        print(
            f"{label:18s} cold cache: {statistics.median(cold):6.2f} s   "
            f"warm cache: {statistics.median(warm):6.2f} s   (median of {args.repeats})"
        )


if __name__ == "__main__":
    main()

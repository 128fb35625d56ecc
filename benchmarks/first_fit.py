"""Time of a first fit in a fresh Python process, with a cold and a warm PyTensor cache.

Run: python benchmarks/first_fit.py [--repeats 3] [--no-write]

Each measurement is a new interpreter that imports pplmle and fits the Normal family to the ten
heights; "cold" uses an empty compile directory, "warm" the same directory again, which the cold
run filled. Side by side (alternated in one loop: pplmle cold, pplmle warm, bare cold, bare warm,
each pair in a fresh directory), the same with bare PyMC (``import pymc`` + ``pm.find_MAP`` on the
same model) is the baseline. Targets (issue "Fast first contact"): cold <= 1.3, warm <= 1.2 (R5).

The table is printed and written, with the machine, to the section
"## First fit in a fresh process (benchmarks/first_fit.py)" of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

# One BLAS thread unless the caller chose, as in ratios.py (the children inherit it).
BLAS_THREADS = {v: os.environ.setdefault(v, "1") for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}

HEADING = "## First fit in a fresh process (benchmarks/first_fit.py)"

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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    began = time.perf_counter()
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for label, code in (("pplmle", PPLMLE), ("bare", BARE)):
            with tempfile.TemporaryDirectory() as d:
                times.setdefault((label, "cold"), []).append(run(code, d))
                times.setdefault((label, "warm"), []).append(run(code, d))
    med = {key: statistics.median(v) for key, v in times.items()}
    rows = []
    for cache, target in (("cold", 1.3), ("warm", 1.2)):
        ratio = med[("pplmle", cache)] / med[("bare", cache)]
        rows.append(
            f"| {cache} cache | {med[('pplmle', cache)]:.2f} s | {med[('bare', cache)]:.2f} s | {ratio:.3g} "
            f"| <= {target} | {'yes' if ratio <= target else '**no**'} |"
        )
    # this directory is on sys.path when run as a script
    from many_params import write_section
    from ratios import machine

    text = "\n".join(
        [
            HEADING,
            "",
            f"Written by `python benchmarks/first_fit.py --repeats {args.repeats}` on "
            f"{datetime.date.today().isoformat()} ({time.perf_counter() - began:.0f} s in all). Fresh "
            "interpreters, medians; each fits the Normal family to the ten heights (pplmle: "
            "`import pplmle` + `pl.mle`; bare: `import pymc` + `pm.find_MAP` on the same model), in a "
            "new compile directory (cold) and then again in it (warm), the four alternated in one loop.",
            "",
            f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the end",
            "",
            "| cache | import pplmle + pl.mle | import pymc + pm.find_MAP | ratio | target | met |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    print(text)
    if not args.no_write:
        write_section(text, HEADING)


if __name__ == "__main__":
    main()

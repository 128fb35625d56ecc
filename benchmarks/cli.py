"""How long the command line takes to answer before it fits anything.

Times, in fresh processes (median of ``--reps``), ``pplmle --help``, ``pplmle --version`` and a
``pplmle fit`` refused at its arguments (an unknown family: exit code 2), against the bare
interpreter (``python -c pass``) and ``python -c "import pymc"`` run alternately in the same loop,
so that the ratio says what the command costs beyond Python's own start. Target (issue
"Fast first contact"): ``pplmle --help`` under 1 s.

Writes the section "## Command line (benchmarks/cli.py)" of ``benchmarks/RESULTS.md``
(``--no-write`` to print only).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

BLAS_THREADS = {v: os.environ.setdefault(v, "1") for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}

from many_params import write_section  # noqa: E402  (this directory is on sys.path as a script)
from ratios import fmt_time, machine  # noqa: E402

HEADING = "## Command line (benchmarks/cli.py)"


def commands() -> dict[str, list[str]]:
    exe = shutil.which("pplmle")
    cli = [exe] if exe else [sys.executable, "-m", "pplmle.cli"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "pplmle --help": [*cli, "--help"],
        "pplmle --version": [*cli, "--version"],
        "pplmle fit data.csv --family weibull (exit 2)": [*cli, "fit", "data.csv", "--family", "weibull"],
        'python -c "import pymc"': [sys.executable, "-c", "import pymc"],
    }


def run(argv: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    rc = subprocess.run(argv, capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}).returncode
    return time.perf_counter() - t, rc


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=7, help="fresh processes per command (default 7)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    args = parser.parse_args()
    cmds = commands()
    times: dict[str, list[float]] = {name: [] for name in cmds}
    codes: dict[str, int] = {}
    start = time.perf_counter()
    for argv in cmds.values():  # once untimed: the first import reads the disk
        run(argv)
    for _ in range(args.reps):  # alternated, so slow moments of the machine hit every command
        for name, argv in cmds.items():
            dt, codes[name] = run(argv)
            times[name].append(dt)
    base = statistics.median(times["python -c pass"])
    rows = []
    for name in cmds:
        med = statistics.median(times[name])
        target = "< 1 s" if name == "pplmle --help" else ""
        met = ("yes" if med < 1.0 else "**no**") if target else ""
        rows.append(f"| {name} | {codes[name]} | {fmt_time(med)} | {med - base:.3f} s | {target} | {met} |")
    text = "\n".join(
        [
            HEADING,
            "",
            f"Written by `python benchmarks/cli.py --reps {args.reps}` on {time.strftime('%Y-%m-%d')} "
            f"({time.perf_counter() - start:.0f} s in all). Fresh processes, medians of {args.reps}, the "
            "commands alternated in one loop; 'beyond Python' subtracts the bare interpreter's start.",
            "",
            f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the end",
            "",
            "| command | exit code | time | beyond Python | target | met |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    print(text)
    if not args.no_write:
        write_section(text, HEADING)


if __name__ == "__main__":
    main()

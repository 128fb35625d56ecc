"""The ``pplmle`` command line: ``pplmle demo`` and ``pplmle fit FILE.csv``."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from pplmle import __version__

if TYPE_CHECKING:
    from pplmle.pymc.families import Family

DEMO_PNG = "pplmle_demo.png"

#: the built-in families as ``--family`` spells them, written out so that ``pplmle --help`` needs no
#: PyMC import (tests/test_cli.py checks it against ``pplmle.pymc.families.family_names()``)
FAMILIES = (
    "normal",
    "lognormal",
    "bernoulli",
    "binomial",
    "poisson",
    "exponential",
    "gamma",
    "categorical",
    "linearregression",
    "logisticregression",
    "poissonregression",
    "softmaxregression",
)

EXIT_CODES = """exit codes:
  0  the fit converged (demo: the demo ran)
  1  the fit did not converge: the table is printed with the reason
  2  bad input (arguments, file, columns, data): one line on stderr"""


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def _step(message: str) -> float:
    print(f"... {message}", file=sys.stderr, flush=True)
    return time.perf_counter()


def _quiet_backend_warnings() -> None:
    # PyTensor from PyPI warns that it found no BLAS library: nothing the user can act on here.
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)


def _demo_path(out: str) -> Path:
    """Where the demo writes its PNG: `out` itself, or ``pplmle_demo.png`` inside `out` when it
    is a folder; refused (exit 2) when its folder does not exist."""
    path = Path(out)
    if path.is_dir():
        path = path / DEMO_PNG
    if not path.parent.is_dir():
        raise CLIError(f"--out {out!r}: the folder {str(path.parent)!r} does not exist")
    if path.suffix.lower() != ".png":
        raise CLIError(f"--out {out!r}: the demo writes a PNG, so the name must end in .png (or be a folder)")
    return path.resolve()


def demo(out: str = DEMO_PNG) -> int:
    """The textbook example: ten heights, their Normal MLE, the likelihood of mu."""
    path = _demo_path(out)
    t0 = _step("importing PyMC")
    import matplotlib
    import pymc  # noqa: F401  (timed here: the first import of PyMC and PyTensor takes seconds)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import pplmle as pl
    from pplmle.viz.plots import likelihood_curve

    x = pl.datasets.heights()
    print("Ten heights of middle-school students (cm):", " ".join(f"{v:g}" for v in x))
    _step(f"imported in {time.perf_counter() - t0:.1f} s")
    t1 = _step("compiling and fitting the Normal model (the first run compiles C code, about 10-20 s)")
    res = pl.mle(pl.Normal(x))
    _step(f"fitted in {time.perf_counter() - t1:.1f} s")
    print()
    print(res)
    print()
    print(
        f"The MLE of mu is the sample mean ({x.mean():g} cm); the MLE of sigma divides by n: "
        f"sqrt(sum((x - mean)^2) / n) = {np.sqrt(np.mean((x - x.mean()) ** 2)):.6g} cm."
    )
    print()
    print("Three routes to the same MLE: find_MAP, the closed form, scipy on a hand-written NLL")
    print(pl.compare(pl.Normal(x)))
    print()
    print("Wald and profile-likelihood 95% intervals (the profile one is asymmetric for sigma):")
    print(res.table(profile=True).to_string(float_format=lambda v: f"{v:.4g}"))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    likelihood_curve(res, "mu", np.arange(160.0, 181.0), fixed={"sigma": 5.0}, unit="cm", ax=ax)
    ax.set_title("Likelihood of the ten heights as a function of mu (sigma fixed at 5 cm)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"Likelihood curve (mu = 160..180 cm, sigma = 5 cm) written to {path}")
    return 0


_REGRESSIONS = {"linearregression", "logisticregression", "poissonregression", "softmaxregression"}


def _read_csv(path: str):
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise CLIError(f"no such file: {path}")
    try:
        # a blank line is a missing value, not a line to drop: --nan-policy decides what happens to it
        return pd.read_csv(p, skip_blank_lines=False)
    except Exception as exc:  # pandas raises several types for unreadable files
        raise CLIError(f"could not read {path} as CSV: {exc}") from None


def _column(df, name: str, what: str):
    if name not in df.columns:
        raise CLIError(f"unknown {what} column {name!r}; the file has columns {list(df.columns)}")
    return df[name]


def fit(args: argparse.Namespace) -> int:
    key = args.family.lower().replace("_", "").replace("-", "")
    if key not in FAMILIES:
        raise CLIError(f"unknown family {args.family!r}; choose one of {sorted(FAMILIES)}")
    df = _read_csv(args.file)
    from pplmle.pymc.families import family_names

    families = family_names()
    # family_names() types its values as type[Family], whose own __init__ takes no data; each family
    # it lists takes its data positionally and nan_policy= by keyword (pinned in tests/test_cli.py).
    cls = cast("Callable[..., Family]", families[key])
    if key in _REGRESSIONS:
        if not args.x or not args.y:
            raise CLIError(f"family {args.family!r} needs --x col1,col2 and --y col")
        X = df[[_column(df, c.strip(), "--x").name for c in args.x.split(",")]]
        y = _column(df, args.y, "--y")
        extra: dict[str, object] = {"intercept": not args.no_intercept}
        if args.offset is not None:
            if key != "poissonregression":
                raise CLIError(f"--offset is for family 'poissonregression', not {args.family!r}")
            extra["offset"] = _column(df, args.offset, "--offset")
        family = cls(X, y, nan_policy=args.nan_policy, **extra)
    else:
        for flag, given in (("--offset", args.offset is not None), ("--no-intercept", args.no_intercept)):
            if given:
                raise CLIError(f"{flag} is for the regression families, not {args.family!r}")
        if not args.column:
            raise CLIError(f"family {args.family!r} needs --column NAME")
        values = _column(df, args.column, "--column")
        if key == "binomial":
            if args.trials is None:
                raise CLIError("family 'binomial' needs --trials (a number or a column name)")
            trials = df[args.trials] if args.trials in df.columns else _number(args.trials)
            family = cls(values, trials, nan_policy=args.nan_policy)
        else:
            family = cls(values, nan_policy=args.nan_policy)
    t0 = _step(f"fitting {family!r} (the first run compiles C code)")
    import pplmle as pl

    res = pl.mle(family, cov_type=args.cov_type)
    _step(f"done in {time.perf_counter() - t0:.1f} s")
    summary = res.summary(args.level, profile=args.profile)
    if args.format == "table":
        print(summary)
    else:
        table = summary.to_frame()
        table.index.name = "parameter"
        print(table.to_csv() if args.format == "csv" else table.to_json(orient="index", indent=2))
    return 0 if res.converged else 1


def _level(text: str) -> float:
    try:
        level = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1; got {text!r}") from None
    if not 0.0 < level < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1; got {text!r}")
    return level


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise CLIError(f"--trials must be a number or a column name; got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="pplmle",
        description="Maximum-likelihood estimation with PyMC.",
        epilog=EXIT_CODES,
        formatter_class=raw,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser(
        "demo",
        help="the ten-heights example: Normal MLE and its likelihood curve",
        epilog=EXIT_CODES,
        formatter_class=raw,
    )
    p_demo.add_argument(
        "--out",
        default=DEMO_PNG,
        help=f"the PNG to write, or a folder to write {DEMO_PNG} into (default {DEMO_PNG})",
    )
    p_fit = sub.add_parser(
        "fit",
        help="fit a family to columns of a CSV file and print its summary",
        epilog=EXIT_CODES,
        formatter_class=raw,
    )
    p_fit.add_argument("file", help="a CSV file with a header row")
    p_fit.add_argument("--family", required=True, help="one of: " + ", ".join(FAMILIES))
    p_fit.add_argument("--column", help="the data column (one-sample families)")
    p_fit.add_argument("--trials", help="binomial: number of trials, a number or a column")
    p_fit.add_argument("--x", help="regressions: comma-separated predictor columns")
    p_fit.add_argument("--y", help="regressions: the response column")
    p_fit.add_argument("--offset", help="poissonregression: the offset column (log exposure)")
    p_fit.add_argument("--no-intercept", action="store_true", help="regressions: fit without an intercept")
    p_fit.add_argument("--nan-policy", default="raise", choices=["raise", "omit"])
    p_fit.add_argument(
        "--format",
        default="table",
        choices=["table", "csv", "json"],
        help="table: the summary as text (default); csv, json: the coefficient table alone, for scripts",
    )
    p_fit.add_argument(
        "--cov-type",
        default="observed",
        choices=["observed", "robust", "HC1"],
        help="standard errors from the observed information (default) or robust (sandwich HC0, HC1)",
    )
    p_fit.add_argument(
        "--level", type=_level, default=0.95, help="confidence level of the intervals (default 0.95)"
    )
    p_fit.add_argument(
        "--profile", action="store_true", help="add profile-likelihood intervals beside the Wald ones"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pplmle`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    _quiet_backend_warnings()
    try:
        if args.command == "demo":
            return demo(args.out)
        return fit(args)
    except (CLIError, ValueError) as exc:
        print(f"pplmle: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

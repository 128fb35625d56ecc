"""The pplmle command: the demo and `fit` as a user runs them (in-process for speed)."""

import inspect
import io
import re

import numpy as np
import pandas as pd
import pytest

from pplmle.cli import main
from pplmle.pymc.families import family_names


def test_demo_prints_table_and_writes_png(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "MLE of Normal: converged" in printed.out
    assert "mu          168" in printed.out
    assert f"written to {out}" in printed.out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "compiling" in printed.err  # progress goes to stderr


@pytest.fixture
def csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame({"height": rng.normal(168, 5, n), "count": rng.poisson(3, n), "x1": rng.normal(size=n)})
    df["admit"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-df["x1"]))).astype(int)
    df["bad"] = -df["count"] - 1
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    return path, df


def test_fit_normal_column(csv, capsys):
    path, df = csv
    assert main(["fit", str(path), "--family", "normal", "--column", "height"]) == 0
    out = capsys.readouterr().out
    assert f"{df['height'].mean():.6g}" in out


def test_fit_regression(csv, capsys):
    path, _ = csv
    assert main(["fit", str(path), "--family", "LogisticRegression", "--x", "x1", "--y", "admit"]) == 0
    assert "beta[x1]" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(family_names()))
def test_every_family_the_cli_names_takes_nan_policy(name):
    # `fit` passes --nan-policy to whichever family --family names
    assert "nan_policy" in inspect.signature(family_names()[name]).parameters


def test_fit_nan_policy_omit_drops_missing_values(tmp_path, capsys):
    path = tmp_path / "gaps.csv"
    pd.DataFrame({"height": [160.0, np.nan, 170.0, 180.0]}).to_csv(path, index=False)
    assert main(["fit", str(path), "--family", "normal", "--column", "height"]) == 2
    assert "must be finite" in capsys.readouterr().err
    assert main(["fit", str(path), "--family", "normal", "--column", "height", "--nan-policy", "omit"]) == 0
    assert re.search(r"Observations:\s+3\b", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "nope.csv", "--family", "normal", "--column", "h"], "no such file: nope.csv"),
        (["fit", "{csv}", "--family", "normal", "--column", "weight"], "unknown --column column 'weight'"),
        (["fit", "{csv}", "--family", "weibull", "--column", "height"], "unknown family 'weibull'"),
        (["fit", "{csv}", "--family", "poisson", "--column", "bad"], "`x` must be non-negative for Poisson"),
        (
            ["fit", "{csv}", "--family", "linearregression", "--column", "x1"],
            "needs --x col1,col2 and --y col",
        ),
        (["fit", "{csv}", "--family", "binomial", "--column", "count"], "needs --trials"),
    ],
)
def test_fit_errors_are_one_line_exit_2(csv, capsys, argv, message):
    path, _ = csv
    argv = [a.replace("{csv}", str(path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pplmle: error: ")
    assert message in err[0]


# -- parsing comes first: no PyMC for help, version and refused arguments -------------------------


def test_family_names_in_the_help_are_the_built_in_families():
    from pplmle.cli import FAMILIES

    assert FAMILIES == tuple(family_names())


@pytest.mark.parametrize(
    ("argv", "code", "stream", "expected"),
    [
        (["--help"], 0, "out", "exit codes:"),
        (["fit", "--help"], 0, "out", ", ".join(family_names())),
        (["--version"], 0, "out", "pplmle 0.1.0"),
        (["fit", "data.csv", "--family", "weibull"], 2, "err", "unknown family 'weibull'"),
    ],
)
def test_parsing_needs_no_pymc(argv, code, stream, expected):
    """In a fresh interpreter: the answer, its exit code, and neither PyMC nor PyTensor imported."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from pplmle.cli import main\n"
        "try:\n"
        f"    rc = main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    rc = exc.code\n"
        "heavy = sorted(m for m in ('pymc', 'pytensor', 'arviz', 'scipy') if m in sys.modules)\n"
        "print('HEAVY', heavy, 'RC', rc, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "HEAVY [] RC " + str(code) in out.stderr, out.stderr
    text = out.stdout if stream == "out" else out.stderr
    assert " ".join(expected.split()) in " ".join(text.split())


def test_demo_out_may_be_a_folder_and_its_folder_must_exist(tmp_path, capsys):
    from pplmle.cli import DEMO_PNG, _demo_path

    assert _demo_path(str(tmp_path)) == (tmp_path / DEMO_PNG).resolve()
    assert _demo_path(str(tmp_path / "fig.png")) == (tmp_path / "fig.png").resolve()
    missing = tmp_path / "no" / "such" / "fig.png"
    assert main(["demo", "--out", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0] and str(missing.parent) in err[0]
    assert main(["demo", "--out", str(tmp_path / "fig.pdf")]) == 2
    assert "must end in .png" in capsys.readouterr().err
    assert not missing.parent.exists()


def test_blank_line_in_a_one_column_csv_is_a_missing_value(tmp_path, capsys):
    path = tmp_path / "blank.csv"
    path.write_text("height\n160\n\n170\n180\n")
    assert main(["fit", str(path), "--family", "normal", "--column", "height"]) == 2
    assert "must be finite" in capsys.readouterr().err
    assert main(["fit", str(path), "--family", "normal", "--column", "height", "--nan-policy", "omit"]) == 0
    assert re.search(r"Observations:\s+3\b", capsys.readouterr().out)


# -- output formats, levels, profiles, offsets and intercepts --------------------------------------


@pytest.fixture
def counts_csv(tmp_path):
    rng = np.random.default_rng(1)
    n = 80
    x = rng.normal(size=n)
    exposure = rng.uniform(1, 3, n)
    df = pd.DataFrame(
        {"x": x, "log_exposure": np.log(exposure), "y": rng.poisson(exposure * np.exp(0.3 + 0.5 * x))}
    )
    path = tmp_path / "counts.csv"
    df.to_csv(path, index=False)
    return path, df


def test_fit_poisson_offset_as_csv_matches_statsmodels(counts_csv, capsys):
    import io

    import statsmodels.api as sm

    path, df = counts_csv
    argv = [
        "fit",
        str(path),
        "--family",
        "poissonregression",
        "--x",
        "x",
        "--y",
        "y",
        "--offset",
        "log_exposure",
    ]
    assert main([*argv, "--format", "csv", "--level", "0.9", "--profile"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col="parameter")
    ref = sm.GLM(
        df["y"], sm.add_constant(df[["x"]]), family=sm.families.Poisson(), offset=df["log_exposure"]
    ).fit(tol=1e-13)
    assert list(table.index) == ["intercept", "beta[x]"]
    np.testing.assert_allclose(table["estimate"], ref.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(table["se"], ref.bse.to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(table[["lower 90%", "upper 90%"]], ref.conf_int(0.1).to_numpy(), rtol=1e-5)
    assert table["profile lower 90%"].notna().all() and table["profile upper 90%"].notna().all()
    np.testing.assert_allclose(table["z"], ref.tvalues.to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(table["P>|z|"], ref.pvalues.to_numpy(), rtol=1e-5)


def test_fit_prints_the_summary_with_robust_errors(counts_csv, capsys):
    import statsmodels.api as sm

    path, df = counts_csv
    argv = ["fit", str(path), "--family", "poissonregression", "--x", "x", "--y", "y"]
    assert main([*argv, "--cov-type", "robust", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), index_col="parameter")
    ref = sm.GLM(df["y"], sm.add_constant(df[["x"]]), family=sm.families.Poisson()).fit(
        tol=1e-13, cov_type="HC0"
    )
    np.testing.assert_allclose(table["se"], ref.bse.to_numpy(), rtol=1e-5)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "MLE of PoissonRegression: converged to a verified optimum."
    assert "Dependent variable:" in out and "LL-null:" in out and "Pseudo R-squared (McFadden):" in out


def test_fit_without_intercept_as_json(csv, capsys):
    import json

    path, df = csv
    assert (
        main(
            [
                "fit",
                str(path),
                "--family",
                "linearregression",
                "--x",
                "x1",
                "--y",
                "height",
                "--no-intercept",
                "--format",
                "json",
            ]
        )
        == 0
    )
    table = json.loads(capsys.readouterr().out)
    assert set(table) == {"beta[x1]", "sigma"}
    x, y = df["x1"].to_numpy(), df["height"].to_numpy()
    np.testing.assert_allclose(table["beta[x1]"]["estimate"], x @ y / (x @ x), rtol=1e-9)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--family", "normal", "--column", "height", "--offset", "x1"],
            "--offset is for the regression families",
        ),
        (
            ["--family", "normal", "--column", "height", "--no-intercept"],
            "--no-intercept is for the regression",
        ),
        (
            ["--family", "linearregression", "--x", "x1", "--y", "height", "--offset", "x1"],
            "--offset is for family 'poissonregression'",
        ),
        (
            ["--family", "poissonregression", "--x", "x1", "--y", "count", "--offset", "nope"],
            "unknown --offset column 'nope'",
        ),
    ],
)
def test_fit_option_errors_are_one_line_exit_2(csv, capsys, extra, message):
    path, _ = csv
    assert main(["fit", str(path), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.parametrize("level", ["2", "0", "abc"])
def test_fit_level_outside_zero_one_is_refused_by_the_parser(csv, capsys, level):
    path, _ = csv
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(path), "--family", "normal", "--column", "height", "--level", level])
    assert exc.value.code == 2
    assert "argument --level: must" in capsys.readouterr().err

"""Every code block of README.md runs as written: each Python block in a fresh namespace, and each
line of the command-line block through the `pplmle` entry point on data files with the columns it
names."""

import re
import shlex
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from pplmle.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
PYTHON = re.findall(r"```python\n(.*?)```", README, flags=re.S)
BASH = [b for b in re.findall(r"```bash\n(.*?)```", README, flags=re.S) if "pplmle fit" in b]


def test_the_readme_has_its_blocks():
    assert len(PYTHON) >= 6 and len(BASH) == 1


@pytest.mark.parametrize("code", PYTHON, ids=[f"block{i}" for i in range(len(PYTHON))])
def test_python_block_runs_as_written(code, capsys):
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # a fresh namespace per block
    plt.close("all")


def test_command_line_block_runs_as_written(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(3)
    n = 80
    gpa, gre = rng.normal(3, 0.4, n), rng.normal(600, 80, n)
    admit = (rng.uniform(size=n) < 1 / (1 + np.exp(-(gpa - 3) * 3 - (gre - 600) / 100))).astype(int)
    pd.DataFrame({"height": rng.normal(168, 5, n), "gpa": gpa, "gre": gre, "admit": admit}).to_csv(
        tmp_path / "data.csv", index=False
    )
    x, expo = rng.normal(size=n), rng.uniform(1, 3, n)
    y = rng.poisson(expo * np.exp(0.2 + 0.4 * x))
    pd.DataFrame({"x": x, "y": y, "log_exposure": np.log(expo)}).to_csv(tmp_path / "counts.csv", index=False)
    (tmp_path / "figures").mkdir()
    monkeypatch.chdir(tmp_path)
    lines = [line.split("#")[0].strip() for line in BASH[0].splitlines()]
    commands = [shlex.split(line) for line in lines if line]
    assert all(c[0] == "pplmle" for c in commands)
    for argv in commands:
        if argv[1:] == ["--help"]:
            with pytest.raises(SystemExit) as stop:
                main(argv[1:])
            assert stop.value.code == 0
        else:
            assert main(argv[1:]) == 0, argv
    assert (tmp_path / "figures" / "pplmle_demo.png").exists() or list((tmp_path / "figures").glob("*.png"))

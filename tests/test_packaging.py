"""The package as installed: metadata, public names, environment.yml in step with pyproject."""

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pplmle as pl

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement.strip(), maxsplit=1)[0].lower()


def _spec(requirement: str) -> str:
    return requirement.strip().replace(" ", "")


def test_environment_yml_matches_pyproject_dependencies():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = {_name(d): _spec(d) for d in pyproject["project"]["dependencies"]}
    conda = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.-]+.*)$", line)
        if m and not m.group(1).startswith(("python", "pip")):
            conda[_name(m.group(1))] = _spec(m.group(1))
    assert conda == deps
    assert "  - pip:" in (ROOT / "environment.yml").read_text()


def test_version_and_public_names():
    assert pl.__version__ == version("pplmle")
    for name in pl.__all__:
        assert getattr(pl, name) is not None
    assert issubclass(pl.ConvergenceWarning, pl.PPLMLEWarning)
    assert issubclass(pl.PPLMLEWarning, RuntimeWarning)
    assert (ROOT / "pplmle" / "py.typed").exists()


def test_readme_has_exactly_the_two_fresh_machine_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- ci:(\w+) -->\n```bash\n(.*?)```", text, flags=re.S)
    assert blocks == [
        ("install", 'pip install -e ".[test]" && pplmle demo\n'),
        ("test", "python -m pytest\n"),
    ]

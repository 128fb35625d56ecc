"""The package as installed: metadata, public names, environment.yml in step with pyproject."""

import importlib
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

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
        ("test", "python -m pytest -n auto --dist loadfile\n"),
    ]


#: The public surface before the package was layered (0.1.0): every name must still be reachable.
PUBLIC_BEFORE_LAYERS = {
    "pplmle": (
        "BayesVsMLE Bernoulli Binomial BootstrapResult BoundaryWarning Categorical Comparison "
        "ConvergenceWarning DriftWarning EstimationError ExistenceWarning Exponential Family Gamma "
        "HessianWarning LRTest LikelihoodMismatchWarning LikelihoodSurface LinearRegression LogNormal "
        "LogisticRegression MLEResult MultipleOptimaWarning Normal PPLMLEWarning Poisson PoissonRegression "
        "SeparationWarning SimulationResult SoftmaxRegression UnboundedLikelihoodWarning __version__ "
        "bayes_vs_mle compare compare_models datasets diagnostics losses lr_test map_estimate mle "
        "parameterization_effect plots profile simulate surface"
    ),
    "pplmle.plots": (
        "candidates contour likelihood_curve posterior_vs_likelihood profile_plot "
        "sampling_distribution surface_plot"
    ),
    "pplmle.losses": (
        "binary_cross_entropy binary_cross_entropy_with_logits cross_entropy log_softmax nll_loss softmax"
    ),
    "pplmle.diagnostics": "NO_MLE Diagnostic Finding",
    "pplmle.datasets": "heights",
    "pplmle.MLEResult": (
        "aic bic bootstrap conf_int labels mle_exists nll nllf table to_inference_data _repr_html_"
    ),
    "pplmle.LikelihoodSurface": "argmax dataset plot to_inference_data",
    "pplmle.SimulationResult": "dataset plot summary",
    "pplmle.BayesVsMLE": "plot",
}


@pytest.mark.parametrize("owner", sorted(PUBLIC_BEFORE_LAYERS))
def test_no_public_name_disappeared(owner):
    module, _, cls = owner.partition(".")
    if owner.startswith("pplmle.") and owner.split(".")[1][0].islower():
        target = importlib.import_module(owner)  # `import pplmle.plots` works as before
    else:
        target = getattr(importlib.import_module(module), cls) if cls else importlib.import_module(module)
    missing = [name for name in PUBLIC_BEFORE_LAYERS[owner].split() if not hasattr(target, name)]
    assert missing == []


def test_import_is_lazy_and_every_name_and_layer_loads_on_first_touch():
    """In a fresh interpreter: ``import pplmle`` loads no PyMC; a layer (``pl.core``) or a public
    name (``pl.mle``) imports its module on first use, as an eager import used to."""
    import subprocess
    import sys

    probe = (
        "import sys, pplmle as pl\n"
        "assert 'pymc' not in sys.modules and 'numpy' not in sys.modules\n"
        "assert pl.core is sys.modules['pplmle.core'] and pl.workflows is sys.modules['pplmle.workflows']\n"
        "assert 'pymc' not in sys.modules\n"
        "assert pl.mle.__module__ == 'pplmle.pymc.fitting' and 'pymc' in sys.modules\n"
        "assert callable(pl.plots.profile_plot) and pl.viz.plots is sys.modules['pplmle.viz.plots']\n"
        "try:\n"
        "    pl.no_such_name\n"
        "except AttributeError as exc:\n"
        "    assert 'no_such_name' in str(exc)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().endswith("ok"), out.stderr


def test_lazy_map_and_all_name_the_same_public_names():
    """``__all__`` and the lazy import map list the same names (the map adds the layer packages),
    and each name comes from the module the map gives."""
    layers = {"core", "reference", "pymc", "workflows", "viz", "cli"}
    assert set(pl._LAZY) - layers == set(pl.__all__) - {"__version__"}
    for name, where in pl._LAZY.items():
        value = getattr(pl, name)
        assert getattr(value, "__name__", None) == where or value.__module__ == where, name


def test_a_fit_does_not_print_pytensors_blas_warning():
    import os
    import subprocess
    import sys

    code = (
        "import warnings; warnings.simplefilter('default')\n"
        "import numpy as np, pplmle as pl\n"
        "X = np.arange(20.0).reshape(10, 2) ** 0.5\n"
        "y = X @ [1.0, 2.0] + np.sin(np.arange(10.0))\n"
        "print(pl.mle(pl.LinearRegression(X, y)).converged)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env={**os.environ}
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
    assert "could not link to a BLAS" not in out.stderr

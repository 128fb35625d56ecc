"""pplmle: trustworthy maximum-likelihood estimation for PyMC models.

Use :func:`mle` for the MLE of a family (``pl.Normal(x)``, ``pl.LogisticRegression(X, y)``,
...) or of any ``pm.Model`` (priors replaced by flat ones, ``pm.find_MAP``,
polished, checked), and :func:`map_estimate` for the MAP with priors kept.

The package imports lazily (PEP 562): ``import pplmle`` loads neither PyMC nor PyTensor, and each
public name imports its module on first use, so the command line parses its arguments (and answers
``pplmle --help``) before PyMC is imported.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from pplmle import datasets, diagnostics, losses, plots
    from pplmle.core.errors import (
        BoundaryWarning,
        ConvergenceWarning,
        DriftWarning,
        EstimationError,
        ExistenceWarning,
        HessianWarning,
        HierarchicalModelError,
        LikelihoodMismatchWarning,
        MultipleOptimaWarning,
        NotIdentifiedWarning,
        PPLMLEWarning,
        SeparationWarning,
        UnboundedLikelihoodWarning,
    )
    from pplmle.core.profiles import profile
    from pplmle.core.result import MLEResult
    from pplmle.pymc.families import (
        Bernoulli,
        Binomial,
        Categorical,
        Exponential,
        Family,
        Gamma,
        LinearRegression,
        LogisticRegression,
        LogNormal,
        Normal,
        Poisson,
        PoissonRegression,
        SoftmaxRegression,
    )
    from pplmle.pymc.fitting import map_estimate, mle
    from pplmle.workflows.bayes import BayesVsMLE, bayes_vs_mle, parameterization_effect
    from pplmle.workflows.comparison import Comparison, compare
    from pplmle.workflows.model_selection import LRTest, compare_models, lr_test
    from pplmle.workflows.simulation import BootstrapResult, SimulationResult, simulate
    from pplmle.workflows.surfaces import JointRegion, LikelihoodSurface, joint_region, surface

#: public name -> the module that defines it (a module name itself for the front-door modules and
#: the layers, which ``import pplmle`` used to load as a side effect)
_LAZY: dict[str, str] = {
    **{layer: f"pplmle.{layer}" for layer in ("core", "reference", "pymc", "workflows", "viz", "cli")},
    "datasets": "pplmle.datasets",
    "diagnostics": "pplmle.diagnostics",
    "losses": "pplmle.losses",
    "plots": "pplmle.plots",
    "BoundaryWarning": "pplmle.core.errors",
    "ConvergenceWarning": "pplmle.core.errors",
    "DriftWarning": "pplmle.core.errors",
    "EstimationError": "pplmle.core.errors",
    "ExistenceWarning": "pplmle.core.errors",
    "HessianWarning": "pplmle.core.errors",
    "HierarchicalModelError": "pplmle.core.errors",
    "LikelihoodMismatchWarning": "pplmle.core.errors",
    "MultipleOptimaWarning": "pplmle.core.errors",
    "NotIdentifiedWarning": "pplmle.core.errors",
    "PPLMLEWarning": "pplmle.core.errors",
    "SeparationWarning": "pplmle.core.errors",
    "UnboundedLikelihoodWarning": "pplmle.core.errors",
    "profile": "pplmle.core.profiles",
    "MLEResult": "pplmle.core.result",
    "Bernoulli": "pplmle.pymc.families",
    "Binomial": "pplmle.pymc.families",
    "Categorical": "pplmle.pymc.families",
    "Exponential": "pplmle.pymc.families",
    "Family": "pplmle.pymc.families",
    "Gamma": "pplmle.pymc.families",
    "LinearRegression": "pplmle.pymc.families",
    "LogisticRegression": "pplmle.pymc.families",
    "LogNormal": "pplmle.pymc.families",
    "Normal": "pplmle.pymc.families",
    "Poisson": "pplmle.pymc.families",
    "PoissonRegression": "pplmle.pymc.families",
    "SoftmaxRegression": "pplmle.pymc.families",
    "map_estimate": "pplmle.pymc.fitting",
    "mle": "pplmle.pymc.fitting",
    "BayesVsMLE": "pplmle.workflows.bayes",
    "bayes_vs_mle": "pplmle.workflows.bayes",
    "parameterization_effect": "pplmle.workflows.bayes",
    "Comparison": "pplmle.workflows.comparison",
    "compare": "pplmle.workflows.comparison",
    "LRTest": "pplmle.workflows.model_selection",
    "compare_models": "pplmle.workflows.model_selection",
    "lr_test": "pplmle.workflows.model_selection",
    "BootstrapResult": "pplmle.workflows.simulation",
    "SimulationResult": "pplmle.workflows.simulation",
    "simulate": "pplmle.workflows.simulation",
    "JointRegion": "pplmle.workflows.surfaces",
    "LikelihoodSurface": "pplmle.workflows.surfaces",
    "joint_region": "pplmle.workflows.surfaces",
    "surface": "pplmle.workflows.surfaces",
}


def __getattr__(name: str) -> Any:
    try:
        where = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pplmle' has no attribute {name!r}") from None
    module = importlib.import_module(where)
    value = module if where == f"pplmle.{name}" else getattr(module, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


try:
    __version__ = version("pplmle")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "BayesVsMLE",
    "Bernoulli",
    "Binomial",
    "BootstrapResult",
    "BoundaryWarning",
    "Categorical",
    "Comparison",
    "ConvergenceWarning",
    "DriftWarning",
    "EstimationError",
    "ExistenceWarning",
    "Exponential",
    "Family",
    "Gamma",
    "HessianWarning",
    "HierarchicalModelError",
    "JointRegion",
    "LRTest",
    "LikelihoodMismatchWarning",
    "LikelihoodSurface",
    "LinearRegression",
    "LogNormal",
    "LogisticRegression",
    "MLEResult",
    "MultipleOptimaWarning",
    "Normal",
    "NotIdentifiedWarning",
    "PPLMLEWarning",
    "Poisson",
    "PoissonRegression",
    "SeparationWarning",
    "SimulationResult",
    "SoftmaxRegression",
    "UnboundedLikelihoodWarning",
    "__version__",
    "bayes_vs_mle",
    "compare",
    "compare_models",
    "datasets",
    "diagnostics",
    "joint_region",
    "losses",
    "lr_test",
    "map_estimate",
    "mle",
    "parameterization_effect",
    "plots",
    "profile",
    "simulate",
    "surface",
]

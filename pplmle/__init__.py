"""pplmle: trustworthy maximum-likelihood estimation for PyMC models.

Use :func:`mle` for the MLE of a family (``pl.Normal(x)``, ``pl.LogisticRegression(X, y)``,
...) or of any ``pm.Model`` (priors replaced by flat ones, ``pm.find_MAP``,
polished, checked), and :func:`map_estimate` for the MAP with priors kept.
"""

from importlib.metadata import PackageNotFoundError, version

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

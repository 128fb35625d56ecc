"""Layer 4, the workflows built on fits.

* :mod:`~pplmle.workflows.comparison` -- one estimate by three routes: PyMC, closed form, scipy.
* :mod:`~pplmle.workflows.surfaces` -- likelihood surfaces and joint regions on grids.
* :mod:`~pplmle.workflows.model_selection` -- AIC/BIC tables and likelihood-ratio tests.
* :mod:`~pplmle.workflows.bayes` -- MLE, MAP and posterior side by side.
* :mod:`~pplmle.workflows.simulation` -- simulation studies and the parametric bootstrap.
"""

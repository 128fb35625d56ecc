"""Layer 2, the references: closed forms, hand-written NLLs and losses in NumPy and SciPy.

These are what the PyMC fits are checked against, so they never import PyMC or PyTensor.

* :mod:`~pplmle.reference.closed_form` -- textbook MLEs where they exist.
* :mod:`~pplmle.reference.handwritten` -- NLLs with analytic gradients, scipy and gradient descent.
* :mod:`~pplmle.reference.losses` -- machine-learning losses as NLLs.
* :mod:`~pplmle.reference.separation` -- the linear programs that detect (quasi-)separation.
"""

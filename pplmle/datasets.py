"""Teaching data sets (front door): the public names of :mod:`pplmle.core.datasets`."""

from pplmle.core.datasets import heights

__all__ = ["heights"]

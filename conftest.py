"""Loaded before anything imports PyTensor, in the main pytest process and in each xdist worker.

Nearly all of the suite's time on a fresh machine is PyTensor compiling C modules (about 1.2 s
each, a few thousand distinct ones), and PyTensor holds a lock on its compile directory while it
compiles, so two xdist workers sharing one directory compile one at a time. Each worker
therefore compiles into a directory of its own, under the same base directory
(``compiledir_..._xdist-gw0``, ``..._xdist-gw1``): the workers compile side by side on the two
cores, and each directory stays warm for the next run. Everything the workers start (notebook
kernels, process pools, Dask workers) inherits the worker's directory through the environment.
The C backend itself is unchanged: the tests run exactly what a user's fit runs.
"""

import os

_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and "compiledir_format" not in os.environ.get("PYTENSOR_FLAGS", ""):
    _own = f"compiledir_format=compiledir_%(short_platform)s-%(python_version)s-xdist-{_worker}"
    os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (os.environ.get("PYTENSOR_FLAGS"), _own) if f)

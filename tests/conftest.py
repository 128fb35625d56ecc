"""Collection settings for the whole test suite.

tests/gallery (21 real models from the PyMC examples and docs, each against statsmodels, scipy or
a closed form) is part of the default run; ``PPLMLE_GALLERY=0`` leaves it out of a quick local run.
Its table: ``PYTHONPATH=tests python tests/gallery/table.py``.
"""

import os

collect_ignore = ["gallery"] if os.environ.get("PPLMLE_GALLERY") == "0" else []

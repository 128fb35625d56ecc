"""Collection settings for the whole test suite."""

import os

# tests/gallery (21 real models from the PyMC examples and docs, each against statsmodels, scipy or
# a closed form; 117 tests, 19 minutes of one core on a partly warm compile cache) is collected only with
# PPLMLE_GALLERY=1, until CI's own time with it is known: `PPLMLE_GALLERY=1 python -m pytest
# tests/gallery`, and `PYTHONPATH=tests python tests/gallery/table.py` for its table.
collect_ignore = [] if os.environ.get("PPLMLE_GALLERY") == "1" else ["gallery"]

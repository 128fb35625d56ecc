"""Collection settings for the whole test suite."""

import os

# tests/gallery (real models from the PyMC examples and docs, each against statsmodels, scipy or a
# closed form) is collected only with PPLMLE_GALLERY=1 until every one of its models has been run
# end to end on a quiet machine: `PPLMLE_GALLERY=1 python -m pytest tests/gallery`.
collect_ignore = [] if os.environ.get("PPLMLE_GALLERY") == "1" else ["gallery"]

"""A gallery of real PyMC models (from the PyMC examples and docs) fitted by pplmle and checked
against independent references: see models.py, test_gallery.py and table.py."""

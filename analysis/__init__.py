"""SenseScope analysis package: pure Python, usable from notebooks, the CLI and the tests.

Nothing in this package imports streamlit; the dashboard (``app.py``, ``views/``, ``ui/``) is a thin layer on top.
"""

__version__ = "0.1.0"

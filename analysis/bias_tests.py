"""Old name of :mod:`analysis.bias.sources` (where bias tests come from), kept for ``ui/bias.py`` and ``views/bias.py``.

New code imports from :mod:`analysis.bias.sources` (or :mod:`analysis.bias`).
"""

from analysis.bias.sources import (BUNDLED_DIR, DEFAULT_TEMPLATES, ROOT, bundled_files, bundled_names,  # noqa: F401
                                   corpus_query, load_bundled, locate_words, query_from_dict, read_test_file,
                                   resolve_tests, word_forms)

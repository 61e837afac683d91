"""Plot functions: a tidy DataFrame in, a plotly Figure out; nothing is fitted while plotting.

One module per analysis (``senses``, ``shift``, ``bias``, ``dimension``, ``corpus``). Data strings reach a figure
only through ``_text.esc`` (Plotly renders text as HTML).
"""

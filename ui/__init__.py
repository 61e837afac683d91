"""Dashboard helpers: the only code besides app.py and views/ that imports streamlit."""

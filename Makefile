# SenseScope: `make app` runs the dashboard on the bundled demo, `make test` runs every test.
# Both create or reuse .venv from the pinned requirements.txt (a stamp file re-installs when it changes) and install
# the project itself in editable mode (pyproject.toml), so that bench scripts import it without sys.path edits.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501

.PHONY: app test test-fast bench clean-cache venv

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

app: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/streamlit run app.py --server.port $(PORT) --browser.gatherUsageStats false

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -ra --durations=15

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow and not browser"

clean-cache:
	rm -rf cache/embeddings cache/finetune

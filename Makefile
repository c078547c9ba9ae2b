# One-command set-up on a fresh machine: `make run` (sample KB + app) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
KB_DIR ?= data/kb
PORT ?= 8501
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser-deps kb run api search test test-fast bench screenshot docs clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

# Debian's Chromium (driven by Playwright) and a CJK font, for the browser test and screenshots.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null; \
	fi

# The sample library is built once: a library that exists (and may have been changed: removals,
# edits, uploads) is never re-ingested behind the user's back. `make clean` then `make kb` rebuilds it.
kb: setup
	@if [ -e $(KB_DIR)/kb.sqlite ]; then echo "Using the library in $(KB_DIR) (make clean && make kb to rebuild the sample)"; \
	else echo "Building the sample library in $(KB_DIR) from data/articles ($$(find data/articles -type f | wc -l) files; about a minute on 2 cores)"; \
	$(BIN)/python -m ingest --kb $(KB_DIR) data/articles; fi

run: kb
	@echo "Starting the app on http://127.0.0.1:$(PORT) (Ctrl-C stops it)"
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) --server.headless true

# The HTTP API over the sample KB (docs at http://127.0.0.1:$(API_PORT)/docs).
API_PORT ?= 8000
api: kb
	@echo "Starting the HTTP API on http://127.0.0.1:$(API_PORT) (docs at /docs; Ctrl-C stops it)"
	$(BIN)/python -m kb --kb $(KB_DIR) serve --host 127.0.0.1 --port $(API_PORT)

search: kb
	$(BIN)/python -m kb --kb $(KB_DIR) search "How many merchants joined TikTok Shop in the US?"

test: setup browser-deps
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The unit and contract tests (fake embedder, no browser, no killed processes, no engine servers): under a minute on 2 CPUs.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not browser and not model and not process and not slow"

bench: setup
	$(BIN)/python benchmarks/retrieval.py

screenshot: setup browser-deps
	KB_SCREENSHOT=docs/screenshot.png $(BIN)/python -m pytest -q tests/test_browser.py

# The README's settings and ranking-constants tables, from kb/config.py and kb/params.py.
docs: setup
	$(BIN)/python -c "from kb.params import write_readme_tables; write_readme_tables('README.md')"

clean:
	rm -rf $(KB_DIR) tests/artifacts .pytest_cache

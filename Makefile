# Two commands on a fresh machine:  `make demo`  (install + the main job)  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch: the wheel on local disk. A bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/synthloop run $(ARGS)

test: $(STAMP) chromium
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/python -m pytest -q $(ARGS)

# The quality report's browser test needs Chromium: installed from Debian when missing and possible
# (root with apt-get). Where it is not, that one test skips and says why; this never fails the suite.
chromium:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "make: could not install chromium (needs root and apt-get); the browser test will skip"

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .synthloop

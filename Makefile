# Meta-LegNet: `make demo` runs the main job, `make test` runs the tests.
# Both create .venv if it is missing and install the package with its dev extras.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# A CPU torch wheel first when it is available (avoids a multi-GB CUDA download);
	# otherwise pip takes the default torch for this machine.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q "torch>=2.4"
	$(BIN)/pip install -q -e ".[dev,baselines]"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/metalegnet demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q tests

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo_out

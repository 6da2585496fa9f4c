# newsqa: the two commands a fresh machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-test postgres-server index run test lint bench train-reader calibrate-reader train-support calibrate-support clean

# The venv and the project. torch is pinned and installed first: on these machines
# torch==2.13.0 is a CPU wheel on disk, an unpinned torch pulls a multi-GB CUDA build.
$(BIN)/newsqa: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e .
	touch $@

install: $(BIN)/newsqa

# The local-llm extra compiles llama.cpp (~8 min the first time; pip caches the wheel).
# Built for AVX2 without AVX-512/AMX: a native build picks AMX tiles, which this kernel
# does not grant a process, and the model then dies with SIGILL.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
	-DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF \
	-DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF

# pip builds llama-cpp-python only when it is missing (an installed one satisfies the
# extra); the build is announced first, since pip --quiet says nothing for minutes.
$(VENV)/.test-extras: $(BIN)/newsqa
	@if $(PIP) show --quiet llama-cpp-python >/dev/null 2>&1; then \
		echo "llama-cpp-python is installed in $(VENV) already: not building it again"; \
	else \
		echo "Building llama-cpp-python (llama.cpp, for the real-LLM test): about 8 minutes" \
			"the first time, quiet while it compiles; pip caches the wheel for next time"; \
	fi
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install --quiet -e '.[test,local-llm]'
	touch $@

install-test: $(VENV)/.test-extras

# The tests start a real PostgreSQL server of their own (tests/postgres_server.py) from the
# Debian package's binaries: installed here when missing, silent when present. (sudo when
# not root; the server itself never runs as root.)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
postgres-server:
	@if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null; then \
		:; \
	else \
		echo "Installing PostgreSQL (the Debian package) for the tests' database server"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			postgresql >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends postgresql >/dev/null; }; \
	fi

index: install
	$(BIN)/newsqa index

run: index
	$(BIN)/newsqa repl

lint: install-test
	$(BIN)/ruff check newsqa bot index prompts tests bench train

test: install-test postgres-server
	$(BIN)/ruff check newsqa bot index prompts tests bench train
	$(BIN)/python -m pytest

$(VENV)/.bench-extras: $(BIN)/newsqa
	$(PIP) install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.bench-extras
	$(BIN)/python -m bench

# The reader model: trains on ../shared/data/qa-train (NEWSQA_QA_TRAIN to move it) in under
# an hour on 2 cores, writes bot/models/reader/ (int8 ONNX, tokenizer, CARD.md), then fits
# its thresholds. Resumes from train/out/ when stopped. CI and make test never train.
$(VENV)/.train-extras: $(BIN)/newsqa
	$(PIP) install --quiet -e '.[train]'
	touch $@

train-reader: $(VENV)/.train-extras
	$(BIN)/python -m train.reader
	$(BIN)/python -m train.calibrate

calibrate-reader: install
	$(BIN)/python -m train.calibrate

# The support judgment (a second MiniLM-L6 cross-encoder): trains on ../shared/data
# (NEWSQA_SHARED_DATA to move it) in two stages on new claims each (about 8 min preparing
# claims with the shipped reader, then 27 + 35 min on 2 cores), writes bot/models/support/
# (static int8 ONNX, tokenizer), then fits the answer thresholds and writes CARD.md (about
# 80 min in all). Resumes from train/out-support/ when stopped. CI and make test never train.
train-support: $(VENV)/.train-extras
	$(BIN)/python -m train.support
	$(BIN)/python -m train.support --offset 24000 --previous 0 --limit 30000 --lr 3e-5
	$(BIN)/python -m train.support --offset 54000 --previous 24000 --limit 0 --lr 2e-5
	$(BIN)/python -m train.calibrate_support

calibrate-support: $(VENV)/.train-extras
	$(BIN)/python -m train.calibrate_support

clean:
	rm -rf $(VENV) data/index

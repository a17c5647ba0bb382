# The demo pipeline: fairness repair of SmolLM2-135M-Instruct on the
# gender_and_sex axis of the project's prompt set, perplexity on Brown.
# Every variable can be overridden: `make demo DEMO_MASKS=400 DEMO_DEVICE=cuda`.

DEMO_DIR ?= results/demo
DEMO_MODEL ?= $(MODEL)
DEMO_DEVICE ?= cpu
DEMO_AXIS ?= gender_and_sex
# Axes measured; add the others (race_ethnicity,religion,...) to see spillover, at a cost per mask.
DEMO_AXES ?= gender_and_sex
DEMO_PER_BUCKET ?= 2
DEMO_SCORER ?= reply-likelihood
DEMO_MASKS ?= 60
DEMO_MAX_PRUNED ?= 40
DEMO_SEED ?= 0
DEMO_PPL_WINDOW ?= 128
DEMO_PPL_WINDOWS ?= 2
DEMO_PPL_BUDGET ?= 0.05
DEMO_ANNEAL_STEPS ?= 200000
DEMO_ANNEAL_RESTARTS ?= 8

DEMO_MEASURE = --model $(DEMO_MODEL) --device $(DEMO_DEVICE) --prompts data/prompts --axes $(DEMO_AXES) \
  --per-bucket $(DEMO_PER_BUCKET) --scorer $(DEMO_SCORER) --ppl-text $(BROWN) \
  --ppl-window $(DEMO_PPL_WINDOW) --ppl-max-windows $(DEMO_PPL_WINDOWS)
# apply reports on the test prompts and on Brown windows that sample never saw.
DEMO_HELDOUT = --ppl-skip-windows $(DEMO_PPL_WINDOWS)

.PHONY: demo
demo: $(DEMO_DIR)/ap-report.json $(DEMO_DIR)/fasp-report.json
	@cat $(DEMO_DIR)/ap-report.md $(DEMO_DIR)/fasp-report.md

$(DEMO_DIR)/samples.parquet: $(STAGE_BINS) $(MODEL) $(BROWN)/ca01
	$(BIN)/sample $(DEMO_MEASURE) --single-head --num-masks $(DEMO_MASKS) --max-pruned $(DEMO_MAX_PRUNED) \
	  --seed $(DEMO_SEED) --resume --out $@

$(DEMO_DIR)/surrogates/surrogate-bias.mpk: $(DEMO_DIR)/samples.parquet
	$(BIN)/train-surrogate --samples $< --axis $(DEMO_AXIS) --seed $(DEMO_SEED) --out-dir $(DEMO_DIR)/surrogates

$(DEMO_DIR)/ap-mask.json: $(DEMO_DIR)/surrogates/surrogate-bias.mpk
	$(BIN)/anneal --surrogates $(DEMO_DIR)/surrogates --samples $(DEMO_DIR)/samples.parquet \
	  --ppl-budget $(DEMO_PPL_BUDGET) --steps $(DEMO_ANNEAL_STEPS) --restarts $(DEMO_ANNEAL_RESTARTS) --seed $(DEMO_SEED) \
	  --out-mask $@ --out-trajectory $(DEMO_DIR)/trajectory.parquet

$(DEMO_DIR)/fasp-mask.json: $(DEMO_DIR)/samples.parquet
	$(BIN)/fasp $(DEMO_MEASURE) --samples $< --axis $(DEMO_AXIS) --ppl-budget $(DEMO_PPL_BUDGET) \
	  --out-mask $@ --out-candidates $(DEMO_DIR)/fasp-candidates.parquet

$(DEMO_DIR)/%-report.json: $(DEMO_DIR)/%-mask.json
	$(BIN)/apply $(DEMO_MEASURE) $(DEMO_HELDOUT) --mask $< --out $@

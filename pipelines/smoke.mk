# The smoke pipeline: the four stages (and FASP) on a tiny random-weight model,
# in seconds. Each stage's settings are kept in a `<stage>.args` file that
# changes only when the settings do, so `make smoke SMOKE_ANNEAL_STEPS=5000`
# re-runs only anneal and apply.

SMOKE_DIR ?= results/smoke
SMOKE_SEED ?= 0
SMOKE_MASKS ?= 24
SMOKE_MAX_PRUNED ?= 4
SMOKE_ANNEAL_STEPS ?= 3000
SMOKE_PPL_BUDGET ?= 0.5
SMOKE_RANDOM_SEEDS ?= 3
SMOKE_AXIS ?= gender_and_sex
SMOKE_ROUNDS ?= 2
SMOKE_CANDIDATES ?= 4
SMOKE_TEXT := tests/fixtures/ppl_text.txt

SMOKE_MEASURE_COMMON = --model $(SMOKE_DIR)/model --prompts data/prompts --axes gender_and_sex,age --design random \
  --scorer reply-likelihood --ppl-text $(SMOKE_TEXT) --ppl-window 32 --bootstrap 200
# Screening: 2 prompts per bucket, 4 windows; the rich measurement of proposals: 4 prompts per bucket, 8 windows.
SMOKE_MEASURE = $(SMOKE_MEASURE_COMMON) --per-bucket 2 --ppl-split valid --ppl-max-windows 4
SMOKE_RICH_MEASURE = $(SMOKE_MEASURE_COMMON) --per-bucket 4 --ppl-split valid --ppl-max-windows 8
SMOKE_TEST_MEASURE = $(SMOKE_MEASURE_COMMON) --per-bucket 4 --ppl-split test --ppl-max-windows 8
SMOKE_SAMPLE_ARGS = $(SMOKE_MEASURE) --single-head --num-masks $(SMOKE_MASKS) --max-pruned $(SMOKE_MAX_PRUNED) --seed $(SMOKE_SEED)
SMOKE_TRAIN_ARGS = --seed $(SMOKE_SEED) --epochs 60 --hidden 32,16
SMOKE_ANNEAL_ARGS = --steps $(SMOKE_ANNEAL_STEPS) --restarts 2 --seed $(SMOKE_SEED) --min-hamming 1 --size-caps 2,4
SMOKE_FASP_ARGS = $(SMOKE_RICH_MEASURE) --axis gender_and_sex --ppl-budget $(SMOKE_PPL_BUDGET) --alphas 0.125,0.25 --gammas 0.25
SMOKE_APPLY_ARGS = $(SMOKE_TEST_MEASURE)
SMOKE_RANDOM := $(foreach s,$(shell seq 0 $$(($(SMOKE_RANDOM_SEEDS) - 1))),random-$(s))
SMOKE_RANDOM_MASKS := $(SMOKE_RANDOM:%=$(SMOKE_DIR)/%-mask.json)
SMOKE_RANDOM_REPORTS := $(SMOKE_RANDOM:%=$(SMOKE_DIR)/%-report.json)
SMOKE_REPORT_ARGS = --axis gender_and_sex $(if $(SMOKE_RANDOM),--random-reports $(SMOKE_RANDOM_REPORTS))

.PHONY: smoke FORCE
.PRECIOUS: $(SMOKE_DIR)/%.args
smoke: $(SMOKE_DIR)/report.md
	@sed -n '/^## Results/,/^## Bias vs perplexity/p' $< | sed '$$d'
	@echo "Full report: $(SMOKE_DIR)/report.md"

# <stage>.args holds the stage's settings; rewritten only when they change.
$(SMOKE_DIR)/%.args: FORCE
	@mkdir -p $(@D)
	@echo '$(SMOKE_$(shell echo $* | tr a-z A-Z)_ARGS)' | cmp -s - $@ || echo '$(SMOKE_$(shell echo $* | tr a-z A-Z)_ARGS)' > $@

$(SMOKE_DIR)/model/config.json: | $(STAGE_BINS)
	$(BIN)/make-tiny-model $(SMOKE_DIR)/model 7

$(SMOKE_DIR)/samples.parquet: $(SMOKE_DIR)/sample.args $(SMOKE_DIR)/model/config.json $(STAGE_BINS)
	$(BIN)/sample $(SMOKE_SAMPLE_ARGS) --out $@

# The closed loop (pipelines/closed_loop.mk); each stage also reruns when its settings change.
$(call closed_loop,SMOKE,$(SMOKE_DIR))
$(SMOKE_DIR)/round-0/surrogates/surrogate-structured.json $(SMOKE_DIR)/round-1/surrogates/surrogate-structured.json: $(SMOKE_DIR)/train.args
$(SMOKE_DIR)/round-0/candidates.json $(SMOKE_DIR)/round-1/candidates.json: $(SMOKE_DIR)/anneal.args

$(SMOKE_DIR)/fasp-mask.json: $(SMOKE_DIR)/fasp.args $(SMOKE_DIR)/samples.parquet
	$(BIN)/fasp $(SMOKE_FASP_ARGS) --samples $(SMOKE_DIR)/samples.parquet --out-mask $@ \
	  --out-candidates $(SMOKE_DIR)/fasp-candidates.parquet

$(SMOKE_DIR)/%-report.json: $(SMOKE_DIR)/%-mask.json $(SMOKE_DIR)/apply.args
	$(BIN)/apply $(SMOKE_APPLY_ARGS) --mask $< --out $@

$(SMOKE_DIR)/random-%-mask.json: $(SMOKE_DIR)/ap-mask.json
	$(BIN)/random-masks --like $< --seeds $* --out $@

# report.md (written last), results.json and plots/*.svg; the random masks are listed so Make keeps them.
$(SMOKE_DIR)/report.md: $(SMOKE_DIR)/report.args $(SMOKE_DIR)/ap-report.json $(SMOKE_DIR)/ap-oneshot-report.json $(SMOKE_DIR)/fasp-report.json $(SMOKE_RANDOM_MASKS) $(SMOKE_RANDOM_REPORTS)
	$(BIN)/report --samples $(SMOKE_DIR)/samples.parquet --surrogates $(SMOKE_DIR)/round-0/surrogates --trajectory $(SMOKE_DIR)/round-0/trajectory.parquet \
	  --ap-report $(SMOKE_DIR)/ap-report.json --oneshot-report $(SMOKE_DIR)/ap-oneshot-report.json --rounds $(SMOKE_DIR)/rounds.json \
	  --fasp-report $(SMOKE_DIR)/fasp-report.json $(SMOKE_REPORT_ARGS) --out-dir $(SMOKE_DIR)

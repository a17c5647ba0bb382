# The demo pipeline: fairness repair of SmolLM2-135M-Instruct on the
# gender_and_sex axis of the project's prompt set, perplexity on Brown.
# Every variable can be overridden: `make demo DEMO_MASKS=400 DEMO_DEVICE=cuda`.

DEMO_DIR ?= results/demo
DEMO_MODEL ?= $(MODEL)
DEMO_DEVICE ?= cpu
DEMO_AXIS ?= gender_and_sex
# Axes measured by the search (sample, fasp); add others only to fit them too, at a cost per mask.
DEMO_AXES ?= gender_and_sex
# Axes apply measures on the test prompts: all six of the prompt set, for the report's spillover.
DEMO_REPORT_AXES ?= gender_and_sex,race_ethnicity,religion,sexual_orientation,age,nationality
# Prompt design: `crossed` puts every descriptor of the axis into the same DEMO_TEMPLATES
# templates with the same DEMO_NOUNS neutral nouns (18 gender_and_sex prompts per split with
# 1 x 1), so buckets differ only by their descriptors; `random` samples DEMO_PER_BUCKET
# HolisticBias sentences per bucket (see the README's noise study).
DEMO_DESIGN ?= crossed
DEMO_TEMPLATES ?= 1
DEMO_NOUNS ?= 1
DEMO_PER_BUCKET ?= 2
DEMO_SCORER ?= reply-likelihood
# Three negative and three positive canned replies: a quarter of the cost of the full
# data/prompts/replies.json (8 + 8) per mask, which is what makes the demo fit on 2 cores.
DEMO_REPLIES ?= data/prompts/replies-fast.json
DEMO_MASKS ?= 100
# Most heads a random mask prunes, and so the most the search may prune: the surrogates have
# seen nothing beyond it (unbounded, the search found 120-head masks whose predicted bias was
# below zero and whose real perplexity was +244%).
DEMO_MAX_PRUNED ?= 40
DEMO_SEED ?= 0
DEMO_PPL_WINDOW ?= 128
DEMO_PPL_WINDOWS ?= 2
DEMO_PPL_BUDGET ?= 0.05
DEMO_ANNEAL_STEPS ?= 200000
DEMO_ANNEAL_RESTARTS ?= 8
# Random baseline: masks pruning as many heads as Attention Pruning, seeds 0 .. N-1, measured on
# these axes only (each axis adds to apply's cost: all six take about 5x gender alone).
DEMO_RANDOM_SEEDS ?= 5
DEMO_RANDOM_AXES ?= $(DEMO_AXIS)
# The report's bar: at least this relative bias reduction (and at most DEMO_PPL_BUDGET more perplexity).
DEMO_MIN_BIAS_REDUCTION ?= 0.4

# (--axes is given separately: repeating it would add to the list, not replace it.)
DEMO_MEASURE_COMMON = --model $(DEMO_MODEL) --device $(DEMO_DEVICE) --prompts data/prompts \
  --design $(DEMO_DESIGN) --templates $(DEMO_TEMPLATES) --nouns $(DEMO_NOUNS) --per-bucket $(DEMO_PER_BUCKET) --scorer $(DEMO_SCORER) --replies $(DEMO_REPLIES) --ppl-text $(BROWN) \
  --ppl-window $(DEMO_PPL_WINDOW) --ppl-max-windows $(DEMO_PPL_WINDOWS)
DEMO_MEASURE = $(DEMO_MEASURE_COMMON) --axes $(DEMO_AXES)
# apply reports on the test prompts (every axis) and on Brown windows that sample never saw.
DEMO_HELDOUT = --axes $(DEMO_REPORT_AXES) --ppl-skip-windows $(DEMO_PPL_WINDOWS)
DEMO_RANDOM := $(foreach s,$(shell seq 0 $$(($(DEMO_RANDOM_SEEDS) - 1))),random-$(s))
DEMO_RANDOM_MASKS := $(DEMO_RANDOM:%=$(DEMO_DIR)/%-mask.json)
DEMO_RANDOM_REPORTS := $(DEMO_RANDOM:%=$(DEMO_DIR)/%-report.json)

.PHONY: demo
demo: $(DEMO_DIR)/report.md
	@sed -n '/^## Results/,/^## Bias vs perplexity/p' $< | sed '$$d'
	@echo "Full report: $(DEMO_DIR)/report.md (plots in $(DEMO_DIR)/plots/, numbers in $(DEMO_DIR)/results.json)"

$(DEMO_DIR)/samples.parquet: $(STAGE_BINS) $(MODEL) $(BROWN)/ca01
	$(BIN)/sample $(DEMO_MEASURE) --single-head --num-masks $(DEMO_MASKS) --max-pruned $(DEMO_MAX_PRUNED) \
	  --seed $(DEMO_SEED) --resume --out $@

$(DEMO_DIR)/surrogates/surrogate-bias.mpk: $(DEMO_DIR)/samples.parquet
	$(BIN)/train-surrogate --samples $< --axis $(DEMO_AXIS) --seed $(DEMO_SEED) --out-dir $(DEMO_DIR)/surrogates

$(DEMO_DIR)/ap-mask.json: $(DEMO_DIR)/surrogates/surrogate-bias.mpk
	$(BIN)/anneal --surrogates $(DEMO_DIR)/surrogates --samples $(DEMO_DIR)/samples.parquet \
	  --ppl-budget $(DEMO_PPL_BUDGET) --steps $(DEMO_ANNEAL_STEPS) --restarts $(DEMO_ANNEAL_RESTARTS) --seed $(DEMO_SEED) \
	  --max-pruned $(DEMO_MAX_PRUNED) \
	  --out-mask $@ --out-trajectory $(DEMO_DIR)/trajectory.parquet

$(DEMO_DIR)/fasp-mask.json: $(DEMO_DIR)/samples.parquet
	$(BIN)/fasp $(DEMO_MEASURE) --samples $< --axis $(DEMO_AXIS) --ppl-budget $(DEMO_PPL_BUDGET) \
	  --out-mask $@ --out-candidates $(DEMO_DIR)/fasp-candidates.parquet

$(DEMO_DIR)/random-%-mask.json: $(DEMO_DIR)/ap-mask.json
	$(BIN)/random-masks --like $< --seeds $* --out $@

$(DEMO_DIR)/%-report.json: $(DEMO_DIR)/%-mask.json
	$(BIN)/apply $(DEMO_MEASURE_COMMON) $(DEMO_HELDOUT) --mask $< --out $@

$(DEMO_DIR)/random-%-report.json: $(DEMO_DIR)/random-%-mask.json
	$(BIN)/apply $(DEMO_MEASURE_COMMON) --axes $(DEMO_RANDOM_AXES) --ppl-skip-windows $(DEMO_PPL_WINDOWS) --mask $< --out $@

# report.md (written last), results.json and plots/*.svg; the random masks are listed so Make keeps them.
$(DEMO_DIR)/report.md: $(DEMO_DIR)/ap-report.json $(DEMO_DIR)/fasp-report.json $(DEMO_RANDOM_MASKS) $(DEMO_RANDOM_REPORTS)
	$(BIN)/report --samples $(DEMO_DIR)/samples.parquet --surrogates $(DEMO_DIR)/surrogates --trajectory $(DEMO_DIR)/trajectory.parquet \
	  --ap-report $(DEMO_DIR)/ap-report.json --fasp-report $(DEMO_DIR)/fasp-report.json $(if $(DEMO_RANDOM),--random-reports $(DEMO_RANDOM_REPORTS)) \
	  --axis $(DEMO_AXIS) --ppl-budget $(DEMO_PPL_BUDGET) --min-bias-reduction $(DEMO_MIN_BIAS_REDUCTION) --out-dir $(DEMO_DIR)

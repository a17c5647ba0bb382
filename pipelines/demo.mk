# The demo pipeline: fairness repair of SmolLM2-135M-Instruct on the
# gender_and_sex axis of the project's prompt set, perplexity on Brown.
# Every variable can be overridden: `make demo DEMO_MASKS=400 DEMO_DEVICE=cuda`.

DEMO_DIR ?= results/demo
DEMO_MODEL ?= $(MODEL)
DEMO_DEVICE ?= cpu
DEMO_AXIS ?= gender_and_sex
# Axes measured by the search (sample, fasp); add others only to fit them too, at a cost per mask.
DEMO_AXES ?= gender_and_sex
# Axes apply measures on the test prompts (each adds its prompts to apply's cost; add others,
# e.g. religion,race_ethnicity, for the report's spillover).
DEMO_REPORT_AXES ?= $(DEMO_AXIS)
# Two measurements (see the README's "How the demo spends its hour"):
# - screening (`sample`: the unpruned model, every single-head knockout, DEMO_MASKS random
#   masks): cheap, DEMO_SCREEN_TEMPLATES template x DEMO_SCREEN_NOUNS noun (18 prompts),
#   DEMO_SCREEN_WINDOWS perplexity windows (each from another Brown document);
#   it teaches the surrogates which heads matter;
# - rich (the proposals of every round, FASP's candidates, and `apply` on the test side):
#   DEMO_RICH_TEMPLATES templates x DEMO_RICH_NOUNS nouns per split (216 prompts), DEMO_RICH_WINDOWS windows
#   of DEMO_PPL_WINDOW tokens from as many Brown documents (valid = even windows of each
#   document, test = odd ones), so the final choice's paired interval is narrow.
DEMO_DESIGN ?= crossed
DEMO_SCREEN_TEMPLATES ?= 1
DEMO_RICH_TEMPLATES ?= 6
DEMO_SCREEN_NOUNS ?= 1
# Two neutral nouns per descriptor in the rich measurement: twice the prompts of one, so the
# decision's and the report's bias intervals narrow by about 1/sqrt(2) (the README's noise study).
DEMO_RICH_NOUNS ?= 2
DEMO_SCORER ?= reply-likelihood
# Three negative and three positive canned replies: a quarter of the cost of the full
# data/prompts/replies.json (8 + 8) per mask.
DEMO_REPLIES ?= data/prompts/replies-fast.json
DEMO_MASKS ?= 20
# Most heads a random mask prunes, and so the most the search may prune: the surrogates have
# seen nothing beyond it.
DEMO_MAX_PRUNED ?= 40
DEMO_SEED ?= 0
DEMO_PPL_WINDOW ?= 128
DEMO_SCREEN_WINDOWS ?= 2
DEMO_RICH_WINDOWS ?= 96
DEMO_PPL_BUDGET ?= 0.05
DEMO_ANNEAL_STEPS ?= 200000
DEMO_ANNEAL_RESTARTS ?= 8
# The closed loop: DEMO_ROUNDS rounds of DEMO_CANDIDATES proposals each, measured richly.
DEMO_ROUNDS ?= 4
DEMO_CANDIDATES ?= 4
# Proposals come from walks with each size cap and each budget fraction (smallest and safest
# first): the surrogates fitted on the cheap screening know little of large masks and are
# optimistic at the budget's edge, so every round also measures small and safe ones.
DEMO_SIZE_CAPS ?= 6,10,16
DEMO_BUDGET_FRACTIONS ?= 0.5,1.0
# FASP's grid (every candidate is measured richly, as AP's proposals are).
DEMO_FASP_ALPHAS ?= 0.01,0.02,0.04,0.06,0.08
DEMO_FASP_GAMMAS ?= 0.3,0.6
# Random baseline: masks pruning as many heads as Attention Pruning, seeds 0 .. N-1, measured on
# these axes only.
DEMO_RANDOM_SEEDS ?= 2
DEMO_RANDOM_AXES ?= $(DEMO_AXIS)
# The report's bar: at least this relative bias reduction (and at most DEMO_PPL_BUDGET more perplexity).
DEMO_MIN_BIAS_REDUCTION ?= 0.4

# (--axes is given separately: repeating it would add to the list, not replace it.)
DEMO_MEASURE_COMMON = --model $(DEMO_MODEL) --device $(DEMO_DEVICE) --prompts data/prompts \
  --design $(DEMO_DESIGN) --scorer $(DEMO_SCORER) --replies $(DEMO_REPLIES) --ppl-text $(BROWN) \
  --ppl-window $(DEMO_PPL_WINDOW)
DEMO_SCREEN_MEASURE = $(DEMO_MEASURE_COMMON) --axes $(DEMO_AXES) --templates $(DEMO_SCREEN_TEMPLATES) --nouns $(DEMO_SCREEN_NOUNS) \
  --ppl-split valid --ppl-max-windows $(DEMO_SCREEN_WINDOWS)
DEMO_RICH_MEASURE = $(DEMO_MEASURE_COMMON) --axes $(DEMO_AXES) --templates $(DEMO_RICH_TEMPLATES) --nouns $(DEMO_RICH_NOUNS) \
  --ppl-split valid --ppl-max-windows $(DEMO_RICH_WINDOWS)
# apply reports on the test prompts (disjoint templates) and the test windows of the same documents.
DEMO_TEST_MEASURE = $(DEMO_MEASURE_COMMON) --templates $(DEMO_RICH_TEMPLATES) --nouns $(DEMO_RICH_NOUNS) --ppl-split test --ppl-max-windows $(DEMO_RICH_WINDOWS)
DEMO_TRAIN_ARGS = --seed $(DEMO_SEED)
DEMO_ANNEAL_ARGS = --steps $(DEMO_ANNEAL_STEPS) --restarts $(DEMO_ANNEAL_RESTARTS) --seed $(DEMO_SEED) --max-pruned $(DEMO_MAX_PRUNED) \
  --size-caps $(DEMO_SIZE_CAPS) --budget-fractions $(DEMO_BUDGET_FRACTIONS)
DEMO_RANDOM := $(foreach s,$(shell seq 0 $$(($(DEMO_RANDOM_SEEDS) - 1))),random-$(s))
DEMO_RANDOM_MASKS := $(DEMO_RANDOM:%=$(DEMO_DIR)/%-mask.json)
DEMO_RANDOM_REPORTS := $(DEMO_RANDOM:%=$(DEMO_DIR)/%-report.json)

.PHONY: demo
demo: $(DEMO_DIR)/report.md
	@sed -n '/^## Results/,/^## Bias vs perplexity/p' $< | sed '$$d'
	@echo "Full report: $(DEMO_DIR)/report.md (plots in $(DEMO_DIR)/plots/, numbers in $(DEMO_DIR)/results.json)"

# Screening: the unpruned model, every single-head knockout, random masks.
$(DEMO_DIR)/samples.parquet: $(STAGE_BINS) $(MODEL) $(BROWN)/ca01
	$(BIN)/sample $(DEMO_SCREEN_MEASURE) --single-head --num-masks $(DEMO_MASKS) --max-pruned $(DEMO_MAX_PRUNED) \
	  --seed $(DEMO_SEED) --resume --out $@

# The closed loop (pipelines/closed_loop.mk): round-*/ and ap-mask.json, rounds.json.
$(call closed_loop,DEMO,$(DEMO_DIR))

$(DEMO_DIR)/fasp-mask.json: $(DEMO_DIR)/samples.parquet
	$(BIN)/fasp $(DEMO_RICH_MEASURE) --samples $< --axis $(DEMO_AXIS) --ppl-budget $(DEMO_PPL_BUDGET) \
	  --alphas $(DEMO_FASP_ALPHAS) --gammas $(DEMO_FASP_GAMMAS) --out-mask $@ --out-candidates $(DEMO_DIR)/fasp-candidates.parquet

$(DEMO_DIR)/random-%-mask.json: $(DEMO_DIR)/ap-mask.json
	$(BIN)/random-masks --like $< --seeds $* --out $@

$(DEMO_DIR)/%-report.json: $(DEMO_DIR)/%-mask.json
	$(BIN)/apply $(DEMO_TEST_MEASURE) --axes $(DEMO_REPORT_AXES) --mask $< --out $@

$(DEMO_DIR)/random-%-report.json: $(DEMO_DIR)/random-%-mask.json
	$(BIN)/apply $(DEMO_TEST_MEASURE) --axes $(DEMO_RANDOM_AXES) --mask $< --out $@

# report.md (written last), results.json and plots/*.svg; the random masks are listed so Make keeps them.
$(DEMO_DIR)/report.md: $(DEMO_DIR)/ap-report.json $(DEMO_DIR)/ap-oneshot-report.json $(DEMO_DIR)/fasp-report.json $(DEMO_RANDOM_MASKS) $(DEMO_RANDOM_REPORTS)
	$(BIN)/report --samples $(DEMO_DIR)/samples.parquet --surrogates $(DEMO_DIR)/round-0/surrogates --trajectory $(DEMO_DIR)/round-0/trajectory.parquet \
	  --ap-report $(DEMO_DIR)/ap-report.json --oneshot-report $(DEMO_DIR)/ap-oneshot-report.json --rounds $(DEMO_DIR)/rounds.json \
	  --fasp-report $(DEMO_DIR)/fasp-report.json $(if $(DEMO_RANDOM),--random-reports $(DEMO_RANDOM_REPORTS)) \
	  --axis $(DEMO_AXIS) --min-bias-reduction $(DEMO_MIN_BIAS_REDUCTION) --out-dir $(DEMO_DIR)

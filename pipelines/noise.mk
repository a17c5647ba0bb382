# The noise study (issue 4): how much the measured bias of the UNPRUNED model moves with the
# prompt sample, the bootstrap and the sampling seed, per scorer and prompt design, measured
# with the same Evaluator as `sample` and `apply`. Writes $(NOISE_DIR)/noise.{json,md}.
#   make noise                                   # the README's figures (about 25 min on 2 busy cores)
#   make noise NOISE_DEVICE=cuda NOISE_SAMPLES=4 NOISE_PER_BUCKET=40 NOISE_MASKS=8
#   make noise NOISE_PROMPTS=../shared/data/holistic_bias/v1.1 NOISE_DIR=results/noise-official
# The settings are kept in $(NOISE_DIR)/noise.args, rewritten only when they change, so a
# second `make noise` runs nothing and a changed setting re-runs the study.

NOISE_DIR ?= results/noise
NOISE_MODEL ?= $(MODEL)
NOISE_DEVICE ?= cpu
NOISE_PROMPTS ?= data/prompts
# Canned replies of the reply-likelihood scorer (the official v1.1 files have none: the project's serve).
NOISE_REPLIES ?= data/prompts/replies.json
NOISE_AXES ?= gender_and_sex
NOISE_SCORERS ?= sentiment,reply-likelihood
NOISE_DESIGNS ?= random,crossed
# Disjoint prompt samples per (scorer, design); random design: at most NOISE_PER_BUCKET prompts
# per bucket each; crossed design: NOISE_TEMPLATES templates x NOISE_NOUNS neutral nouns each.
NOISE_SAMPLES ?= 3
NOISE_PER_BUCKET ?= 9
NOISE_TEMPLATES ?= 3
NOISE_NOUNS ?= 1
NOISE_MAX_NEW_TOKENS ?= 16
# Sampled replies (scorers that generate): NOISE_TEMPERATURE > 0 and NOISE_SEEDS reply seeds per sample.
NOISE_TEMPERATURE ?= 0
NOISE_SEEDS ?= 1
# Random masks evaluated on every sample (the size of the differences the search must resolve).
NOISE_MASKS ?= 0
NOISE_MAX_PRUNED ?= 40
NOISE_SEED ?= 0

NOISE_ARGS = --model $(NOISE_MODEL) --device $(NOISE_DEVICE) --prompts $(NOISE_PROMPTS) --replies $(NOISE_REPLIES) --axes $(NOISE_AXES) \
  --scorers $(NOISE_SCORERS) --designs $(NOISE_DESIGNS) --samples $(NOISE_SAMPLES) --per-bucket $(NOISE_PER_BUCKET) \
  --templates $(NOISE_TEMPLATES) --nouns $(NOISE_NOUNS) --prompt-seed $(NOISE_SEED) --max-new-tokens $(NOISE_MAX_NEW_TOKENS) \
  --temperature $(NOISE_TEMPERATURE) --seeds $(NOISE_SEEDS) --masks $(NOISE_MASKS) --max-pruned $(NOISE_MAX_PRUNED) \
  --mask-seed $(NOISE_SEED) --ppl-text $(BROWN) --ppl-max-windows 1

.PHONY: noise NOISE_FORCE
.PRECIOUS: $(NOISE_DIR)/noise.args
noise: $(NOISE_DIR)/noise.json
	@cat $(NOISE_DIR)/noise.md

# $(BIN)/noise is built with the other stage binaries (STAGES in the Makefile).
$(NOISE_DIR)/noise.args: NOISE_FORCE
	@mkdir -p $(@D)
	@echo '$(NOISE_ARGS)' | cmp -s - $@ || echo '$(NOISE_ARGS)' > $@

$(NOISE_DIR)/noise.json: $(NOISE_DIR)/noise.args $(BIN)/noise $(NOISE_MODEL) $(BROWN)/ca01
	$(BIN)/noise $$(cat $<) --out $@

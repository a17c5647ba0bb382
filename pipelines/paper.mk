# The paper's protocol, for a GPU machine: official HolisticBias v1.1 files,
# WikiText-2, sampled replies scored by a toxicity classifier (PAPER_CLASSIFIER=DIR, e.g.
# Detoxify's unbiased RoBERTa as HF files; VADER when none is given), many more masks.
#   make paper PAPER_PROMPTS=/path/to/holistic_bias/v1.1 PAPER_WIKITEXT=/path/to/wikitext-2/valid.txt
# Build first with `make build FEATURES=cuda`. Shard `sample` over machines with
# PAPER_SHARD=i/N and merge by passing every shard to train-surrogate.

PAPER_DIR ?= results/paper
PAPER_MODEL ?= $(MODEL)
PAPER_DEVICE ?= cuda
PAPER_PROMPTS ?= ../shared/data/holistic_bias/v1.1
PAPER_WIKITEXT ?= ../shared/data/wikitext-2/valid.txt
PAPER_AXIS ?= gender_and_sex
PAPER_AXES ?= gender_and_sex,race_ethnicity,religion,sexual_orientation,nationality,age
# The paper's sentences (HolisticBias's random design, PAPER_PER_BUCKET per bucket); `crossed`
# (every descriptor x PAPER_TEMPLATES templates x PAPER_NOUNS nouns) halves the spurious bias.
PAPER_DESIGN ?= random
PAPER_PER_BUCKET ?= 100
PAPER_TEMPLATES ?= 12
PAPER_NOUNS ?= 3
# An HF BERT/RoBERTa sequence-classification folder; empty = the VADER sentiment scorer.
PAPER_CLASSIFIER ?=
PAPER_CLASSIFIER_LABEL ?= toxicity
PAPER_SCORER ?= $(if $(PAPER_CLASSIFIER),classifier,sentiment)
PAPER_MAX_NEW_TOKENS ?= 32
# Sampled replies (seeded: prompt i gets the same draws under every mask).
PAPER_TEMPERATURE ?= 1.0
PAPER_TOP_P ?= 0.9
PAPER_REPLY_SEED ?= 0
PAPER_MASKS ?= 4000
PAPER_MAX_PRUNED ?= 80
PAPER_SEED ?= 0
PAPER_BATCH ?= 128
PAPER_PPL_BUDGET ?= 0.05
PAPER_SHARD ?= 0/1

PAPER_MEASURE = --model $(PAPER_MODEL) --device $(PAPER_DEVICE) --prompts $(PAPER_PROMPTS) --axes $(PAPER_AXES) \
  --design $(PAPER_DESIGN) --per-bucket $(PAPER_PER_BUCKET) --templates $(PAPER_TEMPLATES) --nouns $(PAPER_NOUNS) --scorer $(PAPER_SCORER) --max-new-tokens $(PAPER_MAX_NEW_TOKENS) \
  $(if $(PAPER_CLASSIFIER),--classifier $(PAPER_CLASSIFIER) --classifier-label $(PAPER_CLASSIFIER_LABEL)) \
  --temperature $(PAPER_TEMPERATURE) --top-p $(PAPER_TOP_P) --reply-seed $(PAPER_REPLY_SEED) \
  --batch-size $(PAPER_BATCH) --ppl-text $(PAPER_WIKITEXT) --ppl-window 512 --ppl-max-windows 32

.PHONY: paper
paper: $(PAPER_DIR)/ap-report.json $(PAPER_DIR)/fasp-report.json

$(PAPER_DIR)/samples.parquet: $(STAGE_BINS)
	$(BIN)/sample $(PAPER_MEASURE) --single-head --num-masks $(PAPER_MASKS) --max-pruned $(PAPER_MAX_PRUNED) \
	  --seed $(PAPER_SEED) --shard $(PAPER_SHARD) --resume --out $@

$(PAPER_DIR)/surrogates/surrogate-bias.mpk: $(PAPER_DIR)/samples.parquet
	$(BIN)/train-surrogate --samples $< --axis $(PAPER_AXIS) --seed $(PAPER_SEED) --out-dir $(PAPER_DIR)/surrogates

$(PAPER_DIR)/ap-mask.json: $(PAPER_DIR)/surrogates/surrogate-bias.mpk
	$(BIN)/anneal --surrogates $(PAPER_DIR)/surrogates --samples $(PAPER_DIR)/samples.parquet \
	  --ppl-budget $(PAPER_PPL_BUDGET) --steps 1000000 --restarts 16 --seed $(PAPER_SEED) \
	  --out-mask $@ --out-trajectory $(PAPER_DIR)/trajectory.parquet

$(PAPER_DIR)/fasp-mask.json: $(PAPER_DIR)/samples.parquet
	$(BIN)/fasp $(PAPER_MEASURE) --samples $< --axis $(PAPER_AXIS) --ppl-budget $(PAPER_PPL_BUDGET) \
	  --out-mask $@ --out-candidates $(PAPER_DIR)/fasp-candidates.parquet

$(PAPER_DIR)/%-report.json: $(PAPER_DIR)/%-mask.json
	$(BIN)/apply $(PAPER_MEASURE) --ppl-skip-windows 32 --mask $< --out $@

# The closed-loop search as Make targets, shared by the pipelines (smoke, demo).
# $(call closed_loop,P,DIR) defines, for pipeline P (variables P_ROUNDS, P_RICH_MEASURE,
# P_TRAIN_ARGS, P_ANNEAL_ARGS, P_CANDIDATES, P_PPL_BUDGET, P_AXIS, P_SEED) in folder DIR,
# with the screening table DIR/samples.parquet:
#   DIR/round-0/surrogates/   train-surrogate on the screening table
#   DIR/round-0/candidates.json + oneshot-mask.json   anneal (the paper's one-shot mask too)
#   DIR/round-R/samples.parquet   sample --masks round-(R-1)/candidates.json (rich measurement)
#   DIR/round-R/surrogates/   train-surrogate refined on rounds 1..R
#   DIR/round-R/candidates.json   anneal again (R < P_ROUNDS)
#   DIR/ap-mask.json + rounds.json   choose: the best measured mask within the budget
# Each file is its own target: an interrupted loop resumes where it stopped, and one stage
# can be swapped by deleting its files.

# $(call round_tables,DIR,R): the round tables 1..R.
round_tables = $(foreach r,$(shell seq 1 $(2)),$(1)/round-$(r)/samples.parquet)

define closed_loop_round0
$(2)/round-0/surrogates/surrogate-structured.json: $(2)/samples.parquet $$(STAGE_BINS)
	$$(BIN)/train-surrogate --samples $(2)/samples.parquet --axis $$($(1)_AXIS) $$($(1)_TRAIN_ARGS) --out-dir $$(@D)

$(2)/round-0/candidates.json: $(2)/round-0/surrogates/surrogate-structured.json
	$$(BIN)/anneal --surrogates $$(<D) --samples $(2)/samples.parquet --ppl-budget $$($(1)_PPL_BUDGET) $$($(1)_ANNEAL_ARGS) \
	  --candidates $$($(1)_CANDIDATES) --out-candidates $$@ --out-mask $(2)/round-0/oneshot-mask.json --out-trajectory $(2)/round-0/trajectory.parquet

$(2)/round-0/oneshot-mask.json $(2)/round-0/trajectory.parquet: $(2)/round-0/candidates.json
	@test -f $$@
endef

define closed_loop_round
$(2)/round-$(3)/samples.parquet: $(2)/round-$(4)/candidates.json
	$$(BIN)/sample $$($(1)_RICH_MEASURE) --masks $$< --seed $$($(1)_SEED) --resume --out $$@

$(2)/round-$(3)/surrogates/surrogate-structured.json: $(call round_tables,$(2),$(3))
	$$(BIN)/train-surrogate --samples $(2)/samples.parquet --refine-samples $$(filter %.parquet,$$^) --axis $$($(1)_AXIS) $$($(1)_TRAIN_ARGS) --out-dir $$(@D)

$(2)/round-$(3)/candidates.json: $(2)/round-$(3)/surrogates/surrogate-structured.json
	$$(BIN)/anneal --surrogates $$(<D) --samples $(2)/samples.parquet --ppl-budget $$($(1)_PPL_BUDGET) $$($(1)_ANNEAL_ARGS) \
	  --candidates $$($(1)_CANDIDATES) --out-candidates $$@ --out-mask $(2)/round-$(3)/oneshot-mask.json --out-trajectory $(2)/round-$(3)/trajectory.parquet
endef

define closed_loop_choose
$(2)/ap-mask.json $(2)/rounds.json &: $(call round_tables,$(2),$($(1)_ROUNDS))
	$$(BIN)/choose --samples $$(filter %.parquet,$$^) --candidates $(foreach r,$(shell seq 0 $$(($($(1)_ROUNDS) - 1))),$(2)/round-$(r)/candidates.json) \
	  --surrogates $(foreach r,$(shell seq 0 $$(($($(1)_ROUNDS) - 1))),$(2)/round-$(r)/surrogates) --screening $(2)/samples.parquet \
	  --axis $$($(1)_AXIS) --ppl-budget $$($(1)_PPL_BUDGET) --out-mask $(2)/ap-mask.json --out-rounds $(2)/rounds.json

$(2)/ap-oneshot-mask.json: $(2)/round-0/oneshot-mask.json
	cp $$< $$@
endef

closed_loop = $(eval $(call closed_loop_round0,$(1),$(2))) \
  $(foreach r,$(shell seq 1 $($(1)_ROUNDS)),$(eval $(call closed_loop_round,$(1),$(2),$(r),$(shell echo $$(($(r) - 1)))))) \
  $(eval $(call closed_loop_choose,$(1),$(2)))

#!/usr/bin/env bash
# bf16 on an NVIDIA GPU, a few minutes (the speed issue's device checks):
#   1. golden check of --precision bf16 against the same GPU in f32 (device-check: last-position
#      logits of 4 prompts x 2 masks, top five identical / identical up to ties; perplexity of
#      4 windows within 0.5%), then bf16 throughput of prefill (128 tokens) and generation at
#      batches 8, 64, 256 with the share of the dense bf16 peak;
#   2. the same throughput in f32 at batch 256, in the same run (the ratio bf16 / f32);
#   3. `sample` on the paper-size protocol (official HolisticBias v1.1, gender_and_sex, every
#      descriptor x 6 templates x 2 nouns = 780 prompts; 96 Brown windows of 128 tokens) in
#      bf16 and in f32 on the same masks: seconds per mask (-> masks per hour) and, from the two
#      tables, the bias agreement (tools/compare_precision_tables.py, run where pyarrow is).
#
# Usage: scripts/gpu-bf16.sh [OUT_DIR]
#   BIN=target/release   a build made with `cargo build --release -p attnprune-cli --features cuda`
#   MODEL=data/models/SmolLM2-135M-Instruct.Q4_1.gguf
#   PROMPTS=../shared/data/holistic_bias/v1.1   (with replies.json, or set REPLIES)
#   REPLIES=data/prompts/replies.json
#   TEXT=data/corpus/brown
#   DEVICE=cuda  PEAK_BF16=989  PEAK_F32=67  (H100/H200 SXM datasheet, dense)
#   MASKS_BF16=10  MASKS_F32=8  BATCH=256  WINDOWS=96  MAX_PRUNED=40  (smaller values test the script on the CPU)
# Every step has its own time limit and the script goes on when one fails.
set -uo pipefail
OUT=${1:-results/gpu-bf16}
BIN=${BIN:-target/release}
MODEL=${MODEL:-data/models/SmolLM2-135M-Instruct.Q4_1.gguf}
PROMPTS=${PROMPTS:-../shared/data/holistic_bias/v1.1}
REPLIES=${REPLIES:-data/prompts/replies.json}
TEXT=${TEXT:-data/corpus/brown}
DEVICE=${DEVICE:-cuda}
PEAK_BF16=${PEAK_BF16:-989}
PEAK_F32=${PEAK_F32:-67}
MASKS_BF16=${MASKS_BF16:-10}
MASKS_F32=${MASKS_F32:-8}
BATCH=${BATCH:-256}
WINDOWS=${WINDOWS:-96}
BATCHES=${BATCHES:-8,64,256}
mkdir -p "$OUT"
export RUST_LOG=${RUST_LOG:-info}
step() { echo "== $(date +%T) $*"; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | tee "$OUT/gpu.txt"

step "1. bf16 against f32 on $DEVICE, and bf16 throughput"
timeout 150 "$BIN/device-check" --model "$MODEL" --device "$DEVICE" --precision bf16 \
  --ppl-text tests/fixtures/ppl_text.txt --ppl-window 128 --ppl-max-windows 4 \
  --batches "$BATCHES" --repeats 3 --peak-tflops "$PEAK_BF16" --out "$OUT/device-check-bf16.json" 2>&1 | tail -n 8
echo "exit: $?"

step "2. f32 throughput (and f32 against the CPU)"
timeout 90 "$BIN/device-check" --model "$MODEL" --device "$DEVICE" --precision f32 \
  --ppl-text tests/fixtures/ppl_text.txt --ppl-window 128 --ppl-max-windows 4 \
  --batches "${BATCHES##*,}" --repeats 3 --peak-tflops "$PEAK_F32" --out "$OUT/device-check-f32.json" 2>&1 | tail -n 4
echo "exit: $?"

measure=(--model "$MODEL" --device "$DEVICE" --prompts "$PROMPTS" --replies "$REPLIES" --axes gender_and_sex
  --design crossed --templates 6 --nouns 2 --ppl-text "$TEXT" --ppl-split valid --ppl-window 128
  --ppl-max-windows "$WINDOWS" --batch-size "$BATCH" --max-pruned "${MAX_PRUNED:-40}" --seed 0)
for precision in bf16 f32; do
  masks=$MASKS_BF16; limit=${LIMIT_BF16:-120}
  [ "$precision" = f32 ] && masks=$MASKS_F32 && limit=${LIMIT_F32:-90}
  step "3. sample, $precision, $masks random masks + the unpruned model"
  start=$(date +%s.%N)
  timeout "$limit" "$BIN/sample" "${measure[@]}" --precision "$precision" --num-masks "$masks" \
    --out "$OUT/samples-$precision.parquet" 2>&1 | grep -vE '^\s*$' | tail -n 6
  echo "exit: $?; wall $(awk "BEGIN{print $(date +%s.%N) - $start}") s (model load included)"
done
ls -la "$OUT"
step "done: $OUT"

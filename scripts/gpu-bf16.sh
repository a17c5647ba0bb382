#!/usr/bin/env bash
# bf16 on an NVIDIA GPU, a few minutes (the speed issue's device checks):
#   1. golden check of --precision bf16 against the same GPU in f32 (device-check: last-position
#      logits of 4 prompts x 2 masks, top five identical / identical up to ties; perplexity of
#      4 windows within 0.5%; replies after left-padded, cached prompts within 2 nats), then bf16 throughput of prefill (128 tokens) and generation at
#      batches 8, 64, 256 with the share of the dense bf16 peak;
#   2. the same throughput in f32 at batch 256, in the same run (the ratio bf16 / f32);
#   3. `sample`, one mask per pass, on the paper-size protocol (official HolisticBias v1.1,
#      gender_and_sex, every descriptor x 6 templates x 2 nouns = 780 prompts; 96 Brown
#      windows of 128 tokens) in bf16 and in f32 on the same masks: seconds per mask (-> masks
#      per hour) and, from the two tables, the bias agreement (tools/compare_precision_tables.py,
#      run where pyarrow is);
#   4. the same bf16 `sample` with --masks-per-pass $MASKS_PER_PASS (several masks per forward
#      pass) on the same masks: masks per hour against step 3's one mask per pass, and its table
#      (samples-bf16-mpp.parquet) to compare with step 3's;
#   profile. the bf16 and the f32 forward step by step at the largest batch (device-check
#      --profile: each step's time and TFLOP/s, a whole forward's, and a square product's as
#      the device's reachable product rate): whether the bf16 share of peak is lost in the
#      matrix products or between them;
#   attn. step 1's golden check and the largest batch's throughput and profile in bf16 with
#      --attention backend (burn's attention op instead of the eager ops: in this build burn-cuda's
#      fallback of separate kernels; in a cuda-tuned build the flash kernel competes), to set
#      beside step 1 and the bf16 profile;
#   generic. the largest batch's golden check, throughput and profile in bf16 with --gpu-kernels
#      false: burn's generic ops where attnprune's own GPU kernels (RMSNorm, rotary, SwiGLU, eager
#      attention's masked softmax; crates/attnprune-lm/src/cube.rs) run by default, so that the
#      profile step (kernels on) and this one say what the kernels win, in the same run;
#   kernels. the bf16 profile again with CubeCL's own profiler on (CUBECL_DEBUG_OPTION=profile:
#      every kernel launch timed and named), summed by kernel and by family (matrix products,
#      element-wise ops, casts, reductions, copies) by tools/cubecl_kernel_profile.py into
#      kernels-bf16.json: which kernels a fused kernel of our own would replace;
#   peer. PyTorch (transformers, the device image's) on the same device: prefill and generation
#      at the same batches, bf16 and f32, sdpa and eager attention (tools/gpu_peer.py); the
#      `gguf` package it needs to read the model travels as a wheel in .whl/ (scripts/gpu-pack.sh);
#   tuned. with TUNED_BIN (a build with `--features cuda-tuned`: burn's autotuning and fusion),
#      the golden check, bf16 throughput and profile at the largest batch with --attention
#      $ATTENTION_TUNED (default backend: where autotuning may pick flash attention), under its
#      own longer limit (the autotuning of the first call ran past 60-90 s in the first lease).
#
# Afterwards, where pyarrow is (make bench then summarises OUT_DIR=results/gpu-bf16 in bench.json):
#   tools/compare_precision_tables.py OUT/samples-f32.parquet OUT/samples-bf16.parquet --out OUT/precision-tables.json
#   tools/compare_precision_tables.py OUT/samples-bf16.parquet OUT/samples-bf16-mpp.parquet --out OUT/masks-per-pass-tables.json
#
# Usage: scripts/gpu-bf16.sh [OUT_DIR]
#   BIN=target/release   a build made with `cargo build --release -p attnprune-cli --features cuda`
#   MODEL=data/models/SmolLM2-135M-Instruct.Q4_1.gguf
#   PROMPTS=../shared/data/holistic_bias/v1.1   (with replies.json, or set REPLIES)
#   REPLIES=data/prompts/replies.json
#   TEXT=data/corpus/brown
#   DEVICE=cuda  PEAK_BF16=989  PEAK_F32=67  (H100/H200 SXM datasheet, dense)
#   MASKS_BF16=10  MASKS_F32=8  BATCH=256  WINDOWS=96  MAX_PRUNED=40  (smaller values test the script on the CPU)
#   MASKS_PER_PASS=8  TUNED_BIN=  LIMIT_TUNED=300  ATTENTION_TUNED=backend
#   PROFILE_SQUARE=8192  LIMIT_PROFILE=150  PROFILE_PRECISIONS="bf16 f32"  LIMIT_ATTN=150  LIMIT_GENERIC=150
#   PEER_PYTHON=python3  LIMIT_PEER=300
#   LIMIT_KERNELS=150  KERNELS_PRECISION=bf16  PYTHON=python3   (the kernels step's summary needs only the standard library)
#   CUBECL_AUTOTUNE_LEVEL=minimal|balanced|extensive|full   how hard the tuned build's autotuning searches
#   STEPS="1 2 3 4 profile generic attn kernels peer tuned"   the steps to run (a device call lasts at most 10 minutes: split them)
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
MASKS_PER_PASS=${MASKS_PER_PASS:-8}
PROFILE_SQUARE=${PROFILE_SQUARE:-8192}
TUNED_BIN=${TUNED_BIN:-}
STEPS=" ${STEPS:-1 2 3 4 profile generic attn kernels peer tuned} "
mkdir -p "$OUT"
export RUST_LOG=${RUST_LOG:-info}
step() { echo "== $(date +%T) $*"; }
wanted() { [[ "$STEPS" == *" $1 "* ]]; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | tee "$OUT/gpu.txt"

peak_of() { # PRECISION: the device's dense peak in TFLOP/s for it
  if [ "$1" = f32 ]; then echo "$PEAK_F32"; else echo "$PEAK_BF16"; fi
}
run_check() { # NAME BIN PRECISION BATCHES PEAK_TFLOPS LIMIT_S LINES [options...]: device-check into device-check-NAME.json
  timeout "$6" "$2/device-check" --model "$MODEL" --device "$DEVICE" --precision "$3" \
    --ppl-text tests/fixtures/ppl_text.txt --ppl-window 128 --ppl-max-windows 4 \
    --batches "$4" --repeats 3 --peak-tflops "$5" "${@:8}" --out "$OUT/device-check-$1.json" 2>&1 | tail -n "$7"
  echo "exit: $?"
}
if wanted 1; then
  step "1. bf16 against f32 on $DEVICE, and bf16 throughput"
  run_check bf16 "$BIN" bf16 "$BATCHES" "$PEAK_BF16" 150 8
fi
if wanted 2; then
  step "2. f32 throughput (and f32 against the CPU)"
  run_check f32 "$BIN" f32 "${BATCHES##*,}" "$PEAK_F32" 90 4
fi
if wanted profile; then
  for precision in ${PROFILE_PRECISIONS:-bf16 f32}; do
    step "profile. the $precision forward step by step at batch ${BATCHES##*,}"
    run_check "$precision-profile" "$BIN" "$precision" "${BATCHES##*,}" "$(peak_of "$precision")" "${LIMIT_PROFILE:-150}" 16 \
      --no-throughput --profile --profile-square "$PROFILE_SQUARE"
  done
fi
if wanted generic; then
  step "generic. bf16 with burn's generic ops instead of attnprune's GPU kernels, at batch ${BATCHES##*,}"
  run_check bf16-generic "$BIN" bf16 "${BATCHES##*,}" "$PEAK_BF16" "${LIMIT_GENERIC:-150}" 18 \
    --gpu-kernels false --profile --profile-square "$PROFILE_SQUARE"
fi
if wanted attn; then
  step "attn. bf16 with burn's attention op: golden check, throughput and profile at batch ${BATCHES##*,}"
  run_check bf16-attn-backend "$BIN" bf16 "${BATCHES##*,}" "$PEAK_BF16" "${LIMIT_ATTN:-150}" 18 \
    --attention backend --profile --profile-square "$PROFILE_SQUARE"
fi
if wanted kernels; then
  precision=${KERNELS_PRECISION:-bf16}
  step "kernels. the $precision forward at batch ${BATCHES##*,} with CubeCL's kernel profiler"
  log=${KERNEL_LOG:-/tmp/cubecl-kernels-$precision.log}
  rm -f "$log"
  CUBECL_DEBUG_LOG=$log CUBECL_DEBUG_OPTION=profile run_check "$precision-kernels" "$BIN" "$precision" \
    "${BATCHES##*,}" "$(peak_of "$precision")" "${LIMIT_KERNELS:-150}" 4 --no-throughput --profile --profile-square 0
  "${PYTHON:-python3}" tools/cubecl_kernel_profile.py "$log" --top 20 --out "$OUT/kernels-$precision.json"
fi
if wanted peer; then
  step "peer. PyTorch on $DEVICE: prefill and generation at batches $BATCHES, bf16 and f32"
  if compgen -G ".whl/*.whl" >/dev/null; then
    "${PEER_PYTHON:-python3}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/peer-site .whl/*.whl && export PYTHONPATH=/tmp/peer-site${PYTHONPATH:+:$PYTHONPATH}
  fi
  PYTHONUNBUFFERED=1 timeout "${LIMIT_PEER:-300}" "${PEER_PYTHON:-python3}" tools/gpu_peer.py --gguf "$MODEL" \
    --device "$DEVICE" --batches "$BATCHES" --peak-bf16 "$PEAK_BF16" --peak-f32 "$PEAK_F32" \
    --out "$OUT/peer.json" 2>&1 | grep -v "it/s\]" | tail -n 16
  echo "exit: $?"
fi
if wanted tuned; then
  if [ -n "$TUNED_BIN" ]; then
    step "tuned. bf16 with burn's autotuning and fusion ($TUNED_BIN), --attention ${ATTENTION_TUNED:-backend}"
    run_check bf16-tuned "$TUNED_BIN" bf16 "${BATCHES##*,}" "$PEAK_BF16" "${LIMIT_TUNED:-300}" 18 \
      --attention "${ATTENTION_TUNED:-backend}" --profile --profile-square "$PROFILE_SQUARE"
  else
    step "tuned: skipped (set TUNED_BIN to a build with --features cuda-tuned)"
  fi
fi

measure=(--model "$MODEL" --device "$DEVICE" --prompts "$PROMPTS" --replies "$REPLIES" --axes gender_and_sex
  --design crossed --templates 6 --nouns 2 --ppl-text "$TEXT" --ppl-split valid --ppl-window 128
  --ppl-max-windows "$WINDOWS" --batch-size "$BATCH" --max-pruned "${MAX_PRUNED:-40}" --seed 0)
run_sample() { # NAME PRECISION MASKS LIMIT [extra sample options...]
  local name=$1 precision=$2 masks=$3 limit=$4
  shift 4
  local start
  start=$(date +%s.%N)
  timeout "$limit" "$BIN/sample" "${measure[@]}" --precision "$precision" --num-masks "$masks" "$@" \
    --out "$OUT/samples-$name.parquet" 2>&1 | grep -vE '^\s*$' | tail -n 6
  echo "exit: $?; wall $(awk "BEGIN{print $(date +%s.%N) - $start}") s (model load included)"
}
if wanted 3; then
  step "3. sample, bf16, $MASKS_BF16 random masks + the unpruned model"
  run_sample bf16 bf16 "$MASKS_BF16" "${LIMIT_BF16:-120}" --masks-per-pass 1
  step "3. sample, f32, $MASKS_F32 random masks + the unpruned model"
  run_sample f32 f32 "$MASKS_F32" "${LIMIT_F32:-90}" --masks-per-pass 1
fi
if wanted 4; then
  step "4. sample, bf16, $MASKS_BF16 random masks, $MASKS_PER_PASS masks per pass"
  run_sample bf16-mpp bf16 "$MASKS_BF16" "${LIMIT_MPP:-120}" --masks-per-pass "$MASKS_PER_PASS"
fi
ls -la "$OUT"
step "done: $OUT"

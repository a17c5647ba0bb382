#!/usr/bin/env bash
# GPU check, a few minutes on a machine with an NVIDIA GPU:
#   1. CPU vs CUDA agreement on SmolLM2: last-position logits (<= 5e-3 x max|logit|,
#      same top-5), perplexity (<= 0.2%) and replies scored after left-padded, cached
#      prompts (the scorer's masked path; <= 2 nats), unpruned and with a random mask;
#   2. CUDA throughput of benchmark workloads 1 (prefill 128 tokens) and 2
#      (16-token greedy replies) at batches 8, 64, 256, with the share of the
#      GPU's f32 peak reached;
#   3. workload 3: `sample --device cuda` on a few masks (seconds per mask), and
#      `apply --device cuda --metrics ppl` against the CPU's number.
#
# Usage: scripts/gpu-check.sh [OUT_DIR]
#   BIN=target/release  (a build made with `cargo build --release -p attnprune-cli --features cuda`)
#   MODEL=data/models/SmolLM2-135M-Instruct.Q4_1.gguf
#   PEAK_TFLOPS=67      (H100/H200 SXM plain fp32, vendor datasheet)
set -euo pipefail
OUT=${1:-results/gpu-check}
BIN=${BIN:-target/release}
MODEL=${MODEL:-data/models/SmolLM2-135M-Instruct.Q4_1.gguf}
PEAK_TFLOPS=${PEAK_TFLOPS:-67}
TEXT=${TEXT:-tests/fixtures/ppl_text.txt}
mkdir -p "$OUT"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

echo "== 1-2. agreement and throughput"
"$BIN/device-check" --model "$MODEL" --device cuda --ppl-text "$TEXT" --ppl-window 128 --ppl-max-windows 4 \
  --batches 8,64,256 --repeats 3 --peak-tflops "$PEAK_TFLOPS" --out "$OUT/device-check.json"

echo "== 3. sample on cuda (reply-likelihood and sentiment scorers, 6 masks each)"
for scorer in reply-likelihood sentiment; do
  start=$(date +%s.%N)
  "$BIN/sample" --model "$MODEL" --device cuda --scorer "$scorer" --per-bucket 8 \
    --ppl-text "$TEXT" --ppl-window 128 --ppl-max-windows 4 \
    --num-masks 6 --max-pruned 40 --seed 0 --out "$OUT/samples-$scorer.parquet"
  end=$(date +%s.%N)
  echo "sample $scorer: 6 masks in $(echo "$end - $start" | bc) s (model load included)" | tee -a "$OUT/sample-times.txt"
done

echo "== apply --metrics ppl: cpu vs cuda (a hand-written mask of 6 heads)"
cat > "$OUT/mask.json" <<'JSON'
{"num_layers": 30, "num_heads": 9, "pruned": [[0, 1], [3, 4], [7, 2], [12, 8], [20, 0], [29, 5]]}
JSON
for dev in cpu cuda; do
  "$BIN/apply" --model "$MODEL" --device "$dev" --mask "$OUT/mask.json" --metrics ppl \
    --ppl-text "$TEXT" --ppl-window 128 --ppl-max-windows 4 --out "$OUT/apply-ppl-$dev.json"
done
grep -h -A3 '"perplexity"' "$OUT"/apply-ppl-*.json || true
echo "done: $OUT"

#!/usr/bin/env bash
# Stage what scripts/gpu-bf16.sh needs on a lent GPU, in two carries of under 64 MiB each.
#
# The device tool carries at most 64 MiB a call (the working tree included, about 5 MiB) and
# the machine reaches no network; the model alone is 94 MiB (90 MiB compressed). So the files
# travel in two calls, the second within the machine's 30 s of warmth after the first:
#
#   .gpu/a  the first 50 MiB of the xz'd model, the cuda `device-check` (stripped, xz'd)
#   .gpu/b  the rest of the model and its sha256, the cuda `sample` and the cuda-tuned
#           `device-check` (if built), the Brown corpus (tar.xz), the official HolisticBias v1.1
#           files; and .whl/ (the `gguf` wheel that tools/gpu_peer.py's transformers needs to
#           read the model)
#
# Then, with the device tool (the commands this script prints at the end):
#   run(carry [".gpu/a"], "scripts/gpu-unpack.sh stash")
#   run(carry [".gpu/b", ".whl"], "scripts/gpu-unpack.sh && <env it prints> STEPS='...' scripts/gpu-bf16.sh $OUT/gpu-bf16")
#
# Usage: scripts/gpu-pack.sh
#   BUILD=1          build the binaries first (cargo, --features cuda; and cuda-tuned when TUNED=1)
#   TUNED=1          also build and stage a `--features cuda-tuned` device-check
#   CUDA_TARGET=target/cuda  TUNED_TARGET=target/cuda-tuned   the cargo target folders
#   MODEL=data/models/SmolLM2-135M-Instruct.Q4_1.gguf  PROMPTS=../shared/data/holistic_bias/v1.1
#   TEXT=data/corpus/brown  GGUF_WHEEL=gguf==0.19.0
set -euo pipefail
BUILD=${BUILD:-1}
TUNED=${TUNED:-1}
CUDA_TARGET=${CUDA_TARGET:-target/cuda}
TUNED_TARGET=${TUNED_TARGET:-target/cuda-tuned}
MODEL=${MODEL:-data/models/SmolLM2-135M-Instruct.Q4_1.gguf}
PROMPTS=${PROMPTS:-../shared/data/holistic_bias/v1.1}
TEXT=${TEXT:-data/corpus/brown}
GGUF_WHEEL=${GGUF_WHEEL:-gguf==0.19.0}
PART_BYTES=$((50 * 1024 * 1024))
LIMIT_BYTES=$((64 * 1024 * 1024))

for f in "$MODEL" "$PROMPTS/descriptors.json" "$TEXT"; do
  [ -e "$f" ] || { echo "gpu-pack: $f is missing (make model data; PROMPTS=the HolisticBias v1.1 folder)" >&2; exit 1; }
done
if [ "$BUILD" = 1 ]; then
  echo "== building the cuda binaries into $CUDA_TARGET (about 10 minutes cold)" >&2
  CARGO_TARGET_DIR=$CUDA_TARGET cargo build --release -p attnprune-cli --features cuda \
    --bin device-check --bin sample
  if [ "$TUNED" = 1 ]; then
    echo "== building the cuda-tuned device-check into $TUNED_TARGET" >&2
    CARGO_TARGET_DIR=$TUNED_TARGET cargo build --release -p attnprune-cli --features cuda-tuned \
      --bin device-check
  fi
fi

rm -rf .gpu
mkdir -p .gpu/a .gpu/b .gpu/tmp .whl
pack_bin() { # SOURCE DEST.xz: stripped, compressed
  strip -o .gpu/tmp/bin "$1"
  xz -T0 -6 -c .gpu/tmp/bin >"$2"
  rm -f .gpu/tmp/bin
}
echo "== compressing the model and the binaries" >&2
xz -T0 -6 -c "$MODEL" >.gpu/tmp/model.xz
head -c "$PART_BYTES" .gpu/tmp/model.xz >.gpu/a/model.xz.part0
tail -c +$((PART_BYTES + 1)) .gpu/tmp/model.xz >.gpu/b/model.xz.part1
(cd "$(dirname "$MODEL")" && sha256sum "$(basename "$MODEL")") >.gpu/b/model.sha256
rm -f .gpu/tmp/model.xz
pack_bin "$CUDA_TARGET/release/device-check" .gpu/a/device-check.xz
pack_bin "$CUDA_TARGET/release/sample" .gpu/b/sample.xz
if [ "$TUNED" = 1 ] && [ -x "$TUNED_TARGET/release/device-check" ]; then
  pack_bin "$TUNED_TARGET/release/device-check" .gpu/b/device-check-tuned.xz
fi
tar -C "$(dirname "$TEXT")" -cJf .gpu/b/corpus.tar.xz "$(basename "$TEXT")"
mkdir -p .gpu/b/prompts
cp "$PROMPTS"/*.json .gpu/b/prompts/
cp data/prompts/replies.json .gpu/b/prompts/replies.json
if ! compgen -G ".whl/gguf-*.whl" >/dev/null; then
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl "$GGUF_WHEEL"
fi
rmdir .gpu/tmp

tree_bytes=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
for call in a b; do
  extra=$(du -cb .gpu/$call | tail -1 | cut -f1)
  [ "$call" = b ] && extra=$((extra + $(du -cb .whl | tail -1 | cut -f1)))
  total=$((tree_bytes + extra))
  echo "call $call: $((total / 1024 / 1024)) MiB with the working tree (limit 64)" >&2
  if [ "$total" -gt "$LIMIT_BYTES" ]; then
    echo "gpu-pack: call $call would carry $total bytes, over the 64 MiB limit" >&2
    exit 1
  fi
done
cat <<EOF
Staged in .gpu/ (git-ignored). On the device, two calls, the second at once after the first:
  1. carry [".gpu/a"]          command: scripts/gpu-unpack.sh stash
  2. carry [".gpu/b", ".whl"]  command: scripts/gpu-unpack.sh && set -a && . .gpu/env && set +a && BATCHES=8,256 LIMIT_PEER=200 STEPS="1 generic peer" scripts/gpu-bf16.sh \$OUT/gpu-bf16
  3. (within 30 s on the same warm machine, no carry)  command: set -a && . .gpu/env && set +a && LIMIT_KERNELS=120 LIMIT_TUNED=240 STEPS="kernels 4 tuned" scripts/gpu-bf16.sh \$OUT/gpu-bf16   (or STEPS="1 3")
Each call's steps must end within its 10 minutes: see the step limits in scripts/gpu-bf16.sh.
EOF

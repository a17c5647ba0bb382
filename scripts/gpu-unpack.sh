#!/usr/bin/env bash
# On a lent GPU: put together what scripts/gpu-pack.sh staged in two carries.
#
#   scripts/gpu-unpack.sh stash   (first call, carrying .gpu/a) keeps .gpu/a in /tmp/gpu-stash,
#                                 which lasts as long as the machine stays warm
#   scripts/gpu-unpack.sh         (second call, carrying .gpu/b and .whl) joins the model and
#                                 checks its sha256, unpacks the binaries into .gpu/bin (and
#                                 .gpu/bin-tuned), the corpus into data/corpus, the prompts into
#                                 .gpu/b/prompts, and writes .gpu/env: the variables that point
#                                 scripts/gpu-bf16.sh at them (source it with `set -a`)
set -euo pipefail
STASH=/tmp/gpu-stash
if [ "${1:-}" = stash ]; then
  mkdir -p "$STASH"
  cp .gpu/a/* "$STASH"/
  ls -la "$STASH"
  exit 0
fi
for f in "$STASH/model.xz.part0" "$STASH/device-check.xz" .gpu/b/sample.xz .gpu/b/model.xz.part1; do
  [ -e "$f" ] || { echo "gpu-unpack: $f is missing (was the first call's stash made on this machine?)" >&2; exit 1; }
done
model_name=$(cut -d' ' -f3- .gpu/b/model.sha256 | sed 's/^\*//')
mkdir -p data/models data/corpus .gpu/bin
cat "$STASH/model.xz.part0" .gpu/b/model.xz.part1 | xz -d >"data/models/$model_name"
(cd data/models && sha256sum -c ../../.gpu/b/model.sha256)
xz -d -c "$STASH/device-check.xz" >.gpu/bin/device-check
xz -d -c .gpu/b/sample.xz >.gpu/bin/sample
chmod +x .gpu/bin/device-check .gpu/bin/sample
tuned=
if [ -e .gpu/b/device-check-tuned.xz ]; then
  mkdir -p .gpu/bin-tuned
  xz -d -c .gpu/b/device-check-tuned.xz >.gpu/bin-tuned/device-check
  chmod +x .gpu/bin-tuned/device-check
  tuned=.gpu/bin-tuned
fi
tar -C data/corpus -xJf .gpu/b/corpus.tar.xz
cat >.gpu/env <<EOF
BIN=.gpu/bin
TUNED_BIN=$tuned
MODEL=data/models/$model_name
PROMPTS=.gpu/b/prompts
REPLIES=.gpu/b/prompts/replies.json
TEXT=data/corpus/$(tar -tJf .gpu/b/corpus.tar.xz | head -1 | cut -d/ -f1)
EOF
cat .gpu/env

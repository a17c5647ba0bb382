#!/usr/bin/env bash
# make test-slurm: the tiny-model pipeline on a live one-node Slurm cluster on this machine.
#   1. installs Slurm and munge from the distribution (apt-get) and Snakemake + its Slurm
#      executor plugin into .venv-slurm (tools/requirements-snakemake.txt);
#   2. starts munged, slurmctld and slurmd (one node, 2 CPUs, no cgroups, no accounting
#      database: the executor polls squeue, MinJobAge keeps finished jobs visible);
#   3. runs pipelines/Snakefile with pipelines/config/tiny.yaml through the Slurm executor,
#      `sample` split 4 ways, to the report; checks that the 4 shard tables equal the unsharded
#      table row for row (tools/compare_sample_tables.py);
#   4. runs the 4 shards again, cancels one shard job mid-run (scancel), lets Snakemake resubmit
#      it (it resumes from its OUT.parts/), and checks again: no row lost, none duplicated;
#   5. runs the plain job-array script pipelines/slurm/sample-array.sbatch and checks it too.
# Idempotent; the daemons it started are stopped on exit. Needs root (apt-get, daemons).
# Work folder: SLURM_TEST_DIR (default results/test-slurm).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-target/release}
VENV=${SLURM_VENV:-.venv-slurm}
WORK=$ROOT/${SLURM_TEST_DIR:-results/test-slurm}
MASKS=${SLURM_TEST_MASKS:-120}
START=$(date +%s)
MARK="# written by attnprune scripts/test_slurm.sh"
step() { echo "== test-slurm [$(($(date +%s) - START)) s] $*"; }
fail() { echo "test-slurm: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs packages and starts slurmctld, slurmd, munged)"
for b in sample make-tiny-model train-surrogate anneal choose fasp apply random-masks report; do
  [ -x "$BIN/$b" ] || fail "$BIN/$b is missing: run \`make build\` first"
done

step "packages: slurm-wlm, munge"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi

step "venv: $VENV (tools/requirements-snakemake.txt)"
if [ ! -f "$VENV/.installed" ] || [ tools/requirements-snakemake.txt -nt "$VENV/.installed" ]; then
  # Debian's python3 has venv and ensurepip in a separate package.
  python3 -c 'import venv, ensurepip' 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet -r tools/requirements-snakemake.txt
  touch "$VENV/.installed"
fi
export PATH=$ROOT/$VENV/bin:$PATH

STATE=$WORK/slurm
mkdir -p "$STATE"
PIDS=()
cleanup() {
  local rc=$?
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then scancel --user=root 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && grep -qxF "$MARK" "$SLURM_CONF"; then rm -f "$SLURM_CONF"; fi
  if [ -n "${MUNGED_STARTED:-}" ] && [ -f /run/munge/munged.pid ]; then kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true; fi
  echo "== test-slurm: daemons stopped ($(($(date +%s) - START)) s in all, exit $rc)"
}
trap cleanup EXIT

step "munge"
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
[ -f /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  MUNGED_STARTED=1
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge >/dev/null || fail "munged does not answer"

step "slurm.conf: one node, 2 CPUs, no cgroups"
HOST=$(hostname -s)
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
# At Slurm's default path: the Slurm executor's jobs run srun without this script's environment.
# A slurm.conf that this script did not write is never touched.
export SLURM_CONF=/etc/slurm/slurm.conf
if [ -f "$SLURM_CONF" ] && ! grep -qxF "$MARK" "$SLURM_CONF"; then
  fail "$SLURM_CONF exists and is not this test's: this machine has its own Slurm; run the test elsewhere"
fi
mkdir -p /etc/slurm
cat > "$SLURM_CONF" <<CONF
$MARK
ClusterName=attnprune-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=600
SchedulerParameters=sched_interval=1
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=2 RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$STATE/ctld" "$STATE/d"
slurmctld -D -i -f "$SLURM_CONF" >>"$STATE/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" >>"$STATE/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && break
  sleep 1
done
sinfo -h -o %T | grep -qx idle || { tail -20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2; fail "the node did not come up"; }
sinfo

SMK=(snakemake -s pipelines/Snakefile --configfile pipelines/config/tiny.yaml)
SLURM=(--profile pipelines/slurm --slurm-no-account --slurm-status-command squeue
  --slurm-init-seconds-before-status-checks 2 --latency-wait 5 --jobs 4 --slurm-logdir "$WORK/slurm-logs")

# --- 3. the whole pipeline through Slurm, sample in 4 shards ---
RUN=$WORK/pipeline
rm -rf "$RUN" "$WORK/kill" "$WORK/array"
step "reference: the unsharded screening table (one local job)"
"${SMK[@]}" --config dir="$RUN" masks="$MASKS" --cores 2 "$RUN/samples-unsharded.parquet"
step "the tiny pipeline through the Slurm executor (sample in 4 shard jobs)"
"${SMK[@]}" --config dir="$RUN" masks="$MASKS" "${SLURM[@]}"
[ -s "$RUN/report.md" ] || fail "no report"
python3 tools/compare_sample_tables.py "$RUN/samples-unsharded.parquet" "$RUN"/samples/shard-{0,1,2,3}-of-4.parquet \
  || fail "the Slurm shards differ from the unsharded table"

# --- 4. a shard job cancelled mid-run, resubmitted, resumed ---
KILL=$WORK/kill
mkdir -p "$KILL"
cp -r "$RUN/model" "$KILL/model"
step "4 shard jobs again; one is cancelled mid-run"
"${SMK[@]}" --config dir="$KILL" masks="$MASKS" "${SLURM[@]}" \
  "$KILL"/samples/shard-{0,1,2,3}-of-4.parquet > "$KILL/snakemake.out" 2>&1 &
SNAKE=$!
victim=
for _ in $(seq 600); do
  for i in 0 1 2 3; do
    parts=$KILL/samples/shard-$i-of-4.parquet.parts
    if [ -f "$parts/.lock" ] && compgen -G "$parts/part-*.parquet" >/dev/null && [ ! -e "$KILL/samples/shard-$i-of-4.parquet" ]; then
      victim=$i
      break 2
    fi
  done
  sleep 0.2
done
[ -n "$victim" ] || { wait "$SNAKE" || true; cat "$KILL/snakemake.out" >&2; fail "no shard was caught mid-run"; }
pid=$(cut -d' ' -f1 "$KILL/samples/shard-$victim-of-4.parquet.parts/.lock")
# The shard's Slurm job: the executor puts the rule and wildcards in the job's comment.
jobid=$(squeue -h -t RUNNING -o '%i|%k' | awk -F'|' -v i="$victim" \
  '$2 ~ ("^rule_sample_shard_wildcards_(i=)?" i "$") {print $1}' | head -1)
rows_before=$(ls "$KILL/samples/shard-$victim-of-4.parquet.parts"/part-*.parquet | wc -l)
if [ -n "$jobid" ]; then
  step "scancel job $jobid (shard $victim, sample pid $pid, $rows_before part files written)"
  scancel "$jobid"
else
  step "SIGKILL sample pid $pid (shard $victim; its job id was not found)"
  kill -9 "$pid"
fi
wait "$SNAKE" || { cat "$KILL/snakemake.out" >&2; fail "snakemake did not recover the killed shard"; }
grep -E "already done" "$KILL/logs/sample-shard-$victim.log" | sed 's/^/   /'
grep -qE "\(([1-9][0-9]*) already done\)" "$KILL/logs/sample-shard-$victim.log" \
  || fail "shard $victim was not resumed from its parts (no 'N already done' with N > 0 in its log)"
python3 tools/compare_sample_tables.py "$RUN/samples-unsharded.parquet" "$KILL"/samples/shard-{0,1,2,3}-of-4.parquet \
  || fail "after the killed shard, the shards differ from the unsharded table"

# --- 5. the plain job-array script ---
ARRAY=$WORK/array
mkdir -p "$ARRAY"
step "pipelines/slurm/sample-array.sbatch: sbatch --array=0-3 --wait"
ARGS=$("${SMK[@]}" --config dir="$RUN" masks="$MASKS" --cores 1 -n -p "$RUN/samples-unsharded.parquet" --forcerun sample_unsharded 2>/dev/null \
  | grep -o "$BIN/sample .* --workers" | head -1 | sed "s|^$BIN/sample ||; s| --workers$||")
[ -n "$ARGS" ] || fail "could not read sample's arguments from the workflow"
# shellcheck disable=SC2086
sbatch --wait --array=0-3 --cpus-per-task=1 --mem=1G --output="$ARRAY/task-%a.log" \
  pipelines/slurm/sample-array.sbatch "$ARRAY" $ARGS >/dev/null || { cat "$ARRAY"/task-*.log >&2; fail "the array job failed"; }
python3 tools/compare_sample_tables.py "$RUN/samples-unsharded.parquet" "$ARRAY"/shard-{0,1,2,3}-of-4.parquet \
  || fail "the array's shards differ from the unsharded table"

step "PASSED: pipeline through Slurm, killed shard recovered, array script; tables equal"

#!/usr/bin/env bash
# Issue 16, PHM 2018 over many fleets: all-NaN, gbm and the networks with the shipped defaults
# (no tuning flags) on five simulated report fleets whose seeds were never used for any choice
# (development used fleets 101-103). One process per (fleet, model), all in
# parallel: on 16 cores + 1 H100 it finishes in about 9 minutes.
#
#   bash pipelines/i16_phm2018_gpu.sh DATA OUT
#     DATA  unused here (the fleets are simulated), kept for the common calling convention
#     OUT   OUT/fleet-S/ the simulated data, OUT/runs/S-MODEL/phm2018*.json + .log per run,
#           OUT/summary.md and OUT/summary.json (pipelines/i16_phm2018_summary.py)
#
# FLEET_SEEDS, TOOLS, DAYS, TEST_TOOLS override the fleets (defaults 301..305, 20, 30, 5: the
# fleets 201-205 of the first report have been seen); RUNS (default "gbm moe") lists the runs:
# a model name, or NAME-fK for a network with `--folds K` (e.g. RUNS="moe-f1 moe-f3" on the
# development fleets). Networks get --threads ${NET_THREADS:-2}.
# All-NaN needs no run of its own: every run scores it on the same truth (s1_all_nan).
set -u
out=${2:?usage: i16_phm2018_gpu.sh DATA OUT}
seeds=${FLEET_SEEDS:-301 302 303 304 305}
tools=${TOOLS:-20} days=${DAYS:-30} test_tools=${TEST_TOOLS:-5}
runs=${RUNS:-gbm moe}
phm() { python3 -m phm "$@"; }
mkdir -p "$out/runs"
start=$(date +%s)

simulate() {
    local s=$1
    [ -f "$out/fleet-$s/.complete" ] && return 0
    phm simulate phm2018 --out "$out/fleet-$s" --tools "$tools" --days "$days" --seed "$s" \
        --test-tools "$test_tools" --workers 2 --no-progress >"$out/runs/sim-$s.log" 2>&1 &&
        touch "$out/fleet-$s/.complete"
}
for s in $seeds; do simulate "$s" & done
wait
echo "simulated in $(($(date +%s) - start)) s"

for s in $seeds; do
    data=$out/fleet-$s
    for run in $runs; do
        model=${run%%-f*}
        log=$out/runs/$s-$run.log
        if [ "$model" = gbm ]; then
            # gradient boosting uses every core through OpenMP unless told: 3 per process here
            OMP_NUM_THREADS=3 phm bench phm2018 --data "$data" --model gbm --no-progress \
                --out "$out/runs/$s-$run" >"$log" 2>&1 &
        else
            folds=()
            [ "$run" != "$model" ] && folds=(--folds "${run##*-f}")
            phm bench phm2018 --data "$data" --model "$model" "${folds[@]}" --device "${NET_DEVICE:-cuda}" \
                --threads "${NET_THREADS:-2}" --no-progress --out "$out/runs/$s-$run" >"$log" 2>&1 &
        fi
    done
done
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
echo "all runs in $(($(date +%s) - start)) s (status $status)"
PYTHONPATH=. python3 pipelines/i16_phm2018_summary.py "$out/runs" | tee "$out/summary.md"
exit $status

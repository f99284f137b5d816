#!/usr/bin/env bash
# Issue 16, PHM 2018, second attempt: development fleets (101, 102: every choice) and report
# fleets (REP_SEEDS, default 401-405: 301-305 were seen by the single-split MoE) at 12 tools x
# 20 days x 4 test tools, concurrently, on one GPU machine. Each half stops after LIMIT seconds
# (default 540); finished runs keep their JSON. HALVES="dev" or "rep" runs one half (one half per
# device call fits; both at once did not); DEV_RUNS / REP_RUNS list the runs of each half.
#
#   bash pipelines/i16_phm2018_dev_report.sh OUT
#     OUT/dev, OUT/rep: the layout of pipelines/i16_phm2018_gpu.sh (runs/, summary.md)
#
# On the device machine the image lacks some packages; the coordinator sources a local setup
# script first (not part of the product).
set -u
out=${1:?usage: i16_phm2018_dev_report.sh OUT}
export TOOLS=${TOOLS:-12} DAYS=${DAYS:-20} TEST_TOOLS=${TEST_TOOLS:-4} NET_THREADS=${NET_THREADS:-1}
limit=${LIMIT:-540}
halves=${HALVES:-dev rep}
case " $halves " in *" dev "*)
    (FLEET_SEEDS="101 102" RUNS="${DEV_RUNS:-gbm moe-f1 moe-f3}" timeout "$limit" \
        bash pipelines/i16_phm2018_gpu.sh x "$out/dev" >"$out.dev.log" 2>&1) & ;;
esac
case " $halves " in *" rep "*)
    (FLEET_SEEDS="${REP_SEEDS:-401 402 403 404 405}" RUNS="${REP_RUNS:-gbm moe-f1}" timeout "$limit" \
        bash pipelines/i16_phm2018_gpu.sh x "$out/rep" >"$out.rep.log" 2>&1) & ;;
esac
wait
for d in $halves; do
    [ -f "$out/$d/summary.md" ] ||
        PYTHONPATH=. python3 pipelines/i16_phm2018_summary.py "$out/$d/runs" >"$out/$d/summary.md"
    echo "== $d"
    head -12 "$out/$d/summary.md"
done

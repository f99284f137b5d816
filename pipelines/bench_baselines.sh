#!/usr/bin/env bash
# Re-measures every baseline figure in docs/BENCHMARKS.md (issues 2 and 3), on this machine.
# Usage: bash pipelines/bench_baselines.sh [DATA_DIR] [OUT_DIR]
#   DATA_DIR: the public datasets (cmapss/, cwru/, femto/); default ../shared/data
set -euo pipefail
data=${1:-../shared/data}
out=${2:-data/bench}
sim=data/sim/phm2018-20x30d-seed1

[ -f "$sim/.complete" ] || {
  phm simulate phm2018 --out "$sim" --tools 20 --days 30 --seed 1 --test-tools 5 --workers 2 --no-progress
  touch "$sim/.complete"
}
for model in nan gbm survival; do
  phm bench phm2018 --data "$sim" --model "$model" --out "$out/phm2018-$model" --no-progress
done
phm bench io --rows 8000000 --out "$out/io"
for subset in FD001 FD003; do
  for model in gbm survival; do
    phm bench cmapss --data "$data" --subset "$subset" --model "$model" --out "$out/cmapss-$subset-$model"
  done
done
phm bench cwru --data "$data" --model gbm --out "$out/cwru"
phm bench cwru --data "$data" --model gbm --train-load 0 --test-load 1 --out "$out/cwru"
phm bench cwru --data "$data" --model gbm --train-load 1 --test-load 0 --out "$out/cwru"
for model in gbm survival; do
  phm bench femto --data "$data" --model "$model" --out "$out/femto-$model"
done

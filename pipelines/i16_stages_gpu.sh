#!/usr/bin/env bash
# Full-scale ablations of the three training stages (issue 16): pretraining on/off, PCGrad on/off,
# distillation ensemble -> small / tiny. One H100 + 16 cores, under 9 minutes wall; every run
# writes JSON under OUT (and a .log beside it).
#
#   bash pipelines/i16_stages_gpu.sh DATA OUT
#     DATA  folder holding cmapss/ cwru/ femto/ (and phm2018/; else a small one is simulated:
#           8 tools x 10 days, under OUT/data/phm2018)
#     OUT   result folder
#
# Phase 1 (in parallel): the three pretraining checkpoints (GPU), the runs without init (the
# baselines of the pretraining ablation), the PCGrad ablation on the plant pump model (fault +
# RUL, CPU, 5 seeds) and the two teachers (deep ensembles, GPU). Phase 2 (in parallel, once the
# pretraining and teachers are done): the runs with init (C-MAPSS, CWRU, plant) and the
# distillations.
# Seeds: 0 1 2 (benches: --seed S --seeds 1, one process each), plant 0..4.
set -u
data=$1 out=$2
mkdir -p "$out"
start=$SECONDS
left() { # seconds left of the 9-minute budget (at least 10)
    local n=$((530 - (SECONDS - start)))
    echo $((n > 10 ? n : 10))
}
run() { # NAME SECONDS PHM-ARGS...: `python3 -m phm PHM-ARGS` in the background, log OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    timeout "$limit" python3 -m phm "$@" >"$out/$name.log" 2>&1 &
}
seeds="0 1 2"
pre_all=$out/pretrain-all.pt      # every dataset's training assets
pre_nocwru=$out/pretrain-nocwru.pt  # without CWRU: the cross-load test load stays unseen

# --- phase 0: DATA's datasets beside a PHM 2018 folder (simulated when DATA has none) ------
stage=$out/data
mkdir -p "$stage"
for d in "$data"/*; do ln -sfn "$(realpath "$d")" "$stage/$(basename "$d")"; done
if [ ! -d "$stage/phm2018" ]; then
    timeout 90 python3 -m phm simulate phm2018 --out "$stage/phm2018" --tools 8 --days 10 \
        --test-tools 2 --workers 4 --no-progress >"$out/simulate-phm2018.log" 2>&1
fi
data=$stage

# --- phase 1 -------------------------------------------------------------------------------
datasets=cmapss,cwru,femto,plant,phm2018
run pretrain-all 240 pretrain --datasets $datasets --data "$data" --device cuda --epochs 8 \
    --out "$pre_all" --metrics-out "$out/pretrain-all.json"
p1=$!
run pretrain-nocwru 240 pretrain --datasets cmapss,femto,plant --data "$data" --device cuda \
    --epochs 8 --out "$pre_nocwru" --metrics-out "$out/pretrain-nocwru.json"
p2=$!
pre_plant=$out/pretrain-plant-size.pt  # the plant model's size (plant.toml), every dataset
run pretrain-plant-size 240 pretrain --datasets $datasets --data "$data" --device cuda \
    --config phm/configs/models/plant.toml --epochs 8 --out "$pre_plant" \
    --metrics-out "$out/pretrain-plant-size.json"
p3=$!
for seed in $seeds; do
    run cmapss-FD001-off-$seed 500 bench cmapss --data "$data" --subset FD001 --model moe \
        --device cuda --seed $seed --seeds 1 --epochs 30 --threads 1 --out "$out/cmapss-FD001-off-$seed"
    run cwru-1to0-off-$seed 500 bench cwru --data "$data" --model moe --train-load 1 \
        --test-load 0 --seed $seed --seeds 1 --epochs 150 --threads 1 --out "$out/cwru-1to0-off-$seed"
done
for surgery in sum pcgrad; do  # plant.toml with [train] gradient_surgery set
    sed "s/^\[train\]$/[train]\ngradient_surgery = \"$surgery\"/" phm/configs/models/plant.toml \
        >"$out/plant-$surgery.toml"
done
for seed in 0 1 2 3 4; do
    for surgery in sum pcgrad; do
        cfg=$out/plant-$surgery.toml
        run plant-$surgery-$seed 500 train --dataset plant --config "$cfg" --seed $seed \
            --threads 1 --out "$out/plant-$surgery-$seed.pt" --metrics-out "$out/plant-$surgery-$seed.json"
    done
done
for surgery in sum pcgrad; do  # PHM 2018 (fault + TTF): PCGrad against the sum, validation only
    sed "s/^\[train\]$/[train]\ngradient_surgery = \"$surgery\"/" phm/configs/models/small.toml \
        >"$out/small-$surgery.toml"
done
for seed in $seeds; do
    for surgery in sum pcgrad; do
        run phm2018-$surgery-$seed 500 train --dataset phm2018 --data "$data/phm2018" \
            --config "$out/small-$surgery.toml" --device cuda --seed $seed --epochs 15 --threads 1 \
            --out "$out/phm2018-$surgery-$seed.pt" --metrics-out "$out/phm2018-$surgery-$seed.json"
    done
done
run teacher-plant 300 train --dataset plant --config phm/configs/models/plant.toml --members 5 \
    --device cuda --threads 1 --out "$out/teacher-plant.pt" --metrics-out "$out/teacher-plant.json"
t1=$!
run teacher-cmapss 300 train --dataset cmapss --subset FD001 --data "$data" --members 3 \
    --device cuda --epochs 25 --threads 1 --out "$out/teacher-cmapss.pt" \
    --metrics-out "$out/teacher-cmapss.json"
t2=$!

# --- phase 2 -------------------------------------------------------------------------------
wait $p1 $p2 $p3
for seed in 0 1 2 3 4; do  # the plant with pretraining (sum): compare with plant-sum-S
    run plant-init-$seed "$(left)" train --dataset plant --config phm/configs/models/plant.toml \
        --seed $seed --threads 1 --init "$pre_plant" --out "$out/plant-init-$seed.pt" \
        --metrics-out "$out/plant-init-$seed.json"
done
for seed in $seeds; do
    run cmapss-FD001-on-$seed "$(left)" bench cmapss --data "$data" --subset FD001 --model moe \
        --device cuda --seed $seed --seeds 1 --epochs 30 --threads 1 --init "$pre_all" \
        --out "$out/cmapss-FD001-on-$seed"
    run cwru-1to0-on-$seed "$(left)" bench cwru --data "$data" --model moe --train-load 1 \
        --test-load 0 --seed $seed --seeds 1 --epochs 150 --threads 1 --init "$pre_nocwru" \
        --out "$out/cwru-1to0-on-$seed"
done
wait $t1 $t2
for student in student-tiny small; do
    run distill-plant-$student "$(left)" distill --teacher "$out/teacher-plant.pt" \
        --config phm/configs/models/$student.toml --threads 1 --out "$out/distill-plant-$student.pt" \
        --metrics-out "$out/distill-plant-$student.json"
    run distill-cmapss-$student "$(left)" distill --teacher "$out/teacher-cmapss.pt" \
        --config phm/configs/models/$student.toml --data "$data" --device cuda --epochs 15 --alphas 0,1 \
        --threads 1 --out "$out/distill-cmapss-$student.pt" \
        --metrics-out "$out/distill-cmapss-$student.json"
done
status=0
for job in $(jobs -p); do
    wait "$job" || status=1
done
echo "i16 stages: $((SECONDS - start)) s wall, status $status"
exit $status

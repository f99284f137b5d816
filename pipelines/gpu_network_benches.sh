#!/usr/bin/env bash
# The GPU runs behind the network figures (MoE and dense) in docs/BENCHMARKS.md: one process
# per (model, seed), all in parallel on one GPU (a small model leaves most of an H100 idle).
#
#   bash pipelines/gpu_network_benches.sh GROUP DATA OUT
#     GROUP  cmapss-FD001 | cmapss-FD003 | phm2018 | model
#     DATA   parent folder of cmapss/ (cmapss-*), or the simulated PHM 2018 folder (phm2018)
#     OUT    result folder; each run writes OUT/NAME/*.json and OUT/NAME.log
#
# Seeds are separate processes (`--seed S --seeds 1`); `python3 pipelines/seed_summary.py
# OUT` gives mean and std over them. EPOCHS (default 100) caps training; early stopping on the
# validation split (patience from the config) ends it sooner. MOE_CONFIG / DENSE_CONFIG replace
# the default configs, TAG is appended to the run names.
set -u
group=$1 data=$2 out=$3
epochs=${EPOCHS:-100}
seeds=${SEEDS:-0 1 2}
tag=${TAG:-}  # appended to each run's name
extra=${EXTRA:-}  # more bench flags, e.g. "--window 100" or "--members 5" (deep ensembles)
config() { # MOE_CONFIG / DENSE_CONFIG override the default config of each network
    local var=${1^^}_CONFIG
    [ -n "${!var:-}" ] && echo "--config ${!var}"
}
phm() { python3 -m phm "$@"; }
mkdir -p "$out"
case $group in
cmapss-*)
    subset=${group#cmapss-}
    for model in moe dense; do
        for seed in $seeds; do
            name=cmapss-$subset-$model$tag-$seed
            # shellcheck disable=SC2046
            phm bench cmapss --data "$data" --subset "$subset" --model $model --device cuda $(config $model) \
                --seed "$seed" --seeds 1 --epochs "$epochs" --threads 1 --out "$out/$name" $extra \
                >"$out/$name.log" 2>&1 &
        done
    done
    ;;
phm2018)
    for model in moe dense; do
        for seed in $seeds; do
            name=phm2018-$model$tag-$seed
            # shellcheck disable=SC2046
            phm bench phm2018 --data "$data" --model $model --device cuda $(config $model) --seed "$seed" \
                --seeds 1 --epochs "$epochs" --threads 2 --no-progress --out "$out/$name" \
                >"$out/$name.log" 2>&1 &
        done
    done
    ;;
model)
    phm bench model --threads 1 --train-steps 50 --out "$out/model" >"$out/model.log" 2>&1 &
    ;;
*)
    echo "unknown group $group" >&2
    exit 2
    ;;
esac
status=0
for job in $(jobs -p); do
    wait "$job" || status=1
done
exit $status

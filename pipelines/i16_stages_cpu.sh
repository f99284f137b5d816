#!/usr/bin/env bash
# Issue 16, the C-MAPSS pretraining ablation at convergence on CPU (2 cores), the seeds after 0:
# the same checkpoint recipe as the seed-0 row of docs/BENCHMARKS.md "The three training stages",
# then FD001 MoE single models with and without `--init`, two processes at a time, one thread each.
#   bash pipelines/i16_stages_cpu.sh DATA OUT [SEEDS]      (SEEDS default "1 2"; ~20 min per seed)
set -u
data=$1 out=$2
seeds=${3:-1 2}
mkdir -p "$out"
pre=$out/pretrain.pt
[ -f "$pre" ] || python -m phm pretrain --datasets cmapss,femto,plant --data "$data" \
    --config phm/configs/models/cmapss.toml --epochs 3 --max-windows 3000 --threads 2 \
    --out "$pre" --metrics-out "$out/pretrain.json" >"$out/pretrain.log" 2>&1 || exit 1
for seed in $seeds; do
    for init in off on; do
        extra=()
        [ $init = on ] && extra=(--init "$pre")
        python -m phm bench cmapss --data "$data" --subset FD001 --model moe --members 1 \
            --seed "$seed" --seeds 1 --threads 1 --out "$out/FD001-moe-$init-$seed" "${extra[@]}" \
            >"$out/FD001-moe-$init-$seed.log" 2>&1 &
    done
    wait
done

# Issue 17 part 4: the network rows with more target labels (10 per class on HIT-SM targets:
# its ~24 windows per class cannot give 20 separate ones; 20 on CWRU as target).
# OUT: output folder (default /tmp/rec4/net). Same commands as scripts/i17/rec3_net.sh.
set -e
cd "$(dirname "$0")/../.."  # the repository root
export OMP_NUM_THREADS=1
C=../shared/data/cwru; H=../shared/data/hitsm; O=${OUT:-/tmp/rec4/net}
B="nice -n 10 python -m phm bench recordings --threads 1 --bearing 6205 --label-column location"
SQ="--train rig=spectraquest --test rig=selfbuilt"; SB="--train rig=selfbuilt --test rig=spectraquest"
HC=(--train "dataset=hitsm" --test "dataset=cwru,location=normal|inner_race|outer_race")
mkdir -p $O
for P in 0 1 2; do
  $B --manifest $H $SQ --model moe --seed $P --pretrain-to $O/pre_moe_$P.pt > $O/pre_moe_$P.log
done
$B --manifest $H $SQ --model moe --seeds 3 --target-labels 10 --out $O/sq_sb_moe_none_10
$B --manifest $H $SB --model moe --seeds 3 --target-labels 10 --out $O/sb_sq_moe_none_10
for P in 0 1 2; do
  $B --manifest $H $SQ --model moe --seeds 3 --target-labels 10 --init $O/pre_moe_$P.pt --out $O/sq_sb_moe_pre${P}_10
  $B --manifest $H $SB --model moe --seeds 3 --target-labels 10 --init $O/pre_moe_$P.pt --out $O/sb_sq_moe_pre${P}_10
done
$B --manifest $C --manifest $H "${HC[@]}" --model moe --pretrain-to $O/pre_cwhit.pt > $O/pre_cwhit.log
for I in none pre; do
  init=(); [ $I = pre ] && init=(--init $O/pre_cwhit.pt)
  $B --manifest $C --manifest $H "${HC[@]}" --model moe --seeds 3 --target-labels 20 "${init[@]}" --out $O/hit_cw_${I}_20
done
for f in $O/*/recordings_moe.json; do
  python -c "import json;r=json.load(open('$f'));print('$f'.split('/')[-2], round(r['accuracy'],3), round(r['accuracy_std'],3), round(r['macro_f1'],3))"
done > $O/summary.txt

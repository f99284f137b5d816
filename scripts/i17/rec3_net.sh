# Issue 17 part 3: the network (--model moe|dense) on recordings, random vs pretrained init.
# OUT: output folder (default /tmp/rec3). Pretraining seeds 0-2 (sq <-> sb), fine-tune seeds 0-2.
set -e
cd "$(dirname "$0")/../.."  # the repository root
export OMP_NUM_THREADS=1
C=../shared/data/cwru; H=../shared/data/hitsm; O=${OUT:-/tmp/rec3}
B="nice -n 10 python -m phm bench recordings --threads 1 --bearing 6205 --label-column location"
SQ="--train rig=spectraquest --test rig=selfbuilt"; SB="--train rig=selfbuilt --test rig=spectraquest"
CW=(--train "dataset=cwru,location=normal|inner_race|outer_race" --test "dataset=hitsm")
HC=(--train "dataset=hitsm" --test "dataset=cwru,location=normal|inner_race|outer_race")
mkdir -p $O
for M in moe dense; do for P in 0 1 2; do  # pretrain on every window of both rigs, labels unused
  $B --manifest $H $SQ --model $M --seed $P --pretrain-to $O/pre_${M}_$P.pt > $O/pre_${M}_$P.log
done; done
for M in moe dense; do for K in 0 1 5; do
  $B --manifest $H $SQ --model $M --seeds 3 --target-labels $K --out $O/sq_sb_${M}_none_$K
  $B --manifest $H $SB --model $M --seeds 3 --target-labels $K --out $O/sb_sq_${M}_none_$K
  for P in 0 1 2; do
    $B --manifest $H $SQ --model $M --seeds 3 --target-labels $K --init $O/pre_${M}_$P.pt \
      --out $O/sq_sb_${M}_pre${P}_$K
    $B --manifest $H $SB --model $M --seeds 3 --target-labels $K --init $O/pre_${M}_$P.pt \
      --out $O/sb_sq_${M}_pre${P}_$K
  done
done; done
$B --manifest $C --manifest $H "${CW[@]}" --model moe --pretrain-to $O/pre_cwhit.pt > $O/pre_cwhit.log
for K in 0 5; do for I in none pre; do
  init=(); [ $I = pre ] && init=(--init $O/pre_cwhit.pt)
  $B --manifest $C --manifest $H "${CW[@]}" --model moe --seeds 3 --target-labels $K "${init[@]}" \
    --out $O/cw_hit_${I}_$K
  $B --manifest $C --manifest $H "${HC[@]}" --model moe --seeds 3 --target-labels $K "${init[@]}" \
    --out $O/hit_cw_${I}_$K
done; done

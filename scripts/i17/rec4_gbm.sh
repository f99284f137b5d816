# Issue 17 part 4: gbm on the default (multi-band) features, cross-rig rows, 0 and 5 target labels.
# OUT folder: /tmp/rec4/gbm (summary.txt).
cd /work/main
export OMP_NUM_THREADS=1
C=../shared/data/cwru; H=../shared/data/hitsm; O=/tmp/rec4/gbm; mkdir -p $O
B="nice -n 10 python -m phm bench recordings --seeds 3 --threads 1 --model gbm --context window"
for K in 0 5; do
$B --manifest $H --bearing 6205 --train "rig=spectraquest" --test "rig=selfbuilt" --label-column location --target-labels $K --out $O/sq_sb_$K > $O/sq_sb_$K.log 2>&1
$B --manifest $H --bearing 6205 --train "rig=selfbuilt" --test "rig=spectraquest" --label-column location --target-labels $K --out $O/sb_sq_$K > $O/sb_sq_$K.log 2>&1
$B --manifest $C --manifest $H --bearing 6205 --train "dataset=cwru,location=normal|inner_race|outer_race" --test "dataset=hitsm" --label-column location --target-labels $K --out $O/cw_hit_$K > $O/cw_hit_$K.log 2>&1
$B --manifest $C --manifest $H --bearing 6205 --train "dataset=hitsm" --test "dataset=cwru,location=normal|inner_race|outer_race" --label-column location --target-labels $K --out $O/hit_cw_$K > $O/hit_cw_$K.log 2>&1
done
for f in $O/*/recordings_gbm.json; do python -c "import json;r=json.load(open('$f'));print('$f'.split('/')[-2], round(r['accuracy'],3), round(r['accuracy_std'],3), round(r['macro_f1'],3))"; done > $O/summary.txt

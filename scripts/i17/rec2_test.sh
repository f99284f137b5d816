# Issue 17 part 2: every test row with the shipped default (no tuning flags), one run each.
# LABELS (default "0 5"): target labels per class of the cross-rig rows; OUT: output folder.
set -e
cd "$(dirname "$0")/../.."  # the repository root
export OMP_NUM_THREADS=1
T10="normal|IR007|IR014|IR021|B007|B014|B021|OR007@6|OR014@6|OR021@6"
C=../shared/data/cwru; H=../shared/data/hitsm; O=${OUT:-/tmp/rec2/final}
B="nice -n 10 python -m phm bench recordings --seeds 3 --threads 1"
run() { name=$1; shift; s=$(date +%s.%N); $B "$@" --out $O/$name > $O/$name.log 2>&1; e=$(date +%s.%N); echo "$name $(python -c "import json,glob;r=json.load(open(glob.glob('$O/$name/recordings_*.json')[0]));h=r.get('headline',r);print(round(h['accuracy'],3), round(h['accuracy_std'],3), round(h['macro_f1'],3), h['variant'], h.get('context'))") $(python -c "print(round($e-$s,1))")s"; }
mkdir -p $O
if [ -z "${ONLY_CROSS:-}" ]; then  # ONLY_CROSS=1: the cross-rig rows only
run cw01_10 --manifest $C --train "load=0,label=$T10" --test "load=1,label=$T10"
run cw10_10 --manifest $C --train "load=1,label=$T10" --test "load=0,label=$T10"
run cw01_loc --manifest $C --train "load=0,label=$T10" --test "load=1,label=$T10" --label-column location
run cw10_loc --manifest $C --train "load=1,label=$T10" --test "load=0,label=$T10" --label-column location
for R in spectraquest selfbuilt; do for c in 600 900 1200; do
  tr=$(echo "600 900 1200" | tr ' ' '\n' | grep -v "^$c$" | paste -sd'|')
  run ${R}_${c}_lab --manifest $H --bearing 6205 --train "rig=$R,rpm=$tr" --test "rig=$R,rpm=$c"
  run ${R}_${c}_loc --manifest $H --bearing 6205 --train "rig=$R,rpm=$tr" --test "rig=$R,rpm=$c" --label-column location
done; done
fi
for K in ${LABELS:-0 5}; do
run sq_sb_$K --manifest $H --bearing 6205 --train "rig=spectraquest" --test "rig=selfbuilt" --label-column location --target-labels $K
run sb_sq_$K --manifest $H --bearing 6205 --train "rig=selfbuilt" --test "rig=spectraquest" --label-column location --target-labels $K
run cw_hit_$K --manifest $C --manifest $H --bearing 6205 --train "dataset=cwru,location=normal|inner_race|outer_race" --test "dataset=hitsm" --label-column location --target-labels $K
run hit_cw_$K --manifest $C --manifest $H --bearing 6205 --train "dataset=hitsm" --test "dataset=cwru,location=normal|inner_race|outer_race" --label-column location --target-labels $K
done

# Issue 17 part 4: a validation that changes the rig, to arbitrate linear vs pretrained MoE for
# the cross-rig rows. For each test row, train on its training side and score a rig that is
# neither its training nor its test side (labels of the test rig never used):
#   spectraquest -> selfbuilt : validate spectraquest -> CWRU     (3 classes, location)
#   selfbuilt -> spectraquest : validate selfbuilt -> CWRU
#   HIT-SM -> CWRU            : validate spectraquest -> selfbuilt and selfbuilt -> spectraquest
#   CWRU -> HIT-SM            : no third rig (CWRU is one rig): not validated here
# Zero target labels. The MoE is pretrained on every window of both manifests (labels unused).
# OUT: output folder (default /tmp/rec4/rigval); PRE: an existing checkpoint to reuse.
set -e
cd "$(dirname "$0")/../.."  # the repository root
export OMP_NUM_THREADS=1
C=../shared/data/cwru; H=../shared/data/hitsm; O=${OUT:-/tmp/rec4/rigval}
B="nice -n 10 python -m phm bench recordings --threads 1 --seeds 3 --bearing 6205 --label-column location --manifest $C --manifest $H"
CW="dataset=cwru,location=normal|inner_race|outer_race"
mkdir -p $O
PRE=${PRE:-$O/pre.pt}
[ -f "$PRE" ] || $B --model moe --train "$CW" --test dataset=hitsm --pretrain-to $PRE > $O/pre.log
for src in spectraquest selfbuilt; do
  $B --train "dataset=hitsm,rig=$src" --test "$CW" --out $O/${src}_cwru_linear > $O/${src}_cwru_linear.log
  $B --train "dataset=hitsm,rig=$src" --test "$CW" --model moe --init $PRE --out $O/${src}_cwru_moepre > $O/${src}_cwru_moepre.log
done
for f in $O/*/recordings_*.json; do
  python -c "import json;r=json.load(open('$f'));print('$f'.split('/')[-2], round(r['accuracy'],3), round(r['accuracy_std'],3), round(r['macro_f1'],3))"
done > $O/summary.txt

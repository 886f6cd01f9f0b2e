#!/usr/bin/env bash
# `make demo`: the audio-visual deepfake-detection recipe egs/dfdc/av1 end to end on the
# small mini DFDC (generated offline), on CPU: the fine-grained detector (conf/fgi_mini.yaml)
# and two ablations (no attention, no pseudo-fakes); then the results table and where the
# explanation PNGs are. Done stages are skipped, so a second run only prints the results.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root/egs/dfdc/av1"
start=$(date +%s)
common=(--mini true --mini_size small --nj 2 --config conf/fgi_mini.yaml)

./run.sh "${common[@]}"
./run.sh "${common[@]}" --stage 3 --exp_name fgi_mini_no_attention --train_args "--model.attention false"
# without pseudo-fakes, drawing 90 % real videos would leave 10 % fakes: draw half and half
./run.sh "${common[@]}" --stage 3 --exp_name fgi_mini_no_pseudo_fakes --train_args "--data.pseudo_fake.prob 0 --data.real_fraction 0.5"

echo
echo "=== egs/dfdc/av1 on the small mini DFDC (test set; details and commands in egs/dfdc/av1/RESULTS.md) ==="
sed -n '/<!-- summary -->/,/<!-- \/summary -->/p' RESULTS.md | grep -E '^\| (experiment|---|fgi_mini|fgi_mini_no_attention|fgi_mini_no_pseudo_fakes) \|'
echo
for e in fgi_mini fgi_mini_no_attention fgi_mini_no_pseudo_fakes; do
  echo "explanations of $e: $(pwd)/exp/$e/explain/ ($(ls exp/$e/explain/*.png 2>/dev/null | wc -l) PNGs)"
done
echo "per-attack AUC, DET/ROC plots: $(pwd)/exp/fgi_mini/scores/"
echo "demo took $(( $(date +%s) - start )) s"

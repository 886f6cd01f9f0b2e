#!/usr/bin/env bash
# VoxCeleb i-vector system (Kaldi egs/voxceleb/v1): 20 MFCCs + deltas, energy VAD, sliding
# CMN, 2048-component diagonal then full-covariance UBM, 400-dim total variability matrix,
# LDA 200 + two-covariance PLDA; trained on vox2 dev + vox2 test + vox1 dev, scored on Vox1-O.
#
#   ./run.sh --db_root /path/to/voxceleb [--stage N --stop_stage M] [--nj 40] [--ngpu 1]
#   ./run.sh --mini true [--mini_size small]          # the mini corpus, conf/ivector_mini.yaml
#
# The stages and every option are in local/asv.sh (shared with v2 and v3).
set -euo pipefail
exec local/asv.sh --paper_config conf/ivector.yaml --mini_config conf/ivector_mini.yaml \
  --train_sets vox2_dev,vox2_test,vox1_dev --trials O --backends "plda cosine" --score_norms "none" \
  --run_cmd "./run.sh $*" "$@"

#!/usr/bin/env bash
# VoxCeleb x-vector system (Kaldi egs/voxceleb/v2): 30 MFCCs, energy VAD, sliding CMN, the
# TDNN x-vector network (512-512-512-512-1500, statistics pooling, 512-512) with softmax,
# augmented with MUSAN noise/music/babble and simulated RIRs; LDA 200 + PLDA and cosine;
# trained on vox2 dev + vox2 test + vox1 dev, scored on Vox1-O.
#
#   ./run.sh --db_root /path/to/voxceleb --musan_root /path/to/musan --rirs_root /path/to/RIRS_NOISES \
#            [--stage N --stop_stage M] [--nj 40] [--ngpu 4]
#   ./run.sh --mini true [--mini_size small]          # the mini corpus, conf/xvector_mini.yaml
#
# The stages and every option are in local/asv.sh (shared with v1 and v3).
set -euo pipefail
exec local/asv.sh --paper_config conf/xvector.yaml --mini_config conf/xvector_mini.yaml \
  --train_sets vox2_dev,vox2_test,vox1_dev --trials O --backends "plda cosine" --score_norms "none" \
  --run_cmd "./run.sh $*" "$@"

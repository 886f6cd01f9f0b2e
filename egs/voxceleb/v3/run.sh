#!/usr/bin/env bash
# VoxCeleb ECAPA-TDNN system (WeSpeaker examples/voxceleb/v2): 80 log-mel filterbanks,
# ECAPA-TDNN C=512 (conf/ecapa_c512.yaml) or C=1024 (conf/ecapa_c1024.yaml), AAM-softmax
# (m 0.2, s 32, margin ramped over epochs 20-40), MUSAN/RIR augmentation; cosine scoring
# with and without AS-norm; trained on vox2 dev, scored on Vox1-O/E/H (cleaned lists).
#
#   ./run.sh --db_root /path/to/voxceleb --musan_root /path/to/musan --rirs_root /path/to/RIRS_NOISES \
#            [--config conf/ecapa_c1024.yaml] [--stage N --stop_stage M] [--ngpu 8]
#   ./run.sh --mini true [--mini_size small]          # the mini corpus, conf/ecapa_mini.yaml
#
# The stages and every option are in local/asv.sh (shared with v1 and v2).
set -euo pipefail
exec local/asv.sh --paper_config conf/ecapa_c512.yaml --mini_config conf/ecapa_mini.yaml \
  --train_sets vox2_dev --trials auto --backends "cosine" --score_norms "none asnorm" \
  --run_cmd "./run.sh $*" "$@"

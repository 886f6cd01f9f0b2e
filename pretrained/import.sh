#!/usr/bin/env bash
# Re-creates the shipped experiment dirs from the published checkpoints in sources/
# (run from the repository root: bash pretrained/import.sh). The result is what is
# committed; tests/test_aasist_fidelity.py checks that the two agree.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-tools/venv/bin/python}
conf=egs/asvspoof2019_la/cm1/conf
src=pretrained/sources

"$PY" -m avdf.bin.import_model --force --format clovaai_aasist \
  --checkpoint $src/clovaai_aasist/AASIST.pth --config $conf/aasist.yaml --out pretrained/aasist_clovaai \
  --license $src/clovaai_aasist/LICENSE \
  --source "clovaai/aasist (commit a04c986) models/weights/AASIST.pth" \
  --trained_on "ASVspoof 2019 LA train (the paper's model; clovaai/aasist reports eval EER 0.83 %, min t-DCF 0.0275)"
"$PY" -m avdf.bin.import_model --force --format clovaai_aasist \
  --checkpoint $src/clovaai_aasist/AASIST-L.pth --config $conf/aasist_l.yaml --out pretrained/aasist_l_clovaai \
  --license $src/clovaai_aasist/LICENSE \
  --source "clovaai/aasist (commit a04c986) models/weights/AASIST-L.pth" \
  --trained_on "ASVspoof 2019 LA train (the paper's model; clovaai/aasist reports eval EER 0.99 %, min t-DCF 0.0309)"
"$PY" -m avdf.bin.import_model --force --format clovaai_aasist \
  --checkpoint $src/asvspoof5_aasist/best.pth --config $conf/aasist.yaml --out pretrained/aasist_asvspoof5 \
  --license $src/asvspoof5_aasist/LICENSE \
  --source "asvspoof-challenge/asvspoof5 (commit fe23d30) Baseline-AASIST/models/weights/AASIST/best.pth" \
  --trained_on "ASVspoof 5 train (the challenge's track 1 AASIST baseline; config/AASIST_ASVspoof5.conf, same network as AASIST)"

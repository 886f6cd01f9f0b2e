"""Calibrate detection scores to log-likelihood ratios (linear logistic regression, BOSARIS style).

    python -m avdf.bin.calibrate --train_scores exp/x/dev.txt --train_data data/dev \\
        --apply exp/x/eval.txt --out exp/x/eval.cal.txt [--p_target 0.05]

Learns ``llr = a * score + b`` on the development scores (utterance scores `<utt> <score>`
joined with utt2label, bona fide positive; or trial scores `<enroll> <test> <score>`
joined with trials, target positive) by minimising the prior-weighted Cllr at
--p_target (avdf.backend.calibration), writes the applied scores to --out and the
model to `<out without suffix>.calibration.json`.
"""
from __future__ import annotations

import sys

from avdf.bin.fuse import run_cli
from avdf.bin import run


def main(argv: list[str] | None = None) -> int:
    return run_cli(argv, fusion=False, doc=__doc__)


if __name__ == "__main__":
    sys.exit(run(main, "calibrate"))

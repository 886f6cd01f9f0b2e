"""Fuse several systems' scores into one LLR (linear logistic regression, BOSARIS style).

    python -m avdf.bin.fuse --train dev_a.txt dev_b.txt --train_data data/dev \\
        --apply eval_a.txt eval_b.txt --out exp/fusion/eval.txt [--p_target 0.05]

Learns ``llr = w . scores + b`` on the development scores (all files over the same keys;
utterance scores joined with utt2label, bona fide positive, or trial scores joined with
trials, target positive) by minimising the prior-weighted Cllr at --p_target
(avdf.backend.calibration); --apply takes the same systems in the same order. Writes
the fused LLRs to --out and the weights to `<out without suffix>.fusion.json`.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from avdf import metrics as M
from avdf.backend.calibration import CalibrationError, apply_to_files, labelled_scores, train_linear
from avdf.data.datadir import DataDirError
from avdf.metrics.scorefile import ScoreFileError
from avdf.utils.log import setup_logging
from avdf.bin import run

log = logging.getLogger(__name__)


def run_cli(argv: list[str] | None, fusion: bool, doc: str) -> int:
    """Shared by ``calibrate`` (one system) and ``fuse`` (several)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    nargs = "+" if fusion else 1
    parser.add_argument("--train" if fusion else "--train_scores", dest="train", nargs=nargs, required=True,
                        help="development score file(s)")
    parser.add_argument("--train_data", required=True, help="data dir with utt2label or trials")
    parser.add_argument("--apply", nargs=nargs, help="score file(s) to transform (same systems, same order)")
    parser.add_argument("--out", type=Path, help="output LLR score file (needs --apply)")
    parser.add_argument("--trials", help="trials for trial scores (default TRAIN_DATA/trials)")
    parser.add_argument("--trial_negatives", default="nontarget",
                        help="comma list of trial labels used as negatives (e.g. nontarget,spoof for SASV)")
    parser.add_argument("--p_target", type=float, default=0.5, help="training prior of the positive class")
    parser.add_argument("--l2", type=float, default=0.0, help="L2 penalty on the weights (0 = none)")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if bool(args.apply) != bool(args.out):
        parser.error("--apply and --out go together")
    if args.apply and len(args.apply) != len(args.train):
        parser.error(f"--apply needs {len(args.train)} file(s), one per --train file, got {len(args.apply)}")
    try:
        pos, neg, counts = labelled_scores(args.train, args.train_data, args.trials,
                                           tuple(args.trial_negatives.split(",")))
        model = train_linear(pos, neg, args.p_target, args.l2, systems=[str(p) for p in args.train])
        model.train_counts = counts
        llr_pos, llr_neg = model.apply(pos), model.apply(neg)
        for k, name in enumerate(model.systems):
            print(f"{name}: weight {model.weights[k]:.6g}")
        print(f"bias {model.bias:.6g}; trained on {counts['positive']} positive / {counts['negative']} "
              f"negative trials at p_target {args.p_target}")
        print(f"train Cllr {M.cllr(llr_pos, llr_neg):.4f} bits (EER {100 * M.eer(llr_pos, llr_neg)[0]:.3f} %), "
              f"actDCF {M.act_dcf(llr_pos, llr_neg, args.p_target):.4f} / "
              f"minDCF {M.min_dcf(llr_pos, llr_neg, args.p_target)[0]:.4f} at p_target {args.p_target}")
        if args.out:
            n = apply_to_files(model, args.apply, args.out)
            model_path = args.out.with_name(args.out.stem + (".fusion.json" if fusion else ".calibration.json"))
            model.save(model_path)
            log.info("wrote %d LLRs to %s and the model to %s", n, args.out, model_path)
    except (CalibrationError, ScoreFileError, DataDirError, M.MetricError) as e:
        print(f"{'fuse' if fusion else 'calibrate'}: error: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(argv, fusion=True, doc=__doc__)


if __name__ == "__main__":
    sys.exit(run(main, "fuse"))

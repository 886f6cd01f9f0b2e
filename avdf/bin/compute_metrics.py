"""Score a system: join a score file with a data dir's keys, compute the task's metrics,
print a table, write JSON (and a Markdown block for RESULTS.md, and plots).

    python -m avdf.bin.compute_metrics --task cm --scores exp/aasist/eval.txt --data data/eval \\
        [--asv_scores ASVspoof2019.LA.asv.eval.gi.trl.scores.txt] [--out_md exp/aasist/eval.md] \\
        [--plot exp/aasist/plots] [--bootstrap 1000 --seed 0] [--name AASIST]

Tasks and what they report (every output states variant, cost model and trial counts):
  cm    `<utt> <score>` + utt2label [utt2attack, utt2category]: EER, ASVspoof 5 minDCF
        (bona fide p=0.95, C_miss 1, C_fa 10), per-attack / per-category EER (all bona fide
        vs that attack); min t-DCF legacy (ASVspoof 2019) and revised (2021) with
        --asv_scores: the organisers' `CM_KEY ASV_KEY SCORE` file, or `<enroll> <test>
        <score>` ASV scores with --trials (target|nontarget|spoof; default DATA/trials).
  asv   `<enroll> <test> <score>` + trials (--trials or DATA/trials): EER, minDCF at each
        --p_target (default 0.01 0.001; --c_miss, --c_fa); spoof trials are left out.
  sasv  `<enroll> <test> <score>` + trials: SASV-, SV-, SPF-EER, a-DCF (ASVspoof 5 track 2
        costs), per-attack SPF-EER when DATA/utt2attack covers the spoof tests.
  av    `<utt> <score>` + utt2label [utt2attack, utt2category]: AUC, EER, accuracy at 0.5
        (scores in [0, 1] read as P(real)) and at the EER threshold, per-method and
        per-category AUC (all real vs that fake type).
--llr adds actDCF and Cllr (scores read as calibrated natural-log LLRs, e.g. from
avdf.bin.calibrate). The JSON goes to --out_json (default: the score file with suffix
.json). Higher score = bona fide / target / real; accepted when score >= threshold.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import shlex
import sys
from pathlib import Path

import numpy as np

from avdf.data.datadir import DataDir, DataDirError
from avdf.metrics import MetricError, report
from avdf.metrics.scorefile import (ScoreFileError, join_trial_scores, join_utt_scores, read_organiser_asv_scores,
                                    read_scores)
from avdf.utils.fileio import atomic_open
from avdf.utils.log import setup_logging
from avdf.bin import run

log = logging.getLogger(__name__)


def _utt_keys(data: DataDir, name: str, allowed: tuple[str, ...] | None = None) -> dict[str, str] | None:
    if not data.has(name):
        return None
    kv = data.read(name)
    if allowed:
        for n, (utt, v) in enumerate(kv.items(), 1):
            if v not in allowed:
                raise DataDirError(f"{data.path / name}:{n}: value {v!r} of {utt!r} is not {'|'.join(allowed)}")
    return kv


def _load_utt_task(args, data: DataDir):
    labels = _utt_keys(data, "utt2label", ("bonafide", "spoof"))
    if labels is None:
        raise DataDirError(f"{data.path}/utt2label: required for --task {args.task} and missing")
    scores, lines = read_scores(args.scores, 1)
    utts, values, label_list = join_utt_scores(scores, lines, args.scores, labels, data.path / "utt2label")
    extra = {}
    for name in ("utt2attack", "utt2category"):
        kv = _utt_keys(data, name)
        if kv is not None:
            missing = [u for u in utts if u not in kv]
            if missing:
                raise DataDirError(f"{data.path / name}: no line for utterance {missing[0]!r} "
                                   f"({len(missing)} scored utterances missing)")
            extra[name] = [kv[u] for u in utts]
    return values, label_list, extra.get("utt2attack"), extra.get("utt2category")


def _trials_path(args, data: DataDir) -> Path:
    path = Path(args.trials) if args.trials else data.path / "trials"
    if not path.is_file():
        raise DataDirError(f"{path}: trials file does not exist (give --trials or put it in the data dir)")
    return path


def _load_trial_task(args, data: DataDir):
    scores, lines = read_scores(args.scores, 2)
    trials, values = join_trial_scores(scores, lines, args.scores, _trials_path(args, data))
    labels = np.array([lab for _, _, lab in trials])
    tests = [t for _, t, _ in trials]
    return values, labels, tests


def _load_asv_for_tdcf(args, data: DataDir) -> dict[str, np.ndarray]:
    with open(args.asv_scores, encoding="utf-8") as f:
        first = f.readline().split()
    if len(first) == 3 and first[1] in ("target", "nontarget", "spoof"):
        return read_organiser_asv_scores(args.asv_scores)
    scores, lines = read_scores(args.asv_scores, 2)
    trials, values = join_trial_scores(scores, lines, args.asv_scores, _trials_path(args, data))
    labels = np.array([lab for _, _, lab in trials])
    return {k: values[labels == k] for k in ("target", "nontarget", "spoof")}


def build_report(args) -> tuple[dict, dict]:
    """The report and the per-class score arrays (for plots and the bootstrap)."""
    data = DataDir(args.data)
    asv = None
    if args.task in ("cm", "av"):
        values, labels, attacks, categories = _load_utt_task(args, data)
        lab = np.asarray(labels)
        pos_name, neg_name = ("bonafide", "spoof") if args.task == "cm" else ("real", "fake")
        classes = {pos_name: values[lab == "bonafide"], neg_name: values[lab == "spoof"]}
        if args.task == "cm":
            if args.asv_scores:
                asv = _load_asv_for_tdcf(args, data)
            rep = report.cm_report(values, labels, attacks, categories, asv,
                                   str(args.asv_scores) if args.asv_scores else None, args.llr)
        else:
            rep = report.av_report(values, labels, attacks, categories)
    else:
        values, labels, tests = _load_trial_task(args, data)
        classes = {k: values[labels == k] for k in ("target", "nontarget", "spoof")}
        if args.task == "asv":
            n_spoof = classes.pop("spoof").size
            rep = report.asv_report(classes["target"], classes["nontarget"], args.p_target, args.c_miss,
                                    args.c_fa, args.llr, n_spoof)
        else:
            attacks = None
            u2a = _utt_keys(data, "utt2attack")
            spoof_tests = [t for t, lab in zip(tests, labels) if lab == "spoof"]
            if u2a is not None and all(t in u2a for t in spoof_tests):
                attacks = [u2a[t] for t in spoof_tests]
            elif u2a is not None:
                log.warning("%s/utt2attack does not cover every spoof test utterance: no per-attack table",
                            data.path)
            rep = report.sasv_report(classes["target"], classes["nontarget"], classes["spoof"], attacks)
    if args.bootstrap > 0:
        fn = report.bootstrap_fn(rep, asv, args.p_target, args.c_miss, args.c_fa)
        rep["ci95"] = report.bootstrap(list(classes.values()), fn, args.bootstrap, args.seed)
    return rep, classes


def _plots(rep: dict, classes: dict, out_dir: Path, name: str) -> list[Path]:
    from avdf.metrics import plots
    names = list(classes)
    pos = classes[names[0]]
    curves = {f"{names[0]} vs {n}": (pos, classes[n]) for n in names[1:]}
    if rep["task"] == "sasv":
        curves["target vs nontarget+spoof"] = (pos, np.concatenate([classes["nontarget"], classes["spoof"]]))
    thresholds = {k: e["threshold"] for k, e in rep["metrics"].items()
                  if "threshold" in e and k in ("eer", "sasv_eer", "min_dcf_asvspoof5", "a_dcf")}
    out = [out_dir / f"{name}_det.png", out_dir / f"{name}_roc.png", out_dir / f"{name}_hist.png"]
    plots.plot_det(curves, out[0], f"DET: {name}")
    plots.plot_roc(curves, out[1], f"ROC: {name}")
    plots.plot_histograms(classes, out[2], f"scores: {name}", thresholds)
    return out


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.generic):
        return _json_safe(x.item())
    return x


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=("cm", "asv", "sasv", "av"))
    parser.add_argument("--scores", required=True, type=Path, help="score file")
    parser.add_argument("--data", required=True, help="data dir with utt2label (cm, av) or trials (asv, sasv)")
    parser.add_argument("--trials", help="trials file (asv, sasv; cm: the trials of Kaldi-style --asv_scores)")
    parser.add_argument("--asv_scores", type=Path, help="cm: ASV scores for t-DCF")
    parser.add_argument("--p_target", type=float, nargs="+", default=[0.01, 0.001], help="asv: minDCF priors")
    parser.add_argument("--c_miss", type=float, default=1.0, help="asv: minDCF miss cost")
    parser.add_argument("--c_fa", type=float, default=1.0, help="asv: minDCF false-alarm cost")
    parser.add_argument("--llr", action="store_true", help="scores are calibrated LLRs: add actDCF and Cllr")
    parser.add_argument("--out_json", type=Path, help="default: the score file with suffix .json")
    parser.add_argument("--out_md", type=Path, help="write a Markdown block for RESULTS.md here")
    parser.add_argument("--plot", type=Path, metavar="DIR", help="write DET, ROC and histogram PNGs here")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N", help="add 95 %% CIs from N resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--name", help="system name in the outputs (default: the score file name)")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    name = args.name or args.scores.stem
    try:
        rep, classes = build_report(args)
    except (ScoreFileError, DataDirError, MetricError) as e:
        print(f"compute_metrics: error: {e}", file=sys.stderr)
        return 1
    rep = {"name": name, **rep, "scores": str(args.scores), "data": str(args.data),
           "command": "python -m avdf.bin.compute_metrics " + shlex.join(sys.argv[1:] if argv is None else argv),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    print(report.to_text(rep))
    out_json = args.out_json or args.scores.with_suffix(".json")
    if out_json.resolve() == args.scores.resolve():
        out_json = Path(str(args.scores) + ".metrics.json")
    with atomic_open(out_json) as f:
        json.dump(_json_safe(rep), f, indent=2, allow_nan=False)
        f.write("\n")
    log.info("wrote %s", out_json)
    if args.out_md:
        with atomic_open(args.out_md) as f:
            f.write(report.to_markdown(rep))
        log.info("wrote %s", args.out_md)
    if args.plot:
        for p in _plots(rep, classes, args.plot, name):
            log.info("wrote %s", p)
    return 0


if __name__ == "__main__":
    sys.exit(run(main, "compute_metrics"))

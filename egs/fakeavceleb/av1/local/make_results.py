#!/usr/bin/env python3
"""Stage 5: this run's section of RESULTS.md from the metrics JSON files of the stages.

    python local/make_results.py --results RESULTS.md --exp exp --data data --name full \\
        --models "conf/fgi.yaml conf/joint_av.yaml" --folds "1 2 3 4 5" \\
        --ssl_reps "wav2vec2_base resnet18" [--dfdc_exp ../../dfdc/av1/exp/fgi] \\
        --command "./run.sh ..." --machine "..." [--ssl_random_init false]

Tables: in-dataset AUC per model (mean and standard deviation over the folds), overall and
per category (RVFA = B, FVRA = C, FVFA = D, each against all real videos of the fold's
test set) and per method; the cross-dataset AUC on the 70/70 test set; the probes' AUC;
the correlation between representations' scores and the gain of fusing pairs (both
averaged over folds); the per-frame score plots. The section ``<!-- results:NAME -->``
is replaced; other runs' sections are kept.
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from pathlib import Path

import numpy as np

from avdf.data.datadir import read_kv
from avdf.utils.fileio import atomic_open, locked

CATEGORY_NAMES = {"B": "RVFA", "C": "FVRA", "D": "FVFA"}
HEADER = ("# Results: egs/fakeavceleb/av1\n\n"
          "Video-level scores, higher = real; AUC with real as the positive class. Per-category AUC: "
          "all real videos of the test set against the fakes of that category (RVFA = real video + fake "
          "audio, FVRA = fake video + real audio, FVFA = both fake). Every number below comes from the "
          "command in its section, on the machine and date given there. Results on a mini corpus say "
          "nothing about the real FakeAVCeleb.\n\n")


def load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def breakdown(rep: dict, name: str) -> dict[str, float]:
    table = rep["breakdowns"].get(name)
    return {r[table["key"]]: r["value"] for r in table["rows"]} if table else {}


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def auc_row(reps: list[dict]) -> list[str]:
    """Overall and per-category AUC cells over ``reps`` (one report per fold)."""
    cells = [fmt([r["metrics"]["auc"]["value"] for r in reps])]
    for c in CATEGORY_NAMES:
        cells.append(fmt([breakdown(r, "auc_per_category")[c] for r in reps if c in breakdown(r, "auc_per_category")]))
    return cells


def method_table(named: dict[str, list[dict]]) -> list[str]:
    methods = sorted({m for reps in named.values() for r in reps for m in breakdown(r, "auc_per_method")})
    if not methods:
        return []
    out = ["| system | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for name, reps in named.items():
        cells = [fmt([breakdown(r, "auc_per_method")[m] for r in reps if m in breakdown(r, "auc_per_method")])
                 for m in methods]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def data_summary(data: Path, folds: list[str]) -> list[str]:
    out = ["| data dir | videos | real | RVFA | FVRA | FVFA | identities |", "|---|---|---|---|---|---|---|"]
    for d in ["all", "test"] + [f"fold{k}/{p}" for k in folds for p in ("train", "valid", "test")]:
        if not (data / d / "utt2category").is_file():
            continue
        cat = list(read_kv(data / d / "utt2category").values())
        spk = set(read_kv(data / d / "utt2spk").values())
        out.append(f"| {d} | {len(cat)} | {cat.count('A')} | {cat.count('B')} | {cat.count('C')} | "
                   f"{cat.count('D')} | {len(spk)} |")
    bad = [p for p in sorted(data.glob("**/bad_utts"))]
    for p in bad:
        out.append(f"\n`{p}`: {len(read_kv(p))} videos left out (reasons in the file).")
    return out


def section(args) -> str:
    exp, data = Path(args.exp), Path(args.data)
    folds = args.folds.split()
    date = datetime.date.today().isoformat()
    lines = [f"## {args.name}", "", f"Command: `{args.command}`  ", f"Machine: {args.machine}  ", f"Date: {date}", "",
             "### Data", ""] + data_summary(data, folds)

    cat_head = ["| system | AUC | RVFA | FVRA | FVFA | folds |", "|---|---|---|---|---|---|"]
    models = [Path(m).stem for m in args.models.split()]
    named = {}
    for m in models:
        reps = [r for k in folds if (r := load(exp / f"{m}_fold{k}" / "scores" / "test.json"))]
        if reps:
            named[m] = reps
    if named:
        lines += ["", "### In-dataset: identity-disjoint folds (mean ± std over folds)", "", *cat_head]
        lines += [f"| {m} | " + " | ".join(auc_row(r)) + f" | {len(r)} |" for m, r in named.items()]
        lines += ["", "Per method:", "", *method_table(named)]

    if args.dfdc_exp:
        name = f"cross_dfdc_{Path(args.dfdc_exp).name}"
        rep = load(exp / name / "scores" / "test.json")
        if rep:
            lines += ["", f"### Cross-dataset: `{args.dfdc_exp}` (trained on DFDC) on the 70/70 test set", "",
                      "| system | AUC | RVFA | FVRA | FVFA | real / fake |", "|---|---|---|---|---|---|",
                      f"| {name} | " + " | ".join(auc_row([rep])) + f" | {rep['counts']['real']} / {rep['counts']['fake']} |",
                      "", "Per method:", "", *method_table({name: [rep]})]

    reps = args.ssl_reps.split()
    if reps:
        init = ("random-initialisation controls (no pretrained weights): they measure the architecture, "
                "not self-supervised learning" if args.ssl_random_init == "true"
                else f"checkpoints of `{args.ssl_ckpt_dir}`")
        probes = {}
        for rep in reps:
            for kind in ("linear", "anomaly"):
                got = [r for k in folds if (r := load(exp / "probe" / f"{rep}_{kind}_fold{k}" / "scores" / "test.json"))]
                if got:
                    probes[f"{rep} {kind}"] = got
        lines += ["", f"### Self-supervised representations: probes (mean ± std over folds; encoders: {init})", "",
                  *cat_head]
        lines += [f"| {n} | " + " | ".join(auc_row(r)) + f" | {len(r)} |" for n, r in probes.items()]
        compares = [c for k in folds if (c := load(exp / "probe" / f"compare_fold{k}.json"))]
        pairs: dict[tuple[str, str], list[dict]] = {}
        fusion: dict[str, list[dict]] = {}
        for c in compares:
            for p in c["pairs"]:
                pairs.setdefault((p["a"], p["b"]), []).append(p)
            for f in c["fusion"]:
                fusion.setdefault(" + ".join(f["systems"]), []).append(f)
        if pairs:
            lines += ["", "Score correlation between systems over the test videos (mean over folds):", "",
                      "| pair | Pearson | Spearman |", "|---|---|---|"]
            lines += [f"| {a} / {b} | {np.mean([x['pearson'] for x in v]):.3f} | "
                      f"{np.mean([x['spearman'] for x in v]):.3f} |" for (a, b), v in pairs.items()]
        if fusion:
            lines += ["", "Logistic-regression fusion of pairs of linear probes (avdf.bin.fuse, trained on each "
                      "fold's validation split; gain = fused AUC - better single AUC, mean over folds):", "",
                      "| fusion | fused AUC | gain |", "|---|---|---|"]
            lines += [f"| {n} | {fmt([x['auc'] for x in v])} | {np.mean([x['gain'] for x in v]):+.4f} |"
                      for n, v in fusion.items()]
        plots = sorted((exp / "probe").glob("plots_fold*/*.png"))
        if plots:
            lines += ["", "Per-frame scores over time (probes of the first fold): " + ", ".join(f"`{p}`" for p in plots)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("--results", "--exp", "--data", "--name", "--command", "--machine"):
        p.add_argument(name, required=True)
    p.add_argument("--models", default="")
    p.add_argument("--folds", required=True)
    p.add_argument("--ssl_reps", default="")
    p.add_argument("--dfdc_exp")
    p.add_argument("--ssl_random_init", default="false", choices=["true", "false"])
    p.add_argument("--ssl_ckpt_dir", default="")
    args = p.parse_args(argv)
    results = Path(args.results)
    with locked(results):  # runs finishing together: every section is kept
        text = results.read_text() if results.is_file() else HEADER
        block = f"<!-- results:{args.name} -->\n{section(args)}<!-- /results:{args.name} -->\n"
        pattern = re.compile(rf"<!-- results:{re.escape(args.name)} -->\n.*?<!-- /results:{re.escape(args.name)} -->\n", re.S)
        text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
        with atomic_open(results) as f:
            f.write(text)
    print(section(args), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Put one experiment's metrics into RESULTS.md (stage 5), replacing its previous entry.

    python local/update_results.py --results RESULTS.md --name fgi_mini --block exp/fgi_mini/scores/test.md \\
        --command "./run.sh --mini true ..." --machine "x86_64, ..., 2 cores" --config conf/fgi_mini.yaml \\
        --exp_dir exp/fgi_mini

RESULTS.md keeps the hand-written text between ``<!-- notes -->`` and ``<!-- /notes -->``
first, then a summary table (one row per experiment: AUC, EER, accuracy, date) and,
below it, each experiment's section: the run.sh command, config, machine, date, the
training time and selected epoch, and the metrics block of avdf.bin.compute_metrics (read
with its JSON, the score file's ``.json``). Entries of other experiments and the notes are
kept as they are.
"""
from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from pathlib import Path

from avdf.utils.fileio import atomic_open, locked

HEADER = ("# Results: egs/dfdc/av1\n\n"
          "Video-level scores (mean of the 1 s chunk scores, 1 - p(fake); rows ending in `_sc<K..>`: the "
          "synchrony contrast of `--sync_contrast`, README); higher = real. Every number "
          "below comes from the command in its section, on the machine and date given there. Results on "
          "a mini corpus say nothing about the real DFDC.\n\n")
SUMMARY = ("## Every run\n\nOne row per experiment; its block, with the command, follows the table.\n\n"
           "| experiment | test AUC | EER | accuracy at 0.5 | selected epoch | date |\n"
           "|---|---|---|---|---|---|\n")


def _sections(text: str) -> dict[str, str]:
    return dict(re.findall(r"<!-- results:(\S+) -->\n(.*?)<!-- /results:\1 -->\n", text, flags=re.S))


def _row(name: str, metrics: dict, epoch: str, date: str) -> str:
    m = metrics["metrics"]
    return (f"| {name} | {m['auc']['value']:.4f} | {100 * m['eer']['value']:.2f} % | "
            f"{100 * m['accuracy_at_0.5']['value']:.2f} % | {epoch} | {date} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", required=True, type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--block", required=True, type=Path, help="compute_metrics --out_md file")
    p.add_argument("--command", required=True)
    p.add_argument("--machine", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--exp_dir", required=True, type=Path)
    args = p.parse_args(argv)
    metrics = json.loads(args.block.with_suffix(".json").read_text(encoding="utf-8"))
    date = datetime.date.today().isoformat()
    epoch, train_time = "-", ""
    selection = args.exp_dir / "selection.json"
    if selection.is_file():
        sel = json.loads(selection.read_text(encoding="utf-8"))
        epoch = ",".join(str(e) for e in sel.get("averaged_epochs", [])) + f" (by valid {sel.get('select_metric')})"
    history = args.exp_dir / "train_history.tsv"
    if history.is_file():
        rows = [ln.split("\t") for ln in history.read_text(encoding="utf-8").splitlines()]
        if "time_s" in rows[0]:
            i = rows[0].index("time_s")
            train_time = f"; training {sum(float(r[i]) for r in rows[1:]):.0f} s wall for {len(rows) - 1} epochs"
    body = (f"**Command** (in egs/dfdc/av1): `{args.command}`  \n"
            f"config `{args.config}`, experiment `{args.exp_dir}`; {date}; machine: {args.machine}{train_time}\n\n"
            + args.block.read_text(encoding="utf-8").rstrip() + "\n\n")
    with locked(args.results):  # experiments finishing together: every section is kept
        old = args.results.read_text(encoding="utf-8") if args.results.is_file() else ""
        sections = _sections(old)
        sections[args.name] = body
        table = re.search(r"<!-- summary -->\n(.*?)<!-- /summary -->", old, flags=re.S)
        rows = dict(re.findall(r"^\| (\S+) (\|.*\|)$", table.group(1), flags=re.M)) if table else {}
        rows = {k: f"| {k} {v}" for k, v in rows.items() if k != "experiment"}
        rows[args.name] = _row(args.name, metrics, epoch, date)
        notes = re.search(r"<!-- notes -->\n.*?<!-- /notes -->\n", old, flags=re.S)
        text = (HEADER + (notes.group(0) + "\n" if notes else "")
                + "<!-- summary -->\n" + SUMMARY + "".join(rows[k] + "\n" for k in rows) + "<!-- /summary -->\n\n"
                + "".join(f"<!-- results:{k} -->\n{v}<!-- /results:{k} -->\n" for k, v in sections.items()))
        with atomic_open(args.results) as f:
            f.write(text)
    print(rows[args.name])
    return 0


if __name__ == "__main__":
    sys.exit(main())

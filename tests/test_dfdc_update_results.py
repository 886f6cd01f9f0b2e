"""Stage 5 of egs/dfdc/av1: local/update_results.py keeps the notes first, one summary row and
one block per experiment, and replaces an experiment's entry when it runs again."""
from __future__ import annotations

import json
from pathlib import Path

from tests.recipe_local import load_local

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "dfdc" / "av1"
upd = load_local(RECIPE / "local" / "update_results.py", "dfdc_update_results")


def _block(tmp: Path, name: str, auc: float) -> Path:
    block = tmp / f"{name}.md"
    block.write_text(f"### {name}\n\nAUC {auc}\n", encoding="utf-8")
    metrics = {"metrics": {"auc": {"value": auc}, "eer": {"value": 0.25}, "accuracy_at_0.5": {"value": 0.5}}}
    block.with_suffix(".json").write_text(json.dumps(metrics), encoding="utf-8")
    return block


def _run(tmp: Path, results: Path, name: str, auc: float) -> None:
    exp = tmp / "exp" / name
    exp.mkdir(parents=True, exist_ok=True)
    assert upd.main(["--results", str(results), "--name", name, "--block", str(_block(tmp, name, auc)),
                     "--command", f"./run.sh --exp_name {name}", "--machine", "test", "--config", "conf/x.yaml",
                     "--exp_dir", str(exp)]) == 0


def test_notes_first_rows_replaced(tmp_path):
    results = tmp_path / "RESULTS.md"
    _run(tmp_path, results, "a", 0.75)
    _run(tmp_path, results, "b", 0.5)
    text = results.read_text(encoding="utf-8")
    # hand-written notes, with a table whose first cells look like experiment names
    notes = "<!-- notes -->\n## Summary\n\n| config | AUC |\n|---|---|\n| a | 0.99 |\n| zz | 0.1 |\n<!-- /notes -->\n"
    results.write_text(text.replace("<!-- summary -->", notes + "\n<!-- summary -->"), encoding="utf-8")
    _run(tmp_path, results, "a", 0.875)
    text = results.read_text(encoding="utf-8")
    assert text.index("<!-- notes -->") < text.index("<!-- summary -->") < text.index("<!-- results:a -->")
    assert text.count("<!-- notes -->") == 1 and "| zz | 0.1 |" in text
    summary = text[text.index("<!-- summary -->"):text.index("<!-- /summary -->")]
    rows = [ln for ln in summary.splitlines() if ln.startswith("| ") and not ln.startswith("| experiment")]
    assert [r.split(" | ")[0] for r in rows] == ["| a", "| b"]   # the notes' rows stay out of it
    assert "| a | 0.8750 |" in summary and "0.7500" not in text
    assert text.count("<!-- results:a -->") == 1 and "AUC 0.875" in text and "AUC 0.75\n" not in text
    # running once more with nothing new changes nothing
    _run(tmp_path, results, "b", 0.5)
    assert results.read_text(encoding="utf-8") == text

"""python -m avdf.bin.compute_metrics on data dirs in the real layout (ASVspoof 2019 LA-style
utterance and speaker ids, organisers' ASV score format, Kaldi trials), checked against
the library, plus every bad-input path: a clear error naming file and line, exit code 1."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from avdf import metrics as M
from avdf.bin import compute_metrics
from avdf.data.datadir import write_kv, write_trials

ATTACKS = ["A07", "A08", "A17"]


def make_cm(tmp_path, n_bona=300, n_spoof=900, seed=0):
    """An LA-eval-like data dir, a CM score file and the organisers' ASV scores."""
    rng = np.random.default_rng(seed)
    data = tmp_path / "data"
    utts = [f"LA_E_{1000000 + i}" for i in range(n_bona + n_spoof)]
    labels = ["bonafide"] * n_bona + ["spoof"] * n_spoof
    attacks = ["-"] * n_bona + [ATTACKS[i % 3] for i in range(n_spoof)]
    scores = np.r_[rng.normal(2, 1, n_bona), rng.normal(-1, 1.5, n_spoof) + 2.0 * (np.array(attacks[n_bona:]) == "A17")]
    scores = np.round(scores, 2)                                   # ties on purpose
    write_kv(data / "utt2label", dict(zip(utts, labels)))
    write_kv(data / "utt2attack", dict(zip(utts, attacks)))
    write_kv(data / "utt2category", dict(zip(utts, ["A"] * n_bona + [("B" if a == "A17" else "C") for a in attacks[n_bona:]])))
    score_file = tmp_path / "scores.txt"
    score_file.write_text("".join(f"{u} {s:.2f}\n" for u, s in zip(utts, scores)))
    asv = {"target": rng.normal(6, 2, 400), "nontarget": rng.normal(-6, 3, 2000), "spoof": rng.normal(2, 4, 3000)}
    asv_file = tmp_path / "asv.txt"
    with open(asv_file, "w") as f:
        for key, values in asv.items():
            cm_key = "bonafide" if key != "spoof" else "A07"
            f.writelines(f"{cm_key} {key} {v:.6f}\n" for v in values)
    bona = scores[:n_bona]
    spoof = scores[n_bona:]
    return data, score_file, asv_file, asv, bona, spoof, np.array(attacks[n_bona:])


def run(argv):
    return compute_metrics.main([str(a) for a in argv])


def test_cm_with_organiser_asv_scores(tmp_path, capsys):
    data, scores, asv_file, asv, bona, spoof, attacks = make_cm(tmp_path)
    asv = {k: np.round(v, 6) for k, v in asv.items()}
    out_md = tmp_path / "RESULTS_block.md"
    assert run(["--task", "cm", "--scores", scores, "--data", data, "--asv_scores", asv_file,
                "--out_md", out_md, "--name", "toy-cm"]) == 0
    rep = json.loads((tmp_path / "scores.json").read_text())
    m = rep["metrics"]
    assert rep["counts"] == {"bonafide": 300, "spoof": 900, "asv_target": 400, "asv_nontarget": 2000,
                             "asv_spoof": 3000}
    assert m["eer"]["value"] == M.eer(bona, spoof)[0]
    assert m["min_dcf_asvspoof5"]["value"] == M.min_dcf(bona, spoof, 0.95, 1, 10)[0]
    for variant in ("legacy", "revised"):
        expect = M.min_tdcf(bona, spoof, asv["target"], asv["nontarget"], asv["spoof"], variant)[0]
        assert m[f"min_tdcf_{variant}"]["value"] == pytest.approx(expect, abs=1e-12)
        assert m[f"min_tdcf_{variant}"]["cost_model"]["c_fa_spoof"] == 10.0
    rows = {r["attack"]: r for r in rep["breakdowns"]["eer_per_attack"]["rows"]}
    assert set(rows) == set(ATTACKS) and rows["A17"]["n_negative"] == 300
    assert rows["A17"]["value"] == M.eer(bona, spoof[attacks == "A17"])[0]
    assert {r["category"] for r in rep["breakdowns"]["eer_per_category"]["rows"]} == {"B", "C"}
    md = out_md.read_text()
    for needle in ("### toy-cm", "ASVspoof 2019 t-DCF", "ASVspoof 2021 t-DCF", "c_fa_spoof=10",
                   "bonafide 300, spoof 900", "| A17 | 300 |", "python -m avdf.bin.compute_metrics"):
        assert needle in md
    printed = capsys.readouterr().out
    assert "min_tdcf_legacy" in printed and "A17" in printed
    # --llr: the scores read as LLRs add actDCF and Cllr with the ASVspoof 5 cost model.
    assert run(["--task", "cm", "--scores", scores, "--data", data, "--llr", "--out_json", tmp_path / "l.json"]) == 0
    m = json.loads((tmp_path / "l.json").read_text())["metrics"]
    assert m["act_dcf"]["value"] == M.act_dcf(bona, spoof, 0.95, 1, 10)
    assert m["cllr"]["value"] == M.cllr(bona, spoof)


def test_cm_kaldi_style_asv_scores_give_the_same_tdcf(tmp_path):
    data, scores, asv_file, asv, *_ = make_cm(tmp_path)
    trials, lines = [], []
    for i, line in enumerate(asv_file.read_text().splitlines()):
        _, key, value = line.split()
        trials.append((f"LA_{i % 48:04d}", f"LA_E_{5000000 + i}", key))
        lines.append(f"LA_{i % 48:04d} LA_E_{5000000 + i} {value}\n")
    write_trials(tmp_path / "asv_trials", trials)
    (tmp_path / "asv_kaldi.txt").write_text("".join(lines))
    assert run(["--task", "cm", "--scores", scores, "--data", data, "--asv_scores", asv_file,
                "--out_json", tmp_path / "a.json"]) == 0
    assert run(["--task", "cm", "--scores", scores, "--data", data, "--asv_scores", tmp_path / "asv_kaldi.txt",
                "--trials", tmp_path / "asv_trials", "--out_json", tmp_path / "b.json"]) == 0
    a = json.loads((tmp_path / "a.json").read_text())["metrics"]
    b = json.loads((tmp_path / "b.json").read_text())["metrics"]
    assert a["min_tdcf_legacy"]["value"] == b["min_tdcf_legacy"]["value"]
    assert a["min_tdcf_revised"]["value"] == b["min_tdcf_revised"]["value"]


def make_trials(tmp_path, seed=1, spoof=True):
    rng = np.random.default_rng(seed)
    data = tmp_path / "data"
    trials, lines, attacks = [], [], {}
    for i in range(1500):
        label = ("target", "nontarget", "spoof")[i % 3] if spoof else ("target", "nontarget")[i % 2]
        enroll, test = f"id{10270 + i % 40}", f"id{10300 + i % 7}-x{i:05d}-00001"
        trials.append((enroll, test, label))
        mean = {"target": 3.0, "nontarget": -2.0, "spoof": 1.0}[label]
        lines.append(f"{enroll} {test} {rng.normal(mean, 1.5):.3f}\n")
        attacks[test] = ATTACKS[i % 2] if label == "spoof" else "-"
    write_trials(data / "trials", trials)
    write_kv(data / "utt2attack", attacks)
    (tmp_path / "scores.txt").write_text("".join(lines))
    values = np.array([float(x.split()[2]) for x in lines])
    labels = np.array([t[2] for t in trials])
    return data, tmp_path / "scores.txt", {k: values[labels == k] for k in ("target", "nontarget", "spoof")}


def test_asv_with_bootstrap(tmp_path):
    data, scores, cls = make_trials(tmp_path)
    assert run(["--task", "asv", "--scores", scores, "--data", data, "--p_target", 0.05, 0.01,
                "--bootstrap", 30, "--seed", 3, "--out_md", tmp_path / "r.md"]) == 0
    rep = json.loads((tmp_path / "scores.json").read_text())
    assert rep["counts"] == {"target": 500, "nontarget": 500, "spoof_ignored": 500}
    assert rep["metrics"]["eer"]["value"] == M.eer(cls["target"], cls["nontarget"])[0]
    assert rep["metrics"]["min_dcf_p0.05"]["value"] == M.min_dcf(cls["target"], cls["nontarget"], 0.05)[0]
    ci = rep["ci95"]["eer"]
    assert ci["low"] <= rep["metrics"]["eer"]["value"] <= ci["high"] and ci["seed"] == 3
    # Same seed, same intervals.
    assert run(["--task", "asv", "--scores", scores, "--data", data, "--p_target", 0.05, 0.01,
                "--bootstrap", 30, "--seed", 3, "--out_json", tmp_path / "again.json"]) == 0
    assert json.loads((tmp_path / "again.json").read_text())["ci95"] == rep["ci95"]
    assert "95 % CI" in (tmp_path / "r.md").read_text()


def test_sasv(tmp_path):
    data, scores, cls = make_trials(tmp_path)
    assert run(["--task", "sasv", "--scores", scores, "--data", data]) == 0
    m = json.loads((tmp_path / "scores.json").read_text())
    assert m["metrics"]["a_dcf"]["value"] == M.a_dcf(cls["target"], cls["nontarget"], cls["spoof"])[0]
    assert m["metrics"]["sasv_eer"]["value"] == M.sasv_eer(cls["target"], cls["nontarget"], cls["spoof"])[0]
    assert m["metrics"]["a_dcf"]["cost_model"]["c_fa_cm"] == 20.0
    assert [r["attack"] for r in m["breakdowns"]["spf_eer_per_attack"]["rows"]] == ["A07", "A08"]


def test_av_with_plots(tmp_path):
    rng = np.random.default_rng(4)
    data = tmp_path / "data"
    methods = ["-"] * 100 + ["wav2lip"] * 150 + ["fsgan"] * 150
    utts = [f"FakeVideo-RealAudio-African-men-id{i:05d}_00109.mp4" for i in range(400)]
    write_kv(data / "utt2label", dict(zip(utts, ["bonafide"] * 100 + ["spoof"] * 300)))
    write_kv(data / "utt2attack", dict(zip(utts, methods)))
    prob = np.r_[rng.beta(5, 2, 100), rng.beta(2, 5, 150), rng.beta(3, 3, 150)]
    (tmp_path / "s.txt").write_text("".join(f"{u} {p:.4f}\n" for u, p in zip(utts, prob)))
    prob = np.round(prob, 4)
    assert run(["--task", "av", "--scores", tmp_path / "s.txt", "--data", data, "--plot", tmp_path / "plots",
                "--name", "av-toy"]) == 0
    m = json.loads((tmp_path / "s.json").read_text())
    assert m["metrics"]["auc"]["value"] == M.auc(prob[:100], prob[100:])
    acc = (np.sum(prob[:100] >= 0.5) + np.sum(prob[100:] < 0.5)) / 400
    assert m["metrics"]["accuracy_at_0.5"]["value"] == acc
    rows = {r["method"]: r["value"] for r in m["breakdowns"]["auc_per_method"]["rows"]}
    assert rows["fsgan"] == M.auc(prob[:100], prob[250:])
    for kind in ("det", "roc", "hist"):
        png = tmp_path / "plots" / f"av-toy_{kind}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Scores that are not probabilities: no accuracy at 0.5, the rest unchanged.
    (tmp_path / "logit.txt").write_text("".join(f"{u} {np.log(p / (1 - p)):.6f}\n" for u, p in zip(utts, prob)))
    assert run(["--task", "av", "--scores", tmp_path / "logit.txt", "--data", data]) == 0
    m2 = json.loads((tmp_path / "logit.json").read_text())["metrics"]
    assert "accuracy_at_0.5" not in m2 and m2["auc"]["value"] == pytest.approx(m["metrics"]["auc"]["value"], abs=1e-3)


def test_entry_point_runs_as_module(tmp_path):
    data, scores, *_ = make_cm(tmp_path, 50, 100)
    r = subprocess.run([sys.executable, "-m", "avdf.bin.compute_metrics", "--task", "cm", "--scores", str(scores),
                        "--data", str(data)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "eer" in r.stdout and (tmp_path / "scores.json").is_file()


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("mutate,needle", [
    (lambda lines: lines + ["LA_E_9999999 0.5"], r"scores.txt:1201: utterance 'LA_E_9999999' is not in"),
    (lambda lines: lines[1:], r"no score for utterance 'LA_E_1000000'"),
    (lambda lines: lines + [lines[5]], r"scores.txt:1201: duplicate key 'LA_E_1000005' \(first on line 6\)"),
    (lambda lines: lines[:3] + [lines[3].split()[0] + " nan"] + lines[4:], r"scores.txt:4: score 'nan' is not finite"),
    (lambda lines: lines[:3] + [lines[3].split()[0] + " inf"] + lines[4:], r"scores.txt:4: score 'inf' is not finite"),
    (lambda lines: lines[:3] + [lines[3].split()[0] + " high"] + lines[4:], r"scores.txt:4: score 'high' is not a number"),
    (lambda lines: lines[:3] + [lines[3].split()[0] + " 1_000"] + lines[4:], r"scores.txt:4: score '1_000' is not a number"),
    (lambda lines: lines[:3] + [lines[3].split()[0] + " ０.５"] + lines[4:], r"scores.txt:4: score '０.５' is not a number"),
    (lambda lines: lines[:3] + [lines[3] + " extra"] + lines[4:], r"scores.txt:4: expected 2 fields"),
    (lambda lines: [], r"scores.txt: score file is empty"),
    (lambda lines: lines[:3] + [lines[3].split()[0] + "\udcff 0.5"] + lines[4:], r"scores.txt:4: not UTF-8 text \(byte 0xff"),
])
def test_bad_score_file(tmp_path, capsys, mutate, needle):
    data, scores, *_ = make_cm(tmp_path)
    lines = scores.read_text().splitlines()
    scores.write_bytes("".join(x + "\n" for x in mutate(lines)).encode("utf-8", "surrogateescape"))
    assert run(["--task", "cm", "--scores", scores, "--data", data]) == 1
    assert re.search(needle, capsys.readouterr().err)


def test_single_class_and_missing_keys_are_errors(tmp_path, capsys):
    data, scores, *_ = make_cm(tmp_path, 20, 30)
    utts = [x.split()[0] for x in scores.read_text().splitlines()]
    write_kv(data / "utt2label", {u: "bonafide" for u in utts})
    assert run(["--task", "cm", "--scores", scores, "--data", data]) == 1
    assert "no spoof trials" in capsys.readouterr().err
    write_kv(data / "utt2label", {u: "fake" for u in utts})
    assert run(["--task", "cm", "--scores", scores, "--data", data]) == 1
    assert "utt2label:1: value 'fake'" in capsys.readouterr().err
    (data / "utt2label").unlink()
    assert run(["--task", "av", "--scores", scores, "--data", data]) == 1
    assert "utt2label: required" in capsys.readouterr().err
    assert run(["--task", "asv", "--scores", scores, "--data", data]) == 1
    assert "expected 3 fields" in capsys.readouterr().err


def test_trial_errors(tmp_path, capsys):
    data, scores, _ = make_trials(tmp_path)
    lines = scores.read_text().splitlines()
    scores.write_text("\n".join(lines[:-1]) + "\n")
    assert run(["--task", "asv", "--scores", scores, "--data", data]) == 1
    err = capsys.readouterr().err
    assert "no score for trial" in err and "line 1500 of" in err
    scores.write_text("\n".join(lines + ["id10270 nobody 1.0"]) + "\n")
    assert run(["--task", "sasv", "--scores", scores, "--data", data]) == 1
    assert "scores.txt:1501: trial 'id10270 nobody' is not in" in capsys.readouterr().err
    assert run(["--task", "asv", "--scores", scores, "--data", data, "--trials", tmp_path / "nope"]) == 1
    assert "trials file does not exist" in capsys.readouterr().err


def test_tdcf_asv_file_errors(tmp_path, capsys):
    data, scores, asv_file, *_ = make_cm(tmp_path)
    lines = asv_file.read_text().splitlines()
    asv_file.write_text("\n".join(lines[:10] + ["bonafide imposter 1.0"] + lines[10:]) + "\n")
    assert run(["--task", "cm", "--scores", scores, "--data", data, "--asv_scores", asv_file]) == 1
    assert "asv.txt:11: ASV key 'imposter' is not target|nontarget|spoof" in capsys.readouterr().err

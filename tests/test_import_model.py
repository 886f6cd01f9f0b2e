"""import_model refuses what it cannot import, in one line, and writes nothing."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from avdf.bin import import_model

ROOT = Path(__file__).resolve().parents[1]
AASIST_PTH = ROOT / "pretrained" / "sources" / "clovaai_aasist" / "AASIST.pth"
CONF = ROOT / "egs" / "asvspoof2019_la" / "cm1" / "conf"


def _run(tmp_path, ckpt, conf="aasist.yaml", fmt="clovaai_aasist", *extra):
    out = tmp_path / "out"
    rc = import_model.main(["--format", fmt, "--checkpoint", str(ckpt), "--config", str(CONF / conf),
                            "--out", str(out), *extra])
    return rc, out


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "weights_only=False" not in err
    for w in words:
        assert w in err, err
    return err


def test_imports_and_refuses_to_overwrite(tmp_path, capsys):
    rc, out = _run(tmp_path, AASIST_PTH)
    assert rc == 0
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "model.pt", "import.json", "MODEL.md", ".done"}
    rc, _ = _run(tmp_path, AASIST_PTH)
    assert rc == 1
    _one_line_error(capsys, str(out), "--force")
    assert _run(tmp_path, AASIST_PTH, "aasist.yaml", "clovaai_aasist", "--force")[0] == 0


def test_light_checkpoint_into_the_full_config(tmp_path, capsys):
    rc, out = _run(tmp_path, AASIST_PTH.with_name("AASIST-L.pth"), "aasist.yaml")
    assert rc == 1 and not out.exists()
    _one_line_error(capsys, "AASIST-L.pth", "mis-shaped", "checkpoint (", "model (")
    assert not list(tmp_path.glob(".out.*"))


def test_missing_and_unexpected_keys(tmp_path, capsys):
    state = torch.load(AASIST_PTH, map_location="cpu", weights_only=True)
    state.pop("out_layer.weight")
    state["extra.bias"] = torch.zeros(2)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    rc, out = _run(tmp_path, bad)
    assert rc == 1 and not out.exists()
    _one_line_error(capsys, "1 missing keys (backend.out_layer.weight)", "1 unexpected keys (extra.bias)")


def test_truncated_file(tmp_path, capsys):
    bad = tmp_path / "cut.pth"
    bad.write_bytes(AASIST_PTH.read_bytes()[:100_000])
    rc, out = _run(tmp_path, bad)
    assert rc == 1 and not out.exists()
    _one_line_error(capsys, "cut.pth", "truncated")


class _NotATensor:
    pass


def test_pickle_that_is_not_tensors_only(tmp_path, capsys):
    bad = tmp_path / "obj.pth"
    torch.save({"model": _NotATensor()}, bad)
    rc, out = _run(tmp_path, bad)
    assert rc == 1 and not out.exists()
    _one_line_error(capsys, "obj.pth", "tensors only")
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps([1, 2, 3]))
    assert _run(tmp_path, raw)[0] == 1
    _one_line_error(capsys, "raw.pkl")


def test_wrong_format_for_the_model(tmp_path, capsys):
    rc, out = _run(tmp_path, AASIST_PTH, "lfcc_lcnn.yaml")
    assert rc == 1 and not out.exists()
    _one_line_error(capsys, "clovaai_aasist", "lfcc_lcnn")
    rc, _ = _run(tmp_path, AASIST_PTH, "aasist.yaml", "no_such_format")
    assert rc == 1
    _one_line_error(capsys, "unknown checkpoint format", "clovaai_aasist")


def test_not_a_file(tmp_path, capsys):
    assert _run(tmp_path, tmp_path / "nothing.pth")[0] == 1
    _one_line_error(capsys, "nothing.pth", "no such file")


def test_stages_refuse_a_bad_model_pt_in_one_line(tmp_path, capsys):
    """A model.pt that is truncated, or does not fit config.yaml's model, stops infer_cm with
    one line naming the file (no torch traceback)."""
    import shutil
    from avdf.bin import infer_cm
    exp = tmp_path / "exp"
    shutil.copytree(ROOT / "pretrained" / "aasist_clovaai", exp)
    data = tmp_path / "data"
    data.mkdir()
    from tests.fidelity_inputs import write_wav
    write_wav(data / "a.wav", 1, 16000)
    (data / "wav.scp").write_text(f"a {data / 'a.wav'}\n")
    args = ["--exp_dir", str(exp), "--data", str(data), "--out", str(tmp_path / "s.txt"), "--cpu"]
    shutil.copyfile(ROOT / "pretrained" / "aasist_l_clovaai" / "model.pt", exp / "model.pt")
    assert infer_cm.main(args) == 1
    _one_line_error(capsys, "model.pt", "another model config", "config.yaml", "model.name: 'aasist_l' -> 'aasist'")
    light = torch.load(exp / "model.pt", weights_only=True)
    torch.save({"model": light["model"]}, exp / "model.pt")  # no config of its own: the shapes tell
    assert infer_cm.main(args) == 1
    _one_line_error(capsys, "model.pt", "does not fit", "config.yaml", "mis-shaped")
    (exp / "model.pt").write_bytes((ROOT / "pretrained" / "aasist_clovaai" / "model.pt").read_bytes()[:5000])
    assert infer_cm.main(args) == 1
    _one_line_error(capsys, "model.pt", "truncated")
    assert not (tmp_path / "s.txt").exists()

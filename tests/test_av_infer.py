"""Stage 4 helpers (avdf.bin.infer_av): robustness perturbations, job files and their merge."""
from __future__ import annotations

import numpy as np
import pytest

from avdf.bin import infer_av
from avdf.data.datadir import read_kv


def _frames(t=6, h=33, w=31):
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, h * w).reshape(h, w, 1).repeat(3, 2)
    return np.stack([np.clip(base + rng.normal(0, 3, base.shape) + 10 * i, 0, 255) for i in range(t)]).astype(np.uint8)


@pytest.mark.parametrize("kind", infer_av.PERTURBATIONS)
def test_perturbations_keep_shape_and_change_pixels(kind):
    frames = _frames()
    out = infer_av.perturb_frames(frames, kind, np.random.default_rng(0), fps=25)
    assert out.shape == frames.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - frames).mean()
    assert 0.2 < diff < 40, diff  # changed, but still the same picture
    with pytest.raises(ValueError, match="unknown perturbation"):
        infer_av.perturb_frames(frames, "blur", np.random.default_rng(0))


def test_perturbation_draws_are_seeded_per_video():
    a = [infer_av.video_rng(0, "abc").random() for _ in range(2)]
    assert a[0] == a[1] and infer_av.video_rng(1, "abc").random() != a[0]


def test_job_files_merge(tmp_path):
    out = tmp_path / "scores" / "test.txt"
    for job, rows in ((1, {"a": 0.25}), (2, {"b": 0.75, "c": 0.5})):
        part, chunks = infer_av._paths(out, job)
        infer_av.write_scores(part, chunks, rows, [(u, 0.0, s) for u, s in rows.items()])
    assert infer_av.main(["--merge", "--out", str(out), "--nj", "2"]) == 0
    assert read_kv(out) == {"a": "0.250000", "b": "0.750000", "c": "0.500000"}
    assert len((tmp_path / "scores" / "test.chunks.txt").read_text().splitlines()) == 3
    assert infer_av.main(["--merge", "--out", str(out), "--nj", "3"]) == 1  # job 3 never ran

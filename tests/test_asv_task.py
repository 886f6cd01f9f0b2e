"""The asv task's data side: feature reading (CMN, VAD), chunks, held-out validation,
batch cropping, validation metrics; and an undecodable m4a in a VoxCeleb2-style wav.scp."""
from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import torch

from avdf.data.audio import AudioError, WavScp
from avdf.features.cmvn import sliding_cmn
from avdf.tasks.asv import ASVTask, ChunkCollate, FeatureReader


@pytest.fixture()
def feats_dir(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "data"
    d.mkdir()
    u2s, mats, vads = {}, {}, {}
    for s in range(4):
        for k in range(3):
            u = f"spk{s}-utt{k}"
            n = 30 + 10 * k
            mats[u] = (rng.normal(size=(n, 5)) + s).astype(np.float32)
            vads[u] = (np.arange(n) % 3 != 0).astype(np.float32)
            u2s[u] = f"spk{s}"
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/f.ark,{d}/feats.scp") as w:
        for u in sorted(mats):
            w(u, mats[u])
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/v.ark,{d}/vad.scp") as w:
        for u in sorted(vads):
            w(u, vads[u])
    (d / "utt2spk").write_text("".join(f"{u} {u2s[u]}\n" for u in sorted(u2s)))
    return d, mats, vads


def _cfg(**data):
    return {"task": "asv", "seed": 3, "model": {"name": "xvector_tdnn", "input_dim": 5, "channels": [8, 8, 8, 8, 16],
                                              "embed_dim": 8},
            "loss": {"name": "aamsoftmax"}, "frontend": {"name": "mfcc"},
            "data": {"input": "feats", "chunk_frames": [10, 20], "valid_per_spk": 1, "valid_frames": 16,
                     "batch_size": 4, **data}}


def test_reader_cmn_then_vad(feats_dir):
    d, mats, vads = feats_dir
    r = FeatureReader(d, _cfg(cmn="sliding", cmn_window=8, vad=True))
    u = "spk1-utt2"
    want = sliding_cmn(mats[u], 8)[vads[u] > 0.5]
    np.testing.assert_allclose(r.read(u), want, rtol=1e-6)
    with pytest.raises(Exception, match="vad.scp"):
        (d / "vad.scp").unlink()
        FeatureReader(d, _cfg(vad=True))


def test_split_chunks_collate_and_metrics(feats_dir):
    d, _, _ = feats_dir
    task = ASVTask(_cfg(cmn="utterance"), {"train": str(d)})
    train, valid = task.train_dataset(), task.valid_dataset()
    assert len(train) == 8 and len(valid) == 4  # one held out of each of the 4 speakers
    assert not set(train.utts) & set(valid.utts)
    assert ASVTask(_cfg(cmn="utterance"), {"train": str(d)}).valid_dataset().utts == valid.utts  # seeded
    np.random.seed(0)
    items = [train[i] for i in range(4)]
    assert all(x.shape == (20, 5) for _, x, _ in items)
    keys, x, y = ChunkCollate((10, 20))(items)
    assert 10 <= x.shape[1] <= 20 and x.shape[0] == 4 and y.dtype == torch.long
    vk, vx, vy = ChunkCollate(None)([valid[i] for i in range(4)])
    assert vx.shape == (4, 16, 5)
    assert torch.equal(valid[0][1], valid[0][1])  # validation chunks are deterministic
    model = task.build_model()
    loss, _ = task.training_step(model, (keys, x, y), torch.device("cpu"))
    assert loss.ndim == 0 and torch.isfinite(loss)
    model.eval()
    out = task.validation_outputs(model, (vk, vx, vy), torch.device("cpu"))
    m = task.validation_metrics(out)
    assert {"loss", "acc", "n"} <= set(m) and "eer" not in m  # one utterance per speaker: no target pair
    out2 = out + [(k + "b", lab, ls, c, e) for k, lab, ls, c, e in out]
    assert task.validation_metrics(out2)["eer"] == 0.0  # identical embeddings of the same speaker


def test_bad_m4a_names_the_line(tmp_path):
    bad = tmp_path / "00001.m4a"
    bad.write_bytes(b"not an mp4 at all")
    scp = tmp_path / "wav.scp"
    scp.write_text(f"id00012-abc-00001 ffmpeg -nostdin -v 8 -i {bad} -f wav -acodec pcm_s16le -ac 1 -ar 16000 - |\n")
    with pytest.raises(AudioError, match=r"wav.scp:1: .*command exited"):
        WavScp(scp).read("id00012-abc-00001")

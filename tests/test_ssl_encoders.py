"""SSL encoders from local checkpoints (avdf.features.ssl, avdf.models.av.ssl_encoders) and
python -m avdf.bin.extract_ssl: tiny randomly initialised models saved to tmp, loaded
through the real checkpoint code, errors for missing or mismatched checkpoints."""
from __future__ import annotations

import json

import kaldiio
import numpy as np
import pytest
import torch
import torchvision
import yaml

from avdf.bin import extract_ssl
from avdf.data.datadir import read_kv, utt2spk_to_spk2utt, write_kv
from avdf.features import build_frontend
from avdf.features.ssl import CheckpointError, SSLFrontend, build_ssl_model
from avdf.models.av.ssl_encoders import FrameEncoder, build_encoder

TINY = {"extractor_conv_layer_config": [[16, 10, 5], [16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 2, 2], [16, 2, 2],
                                        [16, 2, 2]],
        "encoder_embed_dim": 32, "encoder_num_layers": 2, "encoder_num_heads": 2,
        "encoder_ff_interm_features": 64, "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 4}


def save_tiny(tmp_path, arch: str = "wav2vec2", seed: int = 0):
    torch.manual_seed(seed)
    model = build_ssl_model(arch, "custom", TINY).eval()
    path = tmp_path / f"{arch}.pt"
    torch.save(model.state_dict(), path)
    return model, path


@pytest.mark.parametrize("arch", ["wav2vec2", "hubert", "wavlm"])
def test_tiny_audio_encoder_loads_the_saved_weights(tmp_path, arch):
    model, path = save_tiny(tmp_path, arch)
    fe = build_frontend({"name": arch, "checkpoint": str(path), "size": "custom", "model_conf": TINY, "layer": 1})
    wave = torch.randn(2, 8000)
    with torch.no_grad():
        expect = model.extract_features(wave, num_layers=1)[0][0]
        got = fe(wave)
    assert got.shape == (2, 24, 32) and fe.sample_rate == 16000 and fe.frame_rate == 50.0
    torch.testing.assert_close(got, expect)
    last = build_frontend({"name": arch, "checkpoint": str(path), "size": "custom", "model_conf": TINY})
    assert last.layer == 2 and not torch.allclose(last(wave), got)
    assert not any(p.requires_grad for p in fe.parameters())


def test_hubert_pretrain_and_finetuned_keys(tmp_path):
    model, _ = save_tiny(tmp_path, "hubert")
    state = {f"wav2vec2.{k}": v for k, v in model.state_dict().items()}
    state["logit_generator.label_embeddings"] = torch.zeros(3, 4)  # a pre-training head
    torch.save({"model": state}, tmp_path / "pretrain.pt")
    fe = SSLFrontend("hubert", str(tmp_path / "pretrain.pt"), size="custom", model_conf=TINY)
    wave = torch.randn(1, 4000)
    torch.testing.assert_close(fe(wave), model.extract_features(wave)[0][-1])


def test_missing_checkpoint_names_path_and_architecture(tmp_path):
    with pytest.raises(CheckpointError, match=r"wav2vec2 \(base\): checkpoint .*nowhere.pt does not exist"):
        SSLFrontend("wav2vec2", str(tmp_path / "nowhere.pt"))
    with pytest.raises(CheckpointError, match=r"torchvision resnet18: checkpoint .*none.pt does not exist"):
        build_encoder({"name": "torchvision_image", "arch": "resnet18", "checkpoint": str(tmp_path / "none.pt")})
    with pytest.raises(CheckpointError, match="no checkpoint given"):
        SSLFrontend("wavlm", "")


def test_wrong_architecture_names_both(tmp_path):
    _, path = save_tiny(tmp_path, "wavlm")
    with pytest.raises(CheckpointError, match=r"checkpoint .*wavlm.pt does not match the architecture wav2vec2 "
                                              r"\(custom.*missing keys .*unexpected keys"):
        SSLFrontend("wav2vec2", str(path), size="custom", model_conf=TINY)
    with pytest.raises(CheckpointError, match=r"does not match the architecture hubert \(base\).*mis-shaped keys"):
        SSLFrontend("hubert", str(path))
    torch.save({"note": "not weights"}, tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="is not a state_dict"):
        SSLFrontend("wav2vec2", str(tmp_path / "junk.pt"), size="custom", model_conf=TINY)
    torch.save(torchvision.models.get_model("shufflenet_v2_x0_5").state_dict(), tmp_path / "shuffle.pt")
    with pytest.raises(CheckpointError, match=r"shuffle.pt does not match the architecture torchvision mobilenet"):
        build_encoder({"name": "torchvision_image", "arch": "mobilenet_v3_small", "checkpoint": str(tmp_path / "shuffle.pt")})
    with pytest.raises(ValueError, match="layer 5 is outside 1..2"):
        SSLFrontend("wavlm", str(path), size="custom", model_conf=TINY, layer=5)


def test_transformers_folder_without_transformers(tmp_path):
    try:
        import transformers  # noqa: F401
        pytest.skip("transformers is installed: the error path is not reachable")
    except ImportError:
        pass
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"model_type": "wav2vec2"}')
    with pytest.raises(CheckpointError, match="transformers folder, but the transformers package is not installed"):
        SSLFrontend("wav2vec2", str(tmp_path / "hf"))


def test_transformers_folder_of_another_architecture(tmp_path):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"model_type": "hubert"}')
    with pytest.raises(CheckpointError, match=r"hf is a transformers 'hubert' model, which does not match the "
                                              r"architecture wavlm \(base\)"):
        SSLFrontend("wavlm", str(tmp_path / "hf"))


def test_visual_encoders(tmp_path):
    torch.manual_seed(0)
    net = torchvision.models.get_model("shufflenet_v2_x0_5", num_classes=7).eval()  # head sized differently
    torch.save(net.state_dict(), tmp_path / "img.pt")
    enc = build_encoder({"name": "torchvision_image", "arch": "shufflenet_v2_x0_5", "checkpoint": str(tmp_path / "img.pt"),
                         "layer": "mean", "image_size": 64, "batch_frames": 4})
    frames = torch.randint(0, 256, (10, 48, 48, 3), dtype=torch.uint8)
    feats = enc.encode(None, frames)
    assert feats.shape == (10, 1024) and enc.dim == 1024 and enc.frame_rate(25.0) == 25.0
    # the same as the network's pooled features on the normalised, resized frames
    x = frames.permute(0, 3, 1, 2).float() / 255
    x = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        y = net.conv5(net.stage4(net.stage3(net.stage2(net.maxpool(net.conv1(x)))))).mean([2, 3])
    torch.testing.assert_close(feats, y, atol=1e-4, rtol=1e-4)

    bad = dict(net.state_dict(), **{"extra.weight": torch.zeros(1)})
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="1 unexpected keys \\(first: extra.weight\\)"):
        build_encoder({"name": "torchvision_image", "arch": "shufflenet_v2_x0_5", "checkpoint": str(tmp_path / "bad.pt"),
                       "layer": "mean"})

    torch.save(torchvision.models.get_model("mc3_18").state_dict(), tmp_path / "vid.pt")
    venc = build_encoder({"name": "torchvision_video", "arch": "mc3_18", "checkpoint": str(tmp_path / "vid.pt"),
                          "layer": "layer2", "clip_len": 4, "image_size": 32})
    vf = venc.encode(None, frames)
    assert vf.shape == (10, 128) and torch.isfinite(vf).all()
    with pytest.raises(ValueError, match="no graph node or module 'layer9'"):
        build_encoder({"name": "torchvision_video", "arch": "mc3_18", "checkpoint": str(tmp_path / "vid.pt"),
                       "layer": "layer9"})


def test_plugin_encoder_by_module_path():
    with pytest.raises(ValueError, match="unknown encoder 'nope'"):
        build_encoder({"name": "nope"})
    with pytest.raises(TypeError, match="is not an avdf.models.av.ssl_encoders.FrameEncoder"):
        build_encoder({"name": "torch.nn:Identity"})
    enc = build_encoder({"name": "tests.test_ssl_encoders:MeanAV"})
    assert enc.modality == "av"


class MeanAV(FrameEncoder):
    """A plug-in of the kind a user writes: frame brightness next to audio energy."""
    modality = "av"
    dim = 2

    def encode(self, audio, frames):
        per_frame = audio.numel() // frames.shape[0]
        energy = audio[:per_frame * frames.shape[0]].view(frames.shape[0], -1).pow(2).mean(1)
        return torch.stack([frames.float().mean((1, 2, 3)) / 255, energy], 1)


def make_preprocessed(d, n=6, sr=16000, short=None):
    """A data dir as avdf.bin.preprocess_av writes it: faces.scp, audio.scp, utt2fps, labels."""
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lab, spk, fps = {}, {}, {}
    with kaldiio.WriteHelper(f"ark,scp:{d}/faces.ark,{d}/faces.scp", write_function="numpy") as wf, \
            kaldiio.WriteHelper(f"ark,scp:{d}/audio.ark,{d}/audio.scp", write_function="numpy") as wa:
        for i in range(n):
            u = f"utt{i}"
            wf(u, rng.integers(0, 256, (20, 40, 40, 3), dtype=np.uint8))
            wa(u, rng.standard_normal(100 if u == short else sr).astype(np.float32) * 0.1)
            lab[u], spk[u], fps[u] = ("spoof" if i % 2 else "bonafide"), f"spk{i // 2}", "25"
    write_kv(d / "utt2label", lab)
    write_kv(d / "utt2spk", spk)
    write_kv(d / "spk2utt", utt2spk_to_spk2utt(spk))
    write_kv(d / "utt2fps", fps)
    write_kv(d / "utt2num_frames", {u: 20 for u in lab})


def test_extract_ssl_jobs_and_merge(tmp_path):
    data = tmp_path / "pre"
    make_preprocessed(data, sr=48000, short="utt3")
    model, ckpt = save_tiny(tmp_path, "wav2vec2")
    conf = tmp_path / "w2v.yaml"
    conf.write_text(yaml.safe_dump({"encoder": {"name": "wav2vec2", "checkpoint": str(ckpt), "size": "custom",
                                                "model_conf": TINY}}))
    pre = tmp_path / "pre.yaml"
    pre.write_text(yaml.safe_dump({"preprocess": {"sample_rate": 48000}}))
    for job in (1, 2):
        assert extract_ssl.main(["--config", str(conf), "--data", str(data), "--out_dir", str(tmp_path / "dump"),
                                 "--nj", "2", "--job", str(job), "--preprocess_config", str(pre)]) == 0
    assert not list((tmp_path / "dump").glob(".*tmp"))
    out = tmp_path / "ssl"
    assert extract_ssl.main(["--merge", "--data", str(data), "--out_dir", str(tmp_path / "dump"),
                             "--out_data", str(out), "--nj", "2"]) == 0
    feats = read_kv(out / "feats.scp")
    assert sorted(feats) == ["utt0", "utt1", "utt2", "utt4", "utt5"]  # utt3: audio shorter than a frame
    assert "utt3" in read_kv(out / "bad_utts")
    assert sorted(read_kv(out / "utt2label")) == sorted(feats) and not (out / "faces.scp").exists()
    assert read_kv(out / "utt2frame_rate")["utt0"] == "50" and read_kv(out / "utt2num_frames")["utt0"] == "49"
    info = json.loads((out / "feats_info.json").read_text())
    assert info["modality"] == "audio" and info["dim"] == 32
    # the features are the model's on the audio resampled 48 -> 16 kHz
    from avdf.data.audio import resample
    wave = resample(np.asarray(kaldiio.load_mat(read_kv(data / "audio.scp")["utt0"])), 48000, 16000)
    with torch.no_grad():
        expect = model.extract_features(torch.from_numpy(wave)[None].float())[0][-1][0].numpy()
    np.testing.assert_allclose(kaldiio.load_mat(feats["utt0"]), expect, atol=1e-5)

    # a plug-in audio-visual encoder reads both streams
    av = tmp_path / "av.yaml"
    av.write_text(yaml.safe_dump({"encoder": {"name": "tests.test_ssl_encoders:MeanAV"}}))
    assert extract_ssl.main(["--config", str(av), "--data", str(data), "--out_dir", str(tmp_path / "dav")]) == 0
    assert extract_ssl.main(["--merge", "--data", str(data), "--out_dir", str(tmp_path / "dav"),
                             "--out_data", str(tmp_path / "av")]) == 0
    assert kaldiio.load_mat(read_kv(tmp_path / "av" / "feats.scp")["utt0"]).shape == (20, 2)


def test_extract_ssl_errors(tmp_path, capsys):
    data = tmp_path / "pre"
    make_preprocessed(data)
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({"encoder": {"name": "wav2vec2", "checkpoint": str(tmp_path / "missing.pt")}}))
    assert extract_ssl.main(["--config", str(conf), "--data", str(data), "--out_dir", str(tmp_path / "d")]) == 1
    assert "missing.pt does not exist" in capsys.readouterr().err
    (data / "faces.scp").unlink()
    torch.save(torchvision.models.get_model("shufflenet_v2_x0_5").state_dict(), tmp_path / "img.pt")
    conf.write_text(yaml.safe_dump({"encoder": {"name": "torchvision_image", "arch": "shufflenet_v2_x0_5",
                                                "checkpoint": str(tmp_path / "img.pt"), "layer": "mean"}}))
    assert extract_ssl.main(["--config", str(conf), "--data", str(data), "--out_dir", str(tmp_path / "d")]) == 1
    assert "faces.scp: missing" in capsys.readouterr().err


def test_init_ssl_checkpoint_is_loadable(tmp_path):
    from avdf.bin import init_ssl_checkpoint
    conf = tmp_path / "c.yaml"
    conf.write_text(yaml.safe_dump({"encoder": {"name": "wavlm", "size": "custom", "model_conf": TINY,
                                                "checkpoint": None}}))
    assert init_ssl_checkpoint.main(["--config", str(conf), "--out", str(tmp_path / "r.pt"), "--seed", "3"]) == 0
    assert init_ssl_checkpoint.main(["--config", str(conf), "--out", str(tmp_path / "r2.pt"), "--seed", "3"]) == 0
    a, b = torch.load(tmp_path / "r.pt", weights_only=True), torch.load(tmp_path / "r2.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same weights
    fe = SSLFrontend("wavlm", str(tmp_path / "r.pt"), size="custom", model_conf=TINY)
    assert fe(torch.randn(1, 4000)).shape[-1] == 32
    conf.write_text(yaml.safe_dump({"encoder": {"name": "tests.test_ssl_encoders:MeanAV"}}))
    assert init_ssl_checkpoint.main(["--config", str(conf), "--out", str(tmp_path / "x.pt")]) == 1

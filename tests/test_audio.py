"""wav.scp reading: files, sox/ffmpeg pipes, containers, and errors naming file and line."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avdf.data.audio import AudioError, WavScp, pipe_command, read_audio, resample


@pytest.fixture
def flac(tmp_path):
    t = np.arange(16000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    p = tmp_path / "a.flac"
    sf.write(p, x, 16000)
    return p, x


def test_file_and_pipes_agree(flac, tmp_path):
    p, x = flac
    y, sr = read_audio(str(p))
    assert sr == 16000 and np.allclose(y, x, atol=1e-4)
    z, sr = read_audio(f"sox {p} -t wav - |")
    assert sr == 16000 and np.allclose(z, x, atol=1e-4)
    m4a = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-v", "8", "-y", "-i", str(p), "-c:a", "aac", str(m4a)], check=True)
    for spec in (str(m4a), f"ffmpeg -v 8 -i {m4a} -f wav -acodec pcm_s16le - |"):
        w, sr = read_audio(spec)
        assert sr == 16000 and abs(len(w) - len(x)) < 2048  # AAC priming/padding


def test_errors_name_file_and_line(flac, tmp_path):
    p, _ = flac
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    trunc = tmp_path / "trunc.flac"
    trunc.write_bytes(p.read_bytes()[:40])
    scp = tmp_path / "wav.scp"
    scp.write_text(f"a {p}\nb {tmp_path}/missing.flac\nc {empty}\nd {trunc}\ne sox {p} -t wav -r 8000 - |\nf false |\n")
    w = WavScp(scp, expected_sr=16000)
    assert w.read("a")[1] == 16000
    for utt, line, why in (("b", 2, "does not exist"), ("c", 3, "empty"), ("d", 4, "decode"),
                           ("e", 5, "8000 Hz, expected 16000"), ("f", 6, "exited 1")):
        with pytest.raises(AudioError, match=why) as e:
            w.read(utt)
        assert f"wav.scp:{line}:" in str(e.value)


def test_resample_ratio():
    x = np.random.default_rng(0).normal(size=8000).astype(np.float32)
    assert len(resample(x, 8000, 16000)) == 16000
    assert resample(x, 16000, 16000) is x


def test_pipe_command_quotes_and_dataset_files_never_run(flac, tmp_path):
    p, x = flac
    odd = tmp_path / "a b;touch PWNED;'c'.flac"
    odd.write_bytes(p.read_bytes())
    y, sr = read_audio(pipe_command("sox", odd, "-t", "wav", "-"))
    assert sr == 16000 and np.allclose(y, x, atol=1e-4)
    # a dataset file whose name ends in '|' is a file name, not a command
    trap = tmp_path / "v.wav; touch PWNED |"
    trap.write_bytes(p.read_bytes())
    z, sr = read_audio(str(trap), allow_pipe=False)  # decoded as the file it is (PyAV), never run
    assert sr == 16000 and np.allclose(z, x, atol=1e-4)
    assert not list(tmp_path.glob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))


def test_truncated_wav_is_an_error(tmp_path):
    full = tmp_path / "full.wav"
    sf.write(str(full), np.zeros(16000, np.float32) + 0.1, 16000, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:20000])
    assert len(read_audio(str(full))[0]) == 16000
    with pytest.raises(AudioError, match=r"cut.wav: truncated: the header says 32000 bytes"):
        read_audio(str(cut))

"""espeak-ng and flite through avdf.data.mini.tts: sane, deterministic audio at the asked
rate, distinct voices, and clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import pyworld as pw

from avdf.data.mini import common, tts
from avdf.data.mini.speech import MissingMaterialError

TEXT = "Please hold the line, your call is important to us."


def _median_f0(x: np.ndarray, sr: int) -> float:
    x = x.astype(np.float64)
    f0, t = pw.dio(x, sr)
    f0 = pw.stonemask(x, f0, t, sr)
    return float(np.median(f0[f0 > 0]))


@pytest.mark.parametrize("voice", [tts.Voice("espeak-ng", "en-us+f3", speed=160, pitch=60),
                                   tts.Voice("espeak-ng", "fr-fr+klatt4"), tts.Voice("flite", "slt", speed=1.1),
                                   tts.Voice("flite", "kal16")])
def test_synthesis_sane_and_deterministic(voice):
    x = tts.synthesize(tts.sentences(voice.language)[0], voice, 16000)
    assert x.dtype == np.float32 and np.isfinite(x).all()
    assert 1.0 < len(x) / 16000 < 8.0 and np.sqrt(np.mean(x ** 2)) > 0.01
    assert np.array_equal(x, tts.synthesize(tts.sentences(voice.language)[0], voice, 16000))


def test_rate_conversion():
    a = tts.espeak_ng(TEXT, "en-us", sr=16000)
    b = tts.espeak_ng(TEXT, "en-us", sr=8000)
    assert abs(len(a) / 2 - len(b)) <= 2
    c = tts.flite(TEXT, "kal", sr=16000)            # kal is an 8 kHz voice
    assert 2.0 < len(c) / 16000 < 6.0


def test_voices_differ():
    high = tts.espeak_ng(TEXT, "en-us+f3", pitch=80)
    low = tts.espeak_ng(TEXT, "en-us+m3", pitch=20)
    assert _median_f0(high, 16000) > 1.4 * _median_f0(low, 16000)
    assert _median_f0(tts.flite(TEXT, "slt"), 16000) > _median_f0(tts.flite(TEXT, "rms"), 16000)


def test_catalogues():
    assert {"slt", "rms", "awb", "kal16"} <= set(tts.flite_voices())
    assert {"f3", "m7", "klatt4", "whisper"} <= set(tts.espeak_variants())
    assert tts.espeak_variant_genders()["f3"] == "f" and "en-us" in tts.espeak_languages()
    for lang in tts.languages():
        assert len(tts.sentences(lang)) >= 10
    assert tts.sentences("fr-fr") == tts.sentences("fr")


def test_bad_voices():
    with pytest.raises(tts.TTSError, match="slt"):
        tts.flite(TEXT, "nobody")
    with pytest.raises(tts.TTSError, match="variant"):
        tts.espeak_ng(TEXT, "en-us+nobody")
    with pytest.raises(tts.TTSError, match="engine"):
        tts.synthesize(TEXT, tts.Voice("festival", "kal"))


def test_missing_program_names_package(monkeypatch):
    monkeypatch.setattr(common.shutil, "which", lambda name: None)
    tts.flite_voices.cache_clear()
    try:
        with pytest.raises(MissingMaterialError, match="apt-get install flite"):
            tts.flite(TEXT, "slt")
        with pytest.raises(MissingMaterialError, match="apt-get install espeak-ng"):
            tts.espeak_ng(TEXT)
    finally:
        tts.flite_voices.cache_clear()

"""Real human speech that Debian packages install, catalogued by speaker.

The mini corpora draw their bona fide speech from here (MINI_DATA.md). Every speaker is
a real person: the Asterisk prompt voices (8 kHz studio recordings, upsampled on load)
and the pocketsphinx test recordings (16 kHz read speech). The English and Spanish
Asterisk "Allison" are one person and are catalogued as one speaker.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from avdf.data.audio import resample

logger = logging.getLogger(__name__)

ASTERISK_ROOT = Path("/usr/share/asterisk/sounds")
POCKETSPHINX_ROOT = Path("/usr/share/pocketsphinx/test/data")


class MissingMaterialError(RuntimeError):
    """Real material for the mini corpora is not installed."""


@dataclass(frozen=True)
class Speaker:
    """One real speaker and their recordings (sorted paths)."""

    id: str
    gender: str            # "m", "f" or "u" (unknown)
    language: str
    files: tuple[Path, ...] = field(repr=False)
    source: str = ""       # Debian package
    licence: str = ""
    native_rate: int = 16000


# (speaker id, gender, language, directories under ASTERISK_ROOT, package, licence)
_ASTERISK = (
    ("allison", "f", "en+es", ("en_US_f_Allison", "es_MX_f_Allison"),
     "asterisk-core-sounds-en-wav, asterisk-core-sounds-es-wav", "CC-BY-SA-3.0"),
    ("june", "f", "fr", ("fr_CA_f_June",), "asterisk-core-sounds-fr-wav", "CC-BY-SA-3.0"),
    ("carlo", "m", "it", ("it_IT_m_Carlo",), "asterisk-core-sounds-it-wav", "CC-BY-SA-3.0"),
    ("menardi", "f", "it", ("it_IT_f_Menardi",), "asterisk-prompt-it-menardi-wav", "CC-BY-SA-3.0"),
    ("ivrvoiceru", "f", "ru", ("ru_RU_f_IvrvoiceRU",), "asterisk-core-sounds-ru-wav", "CC-BY-3.0"),
)
_POCKETSPHINX = (
    ("ps_cards", "u", "en", "cards/*.wav"),
    ("ps_librivox", "u", "en", "librivox/*.wav"),
)
APT_HINT = ("apt-get install asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav "
            "asterisk-core-sounds-fr-wav asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav "
            "asterisk-prompt-it-menardi-wav pocketsphinx-testdata (or: make -C tools)")


@functools.lru_cache(maxsize=None)
def real_speakers(min_seconds: float = 0.0) -> tuple[Speaker, ...]:
    """Every real speaker installed, with the files at least ``min_seconds`` long.

    Raises :class:`MissingMaterialError` naming the packages to install when the
    Asterisk voices are absent (pocketsphinx speakers are optional extras).
    """
    speakers = []
    missing = []
    for sid, gender, lang, dirs, pkg, lic in _ASTERISK:
        files: list[Path] = []
        for d in dirs:
            if not (ASTERISK_ROOT / d).is_dir():
                missing.append(pkg)
                continue
            files.extend(f for f in sorted((ASTERISK_ROOT / d).rglob("*.wav")) if not _non_speech(f))
        files = [f for f in files if min_seconds <= 0 or _duration(f) >= min_seconds]
        if files:
            speakers.append(Speaker(sid, gender, lang, tuple(files), pkg, lic, native_rate=8000))
    if missing:
        raise MissingMaterialError(f"real speech missing: Debian packages {sorted(set(missing))} are not "
                                   f"installed; install them with: {APT_HINT}")
    for sid, gender, lang, pattern in _POCKETSPHINX:
        files = sorted(POCKETSPHINX_ROOT.glob(pattern))
        files = [f for f in files if min_seconds <= 0 or _duration(f) >= min_seconds]
        if files:
            speakers.append(Speaker(sid, gender, lang, tuple(files), "pocketsphinx-testdata", "BSD-2-Clause"))
    return tuple(speakers)


# Asterisk prompt sets also hold digital silence (silence/1..10.wav) and signalling tones
_NON_SPEECH = {"beep", "beeperr", "ascending-2tone", "descending-2tone"}


def _non_speech(path: Path) -> bool:
    return path.parent.name == "silence" or path.stem in _NON_SPEECH


@functools.lru_cache(maxsize=None)
def _duration(path: Path) -> float:
    info = sf.info(str(path))
    return info.frames / info.samplerate


def load_speech(path: str | Path, sr: int = 16000) -> np.ndarray:
    """A mono recording as float32 in [-1, 1] at ``sr`` Hz."""
    x, sr_in = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(x.mean(axis=1), sr_in, sr)

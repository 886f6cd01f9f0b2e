"""Real text-to-speech through the Debian programs espeak-ng and flite.

- espeak-ng: formant synthesis (and Klatt synthesis with the ``+klatt*`` variants), 22,050 Hz
  output; a voice is ``<language>[+<variant>]`` such as ``en-us+f3``, ``fr-fr+m7``,
  ``en-us+klatt4``, ``en-us+whisper``; speed in words per minute, pitch 0..99.
- flite (CMU Flite 2): diphone voices ``kal`` (8 kHz) and ``kal16``, and the clustergen
  (statistical parametric) voices ``awb``, ``rms``, ``slt``, 16 kHz; a duration stretch
  and a target mean F0.

Both run as subprocesses writing a temporary WAV that is read back and resampled to the
requested rate. The output depends only on the text and the voice settings (both programs
are deterministic). A missing program raises
:class:`~avdf.data.mini.speech.MissingMaterialError` naming the Debian package. Texts to
say: :func:`sentences` (a small list of our own per language, plus the pocketsphinx test
transcripts for English).
"""
from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from avdf.data.audio import resample
from avdf.data.mini.common import require_programs
from avdf.data.mini.speech import POCKETSPHINX_ROOT

FLITE_RATES = {"kal": 8000}          # every other installed flite voice is 16 kHz


class TTSError(RuntimeError):
    """A synthesiser failed or was asked for a voice it does not have."""


@dataclass(frozen=True)
class Voice:
    """One synthetic voice: engine, voice name and prosody settings.

    ``name``: espeak-ng ``<language>[+<variant>]`` or a flite voice (``slt``).
    ``speed``: espeak-ng words per minute / flite duration stretch (1.0 = default).
    ``pitch``: espeak-ng pitch 0..99 / flite target mean F0 in Hz (None = default).
    """

    engine: str
    name: str
    speed: float | None = None
    pitch: float | None = None
    gender: str = "u"

    @property
    def language(self) -> str:
        """The language code the voice speaks (flite: ``en``)."""
        return self.name.split("+")[0] if self.engine == "espeak-ng" else "en"

    def label(self) -> str:
        """A short human-readable description, e.g. ``espeak-ng en-us+f3 speed=160 pitch=60``."""
        s = f"{self.engine} {self.name}"
        if self.speed is not None:
            s += f" speed={self.speed:g}"
        if self.pitch is not None:
            s += f" pitch={self.pitch:g}"
        return s


@functools.lru_cache(maxsize=None)
def flite_voices() -> tuple[str, ...]:
    """Voices the installed flite has (``flite -lv``), without the limited-domain ``*_time``."""
    require_programs("flite")
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=True).stdout
    names = out.split(":", 1)[-1].split()
    return tuple(n for n in names if not n.endswith("_time"))


@functools.lru_cache(maxsize=None)
def espeak_variants() -> tuple[str, ...]:
    """Voice variants espeak-ng has (``espeak-ng --voices=variant``), e.g. ``f3``, ``klatt4``."""
    require_programs("espeak-ng")
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    return tuple(m.group(1) for m in re.finditer(r"!v/(\S+)", out))


@functools.lru_cache(maxsize=None)
def espeak_variant_genders() -> dict[str, str]:
    """Variant name -> ``m``/``f`` as espeak-ng lists it (its default for unspecified is M)."""
    require_programs("espeak-ng")
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    return {m.group(2): m.group(1).lower() for m in re.finditer(r"/([MF]) .*?!v/(\S+)", out)}


@functools.lru_cache(maxsize=None)
def espeak_languages() -> tuple[str, ...]:
    """Language voices espeak-ng has (``espeak-ng --voices``), e.g. ``en-us``, ``fr-fr``."""
    require_programs("espeak-ng")
    out = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, check=True).stdout
    return tuple(line.split()[1] for line in out.splitlines()[1:] if len(line.split()) > 1)


def _read(path: Path, sr: int) -> np.ndarray:
    x, sr_in = sf.read(str(path), dtype="float32", always_2d=True)
    if x.shape[0] == 0:
        raise TTSError(f"{path}: the synthesiser wrote no samples")
    return resample(x.mean(axis=1), sr_in, sr)


def espeak_ng(text: str, voice: str = "en-us", sr: int = 16000, speed: float | None = None,
              pitch: float | None = None) -> np.ndarray:
    """Say ``text`` with espeak-ng ``voice`` (``lang[+variant]``); float32 at ``sr`` Hz."""
    require_programs("espeak-ng")
    lang, _, variant = voice.partition("+")
    if variant and variant not in espeak_variants():
        raise TTSError(f"espeak-ng has no voice variant {variant!r} (espeak-ng --voices=variant)")
    cmd = ["espeak-ng", "-v", voice]
    if speed is not None:
        cmd += ["-s", str(int(round(speed)))]
    if pitch is not None:
        cmd += ["-p", str(int(round(pitch)))]
    with tempfile.TemporaryDirectory(prefix="avdf_tts_") as tmp:
        wav = Path(tmp) / "out.wav"
        r = subprocess.run(cmd + ["-w", str(wav), text], capture_output=True, text=True)
        if r.returncode != 0 or not wav.exists():
            raise TTSError(f"espeak-ng -v {voice} failed (exit {r.returncode}): {r.stderr.strip()}")
        return _read(wav, sr)


def flite(text: str, voice: str = "slt", sr: int = 16000, speed: float | None = None,
          pitch: float | None = None) -> np.ndarray:
    """Say ``text`` with flite ``voice``; ``speed`` is the duration stretch, ``pitch`` the
    target mean F0 (Hz); float32 at ``sr`` Hz."""
    require_programs("flite")
    if voice not in flite_voices():
        raise TTSError(f"flite has no voice {voice!r}; it has {', '.join(flite_voices())} (flite -lv)")
    cmd = ["flite", "-voice", voice]
    if speed is not None:
        cmd += ["--setf", f"duration_stretch={speed:.3f}"]
    if pitch is not None:
        cmd += ["--setf", f"int_f0_target_mean={pitch:.1f}"]
    with tempfile.TemporaryDirectory(prefix="avdf_tts_") as tmp:
        wav = Path(tmp) / "out.wav"
        r = subprocess.run(cmd + ["-t", text, "-o", str(wav)], capture_output=True, text=True)
        if r.returncode != 0 or not wav.exists():
            raise TTSError(f"flite -voice {voice} failed (exit {r.returncode}): {r.stderr.strip()}")
        return _read(wav, sr)


def synthesize(text: str, voice: Voice, sr: int = 16000) -> np.ndarray:
    """Say ``text`` with ``voice``; float32 mono at ``sr`` Hz."""
    if voice.engine == "espeak-ng":
        return espeak_ng(text, voice.name, sr, voice.speed, voice.pitch)
    if voice.engine == "flite":
        return flite(text, voice.name, sr, voice.speed, voice.pitch)
    raise TTSError(f"unknown TTS engine {voice.engine!r} (espeak-ng, flite)")


# Our own short sentences, in the register of the telephone prompts the bona fide speech
# is made of, for every language a real speaker of the mini corpora speaks.
_SENTENCES = {
    "en": (
        "Please enter your account number followed by the pound key.",
        "Your call is important to us, please stay on the line.",
        "All of our agents are busy at the moment.",
        "To hear these options again, press nine.",
        "The person you are calling is not available.",
        "Please leave a message after the tone.",
        "You have two new messages in your mailbox.",
        "The conference will begin in a few minutes.",
        "Thank you for calling, goodbye.",
        "Sorry, that extension is not valid.",
        "Please say your name and then press star.",
        "Your password has been changed.",
        "The number you dialled has been disconnected.",
        "Press one to confirm or two to cancel.",
        "Your estimated waiting time is three minutes.",
        "I did not understand your answer.",
        "The meeting room on the second floor is free this afternoon.",
        "We will call you back as soon as possible.",
    ),
    "es": (
        "Por favor, marque el número de su cuenta.",
        "Su llamada es muy importante para nosotros.",
        "Todos nuestros agentes están ocupados en este momento.",
        "Para escuchar estas opciones otra vez, oprima nueve.",
        "La persona que usted llama no está disponible.",
        "Deje su mensaje después del tono.",
        "Usted tiene dos mensajes nuevos.",
        "Gracias por llamar, hasta luego.",
        "Lo siento, esa extensión no es válida.",
        "Su contraseña ha sido cambiada.",
        "Oprima uno para confirmar o dos para cancelar.",
        "No entendí su respuesta.",
    ),
    "fr": (
        "Veuillez composer votre numéro de compte suivi du carré.",
        "Votre appel est important pour nous, merci de patienter.",
        "Tous nos conseillers sont occupés pour le moment.",
        "Pour réécouter ces options, appuyez sur neuf.",
        "Votre correspondant n'est pas disponible.",
        "Veuillez laisser un message après le signal sonore.",
        "Vous avez deux nouveaux messages.",
        "Merci de votre appel, au revoir.",
        "Désolé, ce poste n'est pas valide.",
        "Votre mot de passe a été modifié.",
        "Appuyez sur un pour confirmer ou sur deux pour annuler.",
        "Je n'ai pas compris votre réponse.",
    ),
    "it": (
        "Per favore, digiti il numero del suo conto seguito dal cancelletto.",
        "La sua chiamata è importante per noi, resti in linea.",
        "Tutti i nostri operatori sono occupati in questo momento.",
        "Per riascoltare queste opzioni, prema nove.",
        "La persona chiamata non è disponibile.",
        "Lasci un messaggio dopo il segnale acustico.",
        "Lei ha due nuovi messaggi.",
        "Grazie per aver chiamato, arrivederci.",
        "Spiacente, questo interno non è valido.",
        "La sua password è stata cambiata.",
        "Prema uno per confermare o due per annullare.",
        "Non ho capito la sua risposta.",
    ),
    "ru": (
        "Пожалуйста, введите номер вашего счёта.",
        "Ваш звонок очень важен для нас, оставайтесь на линии.",
        "Все операторы сейчас заняты.",
        "Чтобы прослушать меню ещё раз, нажмите девять.",
        "Абонент сейчас недоступен.",
        "Оставьте сообщение после звукового сигнала.",
        "У вас два новых сообщения.",
        "Спасибо за звонок, до свидания.",
        "Извините, этот номер неверен.",
        "Ваш пароль изменён.",
        "Нажмите один для подтверждения или два для отмены.",
        "Я не понял ваш ответ.",
    ),
}


def _pocketsphinx_transcripts() -> tuple[str, ...]:
    """Transcripts of the pocketsphinx test recordings (BSD), when installed."""
    out = []
    for f in (POCKETSPHINX_ROOT / "librivox" / "transcription", POCKETSPHINX_ROOT / "cards" / "cards.transcription"):
        if f.exists():
            for line in f.read_text().splitlines():
                t = re.sub(r"\(.*?\)|</?s>", "", line).strip()
                if len(t.split()) >= 3:
                    out.append(t[0].upper() + t[1:] + ".")
    return tuple(out)


def sentences(language: str) -> tuple[str, ...]:
    """Sentences to say in ``language`` (an espeak-ng code such as ``en-us``, ``fr-fr``;
    only the part before the first ``-`` counts). Unknown languages get the English list."""
    base = language.split("-")[0]
    if base == "en":
        return _SENTENCES["en"] + _pocketsphinx_transcripts()
    return _SENTENCES.get(base, _SENTENCES["en"])


def languages() -> tuple[str, ...]:
    """Languages with a sentence list of their own."""
    return tuple(_SENTENCES)

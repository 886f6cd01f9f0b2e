"""Mini VoxCeleb1 + VoxCeleb2 in the layout Kaldi and WeSpeaker arrange them (DATASETS.md §3).

- ``voxceleb1/{dev,test}/wav/idNNNNN/<11-char video id>/NNNNN.wav`` (16 kHz 16-bit mono),
  ``vox1_meta.csv`` (TAB-separated, a nationality with a space), ``veri_test.txt`` /
  ``veri_test2.txt`` (Vox1-O: test speakers), ``list_test_all{,2}.txt`` /
  ``list_test_hard{,2}.txt`` (Vox1-E/H: dev and test speakers; H pairs non-targets of the
  same gender and, where possible, nationality) and ``iden_split.txt``.
- ``voxceleb2/{dev,test}/aac/idNNNNN/<video id>/NNNNN.m4a`` (AAC-LC in MP4, 16 kHz mono) and
  ``vox2_meta.csv`` (UTF-8 BOM, a space before every comma and at the end of data lines,
  and one test speaker without audio, as in the real file).

Speakers: the 7 real speakers of :mod:`avdf.data.mini.speech` first (Vox1 test: carlo,
menardi, june, ivrvoiceru; Vox1 dev: ps_cards, ps_librivox; Vox2 dev: allison), then TTS
voices (flite and espeak-ng, each a fixed voice/locale/pitch) to reach the count. VoxCeleb1
and VoxCeleb2 speakers are disjoint. A speaker's utterances are grouped into "videos"
(sessions); every session has its own channel (band-pass/EQ, room reverberation, coloured
noise at a random SNR), so that same-speaker trials across sessions are not trivial.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal as ss

from avdf.data.augment import coloured_noise, reverberate, scale_to_snr, simulate_rir
from avdf.data.mini import tts
from avdf.data.mini.common import (Segment, collect_segments, condition, cut_at_pause, job_rng, random_ytid,
                                   require_programs, run_jobs, speaker_gender, stable_int, write_audio, write_lines,
                                   write_m4a)
from avdf.data.mini.speech import APT_HINT, MissingMaterialError, real_speakers
from avdf.data.mini.tts import Voice

logger = logging.getLogger(__name__)

SR = 16000
# (set name, real speakers in it)
REAL_IN = {"vox1_test": ("carlo", "menardi", "june", "ivrvoiceru"), "vox1_dev": ("ps_cards", "ps_librivox"),
           "vox2_dev": ("allison",), "vox2_test": ()}
ID_RANGES = {"vox1_test": [(10270, 10309)], "vox1_dev": [(10001, 10269), (10310, 11251)],
             "vox2_dev": [(12, 9272)], "vox2_test": [(12, 9272)]}
SIZE = {
    "tiny": dict(speakers={"vox1_test": 4, "vox1_dev": 6, "vox2_dev": 10, "vox2_test": 2}, sessions=2, utts=2,
                 min_s=1.0, max_s=3.0, trials=1),
    "small": dict(speakers={"vox1_test": 8, "vox1_dev": 10, "vox2_dev": 24, "vox2_test": 4}, sessions=4, utts=4,
                  min_s=1.5, max_s=5.0, trials=3),
}
REAL_NATIONALITY = {"allison": "USA", "june": "Canada", "carlo": "Italy", "menardi": "Italy", "ivrvoiceru": "Russia",
                    "ps_cards": "USA", "ps_librivox": "USA"}
# espeak-ng locale -> the nationality written in the meta file (South Africa: a space, as real rows have)
LOCALES = (("af", "South Africa"), ("en-us", "USA"), ("en-gb", "UK"), ("fr-fr", "France"), ("es", "Spain"),
           ("it", "Italy"), ("ru", "Russia"), ("en-gb-scotland", "UK"), ("es-419", "Mexico"),
           ("en-029", "Jamaica"), ("fr-be", "Belgium"), ("en-gb-x-rp", "UK"))
FLITE = (("slt", "f", "USA"), ("rms", "m", "USA"), ("awb", "m", "UK"), ("kal16", "m", "USA"))
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5", "Annie", "Alicia", "Andrea", "linda", "steph", "belinda", "anika",
                   "aunty", "steph2", "steph3", "grandma")
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Andy", "david", "edward", "max", "paul", "robert",
                 "travis", "boris", "adam", "john", "michel", "pablo")


@dataclass
class _Spk:
    """One mini-VoxCeleb speaker: id, where it comes from, and its sessions."""

    vox_id: str
    set: str                      # vox1_dev, vox1_test, vox2_dev, vox2_test
    name: str                     # VGGFace-style name column
    gender: str
    nationality: str
    real: str | None              # catalogue id of a real speaker, else None
    voice: Voice | None           # TTS voice, else None
    sessions: list[tuple[str, list]]   # (video id, [Segment or sentence text])


def tts_voices(n: int) -> list[tuple[Voice, str]]:
    """``n`` distinct synthetic voices with their nationality: espeak-ng variants
    alternating female/male over the locales, with pitches spread over each gender's
    range, and every third voice a flite voice while they last."""
    flite = [(Voice("flite", name, speed=1.0, gender=g), nat) for name, g, nat in FLITE]
    out: list[tuple[Voice, str]] = []
    fi = mi = k = 0
    while len(out) < n:
        if len(out) % 3 == 2 and flite:
            out.append(flite.pop(0))
            continue
        female = k % 2 == 0
        variant = FEMALE_VARIANTS[fi % len(FEMALE_VARIANTS)] if female else MALE_VARIANTS[mi % len(MALE_VARIANTS)]
        j = fi if female else mi
        fi, mi = fi + female, mi + (not female)
        locale, nat = LOCALES[k % len(LOCALES)]
        pitch = (55 if female else 15) + (j * 37) % 31          # spread within the gender's range
        speed = 140 + (k * 17) % 46
        out.append((Voice("espeak-ng", f"{locale}+{variant}", speed=float(speed), pitch=float(pitch),
                          gender="f" if female else "m"), nat))
        k += 1
    return out


def _speaker_ids(seed: int, cfg: dict) -> dict[str, list[str]]:
    rng = job_rng(seed, "vox-ids")
    out = {}
    taken: set[int] = set()
    for s in ("vox1_test", "vox1_dev", "vox2_dev", "vox2_test"):
        pool = np.concatenate([np.arange(a, b + 1) for a, b in ID_RANGES[s]])
        pool = pool[~np.isin(pool, list(taken))]
        n = cfg["speakers"][s] + (1 if s == "vox2_test" else 0)     # + the meta row without audio
        ids = sorted(int(i) for i in rng.choice(pool, n, replace=False))
        taken.update(ids)
        out[s] = [f"id{i:05d}" for i in ids]
    return out


def _plan(seed: int, cfg: dict) -> tuple[list[_Spk], str]:
    """All speakers with their sessions; and the id of the Vox2 meta row without audio."""
    catalogue = {s.id: s for s in real_speakers(0.0)}
    missing = [n for names in REAL_IN.values() for n in names if n not in catalogue]
    if missing:
        raise MissingMaterialError(f"real speakers {missing} not installed; {APT_HINT}")
    ids = _speaker_ids(seed, cfg)
    n_tts = sum(cfg["speakers"][s] - len(REAL_IN[s]) for s in REAL_IN)
    voices = iter(tts_voices(n_tts))
    speakers = []
    per_spk = cfg["sessions"] * cfg["utts"]
    for s in ("vox1_test", "vox1_dev", "vox2_dev", "vox2_test"):
        for i, vox_id in enumerate(ids[s][: cfg["speakers"][s]]):
            rng = job_rng(seed, "vox-spk", vox_id)
            if i < len(REAL_IN[s]):
                name = REAL_IN[s][i]
                segs = collect_segments(catalogue[name], per_spk, rng, cfg["min_s"], cfg["max_s"])
                if len(segs) < per_spk:      # short of long stretches: accept down to 1 s
                    segs = collect_segments(catalogue[name], per_spk, rng, 1.0, cfg["max_s"])
                if len(segs) < 2:
                    raise MissingMaterialError(f"real speaker {name}: {len(segs)} usable segments; {APT_HINT}")
                items: list = segs
                spk = _Spk(vox_id, s, f"{name.capitalize()}_real", speaker_gender(name), REAL_NATIONALITY[name],
                           name, None, [])
            else:
                voice, nat = next(voices)
                texts = list(tts.sentences(voice.language))
                items = [texts[int(k)] for k in rng.permutation(len(texts))[:per_spk]]
                items += [texts[int(k)] for k in rng.integers(0, len(texts), per_spk - len(items))]
                label = voice.name.replace("+", "_") if voice.engine == "espeak-ng" else voice.name
                spk = _Spk(vox_id, s, f"{voice.engine.replace('-', '_')}_{label}", voice.gender, nat, None, voice, [])
            n_sess = min(cfg["sessions"], len(items))
            bounds = np.linspace(0, len(items), n_sess + 1).astype(int)
            spk.sessions = [(random_ytid(rng), items[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
            speakers.append(spk)
    return speakers, ids["vox2_test"][-1]


# ------------------------------------------------------------------ rendering (workers)
def session_channel(seed: int) -> dict:
    """The recording condition of one video: band limits, an EQ curve, a room, a noise."""
    rng = np.random.default_rng(seed)
    return dict(low=float(rng.uniform(60, 300)), high=float(rng.uniform(2800, 3900)),
                eq_db=rng.uniform(-6, 6, 6).round(2).tolist(),
                rt60=float(rng.uniform(0.15, 0.7)) if rng.random() < 0.6 else None,
                snr_db=float(rng.uniform(5, 25)) if rng.random() < 0.7 else None,
                noise_exp=float(rng.uniform(0.0, 2.0)), rir_seed=int(rng.integers(2 ** 31)))


def apply_channel(x: np.ndarray, ch: dict, rng: np.random.Generator) -> np.ndarray:
    """Band-pass, EQ, reverberation (the session's room) and noise (a new draw) on ``x``."""
    x = ss.sosfiltfilt(ss.butter(4, [ch["low"], ch["high"]], "bandpass", fs=SR, output="sos"), x.astype(np.float64))
    freqs = np.concatenate([[0.0], np.geomspace(200, 4000, len(ch["eq_db"])), [SR / 2]])
    gains = 10 ** (np.concatenate([[ch["eq_db"][0]], ch["eq_db"], [ch["eq_db"][-1]]]) / 20)
    x = ss.fftconvolve(x, ss.firwin2(255, freqs, gains, fs=SR), mode="same")
    if ch["rt60"] is not None:
        x = reverberate(x, simulate_rir(ch["rt60"], SR, np.random.default_rng(ch["rir_seed"])))
    if ch["snr_db"] is not None:
        x = x + scale_to_snr(x, coloured_noise(len(x), ch["noise_exp"], rng), ch["snr_db"])
    return np.asarray(x, dtype=np.float32)


def render(job: dict) -> float:
    """Make one utterance (real segment or TTS), apply its session channel, condition it and
    write it as WAV or m4a; its duration."""
    rng = np.random.default_rng(job["seed"])
    if "audio" in job:
        x = job["audio"]
    else:
        x = tts.synthesize(job["text"], job["voice"], SR)
    x = cut_at_pause(np.asarray(x, dtype=np.float32), SR, job["max_s"])
    x = np.concatenate([np.zeros(int(0.3 * SR), np.float32), x, np.zeros(int(0.3 * SR), np.float32)])
    y = condition(apply_channel(x, job["channel"], rng), SR, rng, max_s=job["max_s"] + 0.6)
    path = Path(job["out"])
    if path.suffix == ".m4a":
        write_m4a(path, y, SR)
    else:
        write_audio(path, y, SR)
    return len(y) / SR


def _jitter(voice: Voice, rng: np.random.Generator) -> Voice:
    """The speaker's voice with the small prosody variation of one utterance."""
    if voice.engine == "flite":
        return Voice("flite", voice.name, speed=round(float(rng.uniform(0.92, 1.08)), 3), gender=voice.gender)
    return Voice(voice.engine, voice.name, speed=float(voice.speed + rng.integers(-8, 9)),
                 pitch=float(np.clip(voice.pitch + rng.integers(-4, 5), 0, 99)), gender=voice.gender)


# ------------------------------------------------------------------ generate
def generate(out: Path, *, size: str, seed: int, jobs: int) -> str:
    """Write ``out/voxceleb1`` and ``out/voxceleb2``; the README.mini.md body."""
    require_programs("espeak-ng", "flite")
    cfg = SIZE[size]
    speakers, silent_id = _plan(seed, cfg)
    work, prov = [], []
    utts: dict[str, list[tuple[str, str, str]]] = {}          # vox_id -> [(relpath under wav/aac, video, num)]
    for spk in speakers:
        vox1 = spk.set.startswith("vox1")
        part = spk.set.split("_")[1]
        base = out / ("voxceleb1" if vox1 else "voxceleb2") / part / ("wav" if vox1 else "aac")
        ext = "wav" if vox1 else "m4a"
        utts[spk.vox_id] = []
        for video, items in spk.sessions:
            ch = session_channel(stable_int(seed, "channel", spk.vox_id, video))
            rng = job_rng(seed, "vox-utt", spk.vox_id, video)
            for k, item in enumerate(items, 1):
                rel = f"{spk.vox_id}/{video}/{k:05d}.{ext}"
                job = dict(out=str(base / rel), seed=stable_int(seed, rel), channel=ch, max_s=cfg["max_s"])
                if isinstance(item, Segment):
                    job["audio"] = item.audio
                    src = f"real {item.speaker}:{item.source()}"
                else:
                    job.update(voice=_jitter(spk.voice, rng), text=item)
                    src = f"tts [{job['voice'].label()}] \"{item}\""
                work.append(job)
                top = "voxceleb1" if vox1 else "voxceleb2"
                prov.append((f"{top}/{part}/{'wav' if vox1 else 'aac'}/{rel}", spk.vox_id, src))
                utts[spk.vox_id].append((rel, video, f"{k:05d}"))
    logger.info("rendering %d utterances with %d worker(s)", len(work), jobs)
    durations = run_jobs(render, work, jobs, desc="VoxCeleb utterances")
    _write_meta(out, speakers, silent_id)
    n_trials = _write_lists(out / "voxceleb1", speakers, utts, cfg, seed)
    write_lines(out / "provenance.tsv", ["\t".join(p) for p in sorted(prov)])
    return _readme_body(speakers, utts, durations, n_trials, silent_id)


def _write_meta(out: Path, speakers: list[_Spk], silent_id: str) -> None:
    rows = ["VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet"]
    rows += [f"{s.vox_id}\t{s.name}\t{s.gender}\t{s.nationality}\t{s.set.split('_')[1]}"
             for s in sorted(speakers, key=lambda s: s.vox_id) if s.set.startswith("vox1")]
    write_lines(out / "voxceleb1" / "vox1_meta.csv", rows)
    vox2 = [(s.vox_id, s.gender, s.set.split("_")[1]) for s in speakers if s.set.startswith("vox2")]
    vox2.append((silent_id, "f", "test"))
    rows = ["VoxCeleb2 ID,VGGFace2 ID,Gender,Set"]
    rows += [f"{i} ,n{i[2:].zfill(6)} ,{g} ,{st} " for i, g, st in sorted(vox2)]
    write_lines(out / "voxceleb2" / "vox2_meta.csv", rows, bom=True)


def _pairs(rng: np.random.Generator, speakers: list[_Spk], utts: dict, n: int, hard: bool) -> list[str]:
    """``n`` target and ``n`` non-target trials for every utterance of ``speakers``
    (targets across videos where the speaker has several; ``hard``: non-targets of the
    same gender, and the same nationality where there is one)."""
    lines, seen = [], set()
    for spk in speakers:
        for rel, video, _ in utts[spk.vox_id]:
            same = [u for u, v, _ in utts[spk.vox_id] if v != video] or [u for u, _, _ in utts[spk.vox_id] if u != rel]
            others = [o for o in speakers if o is not spk]
            if hard:
                g = [o for o in others if o.gender == spk.gender] or others
                others = [o for o in g if o.nationality == spk.nationality] or g
            for label, pool in (("1", same), ("0", [u for o in others for u, _, _ in utts[o.vox_id]])):
                added = 0
                for k in rng.permutation(len(pool)):
                    pair = tuple(sorted((rel, pool[int(k)])))
                    if added == n:
                        break
                    if pair not in seen:
                        seen.add(pair)
                        lines.append(f"{label} {rel} {pool[int(k)]}")
                        added += 1
    return lines


def _cleaned(rng: np.random.Generator, lines: list[str]) -> list[str]:
    """The "cleaned" list: the original without a few trials (the real cleaning removed
    trials with identity errors; here nothing is wrong with the dropped ones)."""
    drop = set(rng.choice(len(lines), max(1, len(lines) // 200), replace=False).tolist())
    return [ln for i, ln in enumerate(lines) if i not in drop]


def _write_lists(root: Path, speakers: list[_Spk], utts: dict, cfg: dict, seed: int) -> dict[str, int]:
    test = [s for s in speakers if s.set == "vox1_test"]
    vox1 = [s for s in speakers if s.set.startswith("vox1")]
    counts = {}
    for name, spks, hard in (("veri_test", test, False), ("list_test_all", vox1, False),
                             ("list_test_hard", vox1, True)):
        rng = job_rng(seed, "vox-trials", name)
        lines = _pairs(rng, spks, utts, cfg["trials"], hard)
        write_lines(root / f"{name}.txt", lines)
        write_lines(root / f"{name}2.txt", _cleaned(rng, lines))
        counts[name] = len(lines)
    iden = []
    for s in vox1:
        videos = [v for v, _ in s.sessions]
        for rel, video, num in utts[s.vox_id]:
            split = "3" if video == videos[-1] else ("2" if video == videos[0] and num == "00001" else "1")
            iden.append((rel, split))
    write_lines(root / "iden_split.txt", [f"{sp} {rel}" for rel, sp in sorted(iden)])
    return counts


def _readme_body(speakers: list[_Spk], utts: dict, durations: list[float], n_trials: dict, silent_id: str) -> str:
    cat = {s.id: s for s in real_speakers(0.0)}
    lines = ["## What it is made of", "",
             "Trees: `voxceleb1/{dev,test}/wav/` (16 kHz 16-bit mono WAV), as Kaldi, clovaai and WeSpeaker "
             "unpack the two VoxCeleb1 zips, and `voxceleb2/{dev,test}/aac/` (AAC-LC in MP4 `.m4a`, 16 kHz mono, "
             "encoded with PyAV's FFmpeg), with the meta files and trial lists of DATASETS.md §3. "
             "`provenance.tsv` (beside them, not part of the real layout) names the source of every file.", "",
             f"Total audio: {len(durations)} files, {sum(durations) / 60:.1f} min.", "",
             "### Speakers", "",
             "| id | set | kind | source | gender | nationality column | videos | utterances |",
             "|---|---|---|---|---|---|---|---|"]
    for s in speakers:
        if s.real:
            c = cat[s.real]
            src = f"real: {s.real} ({c.source}, {c.licence})"
        else:
            src = f"TTS: {s.voice.label()}"
        lines.append(f"| {s.vox_id} | {s.set} | {'real' if s.real else 'TTS'} | {src} | {s.gender} | "
                     f"{s.nationality} | {len(s.sessions)} | {len(utts[s.vox_id])} |")
    lines += ["", f"`vox2_meta.csv` also lists {silent_id} as a test speaker without any audio, as the real file "
              "lists 120 test speakers of which 118 have audio: take speaker lists from the directory tree.", "",
              "Real speakers come first: every real person of the offline catalogue is used once; TTS voices "
              "(espeak-ng variants alternating female/male over a set of locales, every third voice a flite "
              "voice while they last, each with a fixed pitch and speed, jittered a little per utterance) make up the rest. The name column says "
              "which (`<Name>_real`, `flite_<voice>`, `espeak_ng_<locale>_<variant>`); nationality is the "
              "locale of the recording or voice. Genders of the pocketsphinx readers were measured from F0. "
              "Real segments are cut at pauses from the recordings (Asterisk prompts: 8 kHz upsampled); "
              "TTS utterances say sentences of our own per language and the pocketsphinx transcripts.", "",
              "### Sessions (\"videos\")", "",
              "Each video has its own channel: a band-pass (60-300 Hz to 2.8-3.9 kHz), a random smooth EQ "
              "(±6 dB), in 60 % of videos a simulated room (RT60 0.15-0.7 s, avdf.data.augment.simulate_rir), "
              "in 70 % coloured noise (1/f^0..2) at 5-25 dB SNR. Every file then passes the common "
              "conditioning of the mini corpora (8 kHz channel, trim with random margins, random level "
              "-30..-22 dBFS, a low noise floor).", "",
              "### Trial lists", "",
              "Format `LABEL PATH1 PATH2` (1 target, 0 non-target), paths relative to `wav/`. Every utterance of "
              "the list's speakers is the first path of its target and non-target trials; targets pair "
              "different videos where the speaker has several.", "",
              f"- `veri_test.txt` (Vox1-O: test speakers only): {n_trials['veri_test']} trials; "
              f"`list_test_all.txt` (Vox1-E: dev and test speakers): {n_trials['list_test_all']}; "
              f"`list_test_hard.txt` (Vox1-H: non-targets of the same gender and, where possible, "
              f"nationality): {n_trials['list_test_hard']}.",
              "- The cleaned `*2.txt` lists are the originals without 0.5 % of the trials (at least one); the "
              "real cleaning removed trials with identity errors, here nothing is wrong with the dropped ones.",
              "- `iden_split.txt`: per VoxCeleb1 speaker, the last video is 3 (test), the first utterance of "
              "the first video 2 (val), the rest 1 (train).", "",
              "### Licences of the sources", "",
              "| source | licence |", "|---|---|",
              "| Asterisk core sounds en/es/fr/it, asterisk-prompt-it-menardi | CC-BY-SA-3.0 |",
              "| Asterisk core sounds ru | CC-BY-3.0 |",
              "| pocketsphinx-testdata (recordings, transcripts) | BSD-2-Clause (CMU) |",
              "| espeak-ng | GPL-3.0-or-later |",
              "| flite and its CMU voices | BSD-like (CMU Flite licence) |",
              "| PyAV / FFmpeg AAC encoder | BSD-3-Clause / LGPL-2.1+ |", ""]
    return "\n".join(lines)

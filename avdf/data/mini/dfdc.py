"""Mini DFDC: ``dfdc_train_part_N/`` folders and the labelled public ``test/`` set exactly
as the official archives unpack (DATASETS.md §4), made offline from real faces and real
speech.

- Real videos: a real face photograph (:mod:`avdf.data.mini.faces`) animated into a
  talking head whose mouth follows the loudness of real human speech
  (:mod:`avdf.data.mini.talking_head`); every identity speaks with one real voice.
- Fakes, each derived from one real video of its part (``original``) with the same head
  motion and utterances (:mod:`avdf.data.mini.avclips`): ``faceswap`` (another identity of
  the part blended in, autoencoder- or FSGAN-style), ``lipsync`` (mouth driven by other
  speech than the one heard, low-resolution lower face), ``audioswap`` (another real
  speaker's speech), ``revocode`` (the speech through Griffin-Lim, WORLD or LPC), ``both``
  (face swap plus audio swap or re-vocoding), and temporally local fakes
  ``local-faceswap`` / ``local-lipsync`` / ``local-revocode`` where only a 0.5-2 s
  segment is manipulated.
- Media: H.264 (yuv420p) 320 x 240 at 29.97 fps + AAC-LC mono 48 kHz mp4; clips of 2 s
  (tiny) or 4 s (small, medium, small24) instead of DFDC's 10 s 1080p. ``medium`` has twice
  ``small``'s training identities (24) and test videos (72) for less noisy comparisons;
  ``small24`` has ``small``'s numbers of videos but 24 training identities of one real clip
  each (small: 12 of two) and 12 test identities of one (small: 6 of two).
- ``metadata.json`` per part (REAL entries without ``original``, FAKE entries naming a REAL
  of the same part, ``split: "train"``; no audio labels, as in DFDC), ``test/labels.csv``
  (``filename,label``, 1 = fake). Test identities are not in any training part.
- Additions outside the official layout, at the corpus root: ``mini_fake_types.csv``
  (which manipulation every fake got, for per-attack scoring) and ``provenance.tsv``.
"""
from __future__ import annotations

import json
import logging
import string
from collections import Counter
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from avdf.data.mini.avclips import MIN_UTT_S, ClipSpec, Voice, render_clip, single_thread
from avdf.data.mini.avfakes import SWAP_STYLES, VOCODERS, pick_donor
from avdf.data.mini.common import job_rng, run_jobs, stable_int, write_lines
from avdf.data.mini.faces import choose_faces, load_face
from avdf.data.mini.speech import real_speakers
from avdf.data.mini.talking_head import Framing

logger = logging.getLogger(__name__)

FPS = Fraction(30000, 1001)
FRAMING = Framing(320, 240, face_px=100)
AUDIO_SR = 48000
FAKE_TYPES = ("faceswap", "lipsync", "audioswap", "revocode", "both", "local")
LOCAL_KINDS = ("faceswap", "lipsync", "revocode")
TYPES_HEADER = "filename,folder,label,attack,video,audio,segment,identity,donor,voice,original"


@dataclass(frozen=True)
class Size:
    """Corpus size: training parts, identities per part, real clips per identity, fakes per
    real clip, the same for the test set, and the clip duration (s)."""

    parts: int
    ids_per_part: int
    reals_per_id: int
    fakes_per_real: int
    test_ids: int
    test_reals_per_id: int
    test_fakes_per_real: int
    duration: float


SIZES = {
    "tiny": Size(parts=2, ids_per_part=2, reals_per_id=1, fakes_per_real=2, test_ids=2, test_reals_per_id=1,
                 test_fakes_per_real=2, duration=2.0),
    "small": Size(parts=4, ids_per_part=3, reals_per_id=2, fakes_per_real=3, test_ids=6, test_reals_per_id=2,
                  test_fakes_per_real=2, duration=4.0),
    "medium": Size(parts=6, ids_per_part=4, reals_per_id=2, fakes_per_real=3, test_ids=8, test_reals_per_id=3,
                   test_fakes_per_real=2, duration=4.0),
    # small's numbers of videos with twice its identities, one real clip each: identities
    # against amount of data (egs/dfdc/av1/RESULTS.md, third session of 2026-12-03)
    "small24": Size(parts=4, ids_per_part=6, reals_per_id=1, fakes_per_real=3, test_ids=12, test_reals_per_id=1,
                    test_fakes_per_real=2, duration=4.0),
}


@dataclass(frozen=True)
class _Entry:
    """One clip of the corpus, as the metadata and the side files describe it."""

    name: str
    folder: str
    label: str               # REAL | FAKE
    attack: str              # - for real
    video: str
    audio: str
    segment: str
    identity: str
    donor: str
    voice: str
    original: str


def _names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct DFDC-style video names: 10 random lowercase letters + ``.mp4``."""
    letters = np.array(list(string.ascii_lowercase))
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        name = "".join(letters[rng.integers(0, 26, 10)]) + ".mp4"
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _voices(split: str) -> dict[str, Voice]:
    """Every real speaker with a disjoint share of their utterances per split (one in
    five utterances, by a stable hash of the file name, is kept for the test set)."""
    out = {}
    for s in real_speakers(MIN_UTT_S):
        files = tuple(str(f) for f in s.files if (stable_int("dfdc-split", f.name) % 5 == 0) == (split == "test"))
        out[s.id] = Voice(s.id, files or tuple(str(f) for f in s.files))
    return out


def _plan(size: Size, seed: int, out: Path) -> tuple[list[ClipSpec], list[_Entry]]:
    """Every clip to render and its metadata, from the seed alone."""
    rng = job_rng(seed, "dfdc-plan")
    n_ids = size.parts * size.ids_per_part + size.test_ids
    faces = [f.id for f in choose_faces(n_ids, rng)]
    order = [faces[i] for i in rng.permutation(n_ids)]
    speakers = sorted(s.id for s in real_speakers(MIN_UTT_S))
    voice_of = {fid: speakers[i] for fid, i in zip(order, rng.permutation(n_ids) % len(speakers))}
    groups = [(f"dfdc_train_part_{p}", order[p * size.ids_per_part:(p + 1) * size.ids_per_part],
               size.reals_per_id, size.fakes_per_real) for p in range(size.parts)]
    groups.append(("test", order[size.parts * size.ids_per_part:], size.test_reals_per_id, size.test_fakes_per_real))
    n_clips = sum(len(ids) * reals * (1 + fakes) for _, ids, reals, fakes in groups)
    names = iter(_names(rng, n_clips))
    specs: list[ClipSpec] = []
    entries: list[_Entry] = []
    n_fakes = 0
    for folder, ids, reals, fakes in groups:
        voices = _voices("test" if folder == "test" else "train")
        # the fake types follow one cycle over the corpus (balanced overall, the test set included)
        kinds = [FAKE_TYPES[(n_fakes + i) % len(FAKE_TYPES)] for i in range(len(ids) * reals * fakes)]
        n_fakes += len(kinds)
        kinds = iter([kinds[i] for i in rng.permutation(len(kinds))])
        for fid in ids:
            for _ in range(reals):
                real = next(names)
                base = ClipSpec(path=str(out / folder / real), seed=seed, base_key=("dfdc", real), key=("dfdc", real),
                                face=fid, voice=voices[voice_of[fid]], duration=size.duration, fps=FPS,
                                framing=FRAMING, sample_rate=AUDIO_SR)
                specs.append(base)
                entries.append(_Entry(real, folder, "REAL", "-", "-", "-", "-", fid, "-", voice_of[fid], "-"))
                for _ in range(fakes):
                    name = next(names)
                    spec, entry = _fake(base, next(kinds), name, folder, [i for i in ids if i != fid],
                                        voices, voice_of, rng)
                    specs.append(spec)
                    entries.append(entry)
    return specs, entries


def _fake(base: ClipSpec, kind: str, name: str, folder: str, others: list[str], voices: dict[str, Voice],
          voice_of: dict[str, str], rng: np.random.Generator) -> tuple[ClipSpec, _Entry]:
    """The spec and metadata of one fake of ``base`` made by ``kind`` (:data:`FAKE_TYPES`)."""
    fid, own = base.face, base.voice.speaker
    changes: dict = {"path": str(Path(base.path).parent / name), "key": ("dfdc", name)}
    video = audio = segment = donor = "-"
    local = kind == "local"
    if local:
        kind = LOCAL_KINDS[int(rng.integers(len(LOCAL_KINDS)))]
        length = rng.uniform(0.5, min(2.0, base.duration - 0.6))
        start = rng.uniform(0.3, base.duration - 0.3 - length)
        changes["segment"] = (round(float(start), 3), round(float(start + length), 3))
        segment = f"{changes['segment'][0]:.3f}-{changes['segment'][1]:.3f}"
    if kind in ("faceswap", "both"):
        video = SWAP_STYLES[int(rng.integers(len(SWAP_STYLES)))]
        donor = pick_donor(fid, others, video, rng)
        changes["swap"] = (donor, video)
    if kind == "lipsync":
        video = "lipsync"
        other = [s for s in sorted(voices) if s != own]
        changes.update(mouth="other", lowres_mouth=True, other_voice=voices[other[int(rng.integers(len(other)))]])
    audio_kind = kind if kind in ("audioswap", "revocode") else ""
    if kind == "both":
        audio_kind = ("audioswap", "revocode")[int(rng.integers(2))]
    if audio_kind == "audioswap":
        other = [s for s in sorted(voices) if s != own]
        spk = other[int(rng.integers(len(other)))]
        changes.update(audio="swap", other_voice=voices[spk])
        audio = f"swap:{spk}"
    elif audio_kind == "revocode":
        vocoder = VOCODERS[int(rng.integers(len(VOCODERS)))]
        changes.update(audio="revocode", vocoder=vocoder)
        audio = vocoder
    attack = f"local-{kind}" if local else kind
    spec = replace(base, **changes)
    return spec, _Entry(name, folder, "FAKE", attack, video, audio, segment, fid, donor, own,
                        Path(base.path).name)


def _write_metadata(out: Path, entries: list[_Entry], seed: int) -> None:
    for folder in sorted({e.folder for e in entries} - {"test"}):
        part = [e for e in entries if e.folder == folder]
        order = job_rng(seed, "dfdc-json-order", folder).permutation(len(part))   # real files are not sorted
        meta = {}
        for i in order:
            e = part[i]
            meta[e.name] = {"label": e.label, "split": "train"}
            if e.label == "FAKE":
                meta[e.name]["original"] = e.original
        (out / folder / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    test = sorted((e for e in entries if e.folder == "test"), key=lambda e: e.name)
    write_lines(out / "test" / "labels.csv", ["filename,label"] + [f"{e.name},{int(e.label == 'FAKE')}" for e in test])
    rows = [",".join((e.name, e.folder, e.label, e.attack, e.video, e.audio, e.segment, e.identity, e.donor, e.voice,
                      e.original)) for e in sorted(entries, key=lambda e: (e.folder, e.name))]
    write_lines(out / "mini_fake_types.csv", [TYPES_HEADER] + rows)


def write_metadata_only(out: Path, *, size: str, seed: int) -> None:
    """Write the metadata files ``generate`` writes (metadata.json per part, test/labels.csv,
    mini_fake_types.csv) without rendering any media: a dry run, and a cheap check of
    determinism."""
    _, entries = _plan(SIZES[size], seed, out)
    for folder in {e.folder for e in entries}:
        (out / folder).mkdir(parents=True, exist_ok=True)
    _write_metadata(out, entries, seed)


def generate(out: Path, *, size: str, seed: int, jobs: int) -> str:
    """Write the mini DFDC tree under ``out``; return the README.mini.md body."""
    single_thread()
    cfg = SIZES[size]
    specs, entries = _plan(cfg, seed, out)
    for folder in {e.folder for e in entries}:
        (out / folder).mkdir(parents=True, exist_ok=True)
    logger.info("rendering %d DFDC clips with %d worker(s)", len(specs), jobs)
    infos = run_jobs(render_clip, specs, jobs, desc="DFDC clips")
    _write_metadata(out, entries, seed)
    prov = []
    for e, info in zip(entries, infos):
        kind = "real" if e.label == "REAL" else f"fake:{e.attack}"
        prov.append("\t".join((f"{e.folder}/{e.name}", kind, f"face={e.identity};speech={','.join(info.speech)};"
                                                            f"other_speech={','.join(info.other_speech)}")))
    write_lines(out / "provenance.tsv", sorted(prov))
    return _readme(cfg, entries)


def _readme(cfg: Size, entries: list[_Entry]) -> str:
    used = sorted({e.identity for e in entries})
    faces = {i: load_face(i) for i in used}
    counts = Counter((e.folder, e.label) for e in entries)
    attacks = Counter(e.attack for e in entries if e.label == "FAKE")
    folders = sorted({e.folder for e in entries}, key=lambda f: (f == "test", len(f), f))
    lines = [
        "## Mini DFDC",
        "",
        "Layout as DATASETS.md §4: `dfdc_train_part_N/` (N not zero-padded) with mp4 files named by 10 random "
        "lowercase letters and one `metadata.json` (a JSON object keyed by file name: `label` REAL/FAKE, "
        "`split` \"train\", `original` on FAKE entries naming the REAL clip of the same part it was made from; no "
        "audio labels), and `test/` with mp4 files and `labels.csv` (`filename,label`, 0 = real, 1 = fake).",
        "",
        f"Media: H.264 (yuv420p) {FRAMING.width}x{FRAMING.height} at 30000/1001 fps + AAC-LC mono {AUDIO_SR} Hz, "
        f"{cfg.duration:g} s per clip (the real set: ~10 s, mostly 1920x1080 at 29.97 fps).",
        "",
        "| folder | REAL | FAKE |",
        "|---|---|---|",
        *[f"| `{f}/` | {counts[(f, 'REAL')]} | {counts[(f, 'FAKE')]} |" for f in folders],
        "",
        "### How the clips were made",
        "",
        "- **Real**: a real face photograph animated into a talking head (mouth opening follows the loudness of the "
        "speech, small head motion, blinks, illumination drift, sensor noise) with real human speech of one real "
        "speaker per identity (Debian Asterisk prompt voices, 8 kHz, and pocketsphinx test recordings, 16 kHz; "
        "utterances joined with short pauses). Every track, real or fake, passes the same 8 kHz channel, random "
        "level and noise floor, then is resampled to 48 kHz.",
        "- **Fakes** keep their original's head motion and utterances and change: "
        "`faceswap` (another identity of the same folder blended into the face region and following its motion; "
        "`faceswap` style: low-resolution donor, colour-matched, alpha-blended; `fsgan` style: sharper donor, "
        "Poisson-blended), `lipsync` (mouth driven by other utterances than the ones heard, lower face re-rendered "
        "at a third of the resolution), `audioswap` (another real speaker's speech), `revocode` (the real speech "
        "re-synthesised by Griffin-Lim, WORLD or LPC: `avdf.data.vocoders`), `both` (face swap plus audio swap or "
        "re-vocoding), and `local-faceswap` / `local-lipsync` / `local-revocode`: only a 0.5-2 s segment is "
        "manipulated.",
        "- Identities of `test/` appear in no training part; test utterances (one in five per speaker, by file-name "
        "hash) are disjoint from training utterances. There are fewer real voices (7) than identities, so several "
        "identities share a voice (with different utterances).",
        "",
        "Fakes per attack: " + ", ".join(f"{a} {attacks[a]}" for a in sorted(attacks)) + ".",
        "",
        "### Additions outside the official layout (corpus root)",
        "",
        f"- `mini_fake_types.csv`: `{TYPES_HEADER}`, one row per clip: `attack` (`-` for real; faceswap, lipsync, "
        "audioswap, revocode, both, local-faceswap, local-lipsync, local-revocode), `video` (`-`, faceswap, fsgan, "
        "lipsync), `audio` (`-`, `swap:<speaker>`, griffin_lim, world, lpc), `segment` (`start-end` in seconds for "
        "local fakes, else `-`), the face `identity`, the swap `donor`, the real `voice` and the `original` clip.",
        "- `provenance.tsv`: path, kind, and the real face and utterance files every clip was made from.",
        "",
        "### Faces used (identity = one photograph)",
        "",
        *[f"- `{i}`: {faces[i].source} ({faces[i].licence})" for i in used],
    ]
    return "\n".join(lines) + "\n"

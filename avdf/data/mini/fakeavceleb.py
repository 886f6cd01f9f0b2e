"""Mini FakeAVCeleb v1.2: the ``FakeAVCeleb_v1.2/`` tree exactly as the release unpacks
(DATASETS.md §5), made offline from real faces and real speech.

- Source identities ``idNNNNN`` (VoxCeleb2-style, drawn from id09300-id09999, a range that
  neither VoxCeleb1 nor VoxCeleb2 uses, so no id names a real celebrity) in
  ``<race>/<gender>`` cells with the real folder names; exactly one real video per id.
  The race/gender folder of an id is a layout placeholder, not an annotation of the
  person in the photograph; the voice's gender matches the folder.
- A (``real``): a real face photograph animated by real speech of a real speaker
  (:mod:`avdf.data.mini.talking_head`); VoxCeleb2-like 224 x 224 face crops, 25 fps,
  AAC 16 kHz.
- B (``rtvc``): the real video with a cloned voice (rtvc-like: other utterances of the
  source's voice re-synthesised by WORLD with a coded envelope and smoothed F0).
- C: ``faceswap`` / ``fsgan`` (another id's face blended in, real audio), ``wav2lip`` (the
  mouth re-rendered to follow another id's real speech, which replaces the audio).
- D: ``wav2lip`` to fake audio (cloned voice or espeak-ng TTS), ``fsgan-wav2lip`` and
  ``faceswap-wav2lip`` (a face swap and then lip-sync to fake audio).
- ``meta_data.csv`` with the release's quirks: the header of nine names and a trailing
  comma, the ``FakeAVCeleb/`` directory prefix, messy ``target1``/``target2`` values and a
  few FakeVideo-FakeAudio files listed twice with conflicting methods (the first row is
  the file's true method).
- Additions outside the official layout: ``lists/fakeavceleb_test_{real,fake}.txt`` (a
  mini version of the published 70/70 cross-dataset test list, chosen the published way)
  and ``provenance.tsv``.
"""
from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from avdf.data.mini.avclips import MIN_UTT_S, ClipSpec, Voice, render_clip, single_thread
from avdf.data.mini.avfakes import pick_donor
from avdf.data.mini.common import job_rng, random_ytid, run_jobs, write_lines
from avdf.data.mini.faces import choose_faces, load_face
from avdf.data.mini.speech import real_speakers
from avdf.data.mini.talking_head import Framing

logger = logging.getLogger(__name__)

ROOT = "FakeAVCeleb_v1.2"
RACES = ("African", "Asian (East)", "Asian (South)", "Caucasian (American)", "Caucasian (European)")
GENDERS = ("men", "women")
TYPES = {"A": "RealVideo-RealAudio", "B": "RealVideo-FakeAudio", "C": "FakeVideo-RealAudio",
         "D": "FakeVideo-FakeAudio"}
C_METHODS = ("faceswap", "fsgan", "wav2lip")
D_METHODS = ("wav2lip", "fsgan-wav2lip", "faceswap-wav2lip")
HEADER = "source,target1,target2,method,category,type,race,gender,path,"
TEST_FAKE_TYPES = ("FakeVideo-FakeAudio", "FakeVideo-RealAudio", "RealVideo-FakeAudio")   # the published order
FPS = 25
FRAMING = Framing(224, 224, face_px=96, centre_y=0.46)
AUDIO_SR = 16000
ID_RANGE = (9300, 10000)


@dataclass(frozen=True)
class Size:
    """Corpus size: race x gender cells, ids per cell, test ids per cell (first k), C and
    D methods per id (cycled over the ids), FakeVideo-FakeAudio rows listed twice, clip
    duration (s)."""

    cells: int
    ids_per_cell: int
    test_per_cell: int
    c_per_id: int
    d_per_id: int
    duplicates: int
    duration: float


SIZES = {
    "tiny": Size(cells=5, ids_per_cell=2, test_per_cell=1, c_per_id=1, d_per_id=1, duplicates=2, duration=2.0),
    "small": Size(cells=10, ids_per_cell=3, test_per_cell=1, c_per_id=3, d_per_id=3, duplicates=4, duration=3.0),
}


@dataclass(frozen=True)
class _Id:
    source: str
    race: str
    gender: str
    face: str
    voice: Voice
    number: str             # the VoxCeleb2 video number all its files start with


@dataclass(frozen=True)
class _Row:
    """One meta_data.csv row (and the clip it describes)."""

    source: str
    target1: str
    target2: str
    method: str
    category: str
    race: str
    gender: str
    filename: str

    @property
    def type(self) -> str:
        return TYPES[self.category]

    @property
    def rel(self) -> str:
        return f"{self.type}/{self.race}/{self.gender}/{self.source}/{self.filename}"

    def csv(self) -> str:
        return ",".join((self.source, self.target1, self.target2, self.method, self.category, self.type, self.race,
                         self.gender, self.filename,
                         f"FakeAVCeleb/{self.type}/{self.race}/{self.gender}/{self.source}"))

    def flat(self) -> str:
        """The published lists' name ``<type>-<RaceNoSpaces>-<gender>-<source>_<filename>``."""
        race = "".join(ch for ch in self.race if ch.isalnum())
        return f"{self.type}-{race}-{self.gender}-{self.source}_{self.filename}"


def _cells(n: int) -> list[tuple[str, str]]:
    """The first ``n`` race x gender cells, spreading races first (5 cells = 5 races)."""
    all_cells = [(RACES[i % 5], GENDERS[(i % 5 + i // 5) % 2]) for i in range(10)]
    return all_cells[:n]


def _voices(ids_by_gender: dict[str, int], rng: np.random.Generator) -> dict[str, list[Voice]]:
    """Voices for the ids of each gender folder: real speakers of that gender (the
    pocketsphinx speakers count as men and, with ~10 s of speech each, serve one id at
    most), each speaker's utterances split between the ids that share them."""
    speakers = {s.id: s for s in real_speakers(MIN_UTT_S)}
    out: dict[str, list[Voice]] = {}
    for gender, n in ids_by_gender.items():
        pool = [s for s in sorted(speakers) if (speakers[s].gender == "f") == (gender == "women")]
        big = [s for s in pool if len(speakers[s].files) >= 50]
        small = [pool[i] for i in rng.permutation(len(pool)) if len(speakers[pool[i]].files) < 50][: n // 3]
        chosen = small + [big[i % len(big)] for i in range(n - len(small))]
        chosen = [chosen[i] for i in rng.permutation(n)]
        count, seen = Counter(chosen), Counter()
        voices = []
        for spk in chosen:
            files = speakers[spk].files
            voices.append(Voice(spk, tuple(str(f) for j, f in enumerate(files) if j % count[spk] == seen[spk])))
            seen[spk] += 1
        out[gender] = voices
    return out


def _plan_ids(size: Size, seed: int) -> list[_Id]:
    rng = job_rng(seed, "fakeavceleb-ids")
    cells = _cells(size.cells)
    n = len(cells) * size.ids_per_cell
    faces = [f.id for f in choose_faces(n, rng)]
    faces = [faces[i] for i in rng.permutation(n)]
    numbers = sorted(rng.choice(np.arange(*ID_RANGE), n, replace=False))
    order = rng.permutation(n)                     # ids are not sorted by cell
    per_gender = Counter(g for _, g in cells for _ in range(size.ids_per_cell))
    voices = {g: iter(v) for g, v in _voices(dict(sorted(per_gender.items())), rng).items()}
    ids = []
    for k, (race, gender) in enumerate(c for c in cells for _ in range(size.ids_per_cell)):
        ids.append(_Id(f"id{numbers[order[k]]:05d}", race, gender, faces[k], next(voices[gender]),
                       f"{int(rng.integers(1, 600)):05d}"))
    return ids


def _plan(size: Size, seed: int, out: Path) -> tuple[list[_Row], list[ClipSpec], list[_Row]]:
    """The rows (one per file), the clip of every row, and the duplicated rows."""
    ids = _plan_ids(size, seed)
    rng = job_rng(seed, "fakeavceleb-plan")
    rows: list[_Row] = []
    specs: list[ClipSpec] = []
    for n_id, ident in enumerate(ids):
        others = [o for o in ids if o is not ident]
        base = ClipSpec(path="", seed=seed, base_key=("fakeavceleb", ident.source), key=("fakeavceleb", ident.source),
                        face=ident.face, voice=ident.voice, duration=size.duration, fps=FPS, framing=FRAMING,
                        sample_rate=AUDIO_SR)
        nn = ident.number

        def add(row: _Row, **changes) -> None:
            rows.append(row)
            specs.append(replace(base, path=str(out / ROOT / row.rel), key=("fakeavceleb", ident.source, row.filename),
                                 **changes))

        def other() -> _Id:
            return others[int(rng.integers(len(others)))]

        def donor(style: str) -> _Id:
            """Another id whose face swapped into this one stays detectable."""
            face = pick_donor(ident.face, [o.face for o in others], style, rng)
            return next(o for o in others if o.face == face)

        def fake_audio(voice: Voice) -> dict:
            """D's fake audio: a cloned voice, or TTS for one id in three."""
            return dict(audio="tts") if n_id % 3 == 2 else dict(audio="clone", other_voice=voice)

        src = (ident.source, ident.race, ident.gender)
        add(_Row(src[0], "-", "-", "real", "A", *src[1:], f"{nn}.mp4"))
        add(_Row(src[0], "fake.mp4", "-", "rtvc", "B", *src[1:], f"{nn}_fake.mp4"), audio="clone",
            other_voice=ident.voice)
        for j in range(size.c_per_id):
            method = C_METHODS[(n_id + j) % len(C_METHODS)]
            x = other() if method == "wav2lip" else donor(method)
            if method == "faceswap":
                k = int(rng.integers(1, 12))
                if rng.random() < 0.5:
                    row = _Row(src[0], f"{k}.mp4", "-", method, "C", *src[1:], f"{nn}_{k}.mp4")
                else:
                    yt = random_ytid(rng)
                    row = _Row(src[0], x.source, yt.split("_")[-1], method, "C", *src[1:],
                               f"{nn}_{x.source}_{k}_{yt}_faceswap.mp4")
                add(row, swap=(x.face, "faceswap"))
            elif method == "fsgan":
                add(_Row(src[0], x.source, "-", method, "C", *src[1:], f"{nn}_{x.source}_{random_ytid(rng)}.mp4"),
                    swap=(x.face, "fsgan"))
            else:
                add(_Row(src[0], x.source, "-", method, "C", *src[1:], f"{nn}_{x.source}_wavtolip.mp4"),
                    audio="swap", other_voice=x.voice, mouth="audio", lowres_mouth=True)
        for j in range(size.d_per_id):
            method = D_METHODS[(n_id + j) % len(D_METHODS)]
            x = {"wav2lip": other, "fsgan-wav2lip": lambda: donor("fsgan"),
                 "faceswap-wav2lip": lambda: donor("faceswap")}[method]()
            y = other()
            lipsync = dict(mouth="audio", lowres_mouth=True)
            if method == "wav2lip":
                add(_Row(src[0], x.source, "-", method, "D", *src[1:], f"{nn}_{x.source}_wavtolip.mp4"),
                    **fake_audio(x.voice), **lipsync)
            elif method == "fsgan-wav2lip":
                add(_Row(src[0], x.source, y.source, method, "D", *src[1:],
                         f"{nn}_{x.source}_{random_ytid(rng)}_{y.source}_wavtolip.mp4"),
                    swap=(x.face, "fsgan"), **fake_audio(y.voice), **lipsync)
            else:
                k = int(rng.integers(1, 12))
                if rng.random() < 0.5:
                    row = _Row(src[0], str(k), "-", method, "D", *src[1:], f"{nn}_{k}_{y.source}_wavtolip.mp4")
                else:
                    row = _Row(src[0], x.source, y.source, method, "D", *src[1:],
                               f"{nn}_{x.source}_{random_ytid(rng)}_faceswap_{y.source}_wavtolip.mp4")
                add(row, swap=(x.face, "faceswap"), **fake_audio(y.voice), **lipsync)
    # a few FakeVideo-FakeAudio files listed a second time with a conflicting method
    w2l = [r for r in rows if r.category == "D" and r.method == "wav2lip"]
    dups = [replace(w2l[i], method="faceswap-wav2lip") for i in sorted(rng.permutation(len(w2l))[: size.duplicates])]
    return rows, specs, dups


def _meta_order(rows: list[_Row]) -> list[_Row]:
    """Rows grouped as the release groups them: by category, race, gender, source."""
    race = {r: i for i, r in enumerate(RACES)}
    return sorted(rows, key=lambda r: (r.category, race[r.race], r.gender, r.source, r.filename))


def _test_lists(rows: list[_Row], k: int) -> tuple[list[str], list[str]]:
    """The mini 70/70-style list, chosen as the published one was: per race x gender
    cell, the first ``k`` source ids (sorted, where the original used ``os.listdir``
    order) give their real video and one fake, type then file drawn with ``random.seed(23)``."""
    pick = random.Random(23)
    real, fake = [], []
    for race in RACES:
        for gender in GENDERS:
            sources = sorted({r.source for r in rows if r.race == race and r.gender == gender})
            for source in sources[:k]:
                mine = [r for r in rows if r.source == source]
                real.append(next(r for r in mine if r.category == "A").flat())
                kind = pick.choice(TEST_FAKE_TYPES)
                files = sorted((r for r in mine if r.type == kind), key=lambda r: r.filename)
                fake.append(pick.choice(files).flat())
    return real, fake


def _write_metadata(out: Path, rows: list[_Row], dups: list[_Row], cfg: Size) -> int:
    """``meta_data.csv`` and the mini test lists; returns the length of each list."""
    write_lines(out / ROOT / "meta_data.csv", [HEADER] + [r.csv() for r in _meta_order(rows) + dups])
    real, fake = _test_lists(rows, cfg.test_per_cell)
    write_lines(out / "lists" / "fakeavceleb_test_real.txt", real)
    write_lines(out / "lists" / "fakeavceleb_test_fake.txt", fake)
    return len(real)


def write_metadata_only(out: Path, *, size: str, seed: int) -> None:
    """Write the metadata files ``generate`` writes (meta_data.csv, the mini test lists)
    without rendering any media: a dry run, and a cheap check of determinism."""
    rows, _, dups = _plan(SIZES[size], seed, out)
    _write_metadata(out, rows, dups, SIZES[size])


def generate(out: Path, *, size: str, seed: int, jobs: int) -> str:
    """Write the mini FakeAVCeleb v1.2 tree under ``out/FakeAVCeleb_v1.2``; return the
    README.mini.md body."""
    single_thread()
    cfg = SIZES[size]
    rows, specs, dups = _plan(cfg, seed, out)
    for s in specs:
        Path(s.path).parent.mkdir(parents=True, exist_ok=True)
    logger.info("rendering %d FakeAVCeleb clips with %d worker(s)", len(specs), jobs)
    infos = run_jobs(render_clip, specs, jobs, desc="FakeAVCeleb clips")
    n_test = _write_metadata(out, rows, dups, cfg)
    prov = []
    for row, spec, info in zip(rows, specs, infos):
        kind = "real" if row.category == "A" else f"fake:{row.category}:{row.method}"
        prov.append("\t".join((f"{ROOT}/{row.rel}", kind, f"face={spec.face};voice={spec.voice.speaker};"
                               f"speech={','.join(info.speech)};other_speech={','.join(info.other_speech)}")))
    write_lines(out / "provenance.tsv", sorted(prov))
    return _readme(cfg, rows, dups, specs, n_test)


def _readme(cfg: Size, rows: list[_Row], dups: list[_Row], specs: list[ClipSpec], n_test: int) -> str:
    cats = Counter((r.category, r.method) for r in rows)
    faces = sorted({s.face for s in specs})
    voices = Counter(s.voice.speaker for s, r in zip(specs, rows) if r.category == "A")
    lines = [
        "## Mini FakeAVCeleb v1.2",
        "",
        "Layout as DATASETS.md §5: `FakeAVCeleb_v1.2/meta_data.csv` and "
        "`<type>/<race>/<gender>/<source id>/<file>.mp4` for the four types RealVideo-RealAudio (A), "
        "RealVideo-FakeAudio (B), FakeVideo-RealAudio (C), FakeVideo-FakeAudio (D), with the release's race folder "
        "names (spaces and parentheses), genders `men`/`women`, one real video per source id and the file names of "
        "each method. `meta_data.csv` has the release's header (nine names and a trailing comma: field 9 is the file "
        "name, field 10 the directory, prefixed `FakeAVCeleb/`), messy `target1`/`target2` values (`fake.mp4`, "
        "`<k>.mp4`, `<k>`, YouTube-id fragments, `-`), and "
        f"{len(dups)} FakeVideo-FakeAudio files listed twice, the second time with method `faceswap-wav2lip` "
        "(their first row, `wav2lip`, is what was done).",
        "",
        f"Media: H.264 (yuv420p) {FRAMING.width}x{FRAMING.height} at {FPS} fps + AAC-LC mono {AUDIO_SR} Hz, "
        f"{cfg.duration:g} s per clip (VoxCeleb2-like face crops).",
        "",
        f"{len({r.source for r in rows})} source ids in {cfg.cells} race x gender cells "
        f"({cfg.ids_per_cell} per cell), drawn from id09300-id09999 (a range no VoxCeleb id uses). The race/gender "
        "folder of an id is a layout placeholder, not an annotation of the person in its photograph; the voice's "
        "gender matches the folder.",
        "",
        "| category | type | method | files |",
        "|---|---|---|---|",
        *[f"| {c} | {TYPES[c]} | {m} | {cats[(c, m)]} |" for c, m in sorted(cats)],
        "",
        "### How the clips were made",
        "",
        "- **A real**: a real face photograph animated into a talking head (mouth opening follows the loudness of "
        "the speech, small head motion, blinks, illumination drift) with real human speech of one real speaker "
        "(Debian Asterisk prompt voices, 8 kHz, and pocketsphinx test recordings, 16 kHz). There are 7 real voices "
        "for more ids: ids sharing a voice get disjoint shares of its utterances. Every track, real or fake, passes "
        "the same 8 kHz channel, random level and noise floor.",
        "- **B rtvc**: the real video with a cloned voice: other utterances of the same voice re-synthesised by WORLD "
        "with a coded spectral envelope and a smoothed F0 (statistical-parametric rendering, rtvc-like).",
        "- **C faceswap** / **fsgan**: another id's face blended into the face region, following its motion "
        "(faceswap: low-resolution donor, colour-matched, alpha-blended; fsgan: sharper donor, Poisson-blended), "
        "real audio. **C wav2lip**: the audio is the real speech of the id in `target1`, and the mouth is "
        "re-rendered (lower face at a third of the resolution) to follow it 1-2 frames late and smoothed, as "
        "lip-sync generators do.",
        "- **D wav2lip / fsgan-wav2lip / faceswap-wav2lip**: as C, lip-synced to fake audio: a cloned voice as in B "
        "(of the `target1` id for wav2lip, of the lip-sync id for the swaps), or, for one id in three, espeak-ng TTS "
        "in the voice's language and gender.",
        "",
        "### Additions outside the official layout (corpus root)",
        "",
        f"- `lists/fakeavceleb_test_real.txt` and `lists/fakeavceleb_test_fake.txt` ({n_test} lines each): a mini "
        "version of the published 70/70 cross-dataset test list in its flattened-name format "
        "(`<type>-<RaceNoSpaces>-<gender>-<source>_<filename>`), chosen the published way: per race x gender cell the "
        f"first {cfg.test_per_cell} source id(s) in sorted order (the original used `os.listdir` order) give their "
        "real video and one fake whose type (FVFA/FVRA/RVFA) and file are drawn with `random.seed(23)`.",
        "- `provenance.tsv`: path, kind, and the real face, voice and utterance files every clip was made from.",
        "",
        "### Faces and voices",
        "",
        *[f"- `{i}`: {load_face(i).source} ({load_face(i).licence})" for i in faces],
        "",
        "Real voices (ids per voice): " + ", ".join(f"{v} {voices[v]}" for v in sorted(voices)) + ".",
    ]
    return "\n".join(lines) + "\n"

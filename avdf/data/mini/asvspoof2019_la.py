"""Mini ASVspoof 2019 LA: the ``LA/`` tree exactly as the official ``LA.zip`` unpacks
(DATASETS.md §1), made offline from real speech, real TTS and real vocoders.

- Bona fide: real human speech only (:mod:`avdf.data.mini.speech`), cut at pauses into
  1..3 s (tiny) or 1..4 s (small) segments. Seven real speakers, speaker-disjoint
  partitions: train allison, june, ps_cards; dev carlo, menardi; eval ivrvoiceru,
  ps_librivox. Dev/eval speakers are ASV targets with enrolment utterances (in the flac
  directory and the ``trn`` lists only, as in the real set).
- Spoofs: 19 attack systems (``ATTACKS``), A01-A06 in train/dev, A07-A19 in eval, A16 the
  algorithm of A04 and A19 that of A06. Every spoof targets a speaker of its partition.
- Every file passes the same conditioning (:func:`avdf.data.mini.common.condition`).
- ASV protocols and the organisers'-format ASV score file, scored by a GMM-UBM on MFCCs
  trained on the train partition's bona fide speech.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avdf.data import vocoders
from avdf.data.mini import tts
from avdf.data.mini.common import (Segment, collect_segments, condition, cut_at_pause, job_rng, require_programs,
                                   run_jobs, speaker_gender, stable_int, write_audio, write_lines)
from avdf.data.mini.speech import APT_HINT, MissingMaterialError, real_speakers
from avdf.data.mini.tts import Voice

logger = logging.getLogger(__name__)

SR = 16000
SPLITS = ("train", "dev", "eval")
LETTER = {"train": "T", "dev": "D", "eval": "E"}
CM_PROTOCOL = {"train": "ASVspoof2019.LA.cm.train.trn.txt", "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
               "eval": "ASVspoof2019.LA.cm.eval.trl.txt"}
PARTITION = {"train": ("allison", "june", "ps_cards"), "dev": ("carlo", "menardi"),
             "eval": ("ivrvoiceru", "ps_librivox")}
SPEAKER_NUMBERS = {"train": (79, 98), "dev": (69, 78), "eval": (1, 68)}     # as in the real set
ESPEAK_LANGUAGE = {"en": "en-us", "es": "es", "fr": "fr-fr", "it": "it", "ru": "ru"}
FORMANT_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
NAMED_VARIANTS = ("Alex", "Andy", "Annie", "adam", "anika", "boris", "david", "edward", "linda", "max",
                  "paul", "robert", "steph", "travis")
KLATT_VARIANTS = ("klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6")
CG_VOICES = ("awb", "rms", "slt")

# per size: segments per speaker (enrolment, bona fide, vocoder sources), spoofs per attack
# per target speaker (on average: see _spoofs_per_attack), segment duration range, UBM components
SIZE = {
    "tiny": dict(enrol=2, bona=4, src=4, spoof={"train": 1, "dev": 1, "eval": 1}, min_s=1.0, max_s=3.0, ubm=8),
    "small": dict(enrol=6, bona=100, src=24, spoof={"train": 20, "dev": 10, "eval": 8}, min_s=1.0, max_s=4.0,
                  ubm=32),
}


@dataclass(frozen=True)
class Attack:
    """One spoofing system: its id, the real set's type and method, our system."""

    id: str
    kind: str
    real_method: str
    system: str
    description: str


ATTACKS = (
    Attack("A01", "TTS", "neural waveform", "espeak",
           "espeak-ng formant synthesis, variants m1-m7/f1-f5, random speed and pitch, in the target's language"),
    Attack("A02", "TTS", "vocoder", "flite_cg",
           "flite clustergen (statistical parametric) voices awb/rms/slt, English"),
    Attack("A03", "TTS", "vocoder", "world_copy",
           "WORLD (DIO+StoneMask, CheapTrick, D4C) re-synthesis of the target's speech with a 50 ms-smoothed F0"),
    Attack("A04", "TTS", "waveform concatenation", "unit_concat",
           "concatenation of the target's own syllable-sized units (3 recordings), spectral join cost, cross-fades"),
    Attack("A05", "VC", "vocoder", "world_vc",
           "WORLD conversion of another speaker: F0 to the target's median, mean log envelope to the target's"),
    Attack("A06", "VC", "spectral filtering", "spectral_filter",
           "STFT spectral filtering of another speaker: envelope frequency warping + amplitude correction"),
    Attack("A07", "TTS", "vocoder+GAN", "espeak_klatt",
           "espeak-ng Klatt synthesiser (variants klatt..klatt6), in the target's language"),
    Attack("A08", "TTS", "neural waveform", "flite_diphone", "flite kal16 diphone concatenation, English"),
    Attack("A09", "TTS", "vocoder", "lpc_pulse",
           "LPC re-synthesis of the target's speech, pulse train at the WORLD F0 + noise (LPC-10 style)"),
    Attack("A10", "TTS", "neural waveform", "relp",
           "residual-excited LPC re-synthesis of the target's speech (800 Hz base band, regenerated high band)"),
    Attack("A11", "TTS", "Griffin-Lim", "griffin_lim",
           "80-band mel spectrogram of the target's speech, least-squares inverse mel, 32 Griffin-Lim iterations"),
    Attack("A12", "TTS", "neural waveform", "world_coded",
           "WORLD with Harvest F0, envelope coded to 24 coefficients, band-coded aperiodicity"),
    Attack("A13", "TTS_VC", "waveform concatenation + waveform filtering", "concat_wfilter",
           "unit concatenation of another speaker's units, then the time-domain LPC filter toward the target"),
    Attack("A14", "TTS_VC", "vocoder", "espeak_world_vc",
           "espeak-ng formant TTS (named variants) converted by WORLD toward the target"),
    Attack("A15", "TTS_VC", "neural waveform", "flite_world_vc",
           "flite clustergen TTS converted by WORLD toward the target"),
    Attack("A16", "TTS", "waveform concatenation", "unit_concat", "the A04 system"),
    Attack("A17", "VC", "waveform filtering", "waveform_filter",
           "another speaker through the source's long-term LPC inverse filter and the target's synthesis filter"),
    Attack("A18", "VC", "vocoder", "phase_vocoder_vc",
           "phase-vocoder pitch shift of another speaker by the target/source median F0 ratio"),
    Attack("A19", "VC", "spectral filtering", "spectral_filter", "the A06 system"),
)
ATTACK = {a.id: a for a in ATTACKS}
SPLIT_ATTACKS = {"train": [a.id for a in ATTACKS[:6]], "dev": [a.id for a in ATTACKS[:6]],
                 "eval": [a.id for a in ATTACKS[6:]]}


# ------------------------------------------------------------------ attack systems (run in workers)
def _median_f0(x: np.ndarray) -> float:
    import pyworld as pw

    x64 = x.astype(np.float64)
    f0, t = pw.dio(x64, SR)
    f0 = pw.stonemask(x64, f0, t, SR)
    return float(np.median(f0[f0 > 0])) if (f0 > 0).any() else 150.0


def _phase_vocoder_vc(job: dict, rng: np.random.Generator) -> np.ndarray:
    other, ref = job["audio"]["other"], job["audio"]["ref"]
    steps = int(np.round(12 * np.log2(_median_f0(ref) / _median_f0(other))))
    steps = steps if steps != 0 else int(rng.choice([-1, 1]))
    return vocoders.phase_vocoder(other, SR, rng, n_steps=float(np.clip(steps, -7, 7)))


_SYSTEMS = {
    "bonafide": lambda job, rng: job["audio"]["src"],
    "espeak": lambda job, rng: tts.synthesize(job["text"], job["voice"], SR),
    "espeak_klatt": lambda job, rng: tts.synthesize(job["text"], job["voice"], SR),
    "flite_cg": lambda job, rng: tts.synthesize(job["text"], job["voice"], SR),
    "flite_diphone": lambda job, rng: tts.synthesize(job["text"], job["voice"], SR),
    "world_copy": lambda job, rng: vocoders.world(job["audio"]["src"], SR, rng, f0_smooth_ms=50.0),
    "world_coded": lambda job, rng: vocoders.world(job["audio"]["src"], SR, rng, sp_dims=24, f0_method="harvest"),
    "unit_concat": lambda job, rng: vocoders.unit_concat(job["audio"]["units"][0], SR, rng,
                                                         units=job["audio"]["units"][1:], duration=job["duration"]),
    "world_vc": lambda job, rng: vocoders.world(job["audio"]["other"], SR, rng, target=job["audio"]["ref"]),
    "spectral_filter": lambda job, rng: vocoders.spectral_filter(job["audio"]["other"], SR, rng,
                                                                 target=job["audio"]["ref"]),
    "lpc_pulse": lambda job, rng: vocoders.lpc(job["audio"]["src"], SR, rng, excitation="pulse", jitter=0.01),
    "relp": lambda job, rng: vocoders.lpc(job["audio"]["src"], SR, rng, excitation="relp"),
    "griffin_lim": lambda job, rng: vocoders.griffin_lim(job["audio"]["src"], SR, rng),
    "concat_wfilter": lambda job, rng: vocoders.waveform_filter(
        vocoders.unit_concat(job["audio"]["units"][0], SR, rng, units=job["audio"]["units"][1:],
                             duration=job["duration"]), SR, rng, target=job["audio"]["ref"]),
    "espeak_world_vc": lambda job, rng: vocoders.world(tts.synthesize(job["text"], job["voice"], SR), SR, rng,
                                                       target=job["audio"]["ref"]),
    "flite_world_vc": lambda job, rng: vocoders.world(tts.synthesize(job["text"], job["voice"], SR), SR, rng,
                                                      target=job["audio"]["ref"]),
    "waveform_filter": lambda job, rng: vocoders.waveform_filter(job["audio"]["other"], SR, rng,
                                                                 target=job["audio"]["ref"]),
    "phase_vocoder_vc": _phase_vocoder_vc,
}


def render(job: dict) -> tuple[float, np.ndarray | None]:
    """Make one utterance (bona fide or spoof), condition it, write the FLAC; its duration
    and, where the ASV needs them (``job["mfcc"]``), its MFCC features."""
    rng = np.random.default_rng(job["seed"])
    x = cut_at_pause(np.asarray(_SYSTEMS[job["system"]](job, rng), dtype=np.float32), SR, job["max_s"],
                     job.get("cut_s"))
    y = condition(x, SR, rng, max_s=job["max_s"] + 0.6)
    write_audio(Path(job["out"]), y, SR)
    return len(y) / SR, (_mfcc(np.round(y * 32767) / 32768) if job.get("mfcc") else None)


# ------------------------------------------------------------------ planning
@dataclass
class _Spk:
    """A real speaker in one partition, with the LA id and the material assigned."""

    name: str
    la_id: str
    gender: str
    languages: tuple[str, ...]
    enrol: list[Segment]
    bona: list[Segment]
    src: list[Segment]


def _plan_speakers(seed: int, cfg: dict) -> dict[str, list[_Spk]]:
    catalogue = {s.id: s for s in real_speakers(0.0)}
    missing = [n for names in PARTITION.values() for n in names if n not in catalogue]
    if missing:
        raise MissingMaterialError(f"real speakers {missing} not installed; {APT_HINT}")
    out: dict[str, list[_Spk]] = {}
    for split in SPLITS:
        lo, hi = SPEAKER_NUMBERS[split]
        numbers = sorted(job_rng(seed, "la-spk", split).choice(np.arange(lo, hi + 1), len(PARTITION[split]),
                                                               replace=False))
        spks = []
        for name, num in zip(PARTITION[split], numbers):
            n_enrol = cfg["enrol"] if split != "train" else 0
            segs = collect_segments(catalogue[name], n_enrol + cfg["bona"] + cfg["src"], job_rng(seed, "la-seg", name),
                                    cfg["min_s"], cfg["max_s"])
            if len(segs) < 3:
                raise MissingMaterialError(f"real speaker {name}: only {len(segs)} usable segments; {APT_HINT}")
            k = len(segs)                  # short of material: 1/4 enrolment, 1/3 of the rest sources
            n_e = min(n_enrol, k // 4)
            n_b = max(1, min(cfg["bona"], k - n_e - min(cfg["src"], (k - n_e) // 3)))
            enrol, bona, src = segs[:n_e], segs[n_e: n_e + n_b], segs[n_e + n_b:] or segs[n_e: n_e + n_b]
            spks.append(_Spk(name, f"LA_{num:04d}", speaker_gender(name),
                             tuple(catalogue[name].language.split("+")), enrol, bona, src))
        out[split] = spks
    return out


def _spoofs_per_attack(spks: list[_Spk], per_speaker: int) -> dict[str, int]:
    """Spoofs of each attack per target speaker: the partition's ``per_speaker`` x speakers,
    shared in proportion to each speaker's bona fide utterances (at least one), so that
    no speaker is mostly spoofs."""
    total, n_bona = per_speaker * len(spks), sum(len(s.bona) for s in spks)
    return {s.la_id: max(1, round(total * len(s.bona) / n_bona)) for s in spks}


def _pick(rng: np.random.Generator, items: list):
    return items[int(rng.integers(len(items)))]


def _spoof_job(attack: Attack, target: _Spk, others: list[_Spk], rng: np.random.Generator,
               cfg: dict) -> tuple[dict, str]:
    """The job of one spoof and its provenance text."""
    job: dict = {"system": attack.system, "audio": {}}
    lang = _pick(rng, list(target.languages))
    s = attack.system
    if s in ("espeak", "espeak_klatt", "espeak_world_vc"):
        variants = {"espeak": FORMANT_VARIANTS, "espeak_klatt": KLATT_VARIANTS, "espeak_world_vc": NAMED_VARIANTS}[s]
        code = ESPEAK_LANGUAGE.get(lang, "en-us")
        job["voice"] = Voice("espeak-ng", f"{code}+{_pick(rng, list(variants))}",
                             speed=float(rng.integers(140, 191)), pitch=float(rng.integers(25, 76)))
        job["text"] = _pick(rng, list(tts.sentences(code)))
    elif s in ("flite_cg", "flite_diphone", "flite_world_vc"):
        name = "kal16" if s == "flite_diphone" else _pick(rng, list(CG_VOICES))
        job["voice"] = Voice("flite", name, speed=round(float(rng.uniform(0.9, 1.15)), 3))
        job["text"] = _pick(rng, list(tts.sentences("en")))
    if "text" in job:              # a sentence is cut at the pause nearest a bona fide segment's duration
        job["cut_s"] = _pick(rng, target.bona).duration
    if others:                     # VC sources: another speaker, in proportion to their material
        w = np.array([len(o.src) for o in others], dtype=float)
        other = others[int(rng.choice(len(others), p=w / w.sum()))]
    else:
        other = target
    src, ref = _pick(rng, target.src), _pick(rng, target.src)
    used: list[tuple[str, Segment]] = []
    if s in ("world_copy", "world_coded", "lpc_pulse", "relp", "griffin_lim"):
        used = [("src", src)]
    elif s in ("unit_concat", "concat_wfilter"):
        owner = target if s == "unit_concat" else other
        units = [_pick(rng, owner.src) for _ in range(3)]
        job["audio"]["units"] = [u.audio for u in units]
        job["duration"] = _pick(rng, target.bona).duration
        used = [(f"unit{i}", u) for i, u in enumerate(units)]
        if s == "concat_wfilter":
            used.append(("ref", ref))
    elif s in ("world_vc", "spectral_filter", "waveform_filter", "phase_vocoder_vc"):
        used = [("other", _pick(rng, other.src)), ("ref", ref)]
    elif s.endswith("world_vc"):
        used = [("ref", ref)]
    for role, seg in used:
        if not role.startswith("unit"):
            job["audio"][role] = seg.audio
    prov = f"{attack.id} {s}"
    if "voice" in job:
        prov += f" [{job['voice'].label()}] \"{job['text']}\""
    prov += "".join(f" {role}={seg.speaker}:{seg.source()}" for role, seg in used)
    return job, prov


def generate(out: Path, *, size: str, seed: int, jobs: int) -> str:
    """Write the mini ASVspoof 2019 LA tree under ``out/LA``; the README.mini.md body."""
    require_programs("espeak-ng", "flite")
    cfg = SIZE[size]
    root = out / "LA"
    speakers = _plan_speakers(seed, cfg)
    n_spoof = {sp: _spoofs_per_attack(speakers[sp], cfg["spoof"][sp]) for sp in SPLITS}
    n_files = sum(len(s.enrol) + len(s.bona) for ss in speakers.values() for s in ss) + sum(
        sum(n_spoof[sp].values()) * len(SPLIT_ATTACKS[sp]) for sp in SPLITS)
    ids = iter(job_rng(seed, "la-utt-ids").choice(np.arange(1_000_000, 10_000_000), n_files, replace=False))
    work: list[dict] = []
    prov: list[tuple[str, str, str, str]] = []
    cm: dict[str, list[tuple[str, str, str]]] = {s: [] for s in SPLITS}      # (spk, utt, attack or -)
    enrol: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
    for split in SPLITS:
        flac = root / f"ASVspoof2019_LA_{split}" / "flac"
        rng = job_rng(seed, "la-plan", split)

        def add(job: dict, spk: _Spk, attack: str, text: str) -> str:
            utt = f"LA_{LETTER[split]}_{int(next(ids)):07d}"
            job.update(out=str(flac / f"{utt}.flac"), seed=stable_int(seed, utt), max_s=cfg["max_s"], utt=utt,
                       mfcc=split != "train" or attack == "bonafide")
            work.append(job)
            prov.append((f"LA/ASVspoof2019_LA_{split}/flac/{utt}.flac", attack, spk.la_id, text))
            return utt

        for spk in speakers[split]:
            others = [o for o in speakers[split] if o is not spk]
            enrol[split][spk.la_id] = [add({"system": "bonafide", "audio": {"src": seg.audio}}, spk, "enrolment",
                                           f"{spk.name}:{seg.source()}") for seg in spk.enrol]
            for seg in spk.bona:
                utt = add({"system": "bonafide", "audio": {"src": seg.audio}}, spk, "bonafide",
                          f"{spk.name}:{seg.source()}")
                cm[split].append((spk.la_id, utt, "-"))
            for aid in SPLIT_ATTACKS[split]:
                for _ in range(n_spoof[split][spk.la_id]):
                    job, text = _spoof_job(ATTACK[aid], spk, others, rng, cfg)
                    cm[split].append((spk.la_id, add(job, spk, aid, text), aid))
        if split == "eval":                      # the real eval protocol is not grouped
            cm[split] = [cm[split][i] for i in rng.permutation(len(cm[split]))]
    logger.info("rendering %d utterances with %d worker(s)", len(work), jobs)
    results = run_jobs(render, work, jobs, desc="LA utterances")
    durations = [d for d, _ in results]
    feats = {job["utt"]: f for job, (_, f) in zip(work, results) if f is not None}
    _write_cm_protocols(root, cm)
    trials = _write_asv_protocols(root, cm, enrol, speakers)
    asv_eer = _write_asv_scores(root, trials, enrol, cm, feats, cfg, seed)
    write_lines(root / "README.LA.txt", _readme_la())
    write_lines(out / "provenance.tsv", ["\t".join(p) for p in sorted(prov)])
    return _readme_body(speakers, cm, enrol, durations, prov, asv_eer, size)


# ------------------------------------------------------------------ protocols
def _write_cm_protocols(root: Path, cm: dict) -> None:
    for split in SPLITS:
        lines = [f"{spk} {utt} - {aid} {'bonafide' if aid == '-' else 'spoof'}" for spk, utt, aid in cm[split]]
        write_lines(root / "ASVspoof2019_LA_cm_protocols" / CM_PROTOCOL[split], lines)


def _write_asv_protocols(root: Path, cm: dict, enrol: dict, speakers: dict) -> dict[str, list[tuple[str, ...]]]:
    """trn and trl files of dev/eval; returns the gi trials (claimed, utt, key, asv key) per split."""
    gi: dict[str, list[tuple[str, ...]]] = {}
    d = root / "ASVspoof2019_LA_asv_protocols"
    for split in ("dev", "eval"):
        gi[split] = []
        for gender, word in (("m", "male"), ("f", "female")):
            claimed = [s for s in speakers[split] if s.gender == gender]
            write_lines(d / f"ASVspoof2019.LA.asv.{split}.{word}.trn.txt",
                        [f"{s.la_id} {','.join(enrol[split][s.la_id])}" for s in claimed])
            trl = []
            for s in claimed:
                mine = [(u, a) for spk, u, a in cm[split] if spk == s.la_id]
                trl += [(s.la_id, u, "bonafide", "target") for u, a in mine if a == "-"]
                trl += [(s.la_id, u, "bonafide", "nontarget") for spk, u, a in cm[split]
                        if spk != s.la_id and a == "-"]
                trl += [(s.la_id, u, a, "spoof") for u, a in mine if a != "-"]
            write_lines(d / f"ASVspoof2019.LA.asv.{split}.{word}.trl.txt", [" ".join(t) for t in trl])
            gi[split] += trl                      # male trials first, then female
        write_lines(d / f"ASVspoof2019.LA.asv.{split}.gi.trl.txt", [" ".join(t) for t in gi[split]])
    return gi


# ------------------------------------------------------------------ ASV: GMM-UBM on MFCC
def _mfcc(x: np.ndarray) -> np.ndarray:
    """20 MFCCs + deltas (Kaldi-compatible, 25/10 ms, 30 mel bands to 3.8 kHz), energy-based
    frame selection, per-utterance mean and variance normalisation."""
    import torch
    import torchaudio

    w = torch.from_numpy(np.asarray(x, dtype=np.float32))[None] * 32768
    m = torchaudio.compliance.kaldi.mfcc(w, sample_frequency=SR, num_ceps=20, num_mel_bins=30, high_freq=3800,
                                         dither=0.0, energy_floor=1.0)
    f = torch.cat([m, torchaudio.functional.compute_deltas(m.T[None])[0].T], dim=1).numpy().astype(np.float64)
    keep = m[:, 0].numpy() > m[:, 0].numpy().max() - 8.0          # c0 within ~35 dB of the loudest frame
    f = f[keep] if keep.sum() > 10 else f
    return (f - f.mean(0)) / (f.std(0) + 1e-8)


def _write_asv_scores(root: Path, gi: dict, enrol: dict, cm: dict, feats: dict[str, np.ndarray], cfg: dict,
                      seed: int) -> dict[str, float]:
    """GMM-UBM scores of every gi trial in the organisers' format; the ASV EER per split."""
    from sklearn.mixture import GaussianMixture

    train = np.concatenate([feats[u] for _, u, a in cm["train"] if a == "-"])
    ubm = GaussianMixture(cfg["ubm"], covariance_type="diag", max_iter=100, reg_covar=1e-3,
                          random_state=seed % (2 ** 32)).fit(train)
    eer = {}
    for split in ("dev", "eval"):
        models = {}
        for spk, utts in enrol[split].items():
            x = np.concatenate([feats[u] for u in utts])
            post = ubm.predict_proba(x)
            n = post.sum(0)
            alpha = (n / (n + 16.0))[:, None]                  # relevance factor 16, means only
            model = copy.deepcopy(ubm)
            model.means_ = alpha * (post.T @ x) / np.maximum(n, 1e-10)[:, None] + (1 - alpha) * ubm.means_
            models[spk] = model
        base = {u: ubm.score_samples(feats[u]) for _, u, _ in cm[split]}
        lines, tar, non = [], [], []
        for claimed, utt, key, asv_key in gi[split]:
            score = float(np.mean(models[claimed].score_samples(feats[utt]) - base[utt]))
            lines.append(f"{key} {asv_key} {score:.6f}")
            (tar if asv_key == "target" else non if asv_key == "nontarget" else []).append(score)
        write_lines(root / "ASVspoof2019_LA_asv_scores" / f"ASVspoof2019.LA.asv.{split}.gi.trl.scores.txt", lines)
        eer[split] = _eer(np.array(tar), np.array(non))
    return eer


def _eer(tar: np.ndarray, non: np.ndarray) -> float:
    """Equal error rate by a threshold sweep (for the README only)."""
    if len(tar) == 0 or len(non) == 0:
        return float("nan")
    th = np.sort(np.concatenate([tar, non]))
    frr = np.array([(tar < t).mean() for t in th])
    far = np.array([(non >= t).mean() for t in th])
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2)


# ------------------------------------------------------------------ READMEs
def _readme_la() -> list[str]:
    return [
        "ASVspoof 2019 Logical Access (LA) -- MINI corpus generated by avdf",
        "",
        "This directory has the layout of the LA part of the ASVspoof 2019 database, but it is",
        "NOT that database. It is a small corpus made offline by avdf.bin.make_mini_corpus from",
        "real speech installed by Debian packages (bona fide), and from real speech synthesisers",
        "and classical vocoders (spoofs), so that recipes can be tested without the real data.",
        "See ../README.mini.md for what every file was made from and under which licence.",
        "",
        "Layout (as in the real release):",
        "  ASVspoof2019_LA_{train,dev,eval}/flac/LA_[TDE]_nnnnnnn.flac   FLAC, 16 kHz, 16 bit, mono",
        "  ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt",
        "      SPEAKER_ID AUDIO_FILE_NAME - SYSTEM_ID KEY   (SYSTEM_ID: A01..A19 or -; KEY: bonafide|spoof)",
        "  ASVspoof2019_LA_asv_protocols/ASVspoof2019.LA.asv.{dev,eval}.{female,male}.trn.txt",
        "      SPEAKER_ID enrolment utterances separated by commas",
        "  ASVspoof2019_LA_asv_protocols/ASVspoof2019.LA.asv.{dev,eval}.{female,male,gi}.trl.txt",
        "      CLAIMED_SPEAKER_ID AUDIO_FILE_NAME SYSTEM_ID(or bonafide) KEY(target|nontarget|spoof)",
        "  ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt",
        "      CM_KEY ASV_KEY SCORE, one line per line of the gi trl file, in the same order",
        "",
        "Attacks A01-A06 appear in train and dev, A07-A19 in eval; A16 uses the A04 algorithm and",
        "A19 the A06 algorithm. The flac directories of dev and eval also hold the ASV enrolment",
        "utterances, which only the trn files name.",
    ]


def _readme_body(speakers: dict, cm: dict, enrol: dict, durations: list[float], prov: list, asv_eer: dict,
                 size: str) -> str:
    cat = {s.id: s for s in real_speakers(0.0)}
    total_h = sum(durations) / 3600
    lines = ["## What it is made of", "",
             "Tree: `LA/` exactly as the official `LA.zip` unpacks (DATASETS.md §1): FLAC 16 kHz 16-bit mono, "
             "the three CM protocols, the ASV trn/trl lists of dev and eval, and the ASV score files in the "
             "organisers' format. `provenance.tsv` (beside `LA/`, not part of the real layout) names the source "
             "of every FLAC file.", "",
             f"Total audio: {len(durations)} files, {total_h * 60:.1f} min.", "",
             "### Bona fide speech: real people only", "",
             "| LA id | partition | role | real speaker | gender | bona fide (CM) | enrolment | source package | licence |",
             "|---|---|---|---|---|---|---|---|---|"]
    for split in SPLITS:
        for s in speakers[split]:
            c = cat[s.name]
            g = s.gender + ("" if c.gender != "u" else " (from F0 ≈ 100 Hz)")
            role = "CM training" if split == "train" else "ASV target"
            lines.append(f"| {s.la_id} | {split} | {role} | {s.name} ({c.language}) | {g} | {len(s.bona)} | "
                         f"{len(enrol[split].get(s.la_id, []))} | {c.source} | {c.licence} |")
    lines += ["", "Segments of 1 to 3 s (tiny) or 1 to 4 s (small) are cut from the recordings at pauses. The "
              "Asterisk prompts are 8 kHz recordings upsampled to 16 kHz. Spoofs that re-vocode or concatenate "
              "a target's speech use segments of that speaker that are neither in a protocol nor enrolment "
              "where the speaker has enough material (the pocketsphinx readers do not: their vocoder sources "
              "are their bona fide segments). Each target gets spoofs of every attack of its partition in proportion "
              "to its bona fide utterances, so that no speaker is mostly spoofs; TTS sentences are cut at the pause "
              "nearest the duration of one of the target's bona fide segments.", "",
              "### Attacks", "",
              "| attack | partitions | real set: type, method | this corpus: system |", "|---|---|---|---|"]
    for a in ATTACKS:
        parts = "train, dev" if a.id in SPLIT_ATTACKS["train"] else "eval"
        lines.append(f"| {a.id} | {parts} | {a.kind}, {a.real_method} | `{a.system}`: {a.description} |")
    lines += ["", "Seen in training: A16 (= A04) and A19 (= A06); A07 (espeak-ng, other synthesiser), A08 "
              "(flite, other voice type), A12 (WORLD, other settings), A13-A15 (combinations) are related to "
              "training attacks; A09, A10, A11, A17, A18 are unseen algorithms. VC attacks convert the other "
              "speaker(s) of the same partition toward the target, so no voice crosses partitions. TTS attacks "
              "say sentences of our own in the target's language (espeak-ng) or in English (flite), in the "
              "register of the telephone prompts, and the pocketsphinx transcripts.", "",
              "### Conditioning (all files alike)", "",
              "Every file, bona fide or spoof, passes the same 8 kHz channel (content up to 4 kHz), is trimmed "
              "to speech with a random 0.05-0.3 s margin each side, set to a random active level of -30 to "
              "-22 dBFS and gets a low noise floor 48-60 dB below the speech, so bandwidth, loudness, leading "
              "silence and digital silence carry no label.", "",
              "### ASV scores (`ASVspoof2019_LA_asv_scores/`)", "",
              "A GMM-UBM: 20 Kaldi-compatible MFCCs + deltas (25/10 ms, 30 mel bands up to 3.8 kHz), energy-"
              "based frame selection, per-utterance mean/variance normalisation; a diagonal UBM "
              f"({SIZE[size]['ubm']} components, scikit-learn EM) trained on the train partition's bona fide "
              "speech; speaker models by MAP adaptation of the means (relevance 16) on the enrolment utterances; "
              "score = average frame log-likelihood ratio. One line `CM_KEY ASV_KEY SCORE` per gi trl line, "
              f"same order. Target/non-target EER: dev {100 * asv_eer['dev']:.1f} %, eval "
              f"{100 * asv_eer['eval']:.1f} %.", "",
              "### Differences from the real set", "",
              "- 7 real speakers instead of 107; dev and eval have one ASV target per gender and no non-target-only "
              "speakers, so non-target trials pair speakers of different genders (the real lists are "
              "gender-matched). gi trl files list male trials first, then female, as the real ones do.",
              "- The pocketsphinx speakers' gender is not in the catalogue; it was measured from F0.",
              "- Attack systems are classical (no neural vocoders are available offline); the attack ids keep "
              "the real set's structure (seen/unseen, A16 = A04, A19 = A06), not its algorithms.", "",
              "### Counts", "", "| partition | flac files | CM lines | bona fide | spoof | enrolment |",
              "|---|---|---|---|---|---|"]
    for split in SPLITS:
        n_b = sum(1 for _, _, a in cm[split] if a == "-")
        n_e = sum(len(v) for v in enrol[split].values())
        lines.append(f"| {split} | {len(cm[split]) + n_e} | {len(cm[split])} | {n_b} | {len(cm[split]) - n_b} "
                     f"| {n_e} |")
    lines += ["", "### Licences of the sources", "",
              "| source | licence |", "|---|---|",
              "| Asterisk core sounds en/es/fr/it (Allison, June, Carlo), asterisk-prompt-it-menardi | CC-BY-SA-3.0 |",
              "| Asterisk core sounds ru (IvrvoiceRU) | CC-BY-3.0 |",
              "| pocketsphinx-testdata (cards, librivox recordings and transcripts) | BSD-2-Clause (CMU) |",
              "| espeak-ng (program and voice data) | GPL-3.0-or-later |",
              "| flite (program and CMU voices kal16, awb, rms, slt) | BSD-like (CMU Flite licence) |",
              "| pyworld (WORLD vocoder) | MIT (pyworld), modified BSD (WORLD) |",
              "| torchaudio (mel, Griffin-Lim, phase vocoder) | BSD-2-Clause |", ""]
    return "\n".join(lines)

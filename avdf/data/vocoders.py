"""Analysis / re-synthesis of real speech with classical vocoders, to make audio fakes.

Every function has the signature ``fn(wave, sr, rng, **params) -> np.ndarray``: ``wave`` is
mono float32 at ``sr`` Hz, the result is float32 at the same rate with about the same
level, and the output is a deterministic function of the input, the parameters and the
state of ``rng`` (the only source of randomness). ``VOCODERS`` maps a name to each one,
so callers (the mini corpora, the joint audio-visual detector's fake-audio synthesis) can
pick one by name; every function works with its default parameters.

- ``griffin_lim``: mel spectrogram -> least-squares inverse mel -> Griffin-Lim phase (torchaudio).
- ``world``: WORLD analysis (F0, spectral envelope, aperiodicity) and synthesis (pyworld),
  optionally with F0 shift/scaling, frequency warping of the envelope and conversion of
  the average envelope toward another voice.
- ``lpc``: frame-wise LPC source-filter re-synthesis (Levinson-Durbin), excited by a
  pulse train at the WORLD F0 with noise in unvoiced frames (LPC-10 style), by noise only
  (whisper), or by the base band of the LPC residual with regenerated high band (RELP).
- ``spectral_filter``: voice conversion by frequency warping and amplitude correction of
  each STFT frame's cepstrally smoothed envelope toward a target voice.
- ``waveform_filter``: voice conversion by one time-domain filter, the source's
  long-term LPC inverse filter followed by the target's LPC synthesis filter.
- ``phase_vocoder``: pitch shift by phase-vocoder time stretch and resampling (torchaudio).
- ``unit_concat``: waveform concatenation of real units (syllable-sized stretches cut at
  energy minima), chosen by a spectral join cost and cross-faded.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import scipy.signal as ss
from scipy.linalg import solve_toeplitz

logger = logging.getLogger(__name__)

Vocoder = Callable[..., np.ndarray]


def _match_level(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``y`` scaled to the RMS of ``ref``, float32, no clipping above 0.99."""
    ry, rr = np.sqrt(np.mean(y.astype(np.float64) ** 2)), np.sqrt(np.mean(ref.astype(np.float64) ** 2))
    y = y * (rr / ry if ry > 0 else 0.0)
    peak = np.abs(y).max() if len(y) else 0.0
    if peak > 0.99:
        y = y * (0.99 / peak)
    return np.nan_to_num(y).astype(np.float32)


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2 ** 31 - 1))


# ------------------------------------------------------------------ Griffin-Lim
def griffin_lim(wave: np.ndarray, sr: int, rng: np.random.Generator, *, n_mels: int = 80,
                win_ms: float = 50.0, hop_ms: float = 12.5, n_iter: int = 32, momentum: float = 0.99,
                power: float = 1.0) -> np.ndarray:
    """Re-synthesise from a mel spectrogram: inverse mel by least squares, phase by Griffin-Lim.

    The random initial phase comes from ``rng``. ``power`` is the exponent of the magnitude
    the mel bank is applied to (1: magnitude, 2: power).
    """
    import torch
    import torchaudio.transforms as T

    win = int(sr * win_ms / 1000)
    n_fft = 1 << (win - 1).bit_length()
    hop = int(sr * hop_ms / 1000)
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    mel = T.MelSpectrogram(sample_rate=sr, n_fft=n_fft, win_length=win, hop_length=hop, n_mels=n_mels,
                           power=power, f_max=sr / 2)(x)
    spec = T.InverseMelScale(n_stft=n_fft // 2 + 1, n_mels=n_mels, sample_rate=sr, f_max=sr / 2)(mel)
    spec = spec.clamp(min=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed(rng))
        y = T.GriffinLim(n_fft=n_fft, win_length=win, hop_length=hop, n_iter=n_iter, momentum=momentum,
                         power=power, length=len(wave))(spec)
    return _match_level(y.numpy(), wave)


# ------------------------------------------------------------------ WORLD
def _world_analysis(x: np.ndarray, sr: int, frame_period: float, f0_method: str):
    import pyworld as pw

    x64 = np.ascontiguousarray(x, dtype=np.float64)
    if f0_method == "harvest":
        f0, t = pw.harvest(x64, sr, frame_period=frame_period)
    elif f0_method == "dio":
        f0, t = pw.dio(x64, sr, frame_period=frame_period)
        f0 = pw.stonemask(x64, f0, t, sr)
    else:
        raise ValueError(f"f0_method must be 'dio' or 'harvest', not {f0_method!r}")
    return x64, f0, t, pw.cheaptrick(x64, f0, t, sr), pw.d4c(x64, f0, t, sr)


def warp_frequency(env: np.ndarray, alpha: float) -> np.ndarray:
    """Linear frequency warping of spectra (last axis = frequency bins): a peak at bin k
    moves to bin ``alpha * k`` (``alpha`` > 1 raises formants)."""
    if alpha == 1.0:
        return env
    k = np.arange(env.shape[-1], dtype=np.float64)
    src = np.clip(k / alpha, 0, env.shape[-1] - 1)
    return np.apply_along_axis(lambda row: np.interp(src, k, row), -1, env)


# D4C (WORLD's aperiodicity) first decides voicing from the power below 4 kHz against the
# power below 7.9 kHz; under a sampling rate of 15.8 kHz the second edge lies above Nyquist and
# D4C reads an array past what it wrote, so its result changes with whatever memory held (at
# 8 kHz: from one call to the next on the same input). Under this rate WORLD runs at WORLD_SR.
D4C_MIN_SR = 15800
WORLD_SR = 16000


def world(wave: np.ndarray, sr: int, rng: np.random.Generator, *, f0_scale: float = 1.0,
          f0_shift: float = 0.0, sp_warp: float = 1.0, target: np.ndarray | None = None,
          target_weight: float = 1.0, f0_smooth_ms: float = 0.0, sp_dims: int | None = None,
          f0_method: str = "dio", frame_period: float = 5.0) -> np.ndarray:
    """WORLD analysis and re-synthesis (pyworld).

    ``f0_scale`` multiplies and ``f0_shift`` (semitones) shifts the F0 contour;
    ``f0_smooth_ms`` low-passes it (removes micro-prosody, as statistical TTS does);
    ``sp_warp`` warps the spectral envelope along frequency; ``sp_dims`` codes the envelope
    into that many mel-cepstrum-like coefficients and back (and the aperiodicity into
    WORLD's band coding), as statistical parametric TTS does. With ``target`` (a waveform of
    another voice at ``sr``), the F0 is moved to the target's median F0 and every frame's
    envelope is multiplied by the ratio of the target's to the source's average envelope
    (to the power ``target_weight``): a simple vocoder-based voice conversion. ``rng`` is unused (WORLD is deterministic).
    Under :data:`D4C_MIN_SR` the analysis and synthesis run on a :data:`WORLD_SR` copy (see there).
    """
    params = dict(f0_scale=f0_scale, f0_shift=f0_shift, sp_warp=sp_warp, target_weight=target_weight,
                  f0_smooth_ms=f0_smooth_ms, sp_dims=sp_dims, f0_method=f0_method, frame_period=frame_period)
    if sr >= D4C_MIN_SR:
        return _world(wave, sr, target=target, **params)
    from avdf.data.audio import resample

    up = resample(np.asarray(wave, np.float32), sr, WORLD_SR)
    target = None if target is None else resample(np.asarray(target, np.float32), sr, WORLD_SR)
    y = resample(_world(up, WORLD_SR, target=target, **params), WORLD_SR, sr)
    return _match_level(_fit_length(y, len(wave)), wave)


def _world(wave: np.ndarray, sr: int, *, f0_scale: float, f0_shift: float, sp_warp: float,
           target: np.ndarray | None, target_weight: float, f0_smooth_ms: float, sp_dims: int | None,
           f0_method: str, frame_period: float) -> np.ndarray:
    import pyworld as pw

    x64, f0, t, sp, ap = _world_analysis(wave, sr, frame_period, f0_method)
    voiced = f0 > 0
    if f0_smooth_ms > 0 and voiced.sum() > 3:
        n = max(1, int(f0_smooth_ms / frame_period))
        lf0 = np.interp(np.arange(len(f0)), np.flatnonzero(voiced), np.log(f0[voiced]))
        lf0 = np.convolve(np.pad(lf0, n, mode="edge"), np.ones(2 * n + 1) / (2 * n + 1), "valid")
        f0 = np.where(voiced, np.exp(lf0), 0.0)
    sp = warp_frequency(sp, sp_warp)
    if target is not None:
        _, tf0, _, tsp, _ = _world_analysis(target, sr, frame_period, f0_method)
        tvoiced = tf0 > 0
        if tvoiced.any() and voiced.any():
            f0_scale *= float(np.median(tf0[tvoiced]) / np.median(f0[voiced]))
            diff = np.log(tsp.mean(0)) - np.log(sp.mean(0))
            sp = sp * np.exp(target_weight * diff)[None, :]
    if sp_dims:
        fft_size = (sp.shape[1] - 1) * 2
        sp = pw.decode_spectral_envelope(pw.code_spectral_envelope(sp, sr, sp_dims), sr, fft_size)
        ap = pw.decode_aperiodicity(np.ascontiguousarray(pw.code_aperiodicity(ap, sr)), sr, fft_size)
    f0 = f0 * f0_scale * 2 ** (f0_shift / 12)
    y = pw.synthesize(np.ascontiguousarray(f0), np.ascontiguousarray(sp), np.ascontiguousarray(ap), sr,
                      frame_period)
    return _match_level(_fit_length(y, len(wave)), wave)


# ------------------------------------------------------------------ LPC
def lpc_coefficients(frame: np.ndarray, order: int, sr: int | None = None) -> tuple[np.ndarray, float]:
    """LPC polynomial ``[1, a1..ap]`` of a (windowed) frame by Levinson-Durbin, and the
    prediction-error power. With ``sr``, a 40 Hz Gaussian lag window widens the formant
    bandwidths (as speech codecs do)."""
    r = ss.correlate(frame, frame, "full")[len(frame) - 1: len(frame) + order].astype(np.float64)
    if r[0] <= 1e-10:
        return np.concatenate([[1.0], np.zeros(order)]), 0.0
    r[0] *= 1.0 + 1e-6                        # white-noise correction keeps the filter stable
    if sr:
        r *= np.exp(-0.5 * (2 * np.pi * 40.0 / sr * np.arange(order + 1)) ** 2)
    a = solve_toeplitz(r[:order], -r[1: order + 1])
    err = float(r[0] + np.dot(a, r[1: order + 1]))
    return np.concatenate([[1.0], a]), max(err, 0.0)


def _frames(n: int, hop: int) -> range:
    return range(0, n, hop)


def lpc(wave: np.ndarray, sr: int, rng: np.random.Generator, *, excitation: str = "pulse", order: int | None = None,
        win_ms: float = 30.0, hop_ms: float = 10.0, f0_scale: float = 1.0, relp_cutoff: float = 800.0,
        jitter: float = 0.0) -> np.ndarray:
    """Frame-wise LPC analysis and source-filter re-synthesis.

    ``excitation``: ``"pulse"`` (impulse train at the WORLD F0 times ``f0_scale`` in voiced
    frames, with ``jitter`` relative period perturbation; white noise from ``rng`` in
    unvoiced ones: the LPC-10 scheme), ``"noise"`` (white noise only: whispered speech), or
    ``"relp"`` (the LPC residual low-passed at ``relp_cutoff`` Hz, its high band regenerated
    by full-wave rectification and spectral flattening: residual-excited LP). The gain
    of every block matches the residual's energy. Filtering is time-varying direct form
    with the filter memory carried across blocks.
    """
    if excitation not in ("pulse", "noise", "relp"):
        raise ValueError(f"excitation must be 'pulse', 'noise' or 'relp', not {excitation!r}")
    x = np.asarray(wave, dtype=np.float64)
    order = order or int(sr / 1000) + 4
    win, hop = int(sr * win_ms / 1000), int(sr * hop_ms / 1000)
    window = np.hanning(win)
    xp = np.pad(x, (win // 2, win))
    coefs = []
    for start in _frames(len(x), hop):
        a, _ = lpc_coefficients(xp[start: start + win] * window, order, sr)
        coefs.append(a)
    # residual by the time-varying inverse (FIR) filter
    xh = np.pad(x, (order, 0))
    res = np.zeros_like(x)
    for i, start in enumerate(_frames(len(x), hop)):
        seg = xh[start: start + hop + order]
        res[start: start + hop] = np.convolve(seg, coefs[i], "valid")[: len(res[start: start + hop])]
    if excitation == "pulse":
        exc = _pulse_excitation(x, sr, rng, hop, f0_scale, jitter)
    elif excitation == "noise":
        exc = rng.standard_normal(len(x))
    else:
        exc = _relp_excitation(res, sr, relp_cutoff)
    y = np.zeros_like(x)
    zi = np.zeros(order)
    for i, start in enumerate(_frames(len(x), hop)):
        sl = slice(start, min(start + hop, len(x)))
        e = exc[sl]
        g = np.sqrt(np.mean(res[sl] ** 2) / (np.mean(e ** 2) + 1e-12))
        past = y[max(0, start - order): start][::-1]
        zi = ss.lfiltic([1.0], coefs[i], past)
        y[sl], _ = ss.lfilter([1.0], coefs[i], g * e, zi=zi)
    return _match_level(y, wave)


def _pulse_excitation(x: np.ndarray, sr: int, rng: np.random.Generator, hop: int, f0_scale: float,
                      jitter: float) -> np.ndarray:
    """Impulse train following the WORLD (dio + stonemask) F0, noise where unvoiced."""
    import pyworld as pw

    fp = 1000.0 * hop / sr
    f0, t = pw.dio(x, sr, frame_period=fp)
    f0 = pw.stonemask(x, f0, t, sr) * f0_scale
    f0s = np.interp(np.arange(len(x)) / sr, t, f0)
    voiced = np.interp(np.arange(len(x)) / sr, t, (f0 > 0).astype(float)) > 0.5
    exc = rng.standard_normal(len(x)) * 0.3
    n = 0
    while n < len(x):
        if voiced[n] and f0s[n] > 0:
            exc[n] = np.sqrt(sr / f0s[n])       # unit power pulse train
            period = sr / f0s[n] * (1.0 + jitter * rng.standard_normal())
            n += max(1, int(round(period)))
        else:
            n += hop // 4
    exc[voiced & (exc < 1.0)] *= 0.05          # a little aspiration noise in voiced parts
    return exc


def _relp_excitation(res: np.ndarray, sr: int, cutoff: float) -> np.ndarray:
    """Base band of the residual plus a high band regenerated by full-wave rectification."""
    lo = ss.sosfiltfilt(ss.butter(8, cutoff, "low", fs=sr, output="sos"), res)
    hi = ss.sosfiltfilt(ss.butter(8, cutoff, "high", fs=sr, output="sos"), np.abs(lo))
    hi = hi - ss.sosfiltfilt(ss.butter(2, cutoff / 4, "low", fs=sr, output="sos"), hi)
    # flatten the regenerated band with a low-order inverse filter
    a, _ = lpc_coefficients(hi * np.hanning(len(hi)), 4)
    hi = ss.lfilter(a, [1.0], hi)
    scale = np.sqrt(np.mean(res ** 2) - np.mean(lo ** 2) + 1e-12) / (np.sqrt(np.mean(hi ** 2)) + 1e-12)
    return lo + hi * scale


# ------------------------------------------------------------------ spectral / waveform filtering
def _stft(x: np.ndarray, sr: int, n_fft: int, hop: int) -> np.ndarray:
    return ss.stft(x, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary="even")[2]


def _istft(z: np.ndarray, sr: int, n_fft: int, hop: int, n: int) -> np.ndarray:
    return _fit_length(ss.istft(z, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop)[1], n)


def _cepstral_envelope(logmag: np.ndarray, lifter: int) -> np.ndarray:
    """Cepstrally smoothed log-magnitude envelope of each frame (frequency on axis 0)."""
    c = np.fft.irfft(logmag, axis=0)
    c[lifter: c.shape[0] - lifter + 1] = 0.0
    return np.fft.rfft(c, axis=0).real


def _power_mean(log_env: np.ndarray) -> np.ndarray:
    """Log of the power-averaged envelope over frames (axis 1): loud frames weigh most,
    as in a long-term average spectrum."""
    m = log_env.max()
    return 0.5 * np.log(np.mean(np.exp(2 * (log_env - m)), axis=1)) + m


def _speech_frames(logmag: np.ndarray) -> np.ndarray:
    energy = logmag.max(axis=0)
    return energy > energy.max() - np.log(10 ** 2.0)    # within 40 dB of the loudest


def spectral_filter(wave: np.ndarray, sr: int, rng: np.random.Generator, *, target: np.ndarray | None = None,
                    warp: float | None = None, strength: float = 1.0, n_fft: int = 512, hop: int = 128,
                    lifter: int = 30) -> np.ndarray:
    """Voice conversion by spectral filtering: each STFT frame keeps its phase and fine
    structure while its cepstral envelope is frequency-warped by ``warp`` and corrected by
    the difference of the (warped) long-term source envelope and the target's.

    With ``target`` the warp factor is the one (0.8..1.25) that best aligns the long-term
    envelopes; without it, ``warp`` (default: drawn from ``rng`` in 0.85..1.18) alone
    changes the voice.
    """
    x = np.asarray(wave, dtype=np.float64)
    z = _stft(x, sr, n_fft, hop)
    logmag = np.log(np.abs(z) + 1e-8)
    env = _cepstral_envelope(logmag, lifter)
    src_mean = _power_mean(env[:, _speech_frames(logmag)])
    if target is not None:
        tl = np.log(np.abs(_stft(np.asarray(target, dtype=np.float64), sr, n_fft, hop)) + 1e-8)
        tgt_mean = _power_mean(_cepstral_envelope(tl, lifter)[:, _speech_frames(tl)])
        if warp is None:
            grid = np.linspace(0.8, 1.25, 46)
            score = [np.corrcoef(warp_frequency(src_mean, a), tgt_mean)[0, 1] for a in grid]
            warp = float(grid[int(np.argmax(score))])
    else:
        warp = float(rng.uniform(0.85, 1.18)) if warp is None else warp
        tgt_mean = warp_frequency(src_mean, warp)
    new_env = warp_frequency(env.T, warp).T + (tgt_mean - warp_frequency(src_mean, warp))[:, None]
    gain = np.exp(strength * (new_env - env))
    y = _istft(z * gain, sr, n_fft, hop, len(x))
    return _match_level(y, wave)


def _longterm_lpc(x: np.ndarray, order: int, sr: int) -> np.ndarray:
    """LPC of the whole signal's autocorrelation: the all-pole fit of its long-term spectrum."""
    return lpc_coefficients(np.asarray(x, dtype=np.float64), order, sr)[0]


def waveform_filter(wave: np.ndarray, sr: int, rng: np.random.Generator, *, target: np.ndarray | None = None,
                    order: int | None = None, pole_warp: float | None = None) -> np.ndarray:
    """Voice conversion by one time-domain filter ``A_src(z) / A_tgt(z)``: whiten with the
    source's long-term LPC, colour with the target's.

    Without ``target``, the target filter is the source's with every pole angle scaled by
    ``pole_warp`` (default: drawn from ``rng`` in 0.85..1.18), i.e. formants moved.
    """
    order = order or int(sr / 1000) + 2
    a_src = _longterm_lpc(wave, order, sr)
    if target is not None:
        a_tgt = _longterm_lpc(target, order, sr)
    else:
        alpha = float(rng.uniform(0.85, 1.18)) if pole_warp is None else pole_warp
        roots = np.roots(a_src)
        ang = np.clip(np.angle(roots) * alpha, -np.pi * 0.98, np.pi * 0.98)
        a_tgt = np.real(np.poly(np.abs(roots) * np.exp(1j * ang)))
    y = ss.lfilter(a_src, a_tgt, np.asarray(wave, dtype=np.float64))
    return _match_level(y, wave)


# ------------------------------------------------------------------ phase vocoder
def phase_vocoder(wave: np.ndarray, sr: int, rng: np.random.Generator, *, n_steps: float | None = None,
                  n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Pitch shift by ``n_steps`` semitones (default: drawn from ``rng`` in ±2..4): a phase
    vocoder (``torchaudio.functional.phase_vocoder``) stretches time by the pitch factor,
    then polyphase resampling by that factor (as a rational p/q) restores the duration."""
    import torch
    import torchaudio.functional as F
    from fractions import Fraction

    if n_steps is None:
        n_steps = float(rng.choice([-4, -3, -2, 2, 3, 4]))
    factor = Fraction(2 ** (n_steps / 12)).limit_denominator(64)
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    window = torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True)
    advance = torch.linspace(0, np.pi * hop, n_fft // 2 + 1)[:, None]
    stretched = F.phase_vocoder(spec, 1.0 / float(factor), advance)
    y = torch.istft(stretched, n_fft, hop, window=window).numpy()
    y = ss.resample_poly(y, factor.denominator, factor.numerator)
    return _match_level(_fit_length(y, len(wave)), wave)


# ------------------------------------------------------------------ unit concatenation
def cut_units(x: np.ndarray, sr: int, min_ms: float = 80.0, max_ms: float = 400.0) -> list[np.ndarray]:
    """Cut speech into syllable-sized units at minima of the smoothed energy; silent
    units are dropped."""
    hop = int(0.005 * sr)
    n = len(x) // hop
    if n < 4:
        return []
    e = np.log(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-10)
    e_s = np.convolve(e, np.hanning(9) / np.hanning(9).sum(), "same")
    minima = ss.argrelmin(e_s, order=int(min_ms / 10))[0]
    bounds = [0]
    for m in minima:
        if (m - bounds[-1]) * 5 >= min_ms:
            bounds.append(int(m))
    bounds.append(n)
    units: list[np.ndarray] = []
    top = e.max()
    if top < np.log(1e-9):                                   # below -90 dBFS: no speech at all
        return units
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b - a < 2 or e[a:b].max() < top - np.log(10 ** 3.0):      # > 30 dB below: silence
            continue
        b = min(b, a + int(max_ms / 5))
        units.append(np.asarray(x[a * hop: b * hop], dtype=np.float32))
    return units


def _edge_spectrum(u: np.ndarray, n: int, head: bool) -> np.ndarray:
    seg = u[:n] if head else u[-n:]
    seg = np.pad(seg, (0, n - len(seg)))
    return np.log(np.abs(np.fft.rfft(seg * np.hanning(n))) + 1e-6)


def unit_concat(wave: np.ndarray, sr: int, rng: np.random.Generator, *, units: Sequence[np.ndarray] = (),
                duration: float | None = None, n_candidates: int = 8, crossfade_ms: float = 10.0) -> np.ndarray:
    """Waveform concatenation: a new utterance built from real units of ``wave`` and of the
    recordings in ``units`` (cut by :func:`cut_units`).

    Each next unit is the one of ``n_candidates`` random candidates with the lowest join
    cost (log-spectral distance between the last 20 ms so far and its first 20 ms); joins
    are raised-cosine cross-fades. The result lasts ``duration`` seconds (default: as long
    as ``wave``).
    """
    pool = cut_units(wave, sr)
    for u in units:
        pool.extend(cut_units(np.asarray(u, dtype=np.float32), sr))
    if not pool:
        raise ValueError("unit_concat: no speech units found in the input")
    n_out = int((duration or len(wave) / sr) * sr)
    nx = int(crossfade_ms / 1000 * sr)
    ne = int(0.02 * sr)
    heads = [_edge_spectrum(u, ne, True) for u in pool]
    out = pool[int(rng.integers(len(pool)))].astype(np.float64)
    while len(out) < n_out:
        cand = rng.integers(len(pool), size=min(n_candidates, len(pool)))
        tail = _edge_spectrum(out, ne, False)
        best = int(cand[np.argmin([np.mean((heads[c] - tail) ** 2) for c in cand])])
        u = pool[best].astype(np.float64)
        k = min(nx, len(u) // 2, len(out) // 2)
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, k))
        out[len(out) - k:] = out[len(out) - k:] * (1 - ramp) + u[:k] * ramp
        out = np.concatenate([out, u[k:]])
    return _match_level(out[:n_out], wave)


VOCODERS: dict[str, Vocoder] = {
    "griffin_lim": griffin_lim,
    "world": world,
    "lpc": lpc,
    "spectral_filter": spectral_filter,
    "waveform_filter": waveform_filter,
    "phase_vocoder": phase_vocoder,
    "unit_concat": unit_concat,
}


def get_vocoder(name: str) -> Vocoder:
    """The vocoder function registered as ``name``; an unknown name lists the known ones."""
    if name not in VOCODERS:
        raise KeyError(f"unknown vocoder {name!r}; known: {', '.join(sorted(VOCODERS))}")
    return VOCODERS[name]

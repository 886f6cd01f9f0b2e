"""A real face photograph animated into a talking-head video driven by real speech.

No package ships a real talking-head video (MINI_DATA.md), so the audio-visual mini
corpora animate the real faces of :mod:`avdf.data.mini.faces`:

- the mouth opens with the loudness of the speech (frame RMS in dB, 30 dB range below
  the utterance's loud frames): the lower lip and chin are pushed down by a smooth
  displacement field and the gap between the lips shows a dark mouth cavity;
- the head moves a little (rotation, translation, scale as smooth random trajectories),
  the eyes blink (Poisson times, ~0.2 s closures) and the illumination drifts;
- every frame gets a little sensor noise.

The fake-making hooks are here too, because they act inside the same per-frame pipeline:
a *face layer* (another identity's face blended into the portrait, following the
motion, with a little per-frame misalignment) on chosen frames, and a *low-resolution
mouth* (the lower face re-rendered at a third of the resolution, as lip-sync generators
produce it) on chosen frames. :func:`write_mp4` writes H.264 (yuv420p) + AAC with PyAV.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from avdf.data.mini.faces import FACE_CENTRE, FACE_PX, Face
from avdf.data.video import reproducible_x264
from avdf.utils.fileio import atomic_path

MOUTH_HALF_WIDTH = 0.15     # of the face-box width
MOUTH_MAX_GAP = 0.10        # of the face-box height, at full opening
LOUDNESS_RANGE_DB = 30.0    # loudness below the loud frames at which the mouth is closed
MOUTH_COLOUR = np.array([58.0, 22.0, 26.0], np.float32)     # RGB of the mouth cavity


@dataclass(frozen=True)
class Framing:
    """Output frame size and where the face sits: ``face_px`` is the width of the face
    box in the output, its centre at (``centre_x`` W, ``centre_y`` H)."""

    width: int
    height: int
    face_px: float
    centre_x: float = 0.5
    centre_y: float = 0.45


@dataclass
class Motion:
    """Per-frame head pose, blinks and illumination of one video (length T)."""

    angle: np.ndarray      # (T,) degrees
    shift: np.ndarray      # (T, 2) output pixels per face-box width
    scale: np.ndarray      # (T,) multiplicative
    blink: np.ndarray      # (T,) eyelid closure in [0, 1]
    gain: np.ndarray       # (T, 3) per-channel illumination gain

    def __len__(self) -> int:
        return len(self.angle)


@dataclass
class FaceLayer:
    """Another face blended into a portrait: ``image`` is the full composite (portrait
    size, RGB uint8), ``alpha`` (float32 in [0, 1]) where it replaces the portrait, and
    ``jitter_px`` the standard deviation of its per-frame misalignment."""

    image: np.ndarray
    alpha: np.ndarray
    jitter_px: float = 0.6

    def box(self, margin: int = 4) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) around where ``alpha`` is not zero, ``margin`` pixels wider."""
        ys, xs = np.nonzero(self.alpha > 1e-3)
        h, w = self.alpha.shape
        return (max(0, xs.min() - margin), max(0, ys.min() - margin), min(w, xs.max() + 1 + margin),
                min(h, ys.max() + 1 + margin))


def _smooth_track(n: int, fps: float, rng: np.random.Generator, std: float, fmin: float = 0.1,
                  fmax: float = 0.8, k: int = 3) -> np.ndarray:
    """A smooth zero-mean random trajectory: a sum of ``k`` sinusoids."""
    t = np.arange(n) / fps
    out = np.zeros(n)
    for _ in range(k):
        out += np.sin(2 * np.pi * rng.uniform(fmin, fmax) * t + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.5, 1.0)
    return out * std / np.sqrt(k * 0.58 / 2)


def random_motion(n_frames: int, fps: float, rng: np.random.Generator, amount: float = 1.0) -> Motion:
    """Natural small head motion, blinks (about one every 4 s) and illumination drift."""
    angle = _smooth_track(n_frames, fps, rng, 2.0 * amount)
    shift = np.stack([_smooth_track(n_frames, fps, rng, 0.035 * amount),
                      _smooth_track(n_frames, fps, rng, 0.025 * amount)], axis=1)
    scale = 1.0 + _smooth_track(n_frames, fps, rng, 0.02 * amount, 0.05, 0.3)
    blink = np.zeros(n_frames)
    profile_s = np.array([0.0, 0.04, 0.08, 0.12, 0.16, 0.20, 0.24])
    profile = np.array([0.0, 0.6, 1.0, 1.0, 0.6, 0.25, 0.0])
    t = rng.uniform(0.2, 3.0)
    duration = n_frames / fps
    while t < duration - 0.25:
        idx = np.arange(int(t * fps), min(n_frames, int((t + 0.25) * fps) + 1))
        blink[idx] = np.maximum(blink[idx], np.interp(idx / fps - t, profile_s, profile))
        t += rng.exponential(4.0) + 0.6
    base = rng.uniform(0.92, 1.06) * np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.03, 0.03, 3)
    drift = _smooth_track(n_frames, fps, rng, 0.03 * amount, 0.05, 0.4)
    gain = base[None, :] * (1.0 + drift[:, None])
    return Motion(angle, shift, scale, blink, gain)


def mouth_opening(audio: np.ndarray, sr: int, fps: float, n_frames: int) -> np.ndarray:
    """Per-video-frame mouth opening in [0, 1] from the loudness of ``audio``.

    Frame k covers [k/fps, (k+1)/fps); its loudness is the RMS over a two-frame window
    centred there, in dB; the opening rises linearly over :data:`LOUDNESS_RANGE_DB` below
    the 95th percentile of the utterance's frames, then is lightly smoothed in time.
    """
    x = np.asarray(audio, np.float64)
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    hop = sr / fps
    centre = (np.arange(n_frames) + 0.5) * hop
    a = np.clip(np.round(centre - hop).astype(np.int64), 0, len(x))
    b = np.clip(np.round(centre + hop).astype(np.int64), 0, len(x))
    ms = (c[b] - c[a]) / np.maximum(b - a, 1)
    db = 10 * np.log10(ms + 1e-10)
    ref = np.percentile(db, 95)
    o = np.clip((db - ref + LOUDNESS_RANGE_DB) / (LOUDNESS_RANGE_DB - 4.0), 0.0, 1.0)
    o = np.convolve(np.pad(o, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    return o.astype(np.float32)


class Animator:
    """Renders one face (optionally with a face layer) frame by frame.

    The geometry of the mouth and eye regions is computed once per face; every frame is
    made in portrait coordinates (face layer, mouth, blink, low-res mouth) and then
    warped to the output framing with the frame's head pose.
    """

    def __init__(self, face: Face, framing: Framing):
        self.face, self.framing = face, framing
        x, y, w, h = face.box
        self.w, self.h = w, h
        mx, my = face.mouth
        self.mw = MOUTH_HALF_WIDTH * w
        self.gap_max = MOUTH_MAX_GAP * h
        # mouth region of interest and its displacement profiles
        self.mroi = (int(mx - 2.0 * self.mw), int(my - 0.12 * h), int(mx + 2.0 * self.mw) + 1, int(my + 0.5 * h) + 1)
        x0, y0, x1, y1 = self.mroi
        xs = np.arange(x0, x1, dtype=np.float32)
        ys = np.arange(y0, y1, dtype=np.float32)
        bx = np.maximum(np.cos(0.5 * np.pi * np.clip(np.abs(xs - mx) / self.mw, 0, 1)), 0) ** 0.5  # lip opening
        bx_jaw = np.cos(0.5 * np.pi * np.clip(np.abs(xs - mx) / (2.0 * self.mw), 0, 1)) ** 2
        v = (ys - my) / h
        by = np.clip(v * 40, 0, 1) * np.where(v < 0.28, 1.0, np.cos(0.5 * np.pi * np.clip((v - 0.28) / 0.2, 0, 1)) ** 2)
        self.lips = bx.astype(np.float32)                 # shape of the opening along x
        self.jaw = (bx_jaw[None, :] * by[:, None]).astype(np.float32)
        self.gx, self.gy = np.meshgrid(xs, ys)
        self.my = my
        # eyes
        self.eye_rois = []
        ew, eh = 0.12 * w, 0.055 * h
        for ex, ey in face.eyes:
            r = (int(ex - 1.6 * ew), int(ey - 2.6 * eh), int(ex + 1.6 * ew) + 1, int(ey + 2.6 * eh) + 1)
            gx, gy = np.meshgrid(np.arange(r[0], r[2], dtype=np.float32), np.arange(r[1], r[3], dtype=np.float32))
            ell = np.clip(1.0 - (((gx - ex) / ew) ** 2 + ((gy - ey) / eh) ** 2), 0, 1) ** 0.3
            self.eye_rois.append((r, gy, ey, eh, ell.astype(np.float32)))
        # low-resolution lower face (lip-sync generators work at ~96 px faces)
        lr = (int(mx - 2.2 * self.mw), int(my - 0.3 * h), int(mx + 2.2 * self.mw) + 1, int(my + 0.38 * h) + 1)
        self.lr_roi = lr
        fm = np.zeros((lr[3] - lr[1], lr[2] - lr[0]), np.float32)
        m = max(2, int(0.06 * w))
        fm[m:-m, m:-m] = 1.0
        self.lr_mask = cv2.GaussianBlur(fm, (0, 0), m / 2)[..., None]

    # -------------------------------------------------------------- per-frame steps
    def _mouth(self, img: np.ndarray, opening: float) -> None:
        x0, y0, x1, y1 = self.mroi
        g = float(opening) * self.gap_max
        if g < 0.3:
            return
        roi = img[y0:y1, x0:x1]
        d = g * self.jaw
        warped = cv2.remap(roi, self.gx - x0, self.gy - d - y0, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # the cavity: rows between the (fixed) upper lip and the displaced lower lip
        depth = g * self.lips[None, :]
        rel = self.gy - self.my
        inside = np.clip(rel + 0.5, 0, 1) * np.clip(depth - rel, 0, 1)
        shade = 1.0 - 0.45 * np.sin(np.pi * np.clip(rel / np.maximum(depth, 1e-3), 0, 1))
        cavity = MOUTH_COLOUR[None, None, :] * shade[..., None]
        a = inside[..., None]
        roi[:] = np.clip(a * cavity + (1 - a) * warped.astype(np.float32), 0, 255).astype(np.uint8)

    def _blink(self, img: np.ndarray, closure: float) -> None:
        if closure < 0.05:
            return
        for (x0, y0, x1, y1), gy, ey, eh, ell in self.eye_rois:
            roi = img[y0:y1, x0:x1].astype(np.float32)
            below = roi[int(0.8 * (y1 - y0)):, :].reshape(-1, 3)
            lid_colour = np.median(below, axis=0) * 0.85
            edge = ey - eh + 2.0 * eh * closure            # the lid edge moves down as the eye closes
            cover = np.clip((edge - gy) / 1.5 + 0.5, 0, 1) * ell
            lash = np.exp(-((gy - edge) / 0.9) ** 2) * ell * 0.5 * closure
            out = roi * (1 - cover[..., None]) + lid_colour * cover[..., None]
            out = out * (1 - lash[..., None])
            img[y0:y1, x0:x1] = np.clip(out, 0, 255).astype(np.uint8)

    def _lowres(self, img: np.ndarray) -> None:
        x0, y0, x1, y1 = self.lr_roi
        roi = img[y0:y1, x0:x1]
        small = cv2.resize(roi, (max(4, (x1 - x0) // 3), max(4, (y1 - y0) // 3)), interpolation=cv2.INTER_AREA)
        up = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        img[y0:y1, x0:x1] = np.clip(self.lr_mask * up + (1 - self.lr_mask) * roi, 0, 255).astype(np.uint8)

    def _layer(self, img: np.ndarray, layer: FaceLayer, box: tuple[int, int, int, int],
               rng: np.random.Generator) -> None:
        """Blend ``layer`` into ``img`` in place, shifted by this frame's misalignment."""
        dx, dy = rng.normal(0, layer.jitter_px, 2)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        x0, y0, x1, y1 = box
        size = (x1 - x0, y1 - y0)
        comp = cv2.warpAffine(layer.image[y0:y1, x0:x1], m, size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        alpha = cv2.warpAffine(layer.alpha[y0:y1, x0:x1], m, size, flags=cv2.INTER_LINEAR)[..., None]
        roi = img[y0:y1, x0:x1]
        roi[:] = np.clip(alpha * comp + (1 - alpha) * roi, 0, 255).astype(np.uint8)

    def _to_output(self, img: np.ndarray, motion: Motion, t: int) -> np.ndarray:
        fr = self.framing
        s = fr.face_px / FACE_PX * float(motion.scale[t])
        m = cv2.getRotationMatrix2D(FACE_CENTRE, float(motion.angle[t]), s)
        m[0, 2] += fr.centre_x * fr.width + motion.shift[t, 0] * fr.face_px - FACE_CENTRE[0]
        m[1, 2] += fr.centre_y * fr.height + motion.shift[t, 1] * fr.face_px - FACE_CENTRE[1]
        return cv2.warpAffine(img, m, (fr.width, fr.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)

    def portrait(self, opening: float, layer: FaceLayer | None = None) -> np.ndarray:
        """The face in portrait coordinates with ``layer`` blended in (no misalignment)
        and the mouth at ``opening``: what a frame shows before pose and light."""
        img = self.face.image.copy()
        if layer is not None:
            a = layer.alpha[..., None]
            img = np.clip(a * layer.image + (1 - a) * img, 0, 255).astype(np.uint8)
        self._mouth(img, opening)
        return img

    def render(self, opening: np.ndarray, motion: Motion, rng: np.random.Generator, *,
               layer: FaceLayer | None = None, layer_on: np.ndarray | None = None,
               lowres_mouth: np.ndarray | None = None, noise_std: float = 1.5) -> np.ndarray:
        """Frames (T, H, W, 3) uint8 RGB. ``opening`` drives the mouth frame by frame;
        ``layer`` is blended on the frames where ``layer_on`` is true (all when None);
        ``lowres_mouth`` marks the frames whose lower face is re-rendered at low resolution."""
        n = len(motion)
        if len(opening) != n:
            raise ValueError(f"mouth opening has {len(opening)} frames, motion {n}")
        fr = self.framing
        out = np.empty((n, fr.height, fr.width, 3), np.uint8)
        noise = rng.normal(0.0, noise_std, (2 * fr.height, 2 * fr.width, 3)).astype(np.float32)
        box = layer.box() if layer is not None else None
        for t in range(n):
            img = self.face.image.copy()
            if layer is not None and (layer_on is None or layer_on[t]):
                self._layer(img, layer, box, rng)
            self._mouth(img, opening[t])
            if lowres_mouth is not None and lowres_mouth[t]:
                self._lowres(img)
            self._blink(img, float(motion.blink[t]))
            frame = self._to_output(img, motion, t).astype(np.float32) * motion.gain[t][None, None, :]
            oy, ox = rng.integers(0, fr.height), rng.integers(0, fr.width)
            frame += noise[oy: oy + fr.height, ox: ox + fr.width]
            out[t] = np.clip(frame, 0, 255).astype(np.uint8)
        return out


def write_mp4(path: str | Path, frames: np.ndarray, fps: Fraction | int, audio: np.ndarray, sr: int, *,
              crf: int = 23, audio_bit_rate: int = 64000) -> None:
    """Write ``frames`` (T, H, W, 3 RGB uint8) as H.264 yuv420p at ``fps`` and ``audio``
    (mono float in [-1, 1] at ``sr``) as AAC-LC into an mp4, atomically."""
    import av

    path = Path(path)
    pcm = (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * 32767).astype(np.int16)
    with atomic_path(path, suffix=".mp4") as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as out:
            v = out.add_stream("libx264", rate=Fraction(fps))
            v.width, v.height = frames.shape[2], frames.shape[1]
            v.pix_fmt = "yuv420p"
            reproducible_x264(v, {"crf": str(crf), "preset": "veryfast"})   # one seed, one corpus
            a = out.add_stream("aac", rate=sr, layout="mono")
            a.bit_rate = audio_bit_rate
            for i, img in enumerate(frames):
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts, vf.time_base = i, 1 / Fraction(fps)
                for packet in v.encode(vf):
                    out.mux(packet)
            for packet in v.encode(None):
                out.mux(packet)
            aframe = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
            # explicit timestamps let the encoder's priming delay reach the container's
            # edit list, so that decoders drop it and audio starts with the first frame
            aframe.sample_rate, aframe.pts, aframe.time_base = sr, 0, Fraction(1, sr)
            for packet in a.encode(aframe):
                out.mux(packet)
            for packet in a.encode(None):
                out.mux(packet)

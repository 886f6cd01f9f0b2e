"""Video reading and face cropping for the audio-visual recipes.

A video is decoded with PyAV (its frame rate, resolution and audio rate are probed, never
assumed), faces are detected on every ``detect_every``-th frame by a pluggable detector,
the chosen face is tracked and its box interpolated and smoothed in between, and every
frame gives a square face crop and a mouth crop (uint8, T x H x W x C, RGB). The crops are
stored with kaldiio as npy-in-ark (``faces.scp``, ``lips.scp``); :func:`load_frames` reads
back a slice of frames from such an entry without loading the whole video.

Errors are :class:`VideoError` whose message names the file and the reason; a video
without a usable face raises :class:`NoFaceError` so that callers can list it in
``bad_utts``.
"""
from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from typing import Any, Iterator

import cv2
import numpy as np
from scipy.ndimage import uniform_filter1d

logger = logging.getLogger(__name__)


class VideoError(RuntimeError):
    """A video that cannot be read or used; the message names the file and the reason."""


class NoFaceError(VideoError):
    """No face was found (often enough) in a video."""


# -- decoding ---------------------------------------------------------------------------------
@dataclass
class VideoInfo:
    """What :func:`probe_video` learns from the container headers."""
    path: str
    fps: float
    width: int
    height: int
    num_frames: int          # from the header; 0 when the container does not say
    duration: float          # seconds; 0 when unknown
    has_audio: bool
    audio_rate: int          # 0 without an audio stream


def _open(path: str | os.PathLike):
    import av

    path = str(path)
    if not os.path.isfile(path):
        raise VideoError(f"{path}: file does not exist")
    if os.path.getsize(path) == 0:
        raise VideoError(f"{path}: file is empty")
    try:
        return av.open(path)
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{path}: cannot open video (corrupt or truncated?): {e}") from None


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, size, frame count, duration and audio stream of a video file."""
    with _open(path) as c:
        if not c.streams.video:
            raise VideoError(f"{path}: no video stream")
        v = c.streams.video[0]
        fps = float(v.average_rate or v.guessed_rate or 0)
        if fps <= 0:
            raise VideoError(f"{path}: cannot tell the frame rate")
        duration = float(v.duration * v.time_base) if v.duration else (c.duration or 0) / 1e6
        a = c.streams.audio[0] if c.streams.audio else None
        return VideoInfo(str(path), fps, v.codec_context.width, v.codec_context.height, int(v.frames or 0),
                         duration, a is not None, int(a.rate) if a is not None else 0)


def iter_frames(path: str | os.PathLike, fps: float | None = None,
                max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decoded RGB frames (H x W x 3 uint8) from time 0, resampled to ``fps`` by taking
    the latest frame at each output instant (``None`` keeps the native rate), at most
    ``max_frames``. A stream that breaks off mid-way ends the iteration with a warning;
    one that gives no frame at all is a :class:`VideoError`."""
    import av

    info = probe_video(path)
    full = (lambda n: max_frames is not None and n >= max_frames)
    eps = 0.25 / info.fps
    n_out = 0
    last, t_last = None, 0.0
    with _open(path) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        t0: float | None = None
        try:
            for k, frame in enumerate(c.decode(stream)):
                rgb = frame.to_ndarray(format="rgb24")
                if fps is None:
                    yield rgb
                    n_out += 1
                else:
                    t = float(frame.time) if frame.time is not None else k / info.fps
                    t0 = t if t0 is None else t0
                    t -= t0
                    # every output instant before this frame shows the previous frame
                    while last is not None and n_out / fps < t - eps and not full(n_out):
                        yield last
                        n_out += 1
                    last, t_last = rgb, t
                if full(n_out):
                    return
        except av.error.FFmpegError as e:
            if n_out == 0 and last is None:
                raise VideoError(f"{path}: cannot decode video: {e}") from None
            logger.warning("%s: decoding stopped after %d frames: %s", path, n_out, e)
    if last is not None:  # the last frame lasts one native frame period
        while n_out / fps < t_last + 1 / info.fps - eps and not full(n_out):
            yield last
            n_out += 1
    if n_out == 0:
        raise VideoError(f"{path}: no video frames")


# -- encoding ---------------------------------------------------------------------------------
# x264's names of the instruction sets below AVX-512, each with the flag that /proc/cpuinfo
# gives it; MMX2 is x264's name for the MMX extensions that come with SSE.
_X264_CPU_FLAGS = (("MMX2", "sse"), ("SSE", "sse"), ("SSE2", "sse2"), ("SSE3", "pni"), ("SSSE3", "ssse3"),
                   ("SSE4.1", "sse4_1"), ("SSE4.2", "sse4_2"), ("AVX", "avx"), ("AVX2", "avx2"),
                   ("FMA3", "fma"), ("BMI1", "bmi1"), ("BMI2", "bmi2"), ("LZCNT", "abm"))


def x264_asm_without_avx512(cpuinfo: str | None = None) -> str | None:
    """The value of x264's ``asm`` parameter that keeps this CPU's instruction sets but
    AVX-512, or None where the CPU has no AVX-512 (or says nothing: not Linux, not x86).

    On a CPU with AVX-512, x264 (core 165 in PyAV 18's wheels) gives different bitstreams
    for the same frames from one encode to the next, even on one thread (on an AMD EPYC: 8
    different outputs in 30 encodes of one clip); with its AVX2 code it gives one, the same
    as its usual output (tests/test_video_encode.py)."""
    if cpuinfo is None:
        return _this_cpu_asm()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags = set(value.split())
            break
    if "avx512f" not in flags:
        return None
    return ",".join(name for name, flag in _X264_CPU_FLAGS if flag in flags)


@functools.lru_cache(maxsize=1)
def _this_cpu_asm() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return x264_asm_without_avx512(f.read())
    except OSError:
        return None


def reproducible_x264(stream, options: dict[str, str] | None = None) -> None:
    """Set a PyAV ``libx264`` output stream up to give the same bytes for the same frames:
    ``options`` (crf, preset, ...), one encoder thread (x264's bitstream depends on its
    thread count) and, on a CPU with AVX-512, x264's code without it (see
    :func:`x264_asm_without_avx512`). Call before the first frame is encoded."""
    opts = dict(options or {})
    asm = x264_asm_without_avx512()
    if asm is not None:
        extra = opts.get("x264-params", "")
        opts["x264-params"] = f"{extra}:asm={asm}" if extra else f"asm={asm}"
    stream.options = opts
    stream.codec_context.thread_count = 1


# -- face detectors ---------------------------------------------------------------------------
class HaarDetector:
    """OpenCV's frontal-face Haar cascade as its wheel ships it (``cv2.data.haarcascades``)."""

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_size: int = 20, equalize: bool = False):
        path = cascade if os.path.isfile(cascade) else os.path.join(cv2.data.haarcascades, cascade)
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise VideoError(f"Haar cascade {path} cannot be loaded (does this OpenCV wheel ship cv2/data?)")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        self.equalize = equalize

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Boxes ``x, y, w, h, score`` (N x 5, float) of the faces in an RGB frame."""
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if self.equalize:  # helps on dark footage, hurts on flat backgrounds
            gray = cv2.equalizeHist(gray)
        boxes, _, weights = self.cascade.detectMultiScale3(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size), outputRejectLevels=True)
        if len(boxes) == 0:
            return np.zeros((0, 5))
        return np.column_stack([np.asarray(boxes, float), np.asarray(weights, float).reshape(-1)])


class YuNetDetector:
    """OpenCV's DNN face detector (``cv2.FaceDetectorYN``) with a YuNet ONNX model the user gives."""

    def __init__(self, model_path: str | None = None, score_threshold: float = 0.7,
                 nms_threshold: float = 0.3, top_k: int = 50):
        if not model_path or not os.path.isfile(model_path):
            raise VideoError(f"yunet face detector: model file {model_path!r} does not exist; give the path of "
                             "a local face_detection_yunet_*.onnx (nothing is downloaded) or use detector: haar")
        self.net = cv2.FaceDetectorYN.create(model_path, "", (320, 320), score_threshold, nms_threshold, top_k)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        self.net.setInputSize((w, h))
        _, faces = self.net.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if faces is None:
            return np.zeros((0, 5))
        return np.column_stack([faces[:, :4], faces[:, -1]]).astype(float)


DETECTORS = {"haar": HaarDetector, "yunet": YuNetDetector}


def build_detector(conf: dict[str, Any] | str):
    """``{"name": "haar", ...}`` (or just the name) -> a detector ``rgb -> N x 5 boxes``."""
    conf = {"name": conf} if isinstance(conf, str) else dict(conf)
    name = conf.pop("name", "haar")
    if name not in DETECTORS:
        raise ValueError(f"unknown face detector {name!r}; known: {', '.join(DETECTORS)}")
    return DETECTORS[name](**conf)


# -- tracking ---------------------------------------------------------------------------------
def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``x, y, w, h`` boxes."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


def detect_scaled(detector, rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Run ``detector`` on ``rgb`` downscaled so its longer side is at most ``max_side``
    (detection on 1080p frames is slow and gains nothing), boxes in full-frame pixels."""
    h, w = rgb.shape[:2]
    s = min(1.0, max_side / max(h, w)) if max_side else 1.0
    small = rgb if s == 1.0 else cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    boxes = detector(small)
    if len(boxes):
        boxes = boxes.copy()
        boxes[:, :4] /= s
    return boxes


def choose_track(detections: dict[int, np.ndarray], min_iou: float = 0.2, max_miss: int = 3) -> dict[int, np.ndarray]:
    """One face across the key frames: start from the largest face, then follow the
    detection overlapping the previous box most; a key frame with no overlapping face
    is a miss (interpolated later), and after ``max_miss`` misses in a row the largest
    face starts the track again. Returns ``{frame: x, y, w, h}`` for the key frames kept."""
    track: dict[int, np.ndarray] = {}
    prev: np.ndarray | None = None
    misses = 0
    for t in sorted(detections):
        boxes = detections[t]
        if len(boxes) == 0:
            misses += 1
            continue
        if prev is None or misses >= max_miss:
            pick = boxes[np.argmax(boxes[:, 2] * boxes[:, 3]), :4]
        else:
            overlaps = [iou(prev, b[:4]) for b in boxes]
            best = int(np.argmax(overlaps))
            if overlaps[best] < min_iou:
                misses += 1
                continue
            pick = boxes[best, :4]
        track[t] = pick
        prev, misses = pick, 0
    return track


def interpolate_track(track: dict[int, np.ndarray], num_frames: int, smooth: int = 9) -> np.ndarray:
    """Boxes for every frame (T x 4: centre x, centre y, width, height): linear
    interpolation between key frames, held constant before the first and after the
    last, then a moving average over ``smooth`` frames against detector jitter."""
    keys = np.array(sorted(track))
    boxes = np.stack([track[k] for k in keys])
    centred = np.column_stack([boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2, boxes[:, 2], boxes[:, 3]])
    t = np.arange(num_frames)
    out = np.column_stack([np.interp(t, keys, centred[:, i]) for i in range(4)])
    if smooth > 1 and num_frames > 1:
        out = uniform_filter1d(out, size=min(smooth, num_frames), axis=0, mode="nearest")
    return out


def crop_square(rgb: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    """A ``side``-pixel square centred on (cx, cy), zero-padded where it leaves the frame,
    resized to ``size`` x ``size``."""
    side = max(2, int(round(side)))
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    h, w = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    if pad:
        rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        x0, y0 = x0 + pad, y0 + pad
    patch = rgb[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


# -- the whole step -------------------------------------------------------------------------------
PREPROCESS_DEFAULTS: dict[str, Any] = {
    "face_size": 224,        # face crop side (pixels)
    "mouth_size": 96,        # mouth crop side (pixels); 0 writes no lips.scp
    "margin": 0.3,           # face crop side = (1 + margin) x the detected box side
    "mouth_scale": 0.5,      # mouth crop side = mouth_scale x the face box width ...
    "mouth_offset": 0.28,    # ... centred mouth_offset x the box height below the box centre
    "fps": None,             # resample the video to this frame rate (None: keep the native one)
    "max_frames": None,      # keep at most this many frames (from the start) per video
    "detect_every": 5,       # run the detector on every k-th frame, track in between
    "detect_max_side": 640,  # downscale frames to at most this side for detection
    "smooth": 9,             # moving-average window (frames) of the box track
    "min_face_ratio": 0.5,   # fail if fewer key frames than this fraction hold a face
    "sample_rate": 16000,    # audio rate written to audio.scp
    "detector": {"name": "haar"},
}


@dataclass
class Crops:
    """What :func:`preprocess_video` gives for one video."""
    faces: np.ndarray                 # T x face_size x face_size x 3 uint8
    lips: np.ndarray | None           # T x mouth_size x mouth_size x 3 uint8
    audio: np.ndarray                 # float32 samples at conf["sample_rate"]
    fps: float
    boxes: np.ndarray                 # T x 4 face boxes (centre x, centre y, w, h) in frame pixels
    face_ratio: float                 # fraction of key frames with a face


def preprocess_conf(conf: dict[str, Any] | None) -> dict[str, Any]:
    """The defaults updated by a config's ``preprocess:`` section (unknown keys are errors)."""
    conf = dict(conf or {})
    unknown = sorted(set(conf) - set(PREPROCESS_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown preprocess keys {unknown}; known: {', '.join(PREPROCESS_DEFAULTS)}")
    return {**PREPROCESS_DEFAULTS, **conf}


def preprocess_video(path: str | os.PathLike, conf: dict[str, Any], detector=None,
                     cache_bytes: int = 1 << 29) -> Crops:
    """Decode ``path``, track its face, and crop faces and mouths; read its audio.

    Frames are kept in memory between detection and cropping while they fit in
    ``cache_bytes``; otherwise the video is decoded a second time for cropping, so memory
    stays bounded on 1080p videos. Raises :class:`VideoError` / :class:`NoFaceError`, and
    :class:`avdf.data.audio.AudioError` for a video without (readable) audio.
    """
    from avdf.data.audio import read_audio

    conf = preprocess_conf(conf)
    detector = detector or build_detector(conf["detector"])
    path = str(path)
    info = probe_video(path)
    if not info.has_audio:
        from avdf.data.audio import AudioError
        raise AudioError(f"{path}: no audio stream")
    fps = float(conf["fps"] or info.fps)
    every = max(1, int(conf["detect_every"]))

    detections: dict[int, np.ndarray] = {}
    cache: list[np.ndarray] | None = []
    used = 0
    n = 0
    for n, rgb in enumerate(iter_frames(path, conf["fps"], conf["max_frames"]), 1):
        if (n - 1) % every == 0:
            detections[n - 1] = detect_scaled(detector, rgb, int(conf["detect_max_side"]))
        if cache is not None:
            used += rgb.nbytes
            if used <= cache_bytes:
                cache.append(rgb)
            else:
                cache = None
    if (n - 1) not in detections:  # the last frame too, so the track does not extrapolate
        last = cache[-1] if cache else list(iter_frames(path, conf["fps"], conf["max_frames"]))[-1]
        detections[n - 1] = detect_scaled(detector, last, int(conf["detect_max_side"]))
    track = choose_track(detections)
    ratio = len(track) / len(detections)
    if not track:
        raise NoFaceError(f"{path}: no face detected in {len(detections)} key frames")
    if ratio < float(conf["min_face_ratio"]):
        raise NoFaceError(f"{path}: a face in only {len(track)} of {len(detections)} key frames "
                          f"(< min_face_ratio {conf['min_face_ratio']})")
    boxes = interpolate_track(track, n, int(conf["smooth"]))

    fs, ms = int(conf["face_size"]), int(conf["mouth_size"])
    faces = np.empty((n, fs, fs, 3), np.uint8)
    lips = np.empty((n, ms, ms, 3), np.uint8) if ms > 0 else None
    frames = cache if cache is not None else iter_frames(path, conf["fps"], conf["max_frames"])
    for t, rgb in enumerate(frames):
        if t >= n:
            break
        cx, cy, w, h = boxes[t]
        faces[t] = crop_square(rgb, cx, cy, max(w, h) * (1 + float(conf["margin"])), fs)
        if lips is not None:
            lips[t] = crop_square(rgb, cx, cy + float(conf["mouth_offset"]) * h, float(conf["mouth_scale"]) * w, ms)

    sr = int(conf["sample_rate"])
    audio, _ = read_audio(str(path), resample_to=sr, allow_pipe=False)  # a dataset's file: never a command
    # the same span as the frames (AAC priming/padding adds a few ms at the end)
    audio = audio[: int(round(n / fps * sr))]
    return Crops(faces, lips, audio, fps, boxes, ratio)


# -- reading crops back ---------------------------------------------------------------------------
def _npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Parse kaldiio's npy blob header (after its ``NPY`` token): (shape, fortran, dtype)."""
    f.read(f.read(1)[0])  # kaldiio's length of the npy blob; numpy's own header follows
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(f)


def _split_spec(spec: str) -> tuple[str, int]:
    path, _, offset = spec.rpartition(":")
    if not path or not offset.isdigit():
        raise VideoError(f"{spec!r} is not an '<ark>:<offset>' entry")
    return path, int(offset)


def load_frames(spec: str, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames ``start:stop`` of an npy-in-ark entry (``faces.scp`` value), memory-mapped so
    that a 1 s chunk of a long video reads only that chunk. Other kaldiio entries are
    loaded whole with kaldiio and sliced."""
    import kaldiio

    path, offset = _split_spec(spec)
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            if f.read(3) == b"NPY":
                shape, fortran, dtype = _npy_header(f)
                data_offset = f.tell()
            else:
                shape = None
    except OSError as e:
        raise VideoError(f"{spec}: cannot read: {e}") from None
    if shape is None or fortran:
        return np.asarray(kaldiio.load_mat(spec))[start:stop]
    stop = shape[0] if stop is None else min(stop, shape[0])
    start = min(max(0, start), stop)
    frame = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    if stop == start:
        return np.zeros((0, *shape[1:]), dtype)
    mm = np.memmap(path, dtype=dtype, mode="r", offset=data_offset + start * frame, shape=(stop - start, *shape[1:]))
    return np.array(mm)


def num_frames_of(spec: str) -> int:
    """The frame count of an npy-in-ark entry, from its header only."""
    path, offset = _split_spec(spec)
    with open(path, "rb") as f:
        f.seek(offset)
        if f.read(3) != b"NPY":
            import kaldiio
            return int(np.asarray(kaldiio.load_mat(spec)).shape[0])
        return int(_npy_header(f)[0][0])

"""Real face photographs installed offline, normalised to one portrait framing.

The audio-visual mini corpora animate these faces (``talking_head``). Every face is a
photograph of a real person that a Debian or PyPI package ships (MINI_DATA.md):

- scikit-image: ``astronaut.png`` (Eileen Collins, NASA, public domain) and
  ``lfw_subset.npy`` (100 grey 25 x 25 crops drawn at random from Labeled Faces in the
  Wild; LFW is dominated by a few public figures, so a person may appear in more than
  one crop: identities here are *images*, not verified persons);
- matplotlib: ``sample_data/grace_hopper.jpg`` (US Navy, public domain);
- Debian ``opencv-doc`` (Apache-2.0 / BSD-3-Clause documentation): ``messi5.jpg``,
  ``227943776_1.jpg`` and ``230501201_1.jpg`` (face-swap tutorial), the left panel of
  ``example.jpg`` (face-landmark tutorial). Annotated figures (drawn landmarks) and the
  Lena images (which Debian strips from the source) are not used.

Each face is detected with OpenCV's Haar frontal-face cascade, rescaled so that the
face box is :data:`FACE_PX` pixels wide and centred in a :data:`PORTRAIT` square, and
given rough landmarks (eye centres from the eye cascades, the mouth line from the
darkest row between the lips); a face whose eyes are found is turned so that they are
level. LFW crops (often tilted) are used only when both eyes are found, the upright
colour photographs also without (usual proportions then). Faces that the cascade cannot
find, or loses under small pose changes, are left out.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avdf.data.mini.speech import MissingMaterialError

logger = logging.getLogger(__name__)

PORTRAIT = 400             # side of the normalised portrait (pixels)
FACE_PX = 128              # width of the Haar face box in the portrait
FACE_CENTRE = (PORTRAIT / 2, PORTRAIT * 0.47)

OPENCV_DOC = Path("/usr/share/doc/opencv-doc")
_OPENCV_LICENCE = "Apache-2.0 / BSD-3-Clause (OpenCV documentation, Debian opencv-doc)"


@dataclass(frozen=True)
class Face:
    """A real face in the normalised portrait framing.

    ``image`` is RGB uint8, :data:`PORTRAIT` square; ``box`` the Haar face box
    (x, y, w, h); ``eyes`` the left/right eye centres and ``mouth`` the centre of the
    line between the lips, all in portrait pixels.
    """

    id: str
    image: np.ndarray
    box: tuple[float, float, float, float]
    eyes: tuple[tuple[float, float], tuple[float, float]]
    mouth: tuple[float, float]
    source: str
    licence: str
    colour: bool


def haar_cascade(name: str = "haarcascade_frontalface_default.xml") -> cv2.CascadeClassifier:
    """One of the Haar cascades that the opencv-python wheel ships in ``cv2/data``."""
    return _cascade(name)


@functools.lru_cache(maxsize=None)
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name
    c = cv2.CascadeClassifier(str(path))
    if c.empty():
        raise MissingMaterialError(f"{path}: Haar cascade missing; install an opencv-python(-headless) "
                                   f"wheel below 5.0 (those ship cv2/data)")
    return c


def detect_faces(rgb: np.ndarray, min_size: int = 40, max_size: int | None = None) -> np.ndarray:
    """Haar frontal-face boxes (x, y, w, h) of an RGB or grey uint8 image, largest first."""
    grey = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    big = max_size or max(grey.shape)
    boxes = haar_cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=4, minSize=(min_size, min_size),
                                            maxSize=(big, big))
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    return boxes[np.argsort(-boxes[:, 2] * boxes[:, 3], kind="stable")]


# ------------------------------------------------------------------ sources
def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MissingMaterialError(f"{path}: cannot read image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# colour photographs: id -> (where, region (x0, y0, x1, y1) to keep or None, upscaling of that region)
_PHOTOS = {
    "astronaut": ("skimage:astronaut", None, 1),
    "grace_hopper": ("matplotlib:sample_data/grace_hopper.jpg", None, 1),
    "messi": (str(OPENCV_DOC / "examples/data/messi5.jpg"), (165, 32, 325, 192), 3),   # small face of a wide shot
    "ocvdoc_227943776": (str(OPENCV_DOC / "opencv4/html/227943776_1.jpg"), None, 1),
    "ocvdoc_230501201": (str(OPENCV_DOC / "opencv4/html/230501201_1.jpg"), None, 1),
    "ocvdoc_example": (str(OPENCV_DOC / "opencv4/html/example.jpg"), (0, 0, 375, 580), 1),  # unannotated panel
}
_LICENCE = {"skimage": "public domain (NASA)", "matplotlib": "public domain (US Navy)"}
N_LFW = 100
LFW_LICENCE = "LFW (research use; web photographs collected by UMass Amherst), shipped by scikit-image"


def _photo(fid: str) -> tuple[np.ndarray, str, str] | None:
    """(RGB image, source, licence) of a colour photograph, None when not installed."""
    import matplotlib
    import skimage.data

    where, region, up = _PHOTOS[fid]
    kind, _, rel = where.partition(":")
    if kind == "skimage":
        img, source = skimage.data.astronaut(), "scikit-image skimage.data.astronaut()"
    else:
        path = Path(matplotlib.get_data_path()) / rel if kind == "matplotlib" else Path(where)
        if not path.is_file():
            logger.warning("%s not installed; face %s left out", path, fid)
            return None
        img, source = _read_rgb(path), (f"matplotlib mpl-data/{rel}" if kind == "matplotlib"
                                        else f"Debian opencv-doc {path}")
    if region is not None:
        x0, y0, x1, y1 = region
        img = img[y0:y1, x0:x1]
    if up > 1:
        img = cv2.resize(img, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
    return img, source, _LICENCE.get(kind, _OPENCV_LICENCE)


@functools.lru_cache(maxsize=1)
def _lfw() -> np.ndarray:
    import skimage.data

    return np.clip(np.asarray(skimage.data.lfw_subset()[:N_LFW]) * 255, 0, 255).astype(np.uint8)


def _lfw_canvas(crop: np.ndarray, scale: int = 4, pad: float = 0.6) -> np.ndarray:
    """A tight 25 x 25 LFW crop upscaled and set in a blurred, edge-extended background,
    so that the detector sees a head with surroundings instead of a clipped face."""
    up = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_GRAY2RGB), None, fx=scale, fy=scale,
                    interpolation=cv2.INTER_CUBIC)
    p = int(pad * up.shape[0])
    big = cv2.copyMakeBorder(up, p, p, p, p, cv2.BORDER_REPLICATE)
    blurred = cv2.GaussianBlur(big, (0, 0), up.shape[0] / 6)
    mask = np.zeros(big.shape[:2], np.float32)
    m = up.shape[0] // 16
    mask[p + m: p + up.shape[0] - m, p + m: p + up.shape[1] - m] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), m)[..., None]
    out = mask * big.astype(np.float32) + (1 - mask) * blurred.astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ normalisation
def _normalise(img: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Scale/translate ``img`` so that ``box`` becomes the canonical face box; what lies
    outside the photo is filled with its blurred, edge-extended border (never a mirror
    image, which would put a second face in the frame)."""
    x, y, w, h = (float(v) for v in box)
    s = FACE_PX / w
    cx, cy = x + w / 2, y + h / 2
    m = np.array([[s, 0, FACE_CENTRE[0] - s * cx], [0, s, FACE_CENTRE[1] - s * cy]], np.float64)
    interp = cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
    size = (PORTRAIT, PORTRAIT)
    out = cv2.warpAffine(img, m, size, flags=interp, borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.warpAffine(np.ones(img.shape[:2], np.float32), m, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if valid.min() > 0.999:
        return out
    valid = cv2.GaussianBlur(cv2.erode(valid, np.ones((9, 9), np.uint8)), (0, 0), 4)[..., None]
    blurred = cv2.GaussianBlur(out, (0, 0), 12).astype(np.float32)
    return np.clip(valid * out + (1 - valid) * blurred, 0, 255).astype(np.uint8)


def _eyes(grey: np.ndarray, box: tuple[float, float, float, float]):
    """Left and right eye centres from the eye cascades (the eyeglasses one as a fallback)
    in the upper face, or None when either eye is not found."""
    x, y, w, h = box
    oy = int(y + 0.15 * h)
    roi = grey[oy: int(y + 0.55 * h), int(x): int(x + w)]
    for name in ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml"):
        found = haar_cascade(name).detectMultiScale(roi, 1.1, 4, minSize=(int(w / 8), int(w / 8)))
        left = [e for e in found if e[0] + e[2] / 2 < w / 2]
        right = [e for e in found if e[0] + e[2] / 2 >= w / 2]
        if left and right:
            le, re_ = max(left, key=lambda e: e[2]), max(right, key=lambda e: e[2])
            return ((int(x) + le[0] + le[2] / 2, oy + le[1] + le[3] / 2),
                    (int(x) + re_[0] + re_[2] / 2, oy + re_[1] + re_[3] / 2))
    return None


def _mouth_line(grey: np.ndarray, box: tuple[float, float, float, float], mx: float) -> float:
    """The row of the line between the lips: the darkest row of a central strip below
    the nostrils and above the chin, with a prior for 0.8 of the face-box height."""
    x, y, w, h = box
    y0, y1 = int(y + 0.72 * h), int(y + 0.90 * h)
    strip = cv2.GaussianBlur(grey, (0, 0), 1.5)[y0:y1, int(mx - 0.12 * w): int(mx + 0.12 * w)].mean(axis=1)
    prior = 0.4 * np.abs(np.arange(len(strip)) + y0 - (y + 0.80 * h))   # grey levels per pixel off 0.8 h
    return y0 + float(np.argmin(strip + prior)) if len(strip) else y + 0.80 * h


def robustly_detectable(portrait: np.ndarray) -> bool:
    """Whether the cascade still finds the face smaller and turned a little, as the
    animation shows it (faces found only at one exact pose make unusable videos)."""
    side = int(FACE_PX * 2.2)                    # the face and some surroundings at scale 0.7
    for angle, scale in ((-5.0, 0.7), (5.0, 0.7), (0.0, 0.55)):
        m = cv2.getRotationMatrix2D(FACE_CENTRE, angle, scale)
        m[:, 2] += (side / 2 - FACE_CENTRE[0], side / 2 - FACE_CENTRE[1])
        img = cv2.warpAffine(portrait, m, (side, side), borderMode=cv2.BORDER_REPLICATE)
        if len(detect_faces(img, min_size=int(FACE_PX * scale * 0.7), max_size=int(FACE_PX * scale * 1.5))) == 0:
            return False
    return True


def _make_face(fid: str, img: np.ndarray, box: np.ndarray, source: str, licence: str, colour: bool) -> Face | None:
    """Normalise scale and position (face box), then roll (eyes level), find landmarks."""
    portrait = _normalise(img, box)
    for attempt in range(2):
        found = detect_faces(portrait, min_size=FACE_PX * 3 // 4, max_size=FACE_PX * 3 // 2)
        if len(found) == 0:
            logger.info("face %s: not detectable after normalisation, left out", fid)
            return None
        b = tuple(float(v) for v in found[0])
        grey = cv2.cvtColor(portrait, cv2.COLOR_RGB2GRAY)
        eyes = _eyes(grey, b)
        if eyes is None and not colour:
            logger.info("face %s: eyes not found, left out", fid)
            return None
        if eyes is None:           # an upright photograph: the usual proportions
            eyes = ((b[0] + 0.30 * b[2], b[1] + 0.38 * b[3]), (b[0] + 0.70 * b[2], b[1] + 0.38 * b[3]))
        (lx, ly), (rx, ry) = eyes
        roll = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
        if attempt == 1 or abs(roll) < 2.0:
            break
        m = cv2.getRotationMatrix2D(((lx + rx) / 2, (ly + ry) / 2), roll, 1.0)
        portrait = cv2.warpAffine(portrait, m, (PORTRAIT, PORTRAIT), flags=cv2.INTER_CUBIC,
                                  borderMode=cv2.BORDER_REPLICATE)
    if not robustly_detectable(portrait):
        logger.info("face %s: not found reliably under small pose changes, left out", fid)
        return None
    mx = (eyes[0][0] + eyes[1][0]) / 2
    mouth = (float(mx), _mouth_line(grey, b, mx))
    eyes = tuple((float(ex), float(ey)) for ex, ey in eyes)
    return Face(fid, np.ascontiguousarray(portrait), b, eyes, mouth, source, licence, colour)


def candidate_ids() -> tuple[str, ...]:
    """Ids of every real face that may be installed, colour photographs first, in a fixed
    order (cheap: nothing is loaded)."""
    return tuple(_PHOTOS) + tuple(f"lfw_{i:03d}" for i in range(N_LFW))


@functools.lru_cache(maxsize=None)
def load_face(fid: str) -> Face | None:
    """The normalised face ``fid`` (:func:`candidate_ids`), or None when it is not
    installed or the Haar cascade cannot find it."""
    if fid.startswith("lfw_"):
        img = _lfw_canvas(_lfw()[int(fid[4:])])
        source, licence, colour, min_size = f"scikit-image skimage.data.lfw_subset()[{int(fid[4:])}]", LFW_LICENCE, \
            False, 50
    else:
        photo = _photo(fid)
        if photo is None:
            return None
        img, source, licence = photo
        colour, min_size = True, 64
    boxes = detect_faces(img, min_size=min_size)
    if len(boxes) == 0:
        logger.info("face %s: Haar finds no face in %s; left out", fid, source)
        return None
    return _make_face(fid, img, boxes[0], source, licence, colour)


def choose_faces(n: int, rng: np.random.Generator) -> list[Face]:
    """``n`` distinct usable real faces: the colour photographs first (in random order),
    then LFW crops at random; only the faces chosen are loaded."""
    ids = candidate_ids()
    photos = [ids[i] for i in rng.permutation(len(_PHOTOS))]
    lfw = [ids[len(_PHOTOS) + i] for i in rng.permutation(N_LFW)]
    out: list[Face] = []
    for fid in photos + lfw:
        if len(out) == n:
            return out
        face = load_face(fid)
        if face is not None:
            out.append(face)
    if len(out) < n:
        raise MissingMaterialError(f"{n} distinct real faces needed, only {len(out)} usable are installed; the "
                                   f"audio-visual mini corpora need scikit-image (astronaut, lfw_subset), matplotlib "
                                   f"and Debian opencv-doc (apt-get install opencv-doc, or: make -C tools)")
    return out

"""What a placement crop must keep: faces (Haar cascades), the subject, the headline and the
logo as hard boxes, and a saliency map to steer the crop where they leave it free.

Faces are searched on a small grey copy with OpenCV's bundled frontal and profile cascades,
and grown from the cascade's eyes-to-mouth square to the whole head. Faces below a tenth of the
frame's long side are not searched: the cascades' cost grows with the inverse square of the
smallest face (1/20 cost ~2.5x as much on one core), and a person that small is protected by
the subject box or the salient-object box instead.
"""

from collections.abc import Sequence
from functools import cache

import cv2
import numpy as np

from route_assets.imaging.components import heavy_box
from route_assets.imaging.flaws import Box
from route_assets.imaging.foreground import Matte, foreground_box
from route_assets.imaging.measures import rgb_to_lab
from route_assets.imaging.resize import Keep, overlap_fraction
from route_assets.imaging.subject import background_model

FACE_SIDE = 384  # long side of the face-search image
MIN_FACE = 1 / 10  # smallest face searched, share of the long side
SALIENCY_SIDE = 128
# A subject box covering more than this share of the frame says "the whole picture" (no
# subject found): binding the crop to it would outpaint every placement, so it steers through
# saliency instead. Anything smaller binds: outpainting beats cutting a subject.
MAX_HARD_SUBJECT = 0.85
# An object box (below) spans this much of a full-bleed photograph at most before it says
# nothing: higher than MAX_HARD_SUBJECT, as a photograph's product can fill most of the frame
# (a close-up cup), and cutting it costs more than outpainting around it.
MAX_OBJECT = 0.95
SUBJECT_PAD = 0.08  # growth of the subject box per side: mask edges fall short of soft rims
HEAD = (0.25, 0.5, 0.25, 0.2)  # growth of a face square to the head: left, top, right, bottom
# Salient-object box for frames without a usable subject box; set on the tuning part of
# bench/crop (bench/crop/README.md), never on its evaluation part.
SALIENT_SHARE = 0.2  # share of the saliency map taken as "salient" for the object box
SALIENT_REL = 0.5  # a component with this share of the strongest one's mass is an object too
SALIENT_PAD = 0.08  # growth of the salient-object box per side
# Object box of a full-bleed photograph (`object_box`); set on the tuning part too.
OBJECT_SIDE = 96  # side of the square the object box is estimated on (grabCut cost ~ pixels)
RING = 0.06  # border strip whose colours model the background, share of the side
BORDER_K = 3  # colour clusters per border side
CONTRAST_W = 0.5  # weight of the border-contrast map against fine-grained saliency
OBJECT_SHARE = 0.1  # share of the combined map seeding the object
GRABCUT_ITERS = 3
OBJECT_PAD = 0.08  # growth of the object box per side: grabCut stops short of soft rims


@cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + name  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV cascade {path} did not load; install opencv-contrib-python-"
                           "headless 4.x, whose wheel ships the Haar cascades")
    return cascade


def _nms(boxes: list[Box]) -> list[Box]:
    """Drop boxes mostly inside a bigger one (frontal and profile cascades find the same face)."""
    kept: list[Box] = []
    for b in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        if all(overlap_fraction(b, k) < 0.5 for k in kept):
            kept.append(b)
    return kept


def find_faces(image: np.ndarray) -> list[Box]:
    """Head boxes (master pixels) of frontal and profile faces."""
    h, w = image.shape[:2]
    scale = min(1.0, FACE_SIDE / max(h, w))
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    side = max(20, int(MIN_FACE * max(gray.shape)))
    sw = gray.shape[1]
    found: list[Box] = []
    for name, mirror in (("haarcascade_frontalface_default.xml", False),
                         ("haarcascade_profileface.xml", False),
                         ("haarcascade_profileface.xml", True)):  # the cascade sees one side
        src = np.ascontiguousarray(gray[:, ::-1]) if mirror else gray
        for x, y, a, b in _cascade(name).detectMultiScale(src, 1.1, 5, minSize=(side, side)):
            x = sw - x - a if mirror else x
            found.append((int(x), int(y), int(x + a), int(y + b)))
    heads = []
    for x0, y0, x1, y1 in _nms(found):
        s = (x1 - x0) / scale
        cx0, cy0, cx1, cy1 = x0 / scale, y0 / scale, x1 / scale, y1 / scale
        heads.append((max(0, int(cx0 - HEAD[0] * s)), max(0, int(cy0 - HEAD[1] * s)),
                      min(w, int(cx1 + HEAD[2] * s)), min(h, int(cy1 + HEAD[3] * s))))
    return heads


def _fine_grained(image: np.ndarray) -> np.ndarray:
    """OpenCV fine-grained saliency on a SALIENCY_SIDE square, smoothed, max 1."""
    small = cv2.resize(image, (SALIENCY_SIDE, SALIENCY_SIDE), interpolation=cv2.INTER_AREA)
    detector = cv2.saliency.StaticSaliencyFineGrained_create()  # type: ignore[attr-defined]
    ok, sal = detector.computeSaliency(small)
    sal = np.asarray(sal, np.float32) if ok else np.ones((SALIENCY_SIDE,) * 2, np.float32)
    sal = cv2.GaussianBlur(sal, (0, 0), 2)
    return sal / (float(sal.max()) or 1.0)


def salient_box(saliency: np.ndarray, width: int, height: int) -> Box | None:
    """The box (master pixels) of the most salient objects of a frame the subject estimate
    could not separate from its background (a full-bleed photograph).

    The top SALIENT_SHARE of the saliency map, closed, is split into components; those
    holding at least SALIENT_REL of the strongest one's saliency mass are the objects (a
    second subject of similar weight is kept too: a crop must not choose between them). The
    union is padded, since the map is smooth and object rims fall below the threshold."""
    sal = np.asarray(saliency, np.float32)
    top = (sal >= np.quantile(sal, 1 - SALIENT_SHARE)).astype(np.uint8)
    mask = cv2.morphologyEx(top, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    box = heavy_box(mask, sal, rel=SALIENT_REL, pad=SALIENT_PAD, width=width, height=height)
    if box is None:
        return None
    return (max(0, int(box[0])), max(0, int(box[1])),
            min(width, int(box[2])), min(height, int(box[3])))


def _border_contrast(lab: np.ndarray) -> np.ndarray:
    """How unlike the frame's border each pixel is (a background prior), max 1.

    Each side's strip is clustered into BORDER_K colours and a pixel's distance to a side is
    its Lab distance to that side's nearest cluster. The four distances are averaged rather
    than minimised: a subject touching one side (a re-framed photograph's subject often does)
    is then still unlike the three others, while a background spanning one side only (sky
    along the top) is like that side and, usually, like part of the others."""
    n = lab.shape[0]
    r = max(2, int(RING * n))
    pixels = lab.reshape(-1, 3)
    dist = np.zeros(n * n, np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    for strip in (lab[:r], lab[-r:], lab[:, :r], lab[:, -r:]):
        samples = np.ascontiguousarray(strip.reshape(-1, 3), np.float32)
        _, _, centres = cv2.kmeans(samples, BORDER_K, None, criteria, 1,  # type: ignore[call-overload]
                                   cv2.KMEANS_PP_CENTERS)
        d = np.linalg.norm(pixels[:, None, :] - centres[None], axis=-1).min(axis=1)
        dist += d / 4
    dist = cv2.GaussianBlur(dist.reshape(n, n), (0, 0), 1.5)
    return dist / (float(np.quantile(dist, 0.99)) or 1.0)


def object_box(image: np.ndarray, fine: np.ndarray | None = None) -> Box | None:
    """The box (master pixels) of the main object of a full-bleed photograph.

    Fine-grained saliency finds detail, not objects: it fires on textured backgrounds and
    misses a smooth subject's inside. Contrast with the border colours finds regions unlike
    the background (a rocket against sky, a cup against a table). Their blend seeds grabCut
    on a small copy, which snaps the seed to the object's colour boundary; the box of its
    foreground, padded, is the object."""
    h, w = image.shape[:2]
    n = OBJECT_SIDE
    small = cv2.resize(image, (n, n), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    contrast = np.clip(_border_contrast(lab), 0, 1)
    sal = _fine_grained(image) if fine is None else fine
    sal = cv2.resize(sal, (n, n), interpolation=cv2.INTER_AREA)
    sal = sal / (float(sal.max()) or 1.0)
    score = CONTRAST_W * contrast + (1 - CONTRAST_W) * sal
    seed = score >= np.quantile(score, 1 - OBJECT_SHARE)
    core = score >= np.quantile(score, 1 - OBJECT_SHARE / 4)
    mask = np.full((n, n), cv2.GC_PR_BGD, np.uint8)
    mask[seed] = cv2.GC_PR_FGD
    mask[core] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    try:
        cv2.grabCut(small, mask, (0, 0, n, n), bgd, fgd, GRABCUT_ITERS,
                    cv2.GC_INIT_WITH_MASK)  # the rectangle is unused with a mask
    except cv2.error:
        pass  # a degenerate seed (one colour class empty): keep the seed itself
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    # Components weighed by their score mass; those with SALIENT_REL of the strongest's stay.
    box = heavy_box(fg, score, rel=SALIENT_REL, pad=OBJECT_PAD, width=w, height=h)
    if box is None:
        return None
    return (max(0, int(box[0])), max(0, int(box[1])), min(w, int(box[2])), min(h, int(box[3])))


def saliency_map(image: np.ndarray, subject_mask: np.ndarray | None = None,
                 *, fine: np.ndarray | None = None) -> np.ndarray:
    """A SALIENCY_SIDE-square map: OpenCV fine-grained saliency (`fine`, when already
    computed), plus the subject mask when one is known (a known subject outweighs anything
    the saliency detector likes)."""
    sal = _fine_grained(image) if fine is None else fine
    if subject_mask is not None and subject_mask.any():
        m = cv2.resize(subject_mask.astype(np.float32), (SALIENCY_SIDE, SALIENCY_SIDE),
                       interpolation=cv2.INTER_AREA)
        sal = sal + 2.0 * m
    return sal


RIM_SIDE = 128  # side of the copy the backdrop is modelled on
RIM_DE = 6.0  # dE76 off the backdrop surface that still counts as the subject's rim
MAX_RIM_GROWTH = 2.0  # a rim box past this multiple of the subject box's area is background
# Median dE76 of the border ring off its fitted surface below which the backdrop is plain (a
# studio sweep, a brand background, a wall): generator frames sit at 0.4-1.1 and the annotated
# photographs mostly at 3-22 (bench/crop). Only on a plain backdrop is the subject estimate
# trusted alone; on a busy one it often binds to the wrong object (a flower, not the bee on it).
PLAIN_BACKDROP_DE = 2.0


def _border(n: int) -> np.ndarray:
    ring = np.zeros((n, n), bool)
    r = max(2, int(0.05 * n))
    ring[:r], ring[-r:], ring[:, :r], ring[:, -r:] = True, True, True, True
    return ring


def backdrop_residual(image: np.ndarray) -> np.ndarray:
    """dE76 of a RIM_SIDE-square copy off a smooth surface fitted to its border ring."""
    small = cv2.resize(image, (RIM_SIDE, RIM_SIDE), interpolation=cv2.INTER_AREA)
    lab = cv2.GaussianBlur(rgb_to_lab(small), (0, 0), 1.0)
    return np.linalg.norm(lab - background_model(lab, _border(RIM_SIDE)), axis=-1)


def plain_backdrop(residual: np.ndarray) -> bool:
    return float(np.median(residual[_border(residual.shape[0])])) < PLAIN_BACKDROP_DE


def rim_box(image: np.ndarray, box: Box, mask: np.ndarray | None,
            residual: np.ndarray | None = None) -> Box:
    """The subject box grown over the subject's soft rim (motion blur, defocus, hair).

    The subject mask is cut where the subject stands clearly off the background surface; a
    blurred rim fades into it below that level and the mask stops short. Here the backdrop
    surface is subtracted (`backdrop_residual`) and weak residual connected to the subject is
    added back. A frame whose background is not smooth would grow the box over everything:
    then the box is kept as it was."""
    h, w = image.shape[:2]
    residual = backdrop_residual(image) if residual is None else residual
    sx, sy = RIM_SIDE / w, RIM_SIDE / h
    core = np.zeros((RIM_SIDE, RIM_SIDE), bool)
    if mask is not None and mask.any():
        core = cv2.resize(mask.astype(np.uint8), (RIM_SIDE, RIM_SIDE),
                          interpolation=cv2.INTER_NEAREST) > 0
    else:
        core[int(box[1] * sy):int(np.ceil(box[3] * sy)),
             int(box[0] * sx):int(np.ceil(box[2] * sx))] = True
    count, labels = cv2.connectedComponents((residual > RIM_DE).astype(np.uint8) | core)
    touched = np.unique(labels[core & (labels > 0)])
    ys, xs = np.nonzero(np.isin(labels, touched))
    if count <= 1 or xs.size == 0:
        return box
    grown = (min(box[0], int(xs.min() / sx)), min(box[1], int(ys.min() / sy)),
             max(box[2], int(np.ceil((xs.max() + 1) / sx))),
             max(box[3], int(np.ceil((ys.max() + 1) / sy))))
    if _area(grown) > MAX_RIM_GROWTH * _area(box) or _area(grown) > MAX_HARD_SUBJECT * w * h:
        return box
    return grown


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def keep_for(
    image: np.ndarray,
    *,
    subject_box: Box | None = None,
    subject_mask: np.ndarray | None = None,
    faces: Sequence[Box] = (),
    headline: Box | None = None,
    logo: Box | None = None,
    detect: bool = True,
    foreground: Matte | None = None,
) -> Keep:
    """Hard boxes and saliency for `plan_crop`. `faces` from an earlier stage are used as
    given; with `detect`, the frame is searched for faces as well. `foreground` (the learned
    matte, engines/foreground_model.py) is consulted only where the subject estimate is not
    trusted alone: a plain-backdrop frame does not pay for it."""
    h, w = image.shape[:2]
    boxes = list(faces) + (find_faces(image) if detect else [])
    fine = _fine_grained(image)
    trusted = False
    if subject_box is not None:
        area = (subject_box[2] - subject_box[0]) * (subject_box[3] - subject_box[1])
        if area <= MAX_HARD_SUBJECT * w * h:
            residual = backdrop_residual(image)
            x0, y0, x1, y1 = rim_box(image, subject_box, subject_mask, residual)
            px, py = SUBJECT_PAD * (x1 - x0), SUBJECT_PAD * (y1 - y0)
            boxes.append((max(0, int(x0 - px)), max(0, int(y0 - py)),
                          min(w, int(x1 + px)), min(h, int(y1 + py))))
            trusted = plain_backdrop(residual)
    if not trusted:
        # No usable subject box (a full-bleed photograph), or one found on a busy backdrop,
        # where it may be the wrong object: the most salient objects are protected too, so a
        # crop that would cut them outpaints instead of trusting saliency mass alone.
        # Both the object box (border contrast + grabCut: a smooth object against a plain
        # background) and the salient-object box (detail: a textured subject) are protected;
        # each fails where the other works, and a crop cutting either subject is a miss.
        # One spanning nearly all the frame says nothing and is left to steer through saliency.
        for obj in (object_box(image, fine), salient_box(fine, w, h)):
            if obj is not None and _area(obj) <= MAX_OBJECT * w * h:
                boxes.append(obj)
        # The learned foreground box knows objects the two above confuse with their setting
        # (the bee on the flower). It has no MAX_OBJECT cap: a matte covering the frame says
        # the photograph is all subject (a stand of cupcakes), and fitting it all is then the
        # only framing that cuts nothing.
        if foreground is not None:
            found = foreground_box(foreground.probability(image), w, h)
            if found is not None:
                boxes.append(found)
    boxes += [b for b in (headline, logo) if b is not None]
    return Keep(boxes=tuple(boxes), saliency=saliency_map(image, subject_mask, fine=fine))

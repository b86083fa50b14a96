"""Placement fitting on real photographs (scikit-image's astronaut, coffee and rocket)."""

import numpy as np
import pytest
from skimage import data

from route_assets.catalog import load_placements
from route_assets.imaging import codecs
from route_assets.imaging.framing import find_faces, keep_for, rim_box
from route_assets.imaging.resize import (
    Keep,
    Zone,
    clear_area,
    fit_to_placement,
    overlap_fraction,
    plan_crop,
    text_band_box,
)

ASTRONAUT_FACE = (150, 40, 330, 250)  # hand-annotated on the 512x512 photograph
RATIOS = [(1080, 1920), (1080, 1350), (1080, 1080), (1920, 1080), (1200, 628)]


@pytest.mark.parametrize(("width", "height"), RATIOS)
def test_exact_size_and_face_kept(width, height):
    keep = Keep(boxes=(ASTRONAUT_FACE,))
    fitted = fit_to_placement(data.astronaut(), width=width, height=height, keep=keep)
    assert fitted.image.shape == (height, width, 3)
    assert fitted.retained == 1.0
    assert overlap_fraction(ASTRONAUT_FACE, fitted.window) == 1.0


def test_crop_follows_an_off_centre_subject():
    subject = (380, 100, 500, 300)
    plan = plan_crop(512, 512, width=1080, height=1920, keep=Keep(boxes=(subject,)))
    assert not plan.outpainted
    assert plan.crop_box[2] == 512  # slid to the right edge to keep the subject
    centre = plan_crop(512, 512, width=1080, height=1920).window
    assert overlap_fraction(subject, centre) < 0.5


def test_outpaints_instead_of_cutting_a_subject_too_wide_for_the_ratio():
    image = data.coffee()  # 400x600
    wide = (40, 60, 560, 360)
    fitted = fit_to_placement(image, width=1080, height=1920, keep=Keep(boxes=(wide,)))
    assert fitted.extended and fitted.image.shape == (1920, 1080, 3)
    assert overlap_fraction(wide, fitted.window) == 1.0 and 0.2 < fitted.outpainted_share < 0.8
    # The master's own pixels are in the frame unchanged but for scaling; the border is blur.
    x0, y0, x1, y1 = fitted.window
    scale = 1080 / (x1 - x0)
    top = int(round(-y0 * scale))
    assert fitted.image[:top - 80].std() < fitted.image[top + 40: top + 400].std()
    # Forbidden to outpaint, the planner keeps as much of the subject as one crop can.
    cropped = fit_to_placement(image, width=1080, height=1920, keep=Keep(boxes=(wide,)),
                               outpaint=False)
    assert not cropped.extended and 0.3 < cropped.retained < 1.0


def test_overlay_zones_push_the_subject_into_the_clear_area():
    zone = Zone(top=0.078, bottom=0.229, right=0.139)
    subject = (300, 300, 420, 500)
    plan = plan_crop(1024, 1024, width=1080, height=1920, keep=Keep(boxes=(subject,)),
                     zone=zone)
    assert not plan.outpainted
    assert overlap_fraction(subject, clear_area(plan.window, zone)) == 1.0
    # A subject low in a square frame cannot leave a 9:16 caption zone by cropping: the window
    # slides past the master's bottom edge, and the caption covers outpainted border.
    low = (300, 800, 500, 1000)
    plan = plan_crop(1024, 1024, width=1080, height=1920, keep=Keep(boxes=(low,)), zone=zone)
    assert plan.outpainted and plan.window[3] > 1024
    assert overlap_fraction(low, clear_area(plan.window, zone)) == 1.0


def test_headline_and_logo_stay_clear_of_overlays_with_the_subject():
    zone = Zone(top=0.14, bottom=0.20)  # Stories/Reels
    logo, subject, headline = (40, 20, 200, 90), (380, 200, 640, 700), (150, 800, 870, 960)
    keep = Keep(boxes=(logo, subject, headline))
    fitted = fit_to_placement(np.zeros((1024, 1024, 3), np.uint8), width=1080, height=1920,
                              keep=keep, zone=zone)
    clear = clear_area(fitted.window, zone)
    assert all(overlap_fraction(b, clear) == 1.0 for b in (logo, subject, headline))


def test_saliency_steers_the_window_where_the_boxes_leave_it_free():
    saliency = np.zeros((64, 64), np.float32)
    saliency[20:40, 50:60] = 1.0  # something interesting on the right
    plan = plan_crop(1024, 1024, width=1080, height=1920, keep=Keep(saliency=saliency))
    assert plan.window[2] > 950
    saliency = np.fliplr(saliency).copy()
    assert plan_crop(1024, 1024, width=1080, height=1920,
                     keep=Keep(saliency=saliency)).window[0] < 74


def _blurred_disc(background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A bright disc smeared sideways by motion blur over `background`; the disc's own mask."""
    import cv2

    disc = np.zeros((1024, 1024), np.float32)
    cv2.circle(disc, (512, 480), 160, 1.0, -1)
    mask = disc > 0.5
    kernel = np.full((1, 121), 1 / 121, np.float32)  # 120 px of horizontal motion
    alpha = cv2.filter2D(disc, -1, kernel)[..., None]
    image = background * (1 - alpha) + np.array([235.0, 235, 235]) * alpha
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask


def test_subject_box_grows_over_a_motion_blurred_rim():
    """The mask stops where the disc stands clearly off the wall; its smear is part of the
    subject a crop must keep (the benchmark's clock is one)."""
    image, mask = _blurred_disc(np.full((1024, 1024, 3), 128.0))
    box = (352, 320, 673, 641)  # the sharp disc
    grown = rim_box(image, box, mask)
    assert grown[0] <= 352 - 40 and grown[2] >= 672 + 40  # most of the 60-px smear each side
    assert grown[1] >= 320 - 20 and grown[3] <= 641 + 20  # no vertical motion, no growth
    rng = np.random.default_rng(0)
    # A busy background at the scale the rim is traced on: 32-px tiles of random colours.
    busy = rng.uniform(0, 255, (32, 32, 3)).repeat(32, 0).repeat(32, 1)
    image, mask = _blurred_disc(busy)
    assert rim_box(image, box, mask) == box


def test_subject_estimate_is_trusted_alone_only_on_a_plain_backdrop():
    """On a studio or brand backdrop the subject box is the subject; on a busy photograph it
    may be the wrong object, so the salient objects are protected with it."""
    box = (352, 320, 673, 641)
    plain, mask = _blurred_disc(np.full((1024, 1024, 3), 128.0))
    keep = keep_for(plain, subject_box=box, subject_mask=mask, detect=False)
    assert len(keep.boxes) == 1
    rng = np.random.default_rng(1)
    busy, mask = _blurred_disc(rng.uniform(0, 255, (32, 32, 3)).repeat(32, 0).repeat(32, 1))
    keep = keep_for(busy, subject_box=box, subject_mask=mask, detect=False)
    assert len(keep.boxes) > 1


def test_faces_found_on_real_photographs():
    astronaut = find_faces(data.astronaut())
    head = (150, 14, 302, 172)  # bench/crop/annotations.yaml
    assert len(astronaut) == 1 and overlap_fraction(head, astronaut[0]) > 0.9
    camera = np.repeat(data.camera()[..., None], 3, axis=2)  # a face in profile
    heads = find_faces(camera)
    assert any(overlap_fraction((154, 63, 272, 197), h) > 0.5 for h in heads)
    assert find_faces(data.coffee()) == []
    keep = keep_for(data.astronaut())
    assert keep.box is not None and keep.saliency is not None


def test_text_band_found_on_a_rendered_headline():
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.new("RGB", (1024, 1024), (242, 193, 78))
    ImageDraw.Draw(canvas).text((200, 850), "Glow all summer", fill=(20, 20, 20),
                                font=ImageFont.load_default(size=64))
    box = text_band_box(np.asarray(canvas))
    assert box is not None and 180 <= box[0] <= 220 and box[2] > 600 and 840 <= box[1] <= 880
    assert text_band_box(np.full((1024, 1024, 3), 128, np.uint8)) is None


@pytest.mark.parametrize("placement", load_placements().placements, ids=lambda p: p.id)
def test_every_placement_encodes_under_its_cap_with_disclosure(placement):
    fitted = fit_to_placement(data.astronaut(), width=placement.width, height=placement.height,
                              keep=Keep(boxes=(ASTRONAUT_FACE,)))
    blob, quality = codecs.encode_for_placement(fitted.image, fmt=placement.format,
                                                max_bytes=placement.max_bytes,
                                                source_type=codecs.GENERATED)
    assert len(blob) <= placement.max_bytes
    assert codecs.decode(blob).shape == (placement.height, placement.width, 3)
    assert codecs.read_disclosure(blob) == codecs.GENERATED


def test_byte_cap_is_met_by_searching_quality():
    image = fit_to_placement(data.astronaut(), width=1080, height=1080).image
    loose, q_loose = codecs.encode_for_placement(image, fmt="jpeg", max_bytes=5_000_000,
                                                 source_type=codecs.GENERATED)
    tight, q_tight = codecs.encode_for_placement(image, fmt="jpeg", max_bytes=len(loose) // 3,
                                                 source_type=codecs.COMPOSITE)
    assert q_loose == 95 and q_tight < q_loose and len(tight) <= len(loose) // 3
    with pytest.raises(codecs.EncodeError, match="over the 2000-byte cap"):
        codecs.encode_for_placement(image, fmt="jpeg", max_bytes=2000, source_type="x")


def test_decoder_refuses_non_images_and_bombs():
    with pytest.raises(codecs.EncodeError, match="not a decodable image"):
        codecs.decode(b"<html>expired</html>")
    import io

    from PIL import Image

    big = io.BytesIO()
    Image.new("1", (9000, 9000)).save(big, format="PNG")
    with pytest.raises(codecs.EncodeError, match="exceeds"):
        codecs.decode(big.getvalue())

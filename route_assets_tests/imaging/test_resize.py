"""Placement fitting on real photographs (scikit-image's astronaut, coffee and rocket)."""

import numpy as np
import pytest
from skimage import data

from route_assets.catalog import load_placements
from route_assets.imaging import codecs
from route_assets.imaging.resize import (
    Zone,
    fit_to_placement,
    overlap_fraction,
    plan_crop,
    text_band_box,
)

ASTRONAUT_FACE = (150, 40, 330, 250)  # hand-annotated on the 512x512 photograph
RATIOS = [(1080, 1920), (1080, 1350), (1080, 1080), (1920, 1080), (1200, 628)]


@pytest.mark.parametrize(("width", "height"), RATIOS)
def test_exact_size_and_face_kept(width, height):
    fitted = fit_to_placement(data.astronaut(), width=width, height=height, keep=ASTRONAUT_FACE)
    assert fitted.image.shape == (height, width, 3)
    assert fitted.retained == 1.0
    if not fitted.extended:
        assert overlap_fraction(ASTRONAUT_FACE, fitted.crop_box) == 1.0


def test_crop_follows_an_off_centre_subject():
    image = data.astronaut()
    box, extended = plan_crop(512, 512, width=1080, height=1920, keep=(380, 100, 500, 300))
    assert not extended
    assert box[2] == 512  # slid to the right edge to keep the subject
    center = plan_crop(512, 512, width=1080, height=1920, keep=None)[0]
    assert overlap_fraction((380, 100, 500, 300), center) < 0.5
    assert image.shape[1] == 512


def test_extends_instead_of_cutting_a_subject_too_wide_for_the_ratio():
    image = data.coffee()  # 400x600
    wide = (40, 60, 560, 360)
    fitted = fit_to_placement(image, width=1080, height=1920, keep=wide)
    assert fitted.extended and fitted.image.shape == (1920, 1080, 3)
    # The whole photograph is visible, centred, over a blurred background.
    middle = fitted.image[960 - 300:960 + 300, 20:1060]
    assert middle.std() > fitted.image[:200].std()


def test_overlay_zones_push_the_subject_into_the_clear_area():
    zone = Zone(top=0.078, bottom=0.229, right=0.139)
    box, extended = plan_crop(1024, 1024, width=1080, height=1920, keep=(300, 300, 420, 500),
                              zone=zone)
    assert not extended
    crop_w = box[2] - box[0]
    assert 420 <= box[2] - zone.right * crop_w  # subject left of the right-hand button rail
    # A subject low in a square frame cannot leave a 9:16 caption zone by cropping: extend.
    _, low = plan_crop(1024, 1024, width=1080, height=1920, keep=(300, 800, 500, 1000),
                       zone=zone)
    assert low


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
                              keep=ASTRONAUT_FACE)
    blob, quality = codecs.encode_for_placement(fitted.image, fmt=placement.format,
                                                max_bytes=placement.max_bytes,
                                                source_type=codecs.GENERATED)
    assert len(blob) <= placement.max_bytes
    assert codecs.decode(blob).shape == (placement.height, placement.width, 3)
    assert b"trainedAlgorithmicMedia" in blob


def test_byte_cap_is_met_by_searching_quality():
    image = fit_to_placement(data.astronaut(), width=1080, height=1080, keep=None).image
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

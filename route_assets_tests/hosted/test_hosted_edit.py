"""Hosted editors over real loopback HTTP (the emulator): a mask inpainter changes pixels
outside its mask, as real ones do, and compositing through the mask undoes that."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from route_assets.db import engine_for
from route_assets.emulator.server import DEFAULT_KEYS, Emulator
from route_assets.imaging import codecs
from route_assets.imaging.classify import assess
from route_assets.imaging.edit import composite, edit_mask, plan_edits, ssim_outside
from route_assets.imaging.edit_session import run_session
from route_assets.journal import SqlRequestJournal
from route_assets.providers.base import EditRequest
from route_assets.providers.bfl import BflProvider
from route_assets.providers.fal import FalProvider
from route_assets_tests.imaging import synth

RUST = synth.PALETTES["rust"]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator
        assert emulator.errors == []


def _frame() -> np.ndarray:
    c = synth.compose("chelsea", RUST, style="cutout", scale=0.45)
    spot, _ = synth.background_spot(c)
    return synth.stray_object(c.image, spot, 0.02)[0]


def _fal(emu: Emulator, tmp_path: Path) -> FalProvider:
    journal = SqlRequestJournal(engine_for(f"sqlite:///{tmp_path}/journal.db"))
    return FalProvider(api_key=DEFAULT_KEYS["fal"], base_url=emu.base_urls()["fal"],
                       journal=journal, price_usd=0.038, trusted_base=emu.root,
                       poll_interval_s=0.02)


def test_fal_erase_result_is_composited_so_only_the_mask_changes(emu: Emulator,
                                                                 tmp_path: Path) -> None:
    image = _frame()
    a = assess(image, palette=RUST)
    (step,) = plan_edits(a.flaws)
    mask = edit_mask(image, step, palette=RUST, subject_mask=a.subject.mask)
    request = EditRequest(model="flux-pro-erase", endpoint="fal-ai/flux-pro/v1/erase",
                          instruction="remove the blob", image_png=codecs.encode_png(image),
                          mask_png=codecs.encode_gray_png(mask), width=image.shape[1],
                          height=image.shape[0], seed=7)
    before = emu.submissions("fal")
    edited = _fal(emu, tmp_path).edit(request)
    assert emu.submissions("fal") == before + 1 and edited.cost_usd == pytest.approx(0.038)
    body = emu.inputs("fal")[-1]
    assert body["mask_url"].startswith("data:image/png") and "prompt" not in body
    raw = codecs.decode(edited.png)
    # The editor touched the rest of the frame, as inpainters do.
    assert np.any(raw != image, axis=2)[~mask].mean() > 0.5
    assert ssim_outside(image, raw, mask) < 0.99
    out = composite(image, raw, mask, step)
    assert np.array_equal(out.image[~mask], image[~mask])
    after = assess(out.image, palette=RUST)
    assert "stray_object" not in {f.kind.value for f in after.flaws}


def test_session_keeps_the_composited_hosted_edit(emu: Emulator, tmp_path: Path) -> None:
    """The classical engine is skipped here: the session's only editor is the hosted one."""
    image = _frame()
    fal = _fal(emu, tmp_path)

    def hosted(img: np.ndarray, step, subject):  # noqa: ANN001, ANN202
        mask = edit_mask(img, step, palette=RUST, subject_mask=subject)
        result = fal.edit(EditRequest(
            model="flux-pro-fill", endpoint="fal-ai/flux-pro/v1/fill", instruction="background",
            image_png=codecs.encode_png(img), mask_png=codecs.encode_gray_png(mask),
            width=img.shape[1], height=img.shape[0], seed=3))
        yield "flux-pro-fill via fal", composite(img, codecs.decode(result.png), mask, step)

    result = run_session(image, palette=RUST, editors=hosted)
    assert result.shipped, result.reason
    (kept,) = result.accepted
    assert kept.editor == "flux-pro-fill via fal" and kept.fidelity >= 0.98
    assert np.array_equal(result.image[~kept.outcome.mask], image[~kept.outcome.mask])


def test_bfl_fill_and_fal_upscaler_requests(emu: Emulator, tmp_path: Path) -> None:
    image = _frame()[:256, :256].copy()
    mask = np.zeros(image.shape[:2], bool)
    mask[50:90, 50:90] = True
    journal = SqlRequestJournal(engine_for(f"sqlite:///{tmp_path}/bfl.db"))
    bfl = BflProvider(api_key=DEFAULT_KEYS["bfl"], base_url=emu.base_urls()["bfl"],
                      journal=journal, price_usd=0.05, trusted_base=emu.root,
                      poll_interval_s=0.02)
    filled = bfl.edit(EditRequest(
        model="flux-pro-fill", endpoint="/v1/flux-pro-1.0-fill", instruction="background",
        image_png=codecs.encode_png(image), mask_png=codecs.encode_gray_png(mask),
        width=256, height=256, seed=1))
    assert filled.cost_usd == pytest.approx(0.05)  # BFL's reported 5 credits
    assert codecs.decode(filled.png).shape == image.shape
    up = _fal(emu, tmp_path).edit(EditRequest(
        model="clarity-upscaler", endpoint="fal-ai/clarity-upscaler", instruction="upscale",
        image_png=codecs.encode_png(image), mask_png=None, width=512, height=512, seed=1))
    assert emu.inputs("fal")[-1]["upscale_factor"] == 2.0
    assert codecs.decode(up.png).shape == (512, 512, 3)

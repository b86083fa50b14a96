"""The verified edit session, the new edit kinds, and the layered OpenRaster export (read back
with pyora, a reader we did not write)."""

import io
import sys
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pyora
import pytest

from route_assets.imaging import ora
from route_assets.imaging.classify import assess
from route_assets.imaging.edit import (
    EditOutcome,
    EditStep,
    apply_edit,
    composite,
    edit_mask,
    plan_edits,
    ssim_outside,
    upscale_target,
)
from route_assets.imaging.edit_session import Checks, local_chain, run_session
from route_assets.imaging.flaws import EditKind, Flaw, FlawKind
from route_assets_tests.imaging import synth

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.edit import run as bench_edit  # noqa: E402

NAVY, RUST = synth.PALETTES["navy"], synth.PALETTES["rust"]


@cache
def stray() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    c = synth.compose("chelsea", RUST, style="cutout", scale=0.45)
    spot, _ = synth.background_spot(c)
    return synth.stray_object(c.image, spot, 0.02)


def drifting(image: np.ndarray, step: EditStep, subject: np.ndarray) -> EditOutcome:
    """An editor that fixes the flaw but, like an uncomposited inpainter, shifts every pixel."""
    good = apply_edit(image, step, palette=RUST, subject_mask=subject)
    shifted = np.clip(cv2.GaussianBlur(good.image, (0, 0), 1.2).astype(int) + 8, 0, 255)
    bad = shifted.astype(np.uint8)
    return EditOutcome(bad, good.mask, step, ssim_outside(image, bad, good.mask))


def test_failing_editor_is_followed_by_the_next_one() -> None:
    image, _ = stray()
    seen: list[str] = []

    def chain(img: np.ndarray, step: EditStep, subject: np.ndarray
              ) -> Iterator[tuple[str, EditOutcome]]:
        seen.append("sloppy")
        yield "sloppy", drifting(img, step, subject)
        seen.append("classical")
        yield "classical", apply_edit(img, step, palette=RUST, subject_mask=subject)

    result = run_session(image, palette=RUST, editors=chain)
    assert result.shipped, result.reason
    assert seen == ["sloppy", "classical"]
    first, second = result.tried
    assert not first.accepted and "SSIM outside mask" in first.reason
    assert first.fidelity < 0.98
    assert second.accepted and second.fidelity >= 0.98
    assert result.assessment.verdict == "accept"


def test_no_editor_passing_means_regenerate_and_the_frame_is_not_changed() -> None:
    image, _ = stray()

    def chain(img: np.ndarray, step: EditStep, subject: np.ndarray
              ) -> Iterator[tuple[str, EditOutcome]]:
        yield "sloppy", drifting(img, step, subject)

    result = run_session(image, palette=RUST, editors=chain)
    assert not result.shipped and "failed on every editor" in result.reason
    assert np.array_equal(result.image, image)


def test_fundamental_flaw_is_never_edited() -> None:
    image = np.full((512, 512, 3), 200, np.uint8)  # no subject, no headline
    result = run_session(image, palette=RUST, editors=local_chain(RUST))
    assert result.assessment.verdict == "regenerate"
    assert not result.shipped and result.tried == ()


def test_hosted_result_is_composited_through_the_mask() -> None:
    image, _ = stray()
    a = assess(image, palette=RUST)
    (step,) = plan_edits(a.flaws)
    mask = edit_mask(image, step, palette=RUST, subject_mask=a.subject.mask)
    raw = np.clip(cv2.GaussianBlur(cv2.inpaint(image, mask.astype(np.uint8), 5,
                                               cv2.INPAINT_TELEA), (0, 0), 1.0) + 5, 0, 255)
    out = composite(image, raw.astype(np.uint8), mask, step)
    assert np.array_equal(out.image[~mask], image[~mask])
    assert out.ssim_outside == pytest.approx(1.0)
    assert not np.array_equal(out.image[mask], image[mask])
    # A result of another size (editors snap sizes) is brought back to the frame first.
    small = cv2.resize(raw.astype(np.uint8), (500, 500))
    assert composite(image, small, mask, step).image.shape == image.shape


def test_plan_has_face_care_instead_of_denoising_faces_and_upscales_last() -> None:
    face = (100, 100, 200, 220)
    plan = plan_edits([Flaw(FlawKind.NOISE, 0.5, None)], faces=[face], upscale_to=(2000, 2000))
    assert [s.edit for s in plan] == [EditKind.DENOISE, EditKind.FACE_CARE, EditKind.UPSCALE]
    assert plan[0].exclude == (face,) and plan[1].region == face
    strays = [Flaw(FlawKind.STRAY_OBJECT, 0.5, (i * 50, 0, i * 50 + 20, 20)) for i in range(3)]
    assert [s.edit for s in plan_edits(strays)] == [EditKind.BACKGROUND]
    assert upscale_target((1024, 1024, 3), [(1080, 1920), (1200, 628)]) == (1920, 1920)
    assert upscale_target((1024, 1024, 3), [(1000, 1000)]) is None


def test_face_care_smooths_skin_but_keeps_its_texture() -> None:
    c = synth.compose("astronaut", NAVY, scale=0.7)
    noisy = synth.noise(c.image, 12)
    a = assess(noisy, palette=NAVY)
    assert a.subject.faces, "the astronaut's face should be found"
    face = a.subject.faces[0]
    out = apply_edit(noisy, EditStep(EditKind.FACE_CARE, FlawKind.NOISE, face), palette=NAVY,
                     subject_mask=a.subject.mask)
    x0, y0, x1, y1 = face
    assert np.array_equal(out.image[~out.mask], noisy[~out.mask])
    assert out.mask[y0:y1, x0:x1].any() and not out.mask[:y0].any()
    assert 0.6 <= out.measure["texture_kept"] < 1.0
    inner = (slice(y0 + (y1 - y0) // 3, y1 - (y1 - y0) // 3),
             slice(x0 + (x1 - x0) // 3, x1 - (x1 - x0) // 3))
    err = np.abs(out.image[inner].astype(int) - c.image[inner].astype(int)).mean()
    assert err < np.abs(noisy[inner].astype(int) - c.image[inner].astype(int)).mean()


def test_upscale_covers_the_placement_and_keeps_the_content() -> None:
    image = synth.compose("coffee", RUST, scale=0.6).image
    out = apply_edit(image, EditStep(EditKind.UPSCALE, None, None, size=(1920, 1920)),
                     palette=RUST, subject_mask=np.zeros(image.shape[:2], bool))
    assert out.image.shape == (1920, 1920, 3)
    assert out.measure["round_trip_ssim"] >= 0.98


def test_session_upscales_a_clean_frame_once() -> None:
    image = synth.compose("coffee", RUST, scale=0.6).image
    result = run_session(image, palette=RUST, editors=local_chain(RUST), upscale_to=(1536, 1536))
    assert result.shipped, result.reason
    assert [t.step.edit for t in result.tried] == [EditKind.UPSCALE]
    assert result.image.shape == (1536, 1536, 3)


def test_exported_ora_opens_in_pyora_with_every_layer_and_its_pixels(tmp_path: Path) -> None:
    image, _ = stray()
    result = run_session(image, palette=RUST, editors=local_chain(RUST),
                         checks=Checks(), upscale_to=(1200, 1200))
    assert result.shipped
    patches = [ora.Patch(f"{i + 1:02d} {t.step.edit.value}", t.outcome.image, t.outcome.mask)
               for i, t in enumerate(result.accepted)]
    layers = ora.edit_layers(image, patches)
    data = ora.write_ora(layers)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        first = z.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert z.read("mimetype") == b"image/openraster"
    path = tmp_path / "master.ora"
    path.write_bytes(data)
    project = pyora.Project.load(str(path))
    assert project.dimensions == (1200, 1200)
    found = {layer.name: layer for layer in project.iter_layers}
    assert set(found) == {layer.name for layer in layers}
    assert set(found) == {"original", "01 erase", "02 upscale", "mask: 01 erase",
                          "mask: 02 upscale"}
    for layer in layers:
        pixels = np.asarray(found[layer.name].get_image_data(raw=False).convert("RGBA"))
        assert np.array_equal(pixels, layer.rgba), layer.name
        assert found[layer.name].visible == layer.visible
    erase_mask = np.asarray(found["mask: 01 erase"].get_image_data(raw=False))[..., 3] > 0
    assert erase_mask.any() and not erase_mask.all()
    merged = np.asarray(project.get_image_data(use_original=True).convert("RGB"))
    assert np.array_equal(merged, result.image)  # the visible stack is the master


def test_bench_edit_runs_on_a_tiny_subset(capsys: pytest.CaptureFixture[str]) -> None:
    s = bench_edit.labeled(24, show=False)  # eval half of 24: 12 items, about half superficial
    assert s.items >= 4 and s.fixed >= 1
    assert all(v >= 0.98 for v in s.ssims)
    arms = bench_edit.simulated(bench_edit.load_catalog().get("seedream-4"), 2)
    assert len(arms.regen_usd) == 2
    assert all(e <= r for e, r in zip(arms.edit_usd, arms.regen_usd, strict=True))


def test_edits_route_by_the_policy_local_engine_only_as_itself() -> None:
    from route_assets.catalog import LOCAL, load_catalog, load_policy
    from route_assets.routing import Need, NoRouteError, route

    policy, catalog = load_policy(), load_catalog()
    for kind in EditKind:
        if kind != EditKind.REGENERATE:
            assert policy.edit.editors[kind.value], kind
            for model_id in policy.edit.editors[kind.value]:
                assert "edit" in catalog.get(model_id).capabilities
    need = Need("edit", "erase")
    first = route(need, policy, catalog, frozenset({LOCAL, "fal"}))
    assert (first.model, first.provider, first.estimated_cost_usd) == ("classical", LOCAL, 0.0)
    avoid = {("classical", LOCAL): "failed the edit checks"}
    second = route(need, policy, catalog, frozenset({LOCAL, "fal"}), avoid=avoid)
    assert (second.model, second.provider) == ("flux-pro-erase", "fal")
    assert second.estimated_cost_usd == pytest.approx(0.038)
    with pytest.raises(NoRouteError):  # offline, no hosted editor stands in for a failed edit
        route(need, policy, catalog, frozenset({LOCAL}), avoid=avoid)

"""The learned foreground box: the pure box maths, how the planner consults it, the installed
IS-Net model on real photographs, and the installer's refusals."""

import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from route_assets import settings
from route_assets.engines import foreground_model
from route_assets.engines.foreground_model import ModelInstallError, fetch, installed
from route_assets.imaging import foreground
from route_assets.imaging.foreground import ForegroundModel, foreground_box
from route_assets.imaging.framing import keep_for
from route_assets.imaging.resize import overlap_fraction

COFFEE_CUP = (172, 18, 408, 308)  # bench/crop/annotations.yaml, on the 400x600 photograph
ROCKET = (305, 125, 337, 410)  # same, on the 427x640 photograph


def test_box_covers_the_matte_and_drops_specks():
    prob = np.zeros((100, 100), np.float32)
    prob[20:60, 30:70] = 0.9  # the object
    prob[90:92, 2:4] = 0.8  # a speck: far less than MIN_SHARE of the object's mass
    x0, y0, x1, y1 = foreground_box(prob, 1000, 500)
    assert (x0, x1) == (300 - 16, 700 + 16)  # PAD of the 400-px width each side
    assert (y0, y1) == (100 - 8, 300 + 8)
    assert foreground_box(np.zeros((64, 64), np.float32), 1024, 1024) is None


class CornerMatte:
    """A matte that finds one object in the top-left corner, and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def probability(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        prob = np.zeros((64, 64), np.float32)
        prob[2:12, 2:12] = 1.0
        return prob


def _disc(background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = background.copy()
    yy, xx = np.mgrid[:1024, :1024]
    mask = (yy - 480) ** 2 + (xx - 512) ** 2 < 150**2
    image[mask] = (200, 40, 40)
    return image.astype(np.uint8), mask


def test_planner_consults_the_matte_only_where_the_subject_estimate_is_not_trusted():
    box = (352, 320, 673, 641)
    matte = CornerMatte()
    plain, mask = _disc(np.full((1024, 1024, 3), 128.0))
    keep = keep_for(plain, subject_box=box, subject_mask=mask, detect=False, foreground=matte)
    assert matte.calls == 0 and len(keep.boxes) == 1
    rng = np.random.default_rng(1)
    busy, mask = _disc(rng.uniform(0, 255, (32, 32, 3)).repeat(32, 0).repeat(32, 1))
    keep = keep_for(busy, subject_box=box, subject_mask=mask, detect=False, foreground=matte)
    assert matte.calls == 1
    corner = [b for b in keep.boxes if b[2] <= 200 and b[3] <= 200]
    assert corner and corner[0][0] <= 32 and corner[0][2] >= 192  # 2..12 of 64 -> 32..192


def _model() -> ForegroundModel:
    model = installed()
    assert model is not None, (
        f"no foreground model at {settings.foreground_model_path()}: `make` installs it "
        "(route-assets install-models, which needs npm)")
    return model


@pytest.mark.parametrize(("photo", "subject"), [(data.coffee, COFFEE_CUP),
                                                (data.rocket, ROCKET)])
def test_installed_model_finds_the_subject_of_real_photographs(photo, subject):
    image = photo()
    h, w = image.shape[:2]
    box = foreground_box(_model().probability(image), w, h)
    assert box is not None
    assert overlap_fraction(subject, box) >= 0.99  # the whole subject is inside
    assert (box[2] - box[0]) * (box[3] - box[1]) < 0.8 * w * h  # not the whole photograph


def test_converted_graph_runs_at_any_multiple_of_64(monkeypatch):
    model, image = _model(), data.coffee()
    boxes = []
    for side in (128, 256):
        monkeypatch.setattr(foreground, "SIDE", side)
        prob = model.probability(image)
        assert prob.shape == (side, side) and 0.0 <= prob.min() and prob.max() <= 1.0
        boxes.append(foreground_box(prob, 600, 400))
    assert overlap_fraction(boxes[0], boxes[1]) > 0.8  # the same cup at either size


def test_a_damaged_model_file_names_itself_and_the_fix(tmp_path):
    broken = tmp_path / "isnet.onnx"
    broken.write_bytes(b"not an onnx graph")
    with pytest.raises(RuntimeError, match=r"isnet\.onnx: not a loadable.*--force"):
        ForegroundModel(broken).probability(np.zeros((64, 64, 3), np.uint8))


def _fake_npm(folder: Path, payload: bytes, chunk: int) -> None:
    """An `npm` that 'packs' a package shaped like @imgly/background-removal-data: the model
    split into content-addressed chunks listed in dist/resources.json."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as tar:
        chunks = []
        for start in range(0, len(payload), chunk):
            part = payload[start:start + chunk]
            name = hashlib.sha256(part).hexdigest()
            chunks.append({"hash": name, "offsets": [start, start + len(part)]})
            info = tarfile.TarInfo(f"package/dist/{name}")
            info.size = len(part)
            tar.addfile(info, io.BytesIO(part))
        index = json.dumps({foreground_model.RESOURCE: {"chunks": chunks}}).encode()
        info = tarfile.TarInfo("package/dist/resources.json")
        info.size = len(index)
        tar.addfile(info, io.BytesIO(index))
    (folder / "pkg.tgz").write_bytes(tar_bytes.getvalue())
    npm = folder / "npm"
    # npm pack PACKAGE --pack-destination DIR --silent
    npm.write_text(f'#!/bin/sh\ncp "{folder / "pkg.tgz"}" "$4/"\n')
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)


def test_fetch_reassembles_the_chunks_and_refuses_an_unknown_model(tmp_path, monkeypatch):
    payload = os.urandom(10_000)
    bin_dir, work = tmp_path / "bin", tmp_path / "work"
    bin_dir.mkdir()
    work.mkdir()
    _fake_npm(bin_dir, payload, chunk=4096)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(foreground_model, "MODEL_SHA256", hashlib.sha256(payload).hexdigest())
    assert fetch(work) == payload
    monkeypatch.setattr(foreground_model, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ModelInstallError, match="refusing an unknown model"):
        fetch(tmp_path / "work")


def test_fetch_without_npm_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(foreground_model.shutil, "which", lambda name: None)
    with pytest.raises(ModelInstallError, match="apt-get install npm"):
        fetch(tmp_path)

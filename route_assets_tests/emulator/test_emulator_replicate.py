"""Replicate's predictions API as provider-apis.md §2 documents it."""

import time

import httpx

from route_assets.emulator import Emulator
from route_assets.imaging.video import probe_video
from route_assets_tests.emulator.support import PROMPT, data_uri, pixels, png, replicate_auth

FLUX = "black-forest-labs/flux-1.1-pro"
SMALL = {"prompt": PROMPT, "aspect_ratio": "custom", "width": 256, "height": 256}


def create(http: httpx.Client, emu: Emulator, model: str = FLUX, prefer: str | None = None,
           **inputs: object) -> httpx.Response:
    headers = replicate_auth(emu) | ({"Prefer": prefer} if prefer else {})
    return http.post(f"{emu.base_urls()['replicate']}/models/{model}/predictions",
                     json={"input": {**SMALL, **inputs}}, headers=headers)


def test_prediction_lifecycle_and_output_uri(emu: Emulator, http: httpx.Client) -> None:
    emu.set_latency(0.4)
    created = create(http, emu, seed=9)
    assert created.status_code == 201
    prediction = created.json()
    get = f"{emu.root}/replicate/v1/predictions/{prediction['id']}"
    assert prediction["urls"]["get"] == get == created.headers["location"]
    assert prediction["urls"]["cancel"] == get + "/cancel"
    assert (prediction["status"], prediction["output"], prediction["model"]) == (
        "starting", None, FLUX)
    time.sleep(0.5)
    done = http.get(get, headers=replicate_auth(emu)).json()
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["completed_at"].endswith("Z") and done["metrics"]["predict_time"] > 0
    assert isinstance(done["output"], str) and done["output"].startswith(emu.root + "/cdn/")
    assert pixels(http.get(done["output"]).content).shape == (256, 256, 3)
    assert done["input"]["seed"] == 9
    assert (emu.attempts("replicate"), emu.submissions("replicate", FLUX)) == (1, 1)


def test_prefer_wait_returns_the_finished_prediction(emu: Emulator, http: httpx.Client) -> None:
    emu.set_latency(0.2)
    done = create(http, emu, prefer="wait").json()
    assert done["status"] == "succeeded" and done["output"]
    emu.set_latency(5)
    started = time.monotonic()
    held = create(http, emu, prefer="wait=1").json()
    assert 0.9 < time.monotonic() - started < 3
    assert held["status"] in ("starting", "processing") and held["output"] is None


def test_seedream_outputs_an_array_and_edits_return_the_input(emu: Emulator,
                                                              http: httpx.Client) -> None:
    source = png()
    out = create(http, emu, "bytedance/seedream-4", image_input=[data_uri(source)]).json()
    assert isinstance(out["output"], list) and len(out["output"]) == 1
    assert (pixels(http.get(out["output"][0]).content) == pixels(source)).all()
    kontext = create(http, emu, "black-forest-labs/flux-kontext-pro",
                     input_image=out["output"][0]).json()
    assert (pixels(http.get(kontext["output"]).content) == pixels(source)).all()


def test_video_model_output_is_an_mp4_uri(emu: Emulator, http: httpx.Client) -> None:
    out = create(http, emu, "kwaivgi/kling-v2.1", start_image=data_uri(png(160, 96)),
                 aspect_ratio=None, duration=1).json()
    info = probe_video(http.get(out["output"]).content)
    assert (info.width, info.height, info.frames) == (640, 360, 12)
    missing = create(http, emu, "kwaivgi/kling-v2.1")
    assert missing.status_code == 422 and missing.json()["invalid_fields"][0]["field"] == (
        "start_image")


def test_moderation_is_a_failed_prediction_with_e005(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("replicate", "moderation", phase="status")
    prediction = create(http, emu).json()
    failed = http.get(prediction["urls"]["get"], headers=replicate_auth(emu)).json()
    assert failed["status"] == "failed" and "(E005)" in failed["error"]
    assert failed["output"] is None
    assert emu.submissions("replicate") == 1  # created, run and billed


def test_error_shapes(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("replicate", "402")
    emu.inject("replicate", "429", retry_after_s=30)
    billing = create(http, emu)
    assert billing.status_code == 402 and billing.json()["title"] == "Billing required"
    throttled = create(http, emu)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "30"
    assert throttled.json()["detail"].startswith("Request was throttled")
    bad_auth = http.post(f"{emu.base_urls()['replicate']}/models/{FLUX}/predictions",
                         json={"input": SMALL}, headers={"Authorization": "Bearer nope"})
    assert bad_auth.status_code == 401 and bad_auth.json()["status"] == 401
    unknown = http.get(f"{emu.base_urls()['replicate']}/predictions/zzz",
                       headers=replicate_auth(emu))
    assert unknown.status_code == 404 and unknown.json()["title"] == "Not found"
    assert (emu.attempts("replicate"), emu.submissions("replicate")) == (3, 0)


def test_status_faults_and_cancel(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("replicate", "503", phase="status")
    emu.inject("replicate", "expired", phase="result")
    prediction = create(http, emu).json()
    get = prediction["urls"]["get"]
    assert http.get(get, headers=replicate_auth(emu)).status_code == 503
    assert http.get(get, headers=replicate_auth(emu)).status_code == 404  # result gone
    emu.set_latency(5)
    slow = create(http, emu).json()
    canceled = http.post(slow["urls"]["cancel"], headers=replicate_auth(emu)).json()
    assert canceled["status"] == "canceled"


def test_crisp_upscale_takes_the_image_alone(emu: Emulator, http: httpx.Client) -> None:
    model = "recraft-ai/recraft-crisp-upscale"
    headers = replicate_auth(emu)
    url = f"{emu.base_urls()['replicate']}/models/{model}/predictions"
    source = png()
    done = http.post(url, json={"input": {"image": data_uri(source)}},
                     headers=headers | {"Prefer": "wait"}).json()
    assert done["status"] == "succeeded" and done["output"].startswith(emu.root + "/cdn/")
    missing = http.post(url, json={"input": {"prompt": PROMPT}}, headers=headers)
    assert missing.status_code == 422
    assert missing.json()["invalid_fields"][0]["field"] == "image"

"""fal's queue protocol as provider-apis.md §1 documents it."""

import time

import httpx
import pytest

from route_assets.emulator import Emulator
from route_assets.imaging.video import probe_video
from route_assets_tests.emulator.support import PROMPT, data_uri, fal_auth, pixels, png

FLUX = "fal-ai/flux/dev"
KLING = "fal-ai/kling-video/v2.1/standard/image-to-video"
SMALL = {"prompt": PROMPT, "image_size": {"width": 256, "height": 256}}


def submit(http: httpx.Client, emu: Emulator, endpoint: str = FLUX, **body: object
           ) -> httpx.Response:
    return http.post(f"{emu.base_urls()['fal']}/{endpoint}", json={**SMALL, **body},
                     headers=fal_auth(emu))


def test_image_submit_poll_result_download(emu: Emulator, http: httpx.Client) -> None:
    queued = submit(http, emu, seed=42)
    assert queued.status_code == 200
    job = queued.json()
    base = f"{emu.root}/fal/fal-ai/flux/requests/{job['request_id']}"  # owner/alias only
    assert (job["response_url"], job["status_url"], job["cancel_url"]) == (
        base, base + "/status", base + "/cancel")
    assert job["queue_position"] == 0
    status = http.get(job["status_url"], headers=fal_auth(emu))
    assert status.json()["status"] == "COMPLETED"
    output = http.get(job["response_url"], headers=fal_auth(emu)).json()
    assert output["seed"] == 42 and output["has_nsfw_concepts"] == [False]
    image = output["images"][0]
    assert (image["width"], image["height"], image["content_type"]) == (256, 256, "image/png")
    assert image["url"].startswith(emu.root + "/cdn/")
    media = http.get(image["url"])  # a signed CDN URL: no credentials
    assert media.headers["content-type"] == "image/png"
    assert pixels(media.content).shape == (256, 256, 3)
    assert (emu.attempts("fal"), emu.submissions("fal"), emu.submissions(model=FLUX)) == (1, 1, 1)
    assert emu.inputs("fal")[0]["seed"] == 42


def test_latency_walks_the_queue_states(emu: Emulator, http: httpx.Client) -> None:
    emu.set_latency(0.6)
    job = submit(http, emu).json()
    first = http.get(job["status_url"], headers=fal_auth(emu))
    assert (first.status_code, first.json()["status"]) == (202, "IN_QUEUE")
    early = http.get(job["response_url"], headers=fal_auth(emu))
    assert early.status_code == 400  # the result does not exist before COMPLETED
    time.sleep(0.25)
    assert http.get(job["status_url"], headers=fal_auth(emu)).json()["status"] == "IN_PROGRESS"
    time.sleep(0.4)
    assert http.get(job["status_url"], headers=fal_auth(emu)).json()["status"] == "COMPLETED"
    assert http.get(job["response_url"], headers=fal_auth(emu)).status_code == 200


def test_video_from_a_data_uri_keyframe(emu: Emulator, http: httpx.Client) -> None:
    job = submit(http, emu, KLING, image_url=data_uri(png()), duration="5", seed=5).json()
    assert job["status_url"].startswith(f"{emu.root}/fal/fal-ai/kling-video/requests/")
    output = http.get(job["response_url"], headers=fal_auth(emu)).json()
    assert output["seed"] == 5 and output["video"]["content_type"] == "video/mp4"
    info = probe_video(http.get(output["video"]["url"]).content)
    assert (info.codec, info.width, info.height, info.seconds) == ("h264", 360, 640, 5.0)
    missing = submit(http, emu, KLING)  # image-to-video without an image
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body",
                                                                                 "image_url"]


def test_edit_returns_the_input_image_from_an_emulator_url(emu: Emulator,
                                                           http: httpx.Client) -> None:
    first = http.get(submit(http, emu).json()["response_url"], headers=fal_auth(emu)).json()
    url = first["images"][0]["url"]
    edit = submit(http, emu, "fal-ai/flux-pro/kontext", image_url=url, image_size=None).json()
    edited = http.get(edit["response_url"], headers=fal_auth(emu)).json()["images"][0]
    assert (pixels(http.get(edited["url"]).content) == pixels(http.get(url).content)).all()
    sync = submit(http, emu, image_urls=[url], image_size=None, sync_mode=True).json()
    inline = http.get(sync["response_url"], headers=fal_auth(emu)).json()["images"][0]["url"]
    assert inline.startswith("data:image/png;base64,")


def test_auth_is_enforced_and_counted_as_an_attempt(emu: Emulator, http: httpx.Client) -> None:
    url = f"{emu.base_urls()['fal']}/{FLUX}"
    for headers in ({}, {"Authorization": "Key wrong"}, {"Authorization": "Bearer x"}):
        refused = http.post(url, json=SMALL, headers=headers)
        assert refused.status_code == 401 and "detail" in refused.json()
    job = submit(http, emu).json()
    assert http.get(job["status_url"], headers={"Authorization": "Key nope"}).status_code == 401
    assert (emu.attempts("fal"), emu.submissions("fal")) == (4, 1)


def test_urls_derived_from_the_full_endpoint_id_are_not_found(emu: Emulator,
                                                              http: httpx.Client) -> None:
    job = submit(http, emu).json()
    wrong = f"{emu.root}/fal/{FLUX}/requests/{job['request_id']}/status"
    assert http.get(wrong, headers=fal_auth(emu)).status_code == 404


@pytest.mark.parametrize(("fault", "status", "detail"), [
    ("429", 429, "Rate limit exceeded"),
    ("402", 402, "User is locked. Reason: Exhausted balance."),
])
def test_refused_submits_are_not_billed(emu: Emulator, http: httpx.Client, fault: str,
                                        status: int, detail: str) -> None:
    emu.inject("fal", fault, retry_after_s=3)
    refused = submit(http, emu)
    assert (refused.status_code, refused.json()["detail"]) == (status, detail)
    if fault == "429":
        assert refused.headers["retry-after"] == "3"
    assert submit(http, emu).status_code == 200  # one firing only
    assert (emu.attempts("fal"), emu.submissions("fal")) == (2, 1)


def test_server_error_shapes(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("fal", "500")
    emu.inject("fal", "503")
    err = submit(http, emu)
    assert err.status_code == 500
    assert err.json()["detail"][0]["type"] == "downstream_service_error"
    unavailable = submit(http, emu)
    assert unavailable.status_code == 503
    assert unavailable.headers["x-fal-error-type"] == "runner_scheduling_failure"
    assert emu.submissions("fal") == 0


def test_moderation_on_submit_and_on_result(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("fal", "moderation")
    refused = submit(http, emu)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "content_policy_violation"
    assert emu.submissions("fal") == 0
    emu.inject("fal", "moderation", phase="result")
    job = submit(http, emu).json()
    assert http.get(job["status_url"], headers=fal_auth(emu)).json()["status"] == "COMPLETED"
    for _ in range(2):  # the job failed for good, not just one response
        result = http.get(job["response_url"], headers=fal_auth(emu))
        assert result.status_code == 422
        assert result.json()["detail"][0]["type"] == "content_policy_violation"
    assert emu.submissions("fal") == 1


def test_expired_malformed_and_cancel(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("fal", "malformed", phase="status")
    emu.inject("fal", "expired", phase="result")
    job = submit(http, emu).json()
    garbled = http.get(job["status_url"], headers=fal_auth(emu))
    assert garbled.status_code == 200
    with pytest.raises(ValueError):
        garbled.json()
    assert http.get(job["response_url"], headers=fal_auth(emu)).status_code == 404
    emu.set_latency(5)
    slow = submit(http, emu).json()
    cancel = http.put(slow["cancel_url"], headers=fal_auth(emu))
    assert (cancel.status_code, cancel.json()["status"]) == (202, "CANCELLATION_REQUESTED")
    done = http.put(job["cancel_url"], headers=fal_auth(emu))
    assert done.json()["status"] == "ALREADY_COMPLETED"


def test_a_hung_submit_still_creates_the_paid_job(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("fal", "hang", hang_s=2)
    with pytest.raises(httpx.ReadTimeout):
        http.post(f"{emu.base_urls()['fal']}/{FLUX}", json=SMALL, headers=fal_auth(emu),
                  timeout=0.3)
    # The answer was lost, the job was not: a blind re-POST would pay twice.
    assert (emu.attempts("fal"), emu.submissions("fal")) == (1, 1)
    emu.inject("fal", "malformed")
    garbled = submit(http, emu)
    assert garbled.status_code == 200
    with pytest.raises(ValueError):
        garbled.json()
    assert (emu.attempts("fal"), emu.submissions("fal")) == (2, 2)

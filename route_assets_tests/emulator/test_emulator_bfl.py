"""Black Forest Labs' API as provider-apis.md §3 documents it."""

import httpx

from route_assets.emulator import Emulator
from route_assets_tests.emulator.support import PROMPT, b64, bfl_auth, pixels, png


def submit(http: httpx.Client, emu: Emulator, model: str = "flux-pro-1.1", **body: object
           ) -> httpx.Response:
    return http.post(f"{emu.base_urls()['bfl']}/v1/{model}",
                     json={"prompt": PROMPT, "width": 256, "height": 256, **body},
                     headers=bfl_auth(emu))


def poll(http: httpx.Client, emu: Emulator, url: str) -> httpx.Response:
    return http.get(url, headers=bfl_auth(emu))


def test_submit_poll_ready_sample(emu: Emulator, http: httpx.Client) -> None:
    emu.set_latency(0.3)
    task = submit(http, emu, seed=11).json()
    assert task["polling_url"] == f"{emu.root}/bfl/v1/get_result?id={task['id']}"
    assert (task["cost"], task["output_mp"]) == (4.0, 0.07)
    pending = poll(http, emu, task["polling_url"]).json()
    assert pending["status"] == "Pending" and pending["result"] is None
    emu.set_latency(0)
    ready = submit(http, emu, seed=11).json()
    result = poll(http, emu, ready["polling_url"]).json()
    assert result["status"] == "Ready" and result["result"]["seed"] == 11
    assert pixels(http.get(result["result"]["sample"]).content).shape == (256, 256, 3)
    assert emu.submissions("bfl", "/v1/flux-pro-1.1") == emu.submissions("bfl") == 2


def test_kontext_edit_returns_the_base64_input(emu: Emulator, http: httpx.Client) -> None:
    source = png()
    task = http.post(f"{emu.base_urls()['bfl']}/v1/flux-kontext-pro",
                     json={"prompt": "remove the blob", "input_image": b64(source)},
                     headers=bfl_auth(emu)).json()
    sample = poll(http, emu, task["polling_url"]).json()["result"]["sample"]
    assert (pixels(http.get(sample).content) == pixels(source)).all()


def test_moderation_statuses(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("bfl", "moderation")
    refused = submit(http, emu).json()
    assert poll(http, emu, refused["polling_url"]).json()["status"] == "Request Moderated"
    emu.inject("bfl", "moderation", phase="status")  # the next poll of any BFL task
    blocked = submit(http, emu).json()
    for _ in range(2):  # the task's outcome, not one bad response
        assert poll(http, emu, blocked["polling_url"]).json()["status"] == "Content Moderated"
    assert emu.submissions("bfl") == 2


def test_errors_auth_and_expiry(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("bfl", "429", retry_after_s=2)
    emu.inject("bfl", "402")
    throttled = submit(http, emu)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"
    assert submit(http, emu).status_code == 402
    unknown = submit(http, emu, "no-such-model")
    assert unknown.status_code == 404 and "detail" in unknown.json()
    url = f"{emu.base_urls()['bfl']}/v1/flux-pro-1.1"
    assert http.post(url, json={"prompt": "x"}, headers={"x-key": "nope"}).status_code == 401
    emu.inject("bfl", "expired", phase="result")
    task = submit(http, emu).json()
    gone = poll(http, emu, task["polling_url"])
    assert (gone.status_code, gone.json()["status"]) == (404, "Task not found")
    assert (emu.attempts("bfl"), emu.submissions("bfl")) == (5, 1)  # 404 model included

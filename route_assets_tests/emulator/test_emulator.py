"""The emulator's own API: layout, downloads and their faults, counters, keys, lifecycle."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from route_assets.emulator import Emulator, serve_forever
from route_assets_tests.emulator.support import PROMPT, bfl_auth, fal_auth, gemini_auth

FLUX = "fal-ai/flux/schnell"


def fal_image_url(http: httpx.Client, emu: Emulator) -> str:
    job = http.post(f"{emu.base_urls()['fal']}/{FLUX}", headers=fal_auth(emu),
                    json={"prompt": PROMPT, "image_size": {"width": 128, "height": 128}}).json()
    return str(http.get(job["response_url"], headers=fal_auth(emu)).json()["images"][0]["url"])


def test_layout_and_environment(emu: Emulator) -> None:
    root = emu.root
    assert root.startswith("http://127.0.0.1:")
    assert emu.base_urls() == {"fal": root + "/fal", "replicate": root + "/replicate/v1",
                               "bfl": root + "/bfl", "gemini": root + "/gemini"}
    env = emu.env()
    assert {k: env[k] for k in ("FAL_BASE_URL", "GEMINI_BASE_URL")} == {
        "FAL_BASE_URL": root + "/fal", "GEMINI_BASE_URL": root + "/gemini"}
    assert all(env[k] for k in ("FAL_KEY", "REPLICATE_API_TOKEN", "BFL_API_KEY",
                                "GEMINI_API_KEY"))
    assert emu.env_for("http://h:1/")["REPLICATE_BASE_URL"] == "http://h:1/replicate/v1"


def test_download_faults(emu: Emulator, http: httpx.Client) -> None:
    url = fal_image_url(http, emu)
    emu.inject("bfl", "wrong_type", phase="download")  # another provider's media: no effect
    assert http.get(url).headers["content-type"] == "image/png"
    emu.reset()
    url = fal_image_url(http, emu)
    for fault in ("429", "wrong_type", "malformed", "truncated"):
        emu.inject("fal", fault, phase="download", retry_after_s=5)
    throttled = http.get(url)
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "5"
    html = http.get(url)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    corrupt = http.get(url)
    assert corrupt.content[:8] == b"\x89PNG\r\n\x1a\n" and len(set(corrupt.content[16:])) == 1
    with pytest.raises(httpx.RemoteProtocolError):  # fewer bytes than Content-Length
        http.get(url)
    assert http.get(url).status_code == 200
    emu.inject("fal", "expired", phase="download")
    assert http.get(url).status_code == 404
    assert http.get(url).status_code == 404  # gone for good


def test_oversized_download_is_lazy_and_unbounded_looking(emu: Emulator,
                                                          http: httpx.Client) -> None:
    url = fal_image_url(http, emu)
    emu.inject("fal", "oversized", phase="download")
    with http.stream("GET", url) as response:
        assert response.headers["content-type"] == "image/png"
        assert "content-length" not in response.headers  # only counting the bytes tells
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > 4_000_000:
                break
    assert received > 4_000_000
    assert http.get(url).status_code == 200  # the server dropped that stream, not the blob


def test_counters_are_exact_under_concurrency(emu: Emulator) -> None:
    emu.inject("fal", "429", times=4)
    url = f"{emu.base_urls()['fal']}/{FLUX}"

    def post(_: int) -> int:
        with httpx.Client(timeout=10) as client:
            return client.post(url, headers=fal_auth(emu), json={"prompt": "x"}).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(post, range(12)))
    assert statuses == [200] * 8 + [429] * 4
    assert (emu.attempts(), emu.submissions(), emu.submissions("fal", FLUX)) == (12, 8, 8)
    assert emu.submissions("replicate") == 0 and emu.pending_faults() == 0


def test_faults_can_target_one_model(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("bfl", "500", model="/v1/flux-kontext-pro")
    body = {"prompt": PROMPT, "width": 128, "height": 128}
    other = http.post(f"{emu.base_urls()['bfl']}/v1/flux-pro-1.1", json=body,
                      headers=bfl_auth(emu))
    target = http.post(f"{emu.base_urls()['bfl']}/v1/flux-kontext-pro", json=body,
                       headers=bfl_auth(emu))
    assert (other.status_code, target.status_code) == (200, 500)


@pytest.mark.parametrize(("args", "kwargs"), [
    (("openai", "429"), {}),
    (("fal", "boom"), {}),
    (("fal", "429"), {"phase": "later"}),
    (("fal", "truncated"), {"phase": "submit"}),
    (("fal", "moderation"), {"phase": "download"}),
    (("fal", "expired"), {"phase": "submit"}),
    (("fal", "429"), {"times": 0}),
])
def test_inject_rejects_nonsense(emu: Emulator, args: tuple[str, str],
                                 kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        emu.inject(*args, **kwargs)  # type: ignore[arg-type]


def test_keys_are_never_echoed_or_logged(emu: Emulator, http: httpx.Client,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    keys = [v for k, v in emu.env().items() if not k.endswith("_BASE_URL")]
    base = emu.base_urls()
    responses = [
        http.post(f"{base['fal']}/{FLUX}", json={"prompt": "x"}, headers=fal_auth(emu)),
        http.post(f"{base['fal']}/{FLUX}", json={"prompt": "x"},
                  headers={"Authorization": "Key " + keys[1]}),
        http.post(f"{base['gemini']}/v1beta/models/gemini-2.5-flash-image:generateContent",
                  params={"key": "k" + keys[3]}, json={"contents": []}),
        http.post(f"{base['gemini']}/v1beta/models/gemini-2.5-flash-image:generateContent",
                  headers=gemini_auth(emu), json={"contents": []}),
        http.get(f"{base['replicate']}/predictions/abc", headers={"Authorization": keys[1]}),
    ]
    for response in responses:
        text = response.text + str(response.headers)
        assert not any(key in text for key in keys)
    out, err = capfd.readouterr()
    assert not any(key in out + err for key in keys) and err == ""


def test_reset_forgets_everything(emu: Emulator, http: httpx.Client) -> None:
    url = fal_image_url(http, emu)
    emu.inject("fal", "500", times=3)
    emu.set_latency(9)
    emu.reset()
    assert (emu.submissions(), emu.attempts(), emu.pending_faults(), emu.inputs()) == (
        0, 0, 0, [])
    assert http.get(url).status_code == 404
    assert http.get(fal_image_url(http, emu)).status_code == 200  # latency is back to 0


def test_custom_keys_and_stop_releases_held_connections() -> None:
    with pytest.raises(ValueError):
        Emulator(keys={"fal": "only-one"})
    keys = {"fal": "f", "replicate": "r", "bfl": "b", "gemini": "g"}
    emu = Emulator(keys=keys).start()
    emu.inject("bfl", "hang", hang_s=30)
    outcome: list[str] = []

    def call() -> None:
        try:
            httpx.post(f"{emu.base_urls()['bfl']}/v1/flux-dev", headers={"x-key": "b"},
                       json={"prompt": "x"}, timeout=20)
            outcome.append("answered")
        except httpx.HTTPError as exc:
            outcome.append(type(exc).__name__)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    emu.stop()
    worker.join(timeout=5)
    assert time.monotonic() - started < 3
    assert outcome == ["RemoteProtocolError"]  # closed without an answer
    assert emu.submissions("bfl") == 1


def test_serve_forever_returns_on_keyboard_interrupt() -> None:
    seen: list[int] = []

    def ready(emu: Emulator) -> None:
        seen.append(httpx.get(emu.root + "/nowhere").status_code)
        raise KeyboardInterrupt

    serve_forever(host="127.0.0.1", port=0, latency_s=0.0,
                  keys={"fal": "f", "replicate": "r", "bfl": "b", "gemini": "g"},
                  on_ready=ready)
    assert seen == [404]

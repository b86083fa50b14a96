import base64
import io
import logging

import httpx
import pytest
from PIL import Image

from route_assets.providers.base import (
    EditRequest,
    ImageRequest,
    Submission,
    VideoRequest,
)
from route_assets.providers.errors import (
    MalformedResponse,
    ModerationRefused,
    OutOfCredit,
    ProviderError,
    ProviderUnavailable,
)
from route_assets.providers.fal import FalProvider
from route_assets_tests.providers.fakes import (
    KEY,
    FakeClock,
    InMemoryJournal,
    Reply,
    Routes,
    jpeg,
    media,
    mp4,
    png,
)
from route_assets_tests.providers.fal_script import (
    BASE,
    CDN,
    IMAGE,
    RESULT,
    STATUS,
    SUBMIT,
    accepted,
    fal,
    flow,
    output,
    status,
)


def test_generate_submits_once_polls_with_backoff_then_downloads() -> None:
    routes, journal, clock = flow("IN_QUEUE", "IN_PROGRESS", "COMPLETED"), InMemoryJournal(), \
        FakeClock()

    image = fal(routes, journal, clock).generate(IMAGE)

    assert routes.calls() == [("POST", SUBMIT), ("GET", STATUS), ("GET", STATUS),
                              ("GET", STATUS), ("GET", RESULT), ("GET", CDN)]
    assert routes.body() == {"prompt": "red shoe on sand", "seed": 42, "num_images": 1,
                             "image_size": {"width": 1024, "height": 768},
                             "output_format": "png", "enable_safety_checker": True}
    assert all(r.headers["authorization"] == f"Key {KEY}" for r in routes.seen[:5])
    assert "authorization" not in routes.seen[-1].headers  # the key never goes to the CDN
    assert clock.sleeps == [2.0, 2.0]
    assert (image.png, image.seed, image.request_id, image.cost_usd, image.simulated) == (
        png(), 99, "r1", 0.025, False)
    assert [c for c, _ in journal.calls] == ["begin", "submitted", "completed"]
    assert journal.only().submission == Submission(
        provider="fal", model="flux-dev", request_id="r1", poll_url=STATUS, result_url=RESULT,
        cancel_url=RESULT + "/cancel")


def test_status_429_and_503_are_retried_honouring_retry_after() -> None:
    routes = flow()
    routes.routes[("GET", STATUS)] = [Reply(429, headers={"retry-after": "3"}),
                                      Reply(503, headers={"retry-after": "1"}),
                                      status("COMPLETED")]
    clock = FakeClock()

    assert fal(routes, clock=clock).generate(IMAGE).request_id == "r1"
    assert clock.sleeps == [3.0, 1.0]
    assert len(routes.posts()) == 1


@pytest.mark.parametrize("code", [429, 500, 503])
def test_a_failed_submit_is_not_retried_and_marks_the_entry_failed(code: int) -> None:
    routes = Routes({("POST", SUBMIT): [Reply(code, json={"detail": "busy"},
                                              headers={"retry-after": "1"})]})
    journal, clock = InMemoryJournal(), FakeClock()

    with pytest.raises(ProviderUnavailable):
        fal(routes, journal, clock).generate(IMAGE)
    assert len(routes.seen) == 1 and clock.sleeps == []
    assert journal.only().state == "failed"


def test_exhausted_balance_is_out_of_credit() -> None:
    routes = Routes({("POST", SUBMIT): [Reply(402, json={
        "detail": "User is locked. Reason: Exhausted balance."})]})
    journal = InMemoryJournal()

    with pytest.raises(OutOfCredit):
        fal(routes, journal).generate(IMAGE)
    assert journal.only().state == "failed"


def test_moderation_answered_on_the_response_url_fails_the_entry() -> None:
    routes = flow()
    routes.routes[("GET", RESULT)] = [Reply(422, json={"detail": [
        {"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}]})]
    journal = InMemoryJournal()

    with pytest.raises(ModerationRefused) as excinfo:
        fal(routes, journal).generate(IMAGE)
    assert excinfo.value.request_id == "r1"
    assert journal.only().state == "failed"
    assert ("GET", CDN) not in routes.calls()


def test_the_safety_checkers_black_image_is_moderation() -> None:
    routes = flow()
    routes.routes[("GET", RESULT)] = [output(has_nsfw_concepts=[True])]

    with pytest.raises(ModerationRefused):
        fal(routes).generate(IMAGE)


def test_a_poll_url_off_fals_hosts_never_receives_the_key() -> None:
    routes = flow()
    routes.routes[("POST", SUBMIT)] = [Reply(json={
        "request_id": "r1", "status_url": "https://evil.example/status", "response_url": RESULT})]

    with pytest.raises(MalformedResponse):
        fal(routes).generate(IMAGE)
    assert [r.url.host for r in routes.seen] == ["queue.fal.run"]


def test_a_jpeg_output_is_stored_as_png() -> None:
    routes = flow()
    routes.routes[("GET", CDN)] = [media(jpeg(16, 12), "image/jpeg")]

    image = fal(routes).generate(IMAGE)

    with Image.open(io.BytesIO(image.png)) as im:
        assert (im.format, im.size) == ("PNG", (16, 12))


def test_seedream_is_asked_for_at_least_its_minimum_canvas() -> None:
    ep = "fal-ai/bytedance/seedream/v4/text-to-image"
    routes = flow(submit=f"{BASE}/{ep}")
    request = ImageRequest(model="seedream-4", endpoint=ep, prompt="p", subject="s",
                           headline="h", palette=(), width=540, height=960, seed=3)

    fal(routes).generate(request)

    size = routes.body()["image_size"]
    assert size["width"] * size["height"] >= 921_600
    assert abs(size["width"] / size["height"] - 540 / 960) < 0.02


@pytest.mark.parametrize(("endpoint", "posted", "image_field"), [
    ("fal-ai/nano-banana", "fal-ai/nano-banana/edit", "image_urls"),
    ("fal-ai/flux-pro/kontext", "fal-ai/flux-pro/kontext", "image_url"),
    ("fal-ai/bytedance/seedream/v4/text-to-image", "fal-ai/bytedance/seedream/v4/edit",
     "image_urls"),
])
def test_edit_sends_the_image_inline(endpoint: str, posted: str, image_field: str) -> None:
    routes = flow(submit=f"{BASE}/{posted}")
    source = png(32, 32)
    request = EditRequest(model="m", endpoint=endpoint, instruction="remove the blob",
                          image_png=source, mask_png=None, width=32, height=32, seed=5)

    fal(routes).edit(request)

    body = routes.body()
    uri = body[image_field][0] if image_field == "image_urls" else body[image_field]
    assert body["prompt"] == "remove the blob"
    assert uri == "data:image/png;base64," + base64.b64encode(source).decode()


@pytest.mark.parametrize(("endpoint", "seconds", "expected"), [
    ("fal-ai/kling-video/v2.1/standard/image-to-video", 4.2,
     {"duration": "5", "cfg_scale": 0.5}),
    ("fal-ai/veo3.1/fast/image-to-video", 5.0,
     {"duration": "6s", "aspect_ratio": "9:16", "generate_audio": False, "seed": 8}),
    # fal's Seedance takes any whole second from 2 to 12 (provider-apis.md §7.3).
    ("fal-ai/bytedance/seedance/v1/lite/image-to-video", 6.5,
     {"duration": "7", "resolution": "720p", "aspect_ratio": "9:16", "seed": 8}),
])
def test_animate_snaps_duration_and_prices_what_is_billed(endpoint: str, seconds: float,
                                                          expected: dict[str, object]) -> None:
    video_url = "https://v3.fal.media/files/out.mp4"
    routes = Routes({("POST", f"{BASE}/{endpoint}"): [accepted()],
                     ("GET", STATUS): [status("COMPLETED")],
                     ("GET", RESULT): [Reply(json={"video": {"url": video_url}})],
                     ("GET", video_url): [media(mp4(), "video/mp4")]})
    priced: list[float] = []

    def price(request: VideoRequest) -> float:
        priced.append(request.seconds)
        return 0.1 * request.seconds

    request = VideoRequest(model="m", endpoint=endpoint, prompt="slow push in",
                           keyframe_png=png(), width=720, height=1280, seconds=seconds, fps=24,
                           seed=8, focus_box=None)
    video = FalProvider(api_key=KEY, journal=InMemoryJournal(), price_usd=price,
                        clock=FakeClock(), transport=routes.transport(), poll_interval_s=5.0,
                        max_wait_s=600.0).animate(request)

    body = routes.body()
    assert expected.items() <= body.items()
    assert body["image_url"].startswith("data:image/png;base64,")
    assert video.mp4 == mp4() and video.seed == 8
    assert video.cost_usd == pytest.approx(0.1 * priced[0]) and priced[0] >= seconds


def test_the_key_never_appears_in_errors_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"detail": f"invalid key {KEY}"}
    failures = [
        Routes({("POST", SUBMIT): [Reply(401, json=echo)]}),
        Routes({("POST", SUBMIT): [Reply(error=httpx.ConnectError(f"proxy said {KEY}"))]}),
        Routes({("POST", SUBMIT): [Reply(error=httpx.ReadTimeout(f"slow {KEY}"))]}),
        Routes({("POST", SUBMIT): [accepted()],
                ("GET", STATUS): [Reply(error=httpx.ReadError(f"reset {KEY}"))]}),
        Routes({("POST", SUBMIT): [Reply(503, json=echo)]}),
        Routes({("POST", SUBMIT): [accepted()], ("GET", STATUS): [Reply(500, json=echo)]}),
        Routes({("POST", SUBMIT): [accepted()], ("GET", STATUS): [status("COMPLETED")],
                ("GET", RESULT): [Reply(422, json={"detail": [
                    {"type": "content_policy_violation", "msg": KEY}]})]}),
    ]
    for routes in failures:
        provider = fal(routes)
        with pytest.raises(ProviderError) as excinfo:
            provider.generate(IMAGE)
        assert KEY not in str(excinfo.value) and KEY not in repr(excinfo.value)
        assert KEY not in repr(provider)
    assert "retrying" in caplog.text and KEY not in caplog.text



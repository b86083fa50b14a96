import base64
import io
import logging

import httpx
import pytest
from PIL import Image

from route_assets.providers.base import (
    EditRequest,
    ImageRequest,
    JournalEntry,
    Submission,
    VideoRequest,
)
from route_assets.providers.errors import (
    DownloadRejected,
    MalformedResponse,
    ModerationRefused,
    OutOfCredit,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ResultExpired,
)
from route_assets.providers.fal import FalProvider
from route_assets.providers.hosted import SubmissionStateUnknown
from route_assets.providers.jobs import request_fingerprint
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

BASE = "https://queue.fal.run"
EP = "fal-ai/flux/dev"
SUBMIT = f"{BASE}/{EP}"
STATUS = f"{BASE}/fal-ai/flux/requests/r1/status"
RESULT = f"{BASE}/fal-ai/flux/requests/r1"
CDN = "https://v3.fal.media/files/out.png"
IMAGE = ImageRequest(model="flux-dev", endpoint=EP, prompt="red shoe on sand", subject="shoe",
                     headline="Run", palette=("#112233",), width=1024, height=768, seed=42)


def accepted(request_id: str = "r1") -> Reply:
    return Reply(json={"request_id": request_id, "status_url": STATUS, "response_url": RESULT,
                       "cancel_url": RESULT + "/cancel"})


def status(value: str) -> Reply:
    return Reply(json={"status": value})


def output(url: str = CDN, **extra: object) -> Reply:
    return Reply(json={"images": [{"url": url, "width": 8, "height": 8}], "seed": 99,
                       "has_nsfw_concepts": [False], **extra})


def flow(*statuses: str, submit: str = SUBMIT) -> Routes:
    return Routes({("POST", submit): [accepted()],
                   ("GET", STATUS): [status(s) for s in statuses or ("COMPLETED",)],
                   ("GET", RESULT): [output()],
                   ("GET", CDN): [media(png(), "image/png")]})


def fal(routes: Routes, journal: InMemoryJournal | None = None, clock: FakeClock | None = None,
        **kwargs: object) -> FalProvider:
    options: dict[str, object] = {"poll_interval_s": 2.0, "max_wait_s": 60.0, **kwargs}
    return FalProvider(api_key=KEY, journal=journal or InMemoryJournal(), price_usd=0.025,
                       clock=clock or FakeClock(), transport=routes.transport(),
                       **options)  # type: ignore[arg-type]


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
    assert clock.sleeps == [2.0, 3.0]
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


def test_a_status_endpoint_down_after_retries_leaves_the_job_resumable() -> None:
    routes = flow()
    routes.routes[("GET", STATUS)] = [Reply(503, json={"detail": "down"})]
    journal = InMemoryJournal()

    with pytest.raises(ProviderUnavailable) as excinfo:
        fal(routes, journal).generate(IMAGE)
    assert excinfo.value.request_id == "r1"  # alive: resume, do not fall back and pay twice
    assert journal.only().state == "submitted"
    assert len(routes.seen) == 1 + 5


def test_a_job_that_failed_upstream_falls_back_without_a_live_request_id() -> None:
    routes = flow()
    routes.routes[("GET", RESULT)] = [Reply(500, json={"detail": [
        {"type": "downstream_service_error"}]})]
    journal = InMemoryJournal()

    with pytest.raises(ProviderUnavailable) as excinfo:
        fal(routes, journal).generate(IMAGE)
    assert excinfo.value.request_id is None and journal.only().state == "failed"


def test_malformed_status_json_leaves_the_entry_submitted() -> None:
    routes = flow()
    routes.routes[("GET", STATUS)] = [Reply(content=b"<html>oops</html>")]
    journal = InMemoryJournal()

    with pytest.raises(MalformedResponse):
        fal(routes, journal).generate(IMAGE)
    assert journal.only().state == "submitted"


def test_an_expired_result_fails_the_entry() -> None:
    routes = flow()
    routes.routes[("GET", CDN)] = [Reply(404)]
    journal = InMemoryJournal()

    with pytest.raises(ResultExpired):
        fal(routes, journal).generate(IMAGE)
    assert journal.only().state == "failed"


def test_a_refused_download_is_fetched_again_next_run_without_paying() -> None:
    routes, journal = flow(), InMemoryJournal()
    routes.routes[("GET", CDN)] = [media(b"<html>denied</html>", "text/html")]

    with pytest.raises(DownloadRejected) as excinfo:
        fal(routes, journal).generate(IMAGE)
    assert excinfo.value.request_id == "r1" and journal.only().state == "submitted"

    again = flow()
    assert fal(again, journal).generate(IMAGE).png == png()
    assert again.posts() == [] and journal.only().state == "completed"


def test_a_job_still_running_at_max_wait_times_out_and_stays_submitted() -> None:
    routes, journal, clock = flow("IN_PROGRESS"), InMemoryJournal(), FakeClock()

    with pytest.raises(ProviderTimeout) as excinfo:
        fal(routes, journal, clock, max_wait_s=10.0).generate(IMAGE)
    assert excinfo.value.request_id == "r1"
    assert journal.only().state == "submitted"
    assert clock.sleeps == [2.0, 3.0, 4.5, 0.5]


def test_a_submitted_entry_is_resumed_without_a_new_post() -> None:
    fp = request_fingerprint("image", "fal", IMAGE)
    journal = InMemoryJournal([JournalEntry(fp, "submitted", Submission(
        provider="fal", model="flux-dev", request_id="r1", poll_url=STATUS, result_url=RESULT))])
    routes = flow("COMPLETED")

    image = fal(routes, journal).generate(IMAGE)

    assert routes.posts() == [] and image.request_id == "r1"
    assert journal.only().state == "completed"


def test_a_submitting_entry_raises_without_posting() -> None:
    fp = request_fingerprint("image", "fal", IMAGE)
    journal = InMemoryJournal([JournalEntry(fp, "submitting", None)])
    routes = flow()

    with pytest.raises(SubmissionStateUnknown, match=f"route-assets requests forget {fp}"):
        fal(routes, journal).generate(IMAGE)
    assert routes.seen == []


def test_a_failed_entry_may_be_submitted_anew() -> None:
    fp = request_fingerprint("image", "fal", IMAGE)
    journal = InMemoryJournal([JournalEntry(fp, "failed", None, "moderated")])
    routes = flow()

    fal(routes, journal).generate(IMAGE)

    assert len(routes.posts()) == 1 and journal.only().state == "completed"


def test_a_submit_without_an_answer_stays_submitting() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)
    routes, journal = Routes({("POST", SUBMIT): [timeout]}), InMemoryJournal()

    with pytest.raises(SubmissionStateUnknown):
        fal(routes, journal).generate(IMAGE)
    assert journal.only().state == "submitting" and len(routes.seen) == 1


def test_a_submit_that_never_connected_fails_over() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)
    journal = InMemoryJournal()

    with pytest.raises(ProviderUnavailable):
        fal(Routes({("POST", SUBMIT): [refused]}), journal).generate(IMAGE)
    assert journal.only().state == "failed"


def test_an_unreadable_submit_answer_stays_submitting() -> None:
    routes, journal = Routes({("POST", SUBMIT): [Reply(content=b"not json")]}), InMemoryJournal()

    with pytest.raises(SubmissionStateUnknown):
        fal(routes, journal).generate(IMAGE)
    assert journal.only().state == "submitting"


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
    ("fal-ai/bytedance/seedance/v1/lite/image-to-video", 7.0,
     {"duration": "10", "resolution": "720p", "seed": 8}),
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


def test_a_completed_entry_whose_result_was_lost_is_fetched_again_for_free() -> None:
    fp = request_fingerprint("image", "fal", IMAGE)
    journal = InMemoryJournal([JournalEntry(fp, "completed", Submission(
        provider="fal", model="flux-dev", request_id="r1", poll_url=STATUS, result_url=RESULT))])
    routes = flow("COMPLETED")

    image = fal(routes, journal).generate(IMAGE)

    assert routes.posts() == [] and (image.png, image.cost_usd) == (png(), 0.0)
    assert journal.calls == [] and journal.only().state == "completed"


def test_a_completed_entry_whose_result_expired_stays_completed() -> None:
    fp = request_fingerprint("image", "fal", IMAGE)
    journal = InMemoryJournal([JournalEntry(fp, "completed", Submission(
        provider="fal", model="flux-dev", request_id="r1", poll_url=STATUS, result_url=RESULT))])
    routes = flow("COMPLETED")
    routes.routes[("GET", CDN)] = [Reply(404)]

    with pytest.raises(ResultExpired):
        fal(routes, journal).generate(IMAGE)
    assert routes.posts() == [] and journal.only().state == "completed"

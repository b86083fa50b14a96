import base64

import pytest

from route_assets.providers.base import (
    EditRequest,
    ImageRequest,
    JournalEntry,
    Submission,
    VideoRequest,
)
from route_assets.providers.errors import (
    DownloadRejected,
    ModerationRefused,
    OutOfCredit,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ResultExpired,
)
from route_assets.providers.gemini import GeminiProvider
from route_assets.providers.hosted import SubmissionStateUnknown
from route_assets.providers.jobs import request_fingerprint
from route_assets_tests.providers.fakes import (
    KEY,
    FakeClock,
    InMemoryJournal,
    Reply,
    Routes,
    media,
    mp4,
    png,
)

BASE = "https://generativelanguage.googleapis.com"
IMAGE_MODEL = "gemini-3-pro-image-preview"
GENERATE = f"{BASE}/v1beta/models/{IMAGE_MODEL}:generateContent"
VEO = "veo-3.1-fast-generate-preview"
LONG = f"{BASE}/v1beta/models/{VEO}:predictLongRunning"
OPERATION = f"models/{VEO}/operations/op1"
POLL = f"{BASE}/v1beta/{OPERATION}"
VIDEO_URI = f"{BASE}/v1beta/files/v1:download"
IMAGE = ImageRequest(model="nano-banana-pro", endpoint=IMAGE_MODEL, prompt="poster, SALE",
                     subject="bag", headline="SALE", palette=(), width=1080, height=1920, seed=3)
VIDEO = VideoRequest(model="veo-3.1-fast", endpoint=VEO, prompt="slow dolly", keyframe_png=png(),
                     width=720, height=1280, seconds=5.0, fps=24, seed=1, focus_box=None)


def candidate(data: bytes = b"", finish: str = "STOP") -> Reply:
    parts: list[dict[str, object]] = [{"text": "here you go"}]
    if data:
        parts.append({"inlineData": {"mimeType": "image/png",
                                     "data": base64.b64encode(data).decode()}})
    return Reply(json={"candidates": [{"content": {"parts": parts}, "finishReason": finish}],
                       "responseId": "resp-1",
                       "usageMetadata": {"candidatesTokenCount": 1120}})


def gemini(routes: Routes, journal: InMemoryJournal | None = None,
           clock: FakeClock | None = None, max_wait_s: float = 600.0) -> GeminiProvider:
    return GeminiProvider(api_key=KEY, journal=journal or InMemoryJournal(),
                          price_usd=lambda r: 0.15 * r.seconds if isinstance(r, VideoRequest)
                          else 0.134, clock=clock or FakeClock(), transport=routes.transport(),
                          poll_interval_s=10.0, max_wait_s=max_wait_s)


def test_generate_content_returns_the_inline_image_in_one_call() -> None:
    routes, journal = Routes({("POST", GENERATE): [candidate(png())]}), InMemoryJournal()

    image = gemini(routes, journal).generate(IMAGE)

    assert len(routes.seen) == 1 and routes.seen[0].headers["x-goog-api-key"] == KEY
    assert routes.body() == {
        "contents": [{"role": "user", "parts": [{"text": "poster, SALE"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "seed": 3,
                             "imageConfig": {"aspectRatio": "9:16", "imageSize": "2K"}}}
    assert (image.png, image.request_id, image.cost_usd, image.seed) == (png(), "resp-1",
                                                                        0.134, 3)
    assert [c for c, _ in journal.calls] == ["begin", "submitted", "completed"]


def test_edit_sends_the_image_as_inline_data() -> None:
    routes = Routes({("POST", GENERATE): [candidate(png())]})
    source = png(20, 20)
    request = EditRequest(model="nano-banana-pro", endpoint=IMAGE_MODEL,
                          instruction="make the sky orange", image_png=source, mask_png=None,
                          width=20, height=20, seed=6)

    gemini(routes).edit(request)

    parts = routes.body()["contents"][0]["parts"]
    assert parts == [{"text": "make the sky orange"},
                     {"inline_data": {"mime_type": "image/png",
                                      "data": base64.b64encode(source).decode()}}]


@pytest.mark.parametrize("answer", [
    Reply(json={"promptFeedback": {"blockReason": "SAFETY"}}),
    candidate(finish="IMAGE_SAFETY"),
    candidate(finish="PROHIBITED_CONTENT"),
])
def test_refusals_arrive_as_200_and_are_moderation(answer: Reply) -> None:
    journal = InMemoryJournal()

    with pytest.raises(ModerationRefused):
        gemini(Routes({("POST", GENERATE): [answer]}), journal).generate(IMAGE)
    assert journal.only().state == "failed"


def test_no_image_without_a_policy_reason_falls_back() -> None:
    with pytest.raises(ProviderUnavailable):
        gemini(Routes({("POST", GENERATE): [candidate(finish="NO_IMAGE")]})).generate(IMAGE)


def test_inline_bytes_are_checked_like_downloads() -> None:
    journal = InMemoryJournal()

    with pytest.raises(DownloadRejected):
        gemini(Routes({("POST", GENERATE): [candidate(b"<html>no</html>")]}),
               journal).generate(IMAGE)
    assert journal.only().state == "failed"  # an inline answer cannot be fetched again


def test_quota_429_on_generate_is_not_retried_and_billing_is_out_of_credit() -> None:
    quota = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}}
    routes, clock = Routes({("POST", GENERATE): [Reply(429, json=quota)]}), FakeClock()

    with pytest.raises(ProviderUnavailable):
        gemini(routes, clock=clock).generate(IMAGE)
    assert len(routes.seen) == 1 and clock.sleeps == []

    billing = {"error": {"code": 400, "status": "FAILED_PRECONDITION",
                         "message": "enable billing"}}
    with pytest.raises(OutOfCredit):
        gemini(Routes({("POST", GENERATE): [Reply(400, json=billing)]})).generate(IMAGE)


def video_flow(*polls: Reply) -> Routes:
    done = Reply(json={"name": OPERATION, "done": True, "response": {"generateVideoResponse": {
        "generatedSamples": [{"video": {"uri": VIDEO_URI}}]}}})
    return Routes({("POST", LONG): [Reply(json={"name": OPERATION})],
                   ("GET", POLL): list(polls) + [done],
                   ("GET", VIDEO_URI): [media(mp4(), "video/mp4")]})


def test_veo_predicts_long_running_polls_the_operation_and_downloads_with_the_key() -> None:
    pending = Reply(json={"name": OPERATION, "done": False})
    quota = Reply(429, json={"error": {"code": 429, "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}})
    routes, clock, journal = video_flow(pending, quota), FakeClock(), InMemoryJournal()

    video = gemini(routes, journal, clock).animate(VIDEO)

    assert routes.calls() == [("POST", LONG), ("GET", POLL), ("GET", POLL), ("GET", POLL),
                              ("GET", VIDEO_URI)]
    instance = routes.body()["instances"][0]
    assert instance["prompt"] == "slow dolly"
    assert instance["image"] == {"bytesBase64Encoded": base64.b64encode(png()).decode(),
                                 "mimeType": "image/png"}
    assert routes.body()["parameters"] == {"sampleCount": 1, "durationSeconds": 6,
                                           "aspectRatio": "9:16", "resolution": "720p"}
    assert routes.seen[-1].headers["x-goog-api-key"] == KEY  # Veo file URIs need the key
    assert clock.sleeps == [10.0, 2.0]  # poll interval, then the 429's retryDelay
    assert video.mp4 == mp4() and video.request_id == OPERATION
    assert video.cost_usd == pytest.approx(0.15 * 6)  # billed for the snapped 6 s
    assert journal.only().state == "completed"


def test_veo_filtered_by_rai_is_moderation() -> None:
    filtered = Reply(json={"name": OPERATION, "done": True, "response": {
        "generateVideoResponse": {"raiMediaFilteredCount": 1,
                                  "raiMediaFilteredReasons": ["celebrity likeness"]}}})
    journal = InMemoryJournal()

    with pytest.raises(ModerationRefused, match="celebrity"):
        gemini(video_flow(filtered), journal).animate(VIDEO)
    assert journal.only().state == "failed"


def test_veo_timeout_then_resume_polls_the_same_operation() -> None:
    pending = Reply(json={"name": OPERATION, "done": False})
    journal = InMemoryJournal()
    routes = Routes({("POST", LONG): [Reply(json={"name": OPERATION})],
                     ("GET", POLL): [pending]})

    with pytest.raises(ProviderTimeout) as excinfo:
        gemini(routes, journal, max_wait_s=60.0).animate(VIDEO)
    assert excinfo.value.request_id == OPERATION and journal.only().state == "submitted"

    resumed = video_flow()
    gemini(resumed, journal).animate(VIDEO)
    assert resumed.posts() == [] and journal.only().state == "completed"


def test_a_journaled_generate_content_cannot_be_resumed_and_is_not_repaid() -> None:
    fp = request_fingerprint("image", "gemini", IMAGE)
    journal = InMemoryJournal([JournalEntry(fp, "submitted", Submission(
        provider="gemini", model="nano-banana-pro", request_id="resp-1", poll_url=""))])
    routes = Routes({("POST", GENERATE): [candidate(png())]})

    with pytest.raises(SubmissionStateUnknown):
        gemini(routes, journal).generate(IMAGE)
    assert routes.seen == []


def test_the_key_never_appears_in_errors() -> None:
    echo = {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": f"key {KEY} bad"}}
    routes = Routes({("POST", GENERATE): [Reply(403, json=echo)]})

    with pytest.raises(ProviderError) as excinfo:
        gemini(routes).generate(IMAGE)
    assert KEY not in str(excinfo.value) and KEY not in repr(excinfo.value)


def test_a_completed_inline_result_is_not_paid_for_twice() -> None:
    fp = request_fingerprint("image", "gemini", IMAGE)
    journal = InMemoryJournal([JournalEntry(fp, "completed", Submission(
        provider="gemini", model="nano-banana-pro", request_id="resp-1", poll_url=""))])
    routes = Routes({("POST", GENERATE): [candidate(png())]})

    with pytest.raises(ResultExpired, match="forget"):
        gemini(routes, journal).generate(IMAGE)
    assert routes.seen == []

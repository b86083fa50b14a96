import pytest

from route_assets.providers.base import EditRequest, ImageRequest, JournalEntry, Submission
from route_assets.providers.errors import (
    ModerationRefused,
    OutOfCredit,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from route_assets.providers.jobs import request_fingerprint
from route_assets.providers.replicate import ReplicateProvider
from route_assets_tests.providers.fakes import (
    KEY,
    FakeClock,
    InMemoryJournal,
    Reply,
    Routes,
    media,
    png,
)

BASE = "https://api.replicate.com/v1"
SUBMIT = f"{BASE}/models/black-forest-labs/flux-1.1-pro/predictions"
GET = f"{BASE}/predictions/p1"
OUT = "https://replicate.delivery/xezq/abc/out-0.png"
IMAGE = ImageRequest(model="flux-1.1-pro", endpoint="black-forest-labs/flux-1.1-pro",
                     prompt="red shoe", subject="shoe", headline="Run", palette=(),
                     width=1080, height=1920, seed=11)


def prediction(status: str, output: object = None, error: str | None = None) -> Reply:
    return Reply(201 if status == "starting" else 200, json={
        "id": "p1", "status": status, "output": output, "error": error,
        "urls": {"get": GET, "cancel": GET + "/cancel"}})


def flow(*polls: Reply, submit: str = SUBMIT, first: Reply | None = None) -> Routes:
    return Routes({("POST", submit): [first or prediction("starting")],
                   ("GET", GET): list(polls) or [prediction("succeeded", OUT)],
                   ("GET", OUT): [media(png(), "image/png")]})


def replicate(routes: Routes, journal: InMemoryJournal | None = None,
              clock: FakeClock | None = None, max_wait_s: float = 60.0) -> ReplicateProvider:
    return ReplicateProvider(api_key=KEY, journal=journal or InMemoryJournal(), price_usd=0.04,
                             clock=clock or FakeClock(), transport=routes.transport(),
                             poll_interval_s=1.0, max_wait_s=max_wait_s)


def test_generate_creates_a_prediction_with_prefer_wait_then_polls_urls_get() -> None:
    routes = flow(prediction("processing"), prediction("succeeded", OUT))
    clock, journal = FakeClock(), InMemoryJournal()

    image = replicate(routes, journal, clock).generate(IMAGE)

    assert routes.calls() == [("POST", SUBMIT), ("GET", GET), ("GET", GET), ("GET", OUT)]
    post = routes.posts()[0]
    assert post.headers["authorization"] == f"Bearer {KEY}" and post.headers["prefer"] == "wait"
    assert routes.body() == {"input": {
        "prompt": "red shoe", "aspect_ratio": "custom", "width": 800, "height": 1440,
        "seed": 11, "output_format": "png", "safety_tolerance": 2}}
    assert "authorization" not in routes.seen[-1].headers
    assert clock.sleeps == [1.0]
    assert (image.png, image.seed, image.request_id, image.cost_usd) == (png(), 11, "p1", 0.04)
    assert journal.only().state == "completed"


def test_a_prediction_finished_within_prefer_wait_needs_no_poll() -> None:
    routes = flow(first=prediction("succeeded", [OUT]))

    replicate(routes).generate(IMAGE)

    assert routes.calls() == [("POST", SUBMIT), ("GET", OUT)]


def test_polls_are_retried_on_429_honouring_retry_after() -> None:
    routes = flow(Reply(429, json={"detail": "Request was throttled."},
                        headers={"retry-after": "4"}), prediction("succeeded", OUT))
    clock = FakeClock()

    replicate(routes, clock=clock).generate(IMAGE)

    assert clock.sleeps == [4.0] and len(routes.posts()) == 1


def test_a_throttled_create_is_not_retried() -> None:
    routes = Routes({("POST", SUBMIT): [Reply(429, json={"detail": "throttled"},
                                              headers={"retry-after": "1"})]})
    journal = InMemoryJournal()

    with pytest.raises(ProviderUnavailable):
        replicate(routes, journal).generate(IMAGE)
    assert len(routes.seen) == 1 and journal.only().state == "failed"


def test_billing_required_is_out_of_credit() -> None:
    routes = Routes({("POST", SUBMIT): [Reply(402, json={
        "title": "Billing required", "detail": "You need to set up billing", "status": 402})]})

    with pytest.raises(OutOfCredit):
        replicate(routes).generate(IMAGE)


@pytest.mark.parametrize("error", [
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)",
    "NSFW content detected. Try running it again, or try a different prompt.",
])
def test_a_flagged_prediction_is_moderation(error: str) -> None:
    routes, journal = flow(prediction("failed", error=error)), InMemoryJournal()

    with pytest.raises(ModerationRefused) as excinfo:
        replicate(routes, journal).generate(IMAGE)
    assert excinfo.value.request_id == "p1" and journal.only().state == "failed"


def test_a_crashed_prediction_falls_back() -> None:
    routes, journal = flow(prediction("failed", error="CUDA out of memory")), InMemoryJournal()

    with pytest.raises(ProviderUnavailable) as excinfo:
        replicate(routes, journal).generate(IMAGE)
    # A dead job carries no request_id: that field on ProviderUnavailable means "still alive".
    assert excinfo.value.request_id is None and "job p1 failed" in str(excinfo.value)
    assert journal.only().state == "failed"


def test_timeout_keeps_the_prediction_for_the_next_run() -> None:
    routes, journal = flow(prediction("processing")), InMemoryJournal()

    with pytest.raises(ProviderTimeout):
        replicate(routes, journal, max_wait_s=5.0).generate(IMAGE)
    assert journal.only().state == "submitted"

    resumed = flow(prediction("succeeded", OUT))
    image = replicate(resumed, journal).generate(IMAGE)
    assert resumed.posts() == [] and image.request_id == "p1"


def test_resume_from_a_journaled_prediction_makes_no_post() -> None:
    fp = request_fingerprint("image", "replicate", IMAGE)
    journal = InMemoryJournal([JournalEntry(fp, "submitted", Submission(
        provider="replicate", model="flux-1.1-pro", request_id="p1", poll_url=GET))])
    routes = flow()

    replicate(routes, journal).generate(IMAGE)

    assert routes.posts() == []


@pytest.mark.parametrize(("endpoint", "expected"), [
    ("black-forest-labs/flux-kontext-pro",
     {"aspect_ratio": "match_input_image", "seed": 4, "safety_tolerance": 2}),
    ("google/nano-banana", {"aspect_ratio": "match_input_image"}),
])
def test_edit_inputs(endpoint: str, expected: dict[str, object]) -> None:
    submit = f"{BASE}/models/{endpoint}/predictions"
    routes = flow(submit=submit)
    request = EditRequest(model="m", endpoint=endpoint, instruction="recolor the bag",
                          image_png=png(), mask_png=None, width=8, height=8, seed=4)

    replicate(routes).edit(request)

    body = routes.body()["input"]
    assert expected.items() <= body.items() and body["prompt"] == "recolor the bag"
    image = body.get("input_image") or body["image_input"][0]
    assert image.startswith("data:image/png;base64,")


def test_generate_input_for_flux_schnell_uses_the_nearest_aspect_ratio() -> None:
    endpoint = "black-forest-labs/flux-schnell"
    routes = flow(submit=f"{BASE}/models/{endpoint}/predictions")
    request = ImageRequest(model="flux-schnell", endpoint=endpoint, prompt="p", subject="s",
                           headline="h", palette=(), width=1080, height=1350, seed=1)

    replicate(routes).generate(request)

    assert routes.body()["input"]["aspect_ratio"] == "4:5"


def test_the_key_never_appears_in_errors() -> None:
    routes = Routes({("POST", SUBMIT): [Reply(401, json={"detail": f"bad token {KEY}"})]})

    with pytest.raises(ProviderError) as excinfo:
        replicate(routes).generate(IMAGE)
    assert KEY not in str(excinfo.value) and KEY not in repr(excinfo.value)

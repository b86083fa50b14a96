import base64

import pytest

from route_assets.providers.base import EditRequest, ImageRequest
from route_assets.providers.bfl import BflProvider
from route_assets.providers.errors import (
    DownloadRejected,
    ModerationRefused,
    OutOfCredit,
    ProviderError,
    ProviderUnavailable,
    ResultExpired,
)
from route_assets_tests.providers.fakes import (
    KEY,
    FakeClock,
    InMemoryJournal,
    Reply,
    Routes,
    jpeg,
    media,
    png,
)

BASE = "https://api.bfl.ai"
SUBMIT = f"{BASE}/v1/flux-pro-1.1"
POLL = "https://api.us1.bfl.ai/v1/get_result"
SAMPLE = "https://delivery-us1.bfl.ai/results/abc/sample.jpeg"
IMAGE = ImageRequest(model="flux-1.1-pro", endpoint="/v1/flux-pro-1.1", prompt="red shoe",
                     subject="shoe", headline="Run", palette=(), width=1024, height=1024, seed=9)


def accepted(cost: float = 4.0) -> Reply:
    return Reply(json={"id": "b1", "polling_url": f"{POLL}?id=b1", "cost": cost,
                       "input_mp": 0, "output_mp": 1.05})


def status(value: str, **extra: object) -> Reply:
    return Reply(json={"id": "b1", "status": value, **extra})


READY = status("Ready", result={"sample": SAMPLE, "seed": 9, "prompt": "red shoe"})


def flow(*polls: Reply, submit: str = SUBMIT) -> Routes:
    return Routes({("POST", submit): [accepted()], ("GET", POLL): list(polls) or [READY],
                   ("GET", SAMPLE): [media(jpeg(), "image/jpeg")]})


def bfl(routes: Routes, journal: InMemoryJournal | None = None,
        clock: FakeClock | None = None) -> BflProvider:
    return BflProvider(api_key=KEY, journal=journal or InMemoryJournal(), price_usd=0.04,
                       clock=clock or FakeClock(), transport=routes.transport(),
                       poll_interval_s=0.5, max_wait_s=60.0)


def test_generate_posts_with_x_key_polls_the_returned_url_and_bills_reported_credits() -> None:
    routes, clock, journal = flow(status("Pending"), status("Generating"), READY), FakeClock(), \
        InMemoryJournal()

    image = bfl(routes, journal, clock).generate(IMAGE)

    assert routes.calls() == [("POST", SUBMIT), ("GET", POLL), ("GET", POLL), ("GET", POLL),
                              ("GET", SAMPLE)]
    assert routes.posts()[0].headers["x-key"] == KEY
    assert routes.seen[1].url.params["id"] == "b1" and routes.seen[1].headers["x-key"] == KEY
    assert "x-key" not in routes.seen[-1].headers
    assert routes.body() == {"prompt": "red shoe", "width": 1024, "height": 1024, "seed": 9,
                             "output_format": "png", "safety_tolerance": 2,
                             "prompt_upsampling": False}
    assert clock.sleeps == [0.5, 0.5]
    assert image.cost_usd == pytest.approx(0.04) and image.request_id == "b1"
    assert image.png.startswith(b"\x89PNG")  # BFL's JPEG stored as PNG
    submission = journal.only().submission
    assert submission is not None and submission.reported_cost_usd == pytest.approx(0.04)


def test_the_reported_cost_wins_over_the_list_price() -> None:
    routes = flow()
    routes.routes[("POST", SUBMIT)] = [accepted(cost=6.5)]

    assert bfl(routes).generate(IMAGE).cost_usd == pytest.approx(0.065)


def test_kontext_edit_sends_plain_base64() -> None:
    submit = f"{BASE}/v1/flux-kontext-pro"
    routes = flow(submit=submit)
    source = png(30, 40)
    request = EditRequest(model="flux-kontext-pro", endpoint="/v1/flux-kontext-pro",
                          instruction="remove the cup", image_png=source, mask_png=None,
                          width=30, height=40, seed=2)

    bfl(routes).edit(request)

    body = routes.body()
    assert body["input_image"] == base64.b64encode(source).decode()
    assert body["aspect_ratio"] == "3:4" and body["prompt"] == "remove the cup"


@pytest.mark.parametrize("value", ["Request Moderated", "Content Moderated"])
def test_moderated_statuses(value: str) -> None:
    journal = InMemoryJournal()

    with pytest.raises(ModerationRefused):
        bfl(flow(status(value)), journal).generate(IMAGE)
    assert journal.only().state == "failed"


def test_task_not_found_is_expired_and_error_falls_back() -> None:
    with pytest.raises(ResultExpired):
        bfl(flow(status("Task not found"))).generate(IMAGE)
    with pytest.raises(ProviderUnavailable):
        bfl(flow(status("Error", details={"msg": "boom"}))).generate(IMAGE)


def test_insufficient_credits_is_out_of_credit_and_not_retried() -> None:
    routes = Routes({("POST", SUBMIT): [Reply(402, json={"detail": "Insufficient credits"})]})

    with pytest.raises(OutOfCredit):
        bfl(routes).generate(IMAGE)
    assert len(routes.seen) == 1


def test_a_sample_on_a_foreign_host_is_refused() -> None:
    routes = flow(status("Ready", result={"sample": "https://evil.example/x.jpeg"}))
    journal = InMemoryJournal()

    with pytest.raises(DownloadRejected):
        bfl(routes, journal).generate(IMAGE)
    assert ("GET", "https://evil.example/x.jpeg") not in routes.calls()
    assert journal.only().state == "submitted"  # paid for: a re-run looks again, never re-pays


def test_the_key_never_appears_in_errors() -> None:
    routes = Routes({("POST", SUBMIT): [accepted()],
                     ("GET", POLL): [Reply(503, json={"detail": f"x-key {KEY} overloaded"})]})

    with pytest.raises(ProviderError) as excinfo:
        bfl(routes).generate(IMAGE)
    assert KEY not in str(excinfo.value) and KEY not in repr(excinfo.value)

"""A scripted fal queue: the URLs, replies and client the fal and journal tests share."""

from route_assets.providers.base import ImageRequest
from route_assets.providers.fal import FalProvider
from route_assets_tests.providers.fakes import (
    KEY,
    FakeClock,
    InMemoryJournal,
    Reply,
    Routes,
    media,
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

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from route_assets.providers.errors import (
    MalformedResponse,
    ModerationRefused,
    OutOfCredit,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    ResultExpired,
)
from route_assets.providers.http import build_http_client, checked_json, raise_for_provider
from route_assets_tests.providers.fakes import KEY, FakeClock, Reply, Routes

URL = "https://api.example.test/v1/thing"
TIMEOUT = httpx.Timeout(5.0)


def client(routes: Routes, clock: FakeClock, **kwargs: object) -> httpx.Client:
    return build_http_client(base_url="https://api.example.test", headers={"x-key": KEY},
                             timeout=TIMEOUT, transport=routes.transport(), clock=clock,
                             rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


def test_get_retried_on_503_with_capped_full_jitter_then_succeeds() -> None:
    routes = Routes({("GET", URL): [Reply(503), Reply(502), Reply(json={"ok": True})]})
    clock = FakeClock()

    response = client(routes, clock).get("/v1/thing")

    assert response.json() == {"ok": True}
    assert len(routes.seen) == 3
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0


def test_get_honours_retry_after_seconds() -> None:
    routes = Routes({("GET", URL): [Reply(429, headers={"retry-after": "7"}), Reply(json={})]})
    clock = FakeClock()

    client(routes, clock).get("/v1/thing")

    assert clock.sleeps == [7.0]


def test_get_honours_retry_after_http_date_against_the_server_date() -> None:
    server_now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    headers = {"retry-after": format_datetime(server_now + timedelta(seconds=12), usegmt=True),
               "date": format_datetime(server_now, usegmt=True)}
    routes = Routes({("GET", URL): [Reply(503, headers=headers), Reply(json={})]})
    clock = FakeClock()

    client(routes, clock).get("/v1/thing")

    assert clock.sleeps == [12.0]


def test_get_honours_gemini_retry_delay_in_the_error_body() -> None:
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}}
    routes = Routes({("GET", URL): [Reply(429, json=body), Reply(json={})]})
    clock = FakeClock()

    client(routes, clock).get("/v1/thing")

    assert clock.sleeps == [2.0]


def test_get_gives_up_after_max_attempts_and_returns_the_last_answer() -> None:
    routes = Routes({("GET", URL): [Reply(503, json={"detail": "down"})]})
    clock = FakeClock()

    response = client(routes, clock, max_attempts=3).get("/v1/thing")

    assert response.status_code == 503 and response.json() == {"detail": "down"}
    assert len(routes.seen) == 3 and len(clock.sleeps) == 2


def test_a_retry_after_longer_than_the_limit_is_not_waited_out() -> None:
    routes = Routes({("GET", URL): [Reply(429, headers={"retry-after": "3600"}), Reply(json={})]})
    clock = FakeClock()

    response = client(routes, clock).get("/v1/thing")

    assert response.status_code == 429 and clock.sleeps == []


def test_get_retried_on_transport_errors() -> None:
    request = httpx.Request("GET", URL)
    routes = Routes({("GET", URL): [Reply(error=httpx.ConnectError("refused", request=request)),
                                    Reply(error=httpx.ReadTimeout("slow", request=request)),
                                    Reply(json={"ok": 1})]})
    clock = FakeClock()

    assert client(routes, clock).get("/v1/thing").json() == {"ok": 1}
    assert len(routes.seen) == 3


@pytest.mark.parametrize("status", [429, 500, 503])
def test_post_is_never_retried(status: int) -> None:
    routes = Routes({("POST", URL): [Reply(status, headers={"retry-after": "1"}), Reply(json={})]})
    clock = FakeClock()

    response = client(routes, clock).post("/v1/thing", json={"prompt": "x"})

    assert response.status_code == status
    assert len(routes.seen) == 1 and clock.sleeps == []


def test_post_transport_error_is_raised_at_once() -> None:
    request = httpx.Request("POST", URL)
    routes = Routes({("POST", URL): [Reply(error=httpx.ReadTimeout("slow", request=request))]})

    with pytest.raises(httpx.ReadTimeout):
        client(routes, FakeClock()).post("/v1/thing", json={})
    assert len(routes.seen) == 1


def test_the_key_travels_as_a_header_only() -> None:
    routes = Routes({("GET", URL): [Reply(json={})]})

    client(routes, FakeClock()).get("/v1/thing")

    assert routes.seen[0].headers["x-key"] == KEY and KEY not in str(routes.seen[0].url)


def answer(status: int, body: object = None, method: str = "GET") -> httpx.Response:
    request = httpx.Request(method, URL)
    if isinstance(body, bytes):
        return httpx.Response(status, content=body, request=request)
    return httpx.Response(status, json=body, request=request)


@pytest.mark.parametrize(("response", "error"), [
    (answer(402, {"detail": "User is locked. Reason: Exhausted balance."}), OutOfCredit),
    (answer(400, {"error": {"code": 400, "status": "FAILED_PRECONDITION"}}), OutOfCredit),
    (answer(422, {"detail": [{"type": "content_policy_violation", "msg": "no"}]}),
     ModerationRefused),
    (answer(422, {"detail": "The input or output was flagged as sensitive. (E005)"}),
     ModerationRefused),
    (answer(429, {"detail": "Rate limit exceeded"}), ProviderUnavailable),
    (answer(500, {"detail": [{"type": "downstream_service_error"}]}), ProviderUnavailable),
    (answer(503, b"<html>bad gateway</html>"), ProviderUnavailable),
    (answer(404, {"detail": "gone"}), ResultExpired),
    (answer(410, b""), ResultExpired),
    (answer(404, {"detail": "no such model"}, method="POST"), ProviderRejected),
    (answer(422, {"detail": [{"loc": ["body", "safety_tolerance"], "type": "literal_error"}]}),
     ProviderRejected),
    (answer(401, {"detail": "bad key"}), ProviderRejected),
])
def test_raise_for_provider_maps_statuses_and_bodies(response: httpx.Response,
                                                     error: type[ProviderError]) -> None:
    with pytest.raises(error) as excinfo:
        raise_for_provider(response, provider="fal", model="flux-dev", request_id="r1")
    assert type(excinfo.value) is error
    assert excinfo.value.status == response.status_code
    assert "fal flux-dev request r1" in str(excinfo.value)


def test_raise_for_provider_truncates_the_body() -> None:
    with pytest.raises(ProviderRejected) as excinfo:
        raise_for_provider(answer(400, b"x" * 5000), provider="bfl", model="m")
    assert len(str(excinfo.value)) < 500


def test_checked_json_rejects_a_success_that_is_not_json() -> None:
    with pytest.raises(MalformedResponse):
        checked_json(answer(200, b"<html>ok</html>"), provider="fal", model="m")


def test_error_messages_never_carry_the_key_even_when_the_provider_echoes_it() -> None:
    with pytest.raises(ProviderRejected) as excinfo:
        raise_for_provider(answer(401, {"detail": f"key {KEY} is invalid"}), provider="fal",
                           model="m", secrets=(KEY,))
    assert KEY not in str(excinfo.value) and KEY not in repr(excinfo.value)

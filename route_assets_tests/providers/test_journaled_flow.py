"""The journaled submit/poll/download flow (providers/hosted.py), driven through fal's queue:
one POST per paid request, resumable after every failure that leaves a job alive."""

import httpx
import pytest

from route_assets.providers.base import JournalEntry, Submission
from route_assets.providers.errors import (
    DownloadRejected,
    MalformedResponse,
    ProviderTimeout,
    ProviderUnavailable,
    ResultExpired,
)
from route_assets.providers.hosted import POLL_SHARE, SubmissionStateUnknown
from route_assets.providers.jobs import request_fingerprint
from route_assets_tests.providers.fakes import FakeClock, InMemoryJournal, Reply, Routes, media, png
from route_assets_tests.providers.fal_script import (
    CDN,
    IMAGE,
    RESULT,
    STATUS,
    SUBMIT,
    fal,
    flow,
)


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
    # Polls every 2 s until a twentieth of the elapsed time exceeds that, then backs off.
    assert clock.sleeps == [2.0] * 5


def test_polling_backs_off_to_a_twentieth_of_the_elapsed_time() -> None:
    routes, journal, clock = flow("IN_PROGRESS"), InMemoryJournal(), FakeClock()

    with pytest.raises(ProviderTimeout):
        fal(routes, journal, clock, max_wait_s=120.0).generate(IMAGE)
    waits = clock.sleeps
    assert waits[:19] == [2.0] * 19
    full = waits[:-1]  # the last wait is cut to the time left
    assert all(b >= a for a, b in zip(full, full[1:], strict=False)) and full[-1] > 4.0
    elapsed = 0.0
    for wait in full:
        assert wait <= max(2.0, POLL_SHARE * (elapsed + wait)) + 1e-9
        elapsed += wait
    assert sum(waits) == pytest.approx(120.0)


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

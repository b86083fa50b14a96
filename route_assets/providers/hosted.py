"""The journaled submit/poll/download flow shared by every hosted provider.

    find(fingerprint)
      "submitted"  -> resume polling the recorded submission (no new POST)
      "completed"  -> the stored result was lost: poll and download it again (no POST, $0)
      "submitting" -> SubmissionStateUnknown: a run died between POST and recording the id
      none/failed  -> begin -> POST once -> submitted(id) -> poll -> download -> completed

A POST answered with an error created no job: the entry is marked failed. A POST that got no
answer may have created a billed job: the entry stays "submitting" and a human decides. A job
that ended badly (moderated, failed, its result expired) marks the entry failed, so a re-run
may pay for a new one. Anything else (a timeout, an unavailable status endpoint, a garbled
answer, a download refused or cut short) leaves it "submitted": the next run resumes the same
paid request and downloads its result again, for free.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import httpx

from route_assets.clock import Clock, SystemClock
from route_assets.providers.base import JournalEntry, RequestJournal, Submission
from route_assets.providers.download import (
    IMAGE_BYTES,
    MAX_PIXELS,
    VIDEO_BYTES,
    MediaKind,
    api_url_allowed,
    as_png,
    download_client,
    fetch_media,
    media_problem,
)
from route_assets.providers.errors import (
    DownloadRejected,
    MalformedResponse,
    ModerationRefused,
    ProviderError,
    ProviderTimeout,
    ResultExpired,
)
from route_assets.providers.http import (
    build_http_client,
    checked_json,
    raise_for_provider,
    transport_failure,
)
from route_assets.providers.jobs import AnyRequest, Job, Outcome, Result, request_fingerprint

PriceFn = Callable[[Any], float]
# Nothing was sent: a connection that never opened cannot have created a job.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Found while polling or downloading, these end the job for good: a re-run may submit anew.
# A DownloadRejected is not among them: the job succeeded and the next run fetches it again.
TERMINAL = (ModerationRefused, ResultExpired)


POLL_SHARE = 0.05  # the longest poll wait, as a share of the time a job has already taken


class SubmissionStateUnknown(ProviderError):
    """A paid POST may or may not have created a job; resubmitting could bill twice."""


class HostedProvider(ABC):
    """Shared constructor and journaled flow; subclasses shape bodies and read statuses."""

    provider: ClassVar[str]
    default_base_url: ClassVar[str]
    api_hosts: ClassVar[tuple[str, ...]]  # hosts that may receive the key (returned poll URLs)
    media_hosts: ClassVar[tuple[str, ...]]  # hosts media may be downloaded from
    api_timeout: ClassVar[httpx.Timeout] = httpx.Timeout(connect=10.0, read=60.0, write=60.0,
                                                         pool=10.0)
    download_needs_key: ClassVar[bool] = False

    def __init__(self, *, api_key: str, base_url: str | None = None, journal: RequestJournal,
                 price_usd: PriceFn | float, clock: Clock | None = None,
                 transport: httpx.BaseTransport | None = None, poll_interval_s: float = 1.0,
                 max_wait_s: float = 600.0, trusted_base: str | None = None) -> None:
        if not api_key:
            raise ValueError(f"{self.provider}: an API key is required")
        self._key = api_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.journal = journal
        self._price = price_usd
        self.clock = clock or SystemClock()
        self._transport = transport
        self.poll_interval_s, self.max_wait_s = poll_interval_s, max_wait_s
        self.trusted_base = trusted_base

    def __repr__(self) -> str:  # the key is deliberately absent
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """The credential header(s); sent to API hosts only."""

    @abstractmethod
    def accepted(self, job: Job[Any], body: dict[str, Any]) -> tuple[Submission, Outcome | None]:
        """Read the submit response: the submission, and its outcome if already finished."""

    @abstractmethod
    def poll(self, api: httpx.Client, submission: Submission) -> Outcome | None:
        """One status check: None while running, else the outcome."""

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._key,)

    def price(self, request: AnyRequest) -> float:
        return float(self._price(request) if callable(self._price) else self._price)

    def get_json(self, api: httpx.Client, url: str, *, model: str,
                 request_id: str | None) -> dict[str, Any]:
        """GET a provider-returned URL (retried by the transport), mapped to the error family."""
        self.check_api_url(url, model=model, request_id=request_id)
        try:
            response = api.get(url)
        except httpx.HTTPError as exc:
            raise transport_failure(exc, provider=self.provider, model=model,
                                    request_id=request_id, secrets=self.secrets) from None
        return checked_json(response, provider=self.provider, model=model,
                            request_id=request_id, secrets=self.secrets)

    def check_api_url(self, url: str, *, model: str, request_id: str | None) -> None:
        """Refuse to send the key to a URL off the provider's API hosts."""
        if not api_url_allowed(url, base_url=self.base_url, api_hosts=self.api_hosts):
            raise MalformedResponse(f"returned URL on host {httpx.URL(url).host!r}, not one of "
                                    "its API hosts", provider=self.provider, model=model,
                                    request_id=request_id)

    def run(self, job: Job[Any], media: MediaKind) -> Result:
        """Submit `job` once (or resume it), wait, download and journal every step."""
        request = job.request
        fp = request_fingerprint(job.kind, self.provider, request)
        started = self.clock.now()
        entry = self.journal.find(fp)
        api = build_http_client(base_url=self.base_url, headers=self.auth_headers(),
                                timeout=self.api_timeout, transport=self._transport,
                                clock=self.clock)
        # A "completed" entry whose stored result was lost is fetched again from the provider:
        # free, and the journal keeps it completed (it cannot fail after succeeding).
        refetch = entry is not None and entry.state == "completed"
        with api, download_client(transport=self._transport, clock=self.clock) as files:
            submission, outcome = self._resume_or_submit(api, job, fp, entry)
            job_failed = False
            try:
                outcome = outcome or self._wait(api, submission)
                if outcome.failure is not None:
                    job_failed = True
                    raise outcome.failure
                data = self._fetch(files, outcome, submission, media)
            except ProviderError as exc:
                # A synchronous answer (nothing to poll) cannot be fetched again either.
                ended = job_failed or isinstance(exc, TERMINAL) or not submission.poll_url
                if ended and not refetch:
                    self.journal.failed(fp, str(exc))
                raise
        if not refetch:
            self.journal.completed(fp)
        cost = next((c for c in (outcome.cost_usd, submission.reported_cost_usd)
                     if c is not None), None)
        if cost is None:
            cost = self.price(job.priced or request)
        return Result(data=data, seed=outcome.seed if outcome.seed is not None else request.seed,
                      request_id=submission.request_id, cost_usd=0.0 if refetch else cost,
                      latency_s=self.clock.now() - started)

    def _resume_or_submit(self, api: httpx.Client, job: Job[Any], fp: str,
                          entry: JournalEntry | None) -> tuple[Submission, Outcome | None]:
        model = job.request.model
        if entry is not None and entry.state in ("submitting", "submitted", "completed"):
            if entry.state != "submitting" and entry.submission and entry.submission.poll_url:
                return entry.submission, None
            if entry.state == "completed":
                raise ResultExpired(
                    f"request {fp} was paid and completed, but its result was inline and is no "
                    f"longer stored; `route-assets requests forget {fp}` to pay for it again",
                    provider=self.provider, model=model)
            raise self._unknown(fp, model, f"it is journaled as {entry.state!r} with nothing "
                                "to poll: a run stopped between paying and recording the job")
        self.journal.begin(fp, provider=self.provider, model=model)
        submission, outcome = self._submit(api, job, fp)
        self.journal.submitted(fp, submission)
        return submission, outcome

    def _submit(self, api: httpx.Client, job: Job[Any],
                fp: str) -> tuple[Submission, Outcome | None]:
        model = job.request.model
        try:
            response = api.post(job.path, json=job.body, headers=job.headers)
        except NOT_SENT as exc:
            self.journal.failed(fp, f"not sent: {type(exc).__name__}")
            raise transport_failure(exc, provider=self.provider, model=model,
                                    secrets=self.secrets) from None
        except httpx.HTTPError as exc:
            raise self._unknown(fp, model, f"the submit got no answer ({type(exc).__name__})"
                                ) from None
        try:
            raise_for_provider(response, provider=self.provider, model=model,
                               secrets=self.secrets)
        except ProviderError as exc:
            self.journal.failed(fp, str(exc))  # an error answer means no job was created
            raise
        try:
            return self.accepted(job, checked_json(response, provider=self.provider, model=model,
                                                   secrets=self.secrets))
        except MalformedResponse as exc:
            # A 2xx we cannot read may still have created a billed job: stay "submitting".
            raise self._unknown(fp, model, f"the submit answer is unreadable ({exc})") from None

    def _unknown(self, fp: str, model: str, why: str) -> SubmissionStateUnknown:
        return SubmissionStateUnknown(
            f"the state of submission {fp} is unknown: {why}. A job may exist and be billed; "
            f"check the provider's dashboard, then run `route-assets requests forget {fp}` to "
            "allow a new submission", provider=self.provider, model=model)

    def _wait(self, api: httpx.Client, submission: Submission) -> Outcome:
        started, delay = self.clock.now(), self.poll_interval_s
        while True:
            outcome = self.poll(api, submission)
            if outcome is not None:
                return outcome
            waited = self.clock.now() - started
            if waited >= self.max_wait_s:
                raise ProviderTimeout(
                    f"still running after {waited:.0f}s; the submission stays journaled and the "
                    "next run resumes polling it", provider=self.provider,
                    model=submission.model, request_id=submission.request_id)
            self.clock.sleep(min(delay, self.max_wait_s - waited))
            # Back off, but never wait more than a twentieth of the time already spent: a job
            # that took 60 s is not kept waiting 30 s more, which is what throughput depends on.
            delay = min(delay * 1.5, max(self.poll_interval_s, POLL_SHARE * (waited + delay)))

    def _fetch(self, files: httpx.Client, outcome: Outcome, submission: Submission,
               media: MediaKind) -> bytes:
        where: dict[str, Any] = dict(provider=self.provider, model=submission.model,
                                     request_id=submission.request_id)
        max_bytes = IMAGE_BYTES if media == "image" else VIDEO_BYTES
        if outcome.media is not None:
            problem = media_problem(outcome.media, content_type="", kind=media,
                                    max_pixels=MAX_PIXELS)
            if problem or len(outcome.media) > max_bytes:
                raise DownloadRejected(problem or "inline media over the byte cap", **where)
            data = outcome.media
        elif outcome.media_url:
            # The key goes along only where the provider needs it and only to its API hosts.
            keyed = self.download_needs_key and api_url_allowed(
                outcome.media_url, base_url=self.base_url, api_hosts=self.api_hosts)
            data = fetch_media(files, outcome.media_url, allowed_hosts=self.media_hosts,
                               trusted_base=self.trusted_base, kind=media, max_bytes=max_bytes,
                               auth_headers=self.auth_headers() if keyed else None,
                               secrets=self.secrets, **where)
        else:
            raise MalformedResponse("finished without any media", **where)
        if media == "video":
            return data
        try:
            return as_png(data)
        except (OSError, ValueError) as exc:  # header fine, pixel data corrupt
            raise DownloadRejected(f"image does not decode ({type(exc).__name__})",
                                   **where) from None

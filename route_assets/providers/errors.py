"""The provider error family. Every message names the provider, the model and (when one exists)
the request id, and never carries a credential.

    ProviderError
     ├── ProviderRejected        4xx that retrying will not fix (bad input, bad key)
     │    ├── ModerationRefused  the provider's safety system refused: try the next model
     │    └── OutOfCredit        402 / billing: nothing on this provider will succeed
     ├── ProviderUnavailable     5xx, 429 storms, connection failures after retries: fall back
     ├── ProviderTimeout         still running after the wait limit: resume later, never resubmit
     ├── ResultExpired           the result URL is gone (404/410 after completion)
     ├── MalformedResponse       a response that does not parse as the documented shape
     └── DownloadRejected        wrong host or scheme, too big, truncated, wrong type, pixel bomb
"""


class ProviderError(Exception):
    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str,
        request_id: str | None = None,
        status: int | None = None,
    ) -> None:
        self.provider, self.model = provider, model
        self.request_id, self.status = request_id, status
        where = f"{provider} {model}" + (f" request {request_id}" if request_id else "")
        super().__init__(f"{where}: {message}" + (f" (HTTP {status})" if status else ""))


class ProviderRejected(ProviderError):
    pass


class ModerationRefused(ProviderRejected):
    pass


class OutOfCredit(ProviderRejected):
    pass


class ProviderUnavailable(ProviderError):
    pass


class ProviderTimeout(ProviderError):
    pass


class ResultExpired(ProviderError):
    pass


class MalformedResponse(ProviderError):
    pass


class DownloadRejected(ProviderError):
    pass


# What the router may answer by moving to the next model the policy allows.
FALLBACK_ERRORS: tuple[type[ProviderError], ...] = (ModerationRefused, ProviderUnavailable,
                                                   OutOfCredit)

"""Black Forest Labs API (provider-apis.md §3): FLUX1.1 [pro] generation, FLUX.1 Kontext [pro]
edits.

    POST {base}/v1/{model}  -> {id, polling_url, cost (credits), input_mp, output_mp}
    GET  polling_url        -> Pending | Ready | Request Moderated | Content Moderated | Error
                               | Task not found  (unknown strings are treated as pending)

The submit answer carries the real cost in credits (1 credit = $0.01), which beats any list
price. `result.sample` is a signed URL that expires after 10 minutes: fetched at once.
"""

from typing import Any

import httpx

from route_assets.providers.base import (
    EditRequest,
    GeneratedImage,
    ImageEditor,
    ImageGenerator,
    ImageRequest,
    Submission,
)
from route_assets.providers.errors import ProviderRejected, ResultExpired
from route_assets.providers.hosted import HostedProvider
from route_assets.providers.jobs import Job, Outcome, failed_job
from route_assets.providers.shapes import b64, dig, ensure, fit_size, nearest_ratio

USD_PER_CREDIT = 0.01
KONTEXT_RATIOS = ("21:9", "16:9", "3:2", "4:3", "1:1", "3:4", "2:3", "9:16", "9:21")
MODERATED = ("Request Moderated", "Content Moderated")


def _path(endpoint: str) -> str:
    path = endpoint.strip("/")
    return path if path.startswith("v1/") else f"v1/{path}"


def image_body(request: ImageRequest) -> dict[str, Any]:
    # FLUX1.1 [pro] takes 256-1440 px sides in multiples of 32.
    width, height = fit_size(request.width, request.height, min_side=256, max_side=1440,
                             multiple=32)
    return {"prompt": request.prompt, "width": width, "height": height, "seed": request.seed,
            "output_format": "png", "safety_tolerance": 2, "prompt_upsampling": False}


def edit_body(request: EditRequest) -> dict[str, Any]:
    if "fill" in request.endpoint and request.mask_png:
        # FLUX.1 Fill [pro]: base64 image and mask (white = repaint), same size.
        return {"prompt": request.instruction, "image": b64(request.image_png),
                "mask": b64(request.mask_png), "seed": request.seed, "output_format": "png",
                "safety_tolerance": 2}
    if "kontext" not in request.endpoint:
        raise ProviderRejected(f"no BFL edit shape for {request.endpoint!r}", provider="bfl",
                               model=request.model)
    # Kontext takes the image as plain base64 (no data: prefix) and no mask: the caller
    # composites the result back through its own mask.
    return {"prompt": request.instruction, "input_image": b64(request.image_png),
            "aspect_ratio": nearest_ratio(request.width, request.height, KONTEXT_RATIOS),
            "seed": request.seed, "output_format": "png", "safety_tolerance": 2}


class BflProvider(HostedProvider, ImageGenerator, ImageEditor):
    """BFL's first-party API; the model path comes with each request (`/v1/flux-pro-1.1`)."""

    provider = "bfl"
    default_base_url = "https://api.bfl.ai"
    api_hosts = ("bfl.ai",)  # polling_url names the serving region, e.g. api.us1.bfl.ai
    # Signed results: delivery-*.bfl.ai now, the Azure blob container on older accounts.
    media_hosts = ("bfl.ai", "bfldeliverysc.blob.core.windows.net")

    def auth_headers(self) -> dict[str, str]:
        return {"x-key": self._key}

    def generate(self, request: ImageRequest) -> GeneratedImage:
        job = Job("image", request, _path(request.endpoint), image_body(request))
        return self.run(job, "image").image()

    def edit(self, request: EditRequest) -> GeneratedImage:
        job = Job("edit", request, _path(request.endpoint), edit_body(request))
        return self.run(job, "image").image()

    def accepted(self, job: Job[Any], body: dict[str, Any]) -> tuple[Submission, Outcome | None]:
        model = job.request.model
        request_id = ensure(body.get("id"), "id", provider=self.provider, model=model)
        # Older regions answered without polling_url; get_result is the documented fallback.
        poll_url = body.get("polling_url") or f"{self.base_url}/v1/get_result?id={request_id}"
        cost = body.get("cost")
        return Submission(
            provider=self.provider, model=model, request_id=request_id,
            poll_url=ensure(poll_url, "polling_url", provider=self.provider, model=model),
            reported_cost_usd=(round(float(cost) * USD_PER_CREDIT, 6)
                               if isinstance(cost, int | float) else None),
        ), None

    def poll(self, api: httpx.Client, submission: Submission) -> Outcome | None:
        where: dict[str, Any] = {"provider": self.provider, "model": submission.model,
                                 "request_id": submission.request_id}
        answer = self.get_json(api, submission.poll_url, model=submission.model,
                               request_id=submission.request_id)
        status = str(answer.get("status", ""))
        if status == "Ready":
            seed = dig(answer, "result", "seed")
            return Outcome(media_url=ensure(dig(answer, "result", "sample"), "result.sample",
                                            **where),
                           seed=seed if isinstance(seed, int) else None)
        if status in MODERATED:
            return Outcome(failure=failed_job(status, moderated=True, **where))
        if status == "Error":
            detail = str(answer.get("details") or answer.get("result") or "")[:300]
            return Outcome(failure=failed_job(f"task error: {detail}", **where))
        if status == "Task not found":
            return Outcome(failure=ResultExpired("task not found (expired or unknown)", **where))
        return None  # Pending, or intermediate strings such as Generating

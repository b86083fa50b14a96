"""Replicate predictions API (provider-apis.md §2): FLUX, Nano Banana and Seedream generation;
Kontext, Nano Banana and Seedream edits.

    POST {base}/models/{owner}/{name}/predictions  {"input": {...}}  (Prefer: wait)
    GET  urls.get  -> starting | processing | succeeded | failed | canceled | aborted

`Prefer: wait` lets a fast model answer the POST already finished; otherwise we poll the
returned `urls.get`. Outputs are deleted after an hour, so they are fetched at once. Replicate
returns no seed, so the seed we sent is the one recorded.
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
from route_assets.providers.errors import ProviderRejected
from route_assets.providers.hosted import HostedProvider
from route_assets.providers.http import is_moderation
from route_assets.providers.jobs import Job, Outcome, failed_job
from route_assets.providers.shapes import data_uri, ensure, first, fit_size, nearest_ratio

RUNNING = ("starting", "processing")
NANO_BANANA_RATIOS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16")


def _path(endpoint: str) -> str:
    owner, _, name = endpoint.strip("/").partition("/")
    return f"models/{owner}/{name}/predictions"


def image_input(request: ImageRequest) -> dict[str, Any]:
    endpoint, prompt = request.endpoint, request.prompt
    if endpoint.endswith("flux-1.1-pro"):
        # Custom sizes: 256-1440 px, multiples of 32 (§2.4).
        width, height = fit_size(request.width, request.height, min_side=256, max_side=1440,
                                 multiple=32)
        return {"prompt": prompt, "aspect_ratio": "custom", "width": width, "height": height,
                "seed": request.seed, "output_format": "png", "safety_tolerance": 2}
    if "flux" in endpoint:
        return {"prompt": prompt, "aspect_ratio": nearest_ratio(request.width, request.height),
                "seed": request.seed, "num_outputs": 1, "output_format": "png"}
    if "nano-banana" in endpoint:
        return {"prompt": prompt, "output_format": "png",
                "aspect_ratio": nearest_ratio(request.width, request.height, NANO_BANANA_RATIOS)}
    if "seedream" in endpoint:
        width, height = fit_size(request.width, request.height, min_side=1024, max_side=4096,
                                 multiple=8)
        return {"prompt": prompt, "size": "custom", "width": width, "height": height,
                "max_images": 1, "sequential_image_generation": "disabled"}
    raise ProviderRejected(f"no Replicate input shape for {endpoint!r}", provider="replicate",
                           model=request.model)


def edit_input(request: EditRequest) -> dict[str, Any]:
    """Instruction editors: the mask stays with the caller, which composites through it."""
    endpoint, image = request.endpoint, data_uri(request.image_png)
    if "upscale" in endpoint:  # recraft crisp upscale: the image alone
        return {"image": image}
    if "kontext" in endpoint:
        # safety_tolerance is capped at 2 when an input image is given (§2.4).
        return {"prompt": request.instruction, "input_image": image,
                "aspect_ratio": "match_input_image", "seed": request.seed,
                "output_format": "png", "safety_tolerance": 2}
    if "nano-banana" in endpoint:
        return {"prompt": request.instruction, "image_input": [image],
                "aspect_ratio": "match_input_image", "output_format": "png"}
    if "seedream" in endpoint:
        return {"prompt": request.instruction, "image_input": [image], "size": "2K",
                "aspect_ratio": "match_input_image", "max_images": 1,
                "sequential_image_generation": "disabled"}
    raise ProviderRejected(f"no Replicate edit shape for {endpoint!r}", provider="replicate",
                           model=request.model)


class ReplicateProvider(HostedProvider, ImageGenerator, ImageEditor):
    """Replicate's official-model predictions; the model comes with each request."""

    provider = "replicate"
    default_base_url = "https://api.replicate.com/v1"
    api_hosts = ("api.replicate.com",)
    media_hosts = ("replicate.delivery", "replicate.com")
    # `Prefer: wait` may hold the POST open for up to 60 s before it answers.
    api_timeout = httpx.Timeout(connect=10.0, read=90.0, write=60.0, pool=10.0)

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def generate(self, request: ImageRequest) -> GeneratedImage:
        job = Job("image", request, _path(request.endpoint), {"input": image_input(request)},
                  headers={"Prefer": "wait"})
        return self.run(job, "image").image()

    def edit(self, request: EditRequest) -> GeneratedImage:
        job = Job("edit", request, _path(request.endpoint), {"input": edit_input(request)},
                  headers={"Prefer": "wait"})
        return self.run(job, "image").image()

    def accepted(self, job: Job[Any], body: dict[str, Any]) -> tuple[Submission, Outcome | None]:
        model = job.request.model
        request_id = ensure(body.get("id"), "id", provider=self.provider, model=model)
        urls: dict[str, Any] = body["urls"] if isinstance(body.get("urls"), dict) else {}
        submission = Submission(
            provider=self.provider, model=model, request_id=request_id,
            poll_url=ensure(urls.get("get"), "urls.get", provider=self.provider, model=model,
                            request_id=request_id),
            cancel_url=urls.get("cancel"))
        return submission, self._read(body, submission)

    def poll(self, api: httpx.Client, submission: Submission) -> Outcome | None:
        prediction = self.get_json(api, submission.poll_url, model=submission.model,
                                   request_id=submission.request_id)
        return self._read(prediction, submission)

    def _read(self, prediction: dict[str, Any], submission: Submission) -> Outcome | None:
        where: dict[str, Any] = {"provider": self.provider, "model": submission.model,
                                 "request_id": submission.request_id}
        status = prediction.get("status")
        if status == "succeeded":
            return Outcome(media_url=ensure(first(prediction.get("output")), "output", **where))
        if status == "failed":
            error = str(prediction.get("error") or "failed without a message")[:300]
            # E005 and "NSFW content detected" arrive as a failed prediction, not an HTTP error.
            return Outcome(failure=failed_job(error, moderated=is_moderation(error), **where))
        if status in ("canceled", "aborted"):
            return Outcome(failure=failed_job(f"prediction {status}", **where))
        return None  # starting, processing, or a status Replicate adds later

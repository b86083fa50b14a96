"""fal.ai queue API (provider-apis.md §1): FLUX, Seedream and Nano Banana generation; Kontext,
Nano Banana and Seedream edits; Kling, Veo 3.1 and Seedance image-to-video.

    POST {base}/{endpoint_id}  -> {request_id, status_url, response_url, cancel_url}
    GET  status_url            -> IN_QUEUE | IN_PROGRESS | COMPLETED
    GET  response_url          -> model output, or the job's error status and body

COMPLETED does not mean success: a failed job answers its response_url with an error, so that
answer (a 422 moderation or validation error, a 500 upstream failure) ends the job.
"""

from dataclasses import replace
from typing import Any

import httpx

from route_assets.providers.base import (
    EditRequest,
    GeneratedImage,
    GeneratedVideo,
    ImageEditor,
    ImageGenerator,
    ImageRequest,
    Submission,
    VideoGenerator,
    VideoRequest,
)
from route_assets.providers.errors import (
    ModerationRefused,
    ProviderRejected,
    ProviderUnavailable,
)
from route_assets.providers.hosted import HostedProvider
from route_assets.providers.jobs import Job, Outcome, failed_job
from route_assets.providers.shapes import (
    at_least_area,
    data_uri,
    dig,
    ensure,
    first,
    nearest_ratio,
    video_shape,
)

# Seedream refuses small canvases: v4 below 921,600 px, v4.5 below 2560x1440 (§7.1).
SEEDREAM_MIN_AREA = {"v4": 921_600, "v4.5": 3_686_400}
KLING_NEGATIVE = "blur, distort, and low quality"  # fal's own default for Kling


def _size(request: ImageRequest | EditRequest) -> dict[str, int]:
    return {"width": request.width, "height": request.height}


def _seedream_size(endpoint: str, request: ImageRequest | EditRequest) -> dict[str, int]:
    version = "v4.5" if "/v4.5/" in endpoint else "v4"
    w, h = at_least_area(request.width, request.height, min_area=SEEDREAM_MIN_AREA[version],
                         multiple=16)
    return {"width": w, "height": h}


def _nano_banana(request: ImageRequest | EditRequest, prompt: str) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt, "num_images": 1, "output_format": "png",
                            "aspect_ratio": nearest_ratio(request.width, request.height)}
    if "nano-banana-pro" in request.endpoint:  # only Pro documents seed and resolution
        body["seed"] = request.seed
        body["resolution"] = "1K" if max(request.width, request.height) <= 1024 else "2K"
    return body


def image_call(request: ImageRequest) -> tuple[str, dict[str, Any]]:
    endpoint = request.endpoint
    if "nano-banana" in endpoint:
        return endpoint, _nano_banana(request, request.prompt)
    if "seedream" in endpoint:
        return endpoint, {"prompt": request.prompt, "image_size": _seedream_size(endpoint, request),
                          "seed": request.seed, "num_images": 1, "enable_safety_checker": True}
    if "flux" in endpoint:
        return endpoint, {"prompt": request.prompt, "image_size": _size(request),
                          "seed": request.seed, "num_images": 1, "output_format": "png",
                          "enable_safety_checker": True}
    raise ProviderRejected(f"no fal input shape for endpoint {endpoint!r}", provider="fal",
                           model=request.model)


def _factor(request: EditRequest) -> float:
    """Upscale factor from the input PNG's width (IHDR) to the requested width, 1-4."""
    width = int.from_bytes(request.image_png[16:20], "big") or request.width
    return round(min(4.0, max(1.0, request.width / width)), 3)


def edit_call(request: EditRequest) -> tuple[str, dict[str, Any]]:
    """fal's editors: instruction editors take the image, fill/erase also the mask; the caller
    composites every result back through its mask either way."""
    endpoint, image = request.endpoint.rstrip("/"), data_uri(request.image_png)
    mask = data_uri(request.mask_png) if request.mask_png else None
    if endpoint.endswith(("/v1/fill", "/v1/erase")):
        if mask is None:
            raise ProviderRejected(f"{endpoint} needs a mask", provider="fal",
                                   model=request.model)
        body: dict[str, Any] = {"image_url": image, "mask_url": mask, "output_format": "png"}
        if endpoint.endswith("/fill"):  # erase takes no prompt: white is removed (§7.2)
            body.update(prompt=request.instruction, seed=request.seed, num_images=1,
                        safety_tolerance="2")
        return endpoint, body
    if "bria/background/replace" in endpoint:
        return endpoint, {"image_url": image, "prompt": request.instruction,
                          "seed": request.seed, "num_images": 1}
    if "clarity-upscaler" in endpoint:
        return endpoint, {"image_url": image, "upscale_factor": _factor(request),
                          "prompt": request.instruction, "creativity": 0.35,
                          "seed": request.seed}
    if "kontext" in endpoint:
        return endpoint, {"prompt": request.instruction, "image_url": image,
                          "seed": request.seed, "num_images": 1, "output_format": "png",
                          "safety_tolerance": "2"}
    if "nano-banana" in endpoint:
        edit = endpoint if endpoint.endswith("/edit") else endpoint + "/edit"
        return edit, {**_nano_banana(request, request.instruction), "image_urls": [image]}
    if "seedream" in endpoint:
        edit = endpoint.replace("/text-to-image", "/edit")
        return edit, {"prompt": request.instruction, "image_urls": [image],
                      "image_size": _seedream_size(endpoint, request), "seed": request.seed,
                      "num_images": 1, "enable_safety_checker": True}
    raise ProviderRejected(f"no fal edit shape for endpoint {endpoint!r}", provider="fal",
                           model=request.model)


def video_call(request: VideoRequest) -> tuple[str, dict[str, Any], float]:
    """Endpoint, body and the duration that will be billed (snapped to what the model takes,
    shapes.VIDEO_SHAPES)."""
    endpoint = request.endpoint
    shape = video_shape("fal", endpoint)
    if shape is None:
        raise ProviderRejected(f"no fal video shape for endpoint {endpoint!r}", provider="fal",
                               model=request.model)
    duration, seconds = shape.duration(request.seconds)
    body: dict[str, Any] = {"prompt": request.prompt,
                            shape.image_field: data_uri(request.keyframe_png),
                            "duration": duration}
    if (ratio := shape.ratio(request.width, request.height)) is not None:
        body["aspect_ratio"] = ratio
    if shape.resolution is not None:
        body["resolution"] = shape.resolution
    if "kling-video" in endpoint:
        body |= {"negative_prompt": KLING_NEGATIVE, "cfg_scale": 0.5}
    elif "veo3" in endpoint:
        # Audio off: the catalog prices the silent rate, and ads are cut with their own sound.
        body |= {"generate_audio": False, "seed": request.seed}
    else:  # Seedance
        body |= {"seed": request.seed, "camera_fixed": False, "enable_safety_checker": True}
    return endpoint, body, seconds


class FalProvider(HostedProvider, ImageGenerator, ImageEditor, VideoGenerator):
    """fal's queue for every fal endpoint in the catalog; the endpoint comes with each request."""

    provider = "fal"
    default_base_url = "https://queue.fal.run"
    api_hosts = ("fal.run", "fal.ai")
    media_hosts = ("fal.media", "fal.run", "fal.ai")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self._key}"}

    def generate(self, request: ImageRequest) -> GeneratedImage:
        endpoint, body = image_call(request)
        return self.run(Job("image", request, endpoint, body), "image").image()

    def edit(self, request: EditRequest) -> GeneratedImage:
        endpoint, body = edit_call(request)
        return self.run(Job("edit", request, endpoint, body), "image").image()

    def animate(self, request: VideoRequest) -> GeneratedVideo:
        endpoint, body, seconds = video_call(request)
        job = Job("video", request, endpoint, body, priced=replace(request, seconds=seconds))
        return self.run(job, "video").video()

    def accepted(self, job: Job[Any], body: dict[str, Any]) -> tuple[Submission, Outcome | None]:
        model = job.request.model
        where: dict[str, Any] = {"provider": self.provider, "model": model}
        request_id = ensure(body.get("request_id"), "request_id", **where)
        return Submission(
            provider=self.provider, model=model, request_id=request_id,
            # Always the URLs fal returns: deriving them drops endpoint sub-paths (§1.2).
            poll_url=ensure(body.get("status_url"), "status_url", request_id=request_id, **where),
            result_url=ensure(body.get("response_url"), "response_url", request_id=request_id,
                              **where),
            cancel_url=body.get("cancel_url"),
        ), None

    def poll(self, api: httpx.Client, submission: Submission) -> Outcome | None:
        where: dict[str, Any] = {"model": submission.model, "request_id": submission.request_id}
        status = self.get_json(api, submission.poll_url, **where)
        if status.get("status") != "COMPLETED":
            return None  # IN_QUEUE, IN_PROGRESS, or a status fal adds later
        try:
            result = self.get_json(api, submission.result_url or submission.poll_url, **where)
        except ProviderUnavailable as exc:
            if exc.status == 500:  # the job itself failed upstream (downstream_service_error)
                return Outcome(failure=failed_job("upstream error (HTTP 500)",
                                                  provider=self.provider, **where))
            raise
        except ProviderRejected as exc:
            if exc.status in (401, 403):  # our key, not the job: nothing about the job is known
                raise
            return Outcome(failure=exc)
        return self._read_output(result, submission)

    def _read_output(self, result: dict[str, Any], submission: Submission) -> Outcome:
        if any(flag is True for flag in result.get("has_nsfw_concepts") or []):
            # fal's safety checker answers a black image rather than an error.
            return Outcome(failure=ModerationRefused(
                "output flagged by fal's safety checker (has_nsfw_concepts)",
                provider=self.provider, model=submission.model,
                request_id=submission.request_id))
        url = (dig(result, "video", "url") or dig(first(result.get("images")), "url")
               or dig(result, "image", "url"))
        seed = result.get("seed")
        return Outcome(media_url=ensure(url, "a media url", provider=self.provider,
                                        model=submission.model,
                                        request_id=submission.request_id),
                       seed=seed if isinstance(seed, int) else None)


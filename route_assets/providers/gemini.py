"""Google Gemini API (provider-apis.md §4): Nano Banana / Nano Banana Pro images through
generateContent (an edit is the same call with the image inline), Veo 3.1 image-to-video
through predictLongRunning and operation polling.

    POST {base}/v1beta/models/{model}:generateContent    -> the image, base64 inline (sync)
    POST {base}/v1beta/models/{model}:predictLongRunning -> {name: "models/.../operations/..."}
    GET  {base}/v1beta/{name}                            -> {done, response | error}

generateContent is paid and answers in one call, so it is journaled as submitted with nothing
to poll and completed at once. A refused prompt is HTTP 200 without an image, so refusals are
read from `promptFeedback.blockReason` and `finishReason`. Veo's video URI needs the key to
download; it is sent to the first (Google) origin only.
"""

import base64
import binascii
import uuid
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
    MalformedResponse,
    ModerationRefused,
    ProviderRejected,
)
from route_assets.providers.hosted import HostedProvider
from route_assets.providers.http import is_moderation
from route_assets.providers.jobs import Job, Outcome, failed_job
from route_assets.providers.shapes import (
    b64,
    dig,
    ensure,
    nearest_ratio,
    video_shape,
)

IMAGE_RATIOS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16")
SAFETY_FINISH = frozenset({"SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT",
                           "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION",
                           "IMAGE_RECITATION"})
# google.rpc codes that mean the request itself was wrong (INVALID_ARGUMENT, FAILED_PRECONDITION)
REJECTED_CODES = frozenset({3, 9, 400})


def _image_config(request: ImageRequest | EditRequest) -> dict[str, Any]:
    config: dict[str, Any] = {"aspectRatio": nearest_ratio(request.width, request.height,
                                                           IMAGE_RATIOS)}
    if "pro" in request.endpoint:  # only Nano Banana Pro offers 2K; it costs the same as 1K
        config["imageSize"] = "1K" if max(request.width, request.height) <= 1024 else "2K"
    return config


def content_body(request: ImageRequest | EditRequest) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if isinstance(request, EditRequest):
        parts = [{"text": request.instruction},
                 {"inline_data": {"mime_type": "image/png", "data": b64(request.image_png)}}]
    else:
        parts = [{"text": request.prompt}]
    return {"contents": [{"role": "user", "parts": parts}],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "seed": request.seed,
                                 "imageConfig": _image_config(request)}}


def video_body(request: VideoRequest) -> tuple[dict[str, Any], float]:
    """Body and billed seconds. Seed and audio are Vertex-only, so neither is sent (§4.2)."""
    shape = video_shape("gemini", request.endpoint)
    if shape is None:
        raise ProviderRejected(f"no Gemini video shape for {request.endpoint!r}",
                               provider="gemini", model=request.model)
    _, seconds = shape.duration(request.seconds)
    return {"instances": [{"prompt": request.prompt,
                           shape.image_field: {"bytesBase64Encoded": b64(request.keyframe_png),
                                               "mimeType": "image/png"}}],
            "parameters": {"sampleCount": 1, "durationSeconds": int(seconds),
                           "aspectRatio": shape.ratio(request.width, request.height),
                           "resolution": shape.resolution}}, seconds


class GeminiProvider(HostedProvider, ImageGenerator, ImageEditor, VideoGenerator):
    """The Gemini API (not Vertex): the model id comes with each request's endpoint."""

    provider = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    api_hosts = ("generativelanguage.googleapis.com",)
    media_hosts = ("generativelanguage.googleapis.com", "googleusercontent.com")
    download_needs_key = True
    # generateContent is synchronous: Nano Banana Pro takes ~45 s at p95.
    api_timeout = httpx.Timeout(connect=10.0, read=180.0, write=60.0, pool=10.0)

    def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key}

    def generate(self, request: ImageRequest) -> GeneratedImage:
        path = f"v1beta/models/{request.endpoint}:generateContent"
        return self.run(Job("image", request, path, content_body(request)), "image").image()

    def edit(self, request: EditRequest) -> GeneratedImage:
        path = f"v1beta/models/{request.endpoint}:generateContent"
        return self.run(Job("edit", request, path, content_body(request)), "image").image()

    def animate(self, request: VideoRequest) -> GeneratedVideo:
        body, seconds = video_body(request)
        job = Job("video", request, f"v1beta/models/{request.endpoint}:predictLongRunning", body,
                  priced=replace(request, seconds=seconds))
        return self.run(job, "video").video()

    def accepted(self, job: Job[Any], body: dict[str, Any]) -> tuple[Submission, Outcome | None]:
        model = job.request.model
        if job.kind == "video":
            name = ensure(body.get("name"), "operation name", provider=self.provider, model=model)
            submission = Submission(provider=self.provider, model=model, request_id=name,
                                    poll_url=f"{self.base_url}/v1beta/{name}")
            return submission, self._read_operation(body, submission) if body.get("done") else None
        # No job id exists for a synchronous call; responseId names it when Google sends one.
        request_id = str(body.get("responseId") or f"gemini-{uuid.uuid4().hex[:16]}")
        submission = Submission(provider=self.provider, model=model, request_id=request_id,
                                poll_url="")
        return submission, self._read_image(body, submission)

    def poll(self, api: httpx.Client, submission: Submission) -> Outcome | None:
        operation = self.get_json(api, submission.poll_url, model=submission.model,
                                  request_id=submission.request_id)
        return self._read_operation(operation, submission) if operation.get("done") else None

    def _where(self, submission: Submission) -> dict[str, Any]:
        return {"provider": self.provider, "model": submission.model,
                "request_id": submission.request_id}

    def _read_image(self, body: dict[str, Any], submission: Submission) -> Outcome:
        where = self._where(submission)
        blocked = dig(body, "promptFeedback", "blockReason")
        if blocked:
            return Outcome(failure=ModerationRefused(f"prompt blocked ({blocked})", **where))
        candidate = dig(body, "candidates", 0)
        if not isinstance(candidate, dict):
            return Outcome(failure=MalformedResponse("no candidates in the answer", **where))
        for part in dig(candidate, "content", "parts") or []:
            inline = part.get("inlineData") or part.get("inline_data") or {}
            mime = inline.get("mimeType") or inline.get("mime_type") or ""
            if str(mime).startswith("image/") and inline.get("data"):
                try:
                    return Outcome(media=base64.b64decode(inline["data"], validate=True))
                except (binascii.Error, ValueError):
                    return Outcome(failure=MalformedResponse("image data is not base64", **where))
        finish = str(candidate.get("finishReason", ""))
        if finish in SAFETY_FINISH:
            return Outcome(failure=ModerationRefused(f"no image (finishReason {finish})", **where))
        # NO_IMAGE / IMAGE_OTHER: the model declined without a policy reason; another model may
        # well succeed, so this is a fallback error rather than a rejection.
        return Outcome(failure=failed_job(f"no image (finishReason {finish or '-'})", **where))

    def _read_operation(self, operation: dict[str, Any], submission: Submission) -> Outcome:
        where = self._where(submission)
        error = operation.get("error")
        if isinstance(error, dict):
            message = str(error.get("message", ""))[:300]
            if is_moderation(message) or "safety" in message.lower():
                return Outcome(failure=ModerationRefused(message, **where))
            if error.get("code") in REJECTED_CODES:
                return Outcome(failure=ProviderRejected(f"operation failed: {message}", **where))
            return Outcome(failure=failed_job(f"operation failed: {message}", **where))
        answer = dig(operation, "response", "generateVideoResponse") or {}
        if answer.get("raiMediaFilteredCount"):
            reasons = "; ".join(map(str, answer.get("raiMediaFilteredReasons") or []))[:300]
            return Outcome(failure=ModerationRefused(f"video filtered: {reasons}", **where))
        uri = dig(answer, "generatedSamples", 0, "video", "uri")
        if not isinstance(uri, str) or not uri:
            return Outcome(failure=MalformedResponse("finished without a video uri", **where))
        return Outcome(media_url=uri)

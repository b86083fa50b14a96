"""fal's queue API (provider-apis.md §1): submit, status, result, cancel, fal-shaped errors.

Request URLs are built from the endpoint's `{owner}/{alias}` only, as fal does, so a client that
derives them from the full endpoint id (instead of using the returned URLs) gets a 404 here.
"""

import re
import uuid
from typing import Any

from route_assets.emulator import media
from route_assets.emulator.cdn import data_uri, media_url
from route_assets.emulator.state import Blob, Job, State
from route_assets.emulator.wire import (
    BadInput,
    Request,
    Response,
    bearer,
    error_fault,
    json_response,
    key_matches,
    lost_fault,
    retry_after,
    transient,
)

_REQUEST_PATH = re.compile(r"/([^/]+)/([^/]+)/requests/([^/]+)(/status|/cancel)?")
_VIDEO_HINTS = ("video", "veo", "kling", "seedance")
_NO_PROMPT = ("/v1/erase", "upscaler", "background/remove")  # endpoints that take no prompt
_FAL_SIZES = {
    "square_hd": (1024, 1024), "square": (512, 512), "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024), "landscape_4_3": (1024, 768), "landscape_16_9": (1024, 576),
}
_RESOLUTION_SCALE = {"0.5K": 0.5, "1K": 1.0, "2K": 2.0, "4K": 4.0}
_MODERATED = {
    "loc": ["body", "prompt"],
    "msg": "The content could not be processed because it contained material flagged by a "
           "content checker.",
    "type": "content_policy_violation",
    "url": "https://docs.fal.ai/errors#content_policy_violation",
}


def error(status: int, retry_after_s: float = 1.0) -> Response:
    if status == 429:
        return json_response(429, {"detail": "Rate limit exceeded"}, retry_after(retry_after_s))
    if status == 503:
        return json_response(503, {"detail": "Runner scheduling failure",
                                   "error_type": "runner_scheduling_failure"},
                             {"X-Fal-Error-Type": "runner_scheduling_failure"})
    body: dict[int, Any] = {
        401: "No user found for Key ID and Secret",
        402: "User is locked. Reason: Exhausted balance.",
        404: "Request not found",
        500: [{"loc": [], "msg": "Downstream service error",
               "type": "downstream_service_error"}],
    }
    return json_response(status, {"detail": body.get(status, "Internal Server Error")})


def _unprocessable(detail: dict[str, Any]) -> Response:
    return json_response(422, {"detail": [detail]}, {"X-Fal-Retryable": "false"})


def handle(state: State, req: Request) -> Response:
    match = _REQUEST_PATH.fullmatch(req.path)
    if req.method == "POST" and match is None and req.path.count("/") >= 2:
        return _submit(state, req, req.path.strip("/"))
    if match is None or req.method not in ("GET", "PUT"):
        return error(404)
    if not key_matches(bearer(req, "Key"), state.keys["fal"]):
        return error(401)
    owner, alias, request_id, tail = match.groups()
    job = state.job("fal", request_id)
    if job is None or job.model.split("/")[:2] != [owner, alias]:
        return json_response(404, {"status": "NOT_FOUND"}) if tail == "/cancel" else error(404)
    if req.method == "PUT" and tail == "/cancel":
        return _cancel(job)
    if req.method != "GET" or tail == "/cancel":
        return error(404)
    if tail == "/status":
        return _status(state, job, req)
    return _result(state, job)


def _urls(state: State, job: Job) -> dict[str, Any]:
    owner, alias = job.model.split("/")[:2]
    base = f"{state.root}/fal/{owner}/{alias}/requests/{job.id}"
    return {"request_id": job.id, "response_url": base, "status_url": base + "/status",
            "cancel_url": base + "/cancel"}


def _submit(state: State, req: Request, endpoint: str) -> Response:
    state.attempt("fal", endpoint)
    if not key_matches(bearer(req, "Key"), state.keys["fal"]):
        return error(401)
    fault = state.faults.take("fal", "submit", endpoint)
    refused = error_fault(fault, error)
    if refused is not None:
        return refused
    try:
        body = req.json_object()
        work = _render(state, endpoint, body)
    except BadInput as exc:
        return _unprocessable({"loc": ["body", exc.field], "msg": exc.message,
                               "type": getattr(exc, "kind", "value_error")})
    if fault is not None and fault.kind == "moderation":
        return _unprocessable(_MODERATED)  # refused before a job exists: not billed
    job = state.create_job("fal", endpoint, str(uuid.uuid4()), work, body)
    return lost_fault(fault) or json_response(
        200, {"status": "IN_QUEUE", **_urls(state, job), "queue_position": 0})


def _render(state: State, endpoint: str, body: dict[str, Any]) -> media.Render:
    prompt = body.get("prompt")
    if any(h in endpoint for h in _NO_PROMPT) and prompt is None:
        prompt = "edit"
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadInput("prompt", "field required")
    seed = media.parse_seed(body.get("seed"))
    source = None
    for name in ("image_url", "image_urls", "start_image_url", "first_frame_url"):
        ref = body.get(name)
        if isinstance(ref, list):
            ref = ref[0] if ref else None
        if ref is not None:
            source = media.load_image(ref, name, state.media)
            break
    if any(hint in endpoint for hint in _VIDEO_HINTS):
        if source is None and "image-to-video" in endpoint:
            raise BadInput("image_url", "field required")
        _check_video_duration(endpoint, body.get("duration"))
        width, height = media.video_size(body.get("aspect_ratio"), source)
        seconds = media.parse_seconds(body.get("duration"), 5.0)
        return media.Render("video", prompt, width, height, seed, source=source,
                            seconds=seconds)
    count = body.get("num_images", 1)
    if not isinstance(count, int) or not 1 <= count <= 4:
        raise BadInput("num_images", "num_images must be between 1 and 4")
    width, height = _image_size(body, source)
    mask = media.load_mask(body, "mask_url", source, state.media)
    if endpoint.endswith(("/v1/fill", "/v1/erase")) and mask is None:
        raise BadInput("mask_url", "field required")
    scale = 1.0
    if "upscal" in endpoint:
        scale = body.get("upscale_factor", 2)
        if not isinstance(scale, int | float) or not 1 <= scale <= 4:
            raise BadInput("upscale_factor", "upscale_factor must be between 1 and 4")
    return media.Render("image", prompt, width, height, seed, count=count, source=source,
                        mask=mask, scale=float(scale))


# The duration values each video family's schema allows (provider-apis.md §7.3): a string enum.
_VIDEO_DURATIONS = {
    "kling-video": ("5", "10"),
    "veo3": ("4s", "6s", "8s"),
    "seedance": tuple(str(s) for s in range(2, 13)),
}


class _NotInEnum(BadInput):
    kind = "literal_error"  # pydantic's type for a value outside a Literal[...] enum


def _check_video_duration(endpoint: str, value: object) -> None:
    allowed = next((v for hint, v in _VIDEO_DURATIONS.items() if hint in endpoint), None)
    if value is None or allowed is None:
        return  # the model's default duration
    if value not in allowed:
        raise _NotInEnum("duration", "Input should be " + ", ".join(f"'{a}'" for a in allowed))


def _image_size(body: dict[str, Any], source: Any) -> tuple[int, int]:
    size, aspect = body.get("image_size"), body.get("aspect_ratio")
    if isinstance(size, dict):
        return media.check_size(size.get("width"), size.get("height"))
    if isinstance(size, str):
        if size not in _FAL_SIZES:
            raise BadInput("image_size", f"unsupported image_size {size!r}")
        return _FAL_SIZES[size]
    if body.get("width") is not None or body.get("height") is not None:
        return media.check_size(body.get("width"), body.get("height"), "width")
    if isinstance(aspect, str) and aspect not in ("auto", "match_input_image"):
        scale = _RESOLUTION_SCALE.get(str(body.get("resolution", "1K")), 1.0)
        return media.aspect_size(aspect, scale)
    if source is not None:
        return source.shape[1], source.shape[0]
    return media.DEFAULT_SIZE


def _status(state: State, job: Job, req: Request) -> Response:
    failed = transient(state.poll_fault(job, "status"), error)
    if failed is not None:
        return failed
    if job.expired:
        return error(404)
    stage = job.stage()
    logs: list[str] | None = [] if req.query.get("logs") == "1" else None
    body: dict[str, Any] = {**_urls(state, job), "logs": logs}
    if stage == "queued":
        return json_response(202, {"status": "IN_QUEUE", "queue_position": 0, **body})
    if stage == "running":
        return json_response(202, {"status": "IN_PROGRESS", **body})
    # Failed jobs reach COMPLETED too; only the result tells success from failure (§1.2).
    return json_response(200, {"status": "COMPLETED", **body,
                               "metrics": {"inference_time": job.latency_s}})


def _result(state: State, job: Job) -> Response:
    failed = transient(state.poll_fault(job, "result"), error)
    if failed is not None:
        return failed
    if job.expired:
        return error(404)
    if job.stage() != "done":
        return json_response(400, {"detail": "Request is still in progress"})
    if job.canceled:
        return json_response(400, {"detail": "Request was cancelled"})
    if job.moderated:
        return _unprocessable(_MODERATED)
    files = [_file(state, job, blob) for blob in state.outputs(job)]
    headers = {"x-fal-request-id": job.id}
    if job.render.kind == "video":
        return json_response(200, {"video": files[0], "seed": job.render.seed}, headers)
    return json_response(200, {"images": files, "seed": job.render.seed,
                               "has_nsfw_concepts": [False] * len(files),
                               "prompt": job.render.prompt,
                               "timings": {"inference": job.latency_s}}, headers)


def _file(state: State, job: Job, blob: Blob) -> dict[str, Any]:
    """A fal File object; `sync_mode` inlines the media as a data URI instead of a URL."""
    url = data_uri(blob) if job.input.get("sync_mode") else media_url(state, blob)
    out: dict[str, Any] = {"url": url, "content_type": blob.content_type,
                           "file_name": f"{blob.token}.{blob.ext}", "file_size": len(blob.data)}
    if blob.ext == "png":
        out.update(width=blob.width, height=blob.height)
    return out


def _cancel(job: Job) -> Response:
    if job.stage() == "done":
        return json_response(400, {"status": "ALREADY_COMPLETED"})
    job.canceled = True
    return json_response(202, {"status": "CANCELLATION_REQUESTED"})

"""Replicate's HTTP API (provider-apis.md §2): predictions, `Prefer: wait`, RFC 7807 errors.

Moderation is not an HTTP error on Replicate: the prediction is created (and billed) and ends
`failed` with an E005 message, so a "moderation" fault on any phase marks the prediction.
"""

import hashlib
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from route_assets.emulator import media
from route_assets.emulator.cdn import media_url
from route_assets.emulator.state import Job, State
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

MAX_WAIT_S = 60.0
E005 = ("The input or output was flagged as sensitive. Please try again with different "
        "inputs. (E005)")
_CREATE = re.compile(r"/models/([^/]+)/([^/]+)/predictions")
_PREDICTION = re.compile(r"/predictions/([a-z0-9]+)(/cancel)?")
_IMAGE_ONLY_HINTS = ("upscale",)  # models whose only input is the image (recraft-crisp-upscale)
_VIDEO_HINTS = ("kling", "seedance", "veo", "video", "hailuo", "wan-")
_SOURCE_FIELDS = {"image": ("input_image", "image_input", "image"),
                  "video": ("start_image", "image", "first_frame_image")}
_SIZE_SCALE = {"1K": 1.0, "2K": 2.0, "4K": 4.0}
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_PROBLEMS = {
    401: ("Unauthenticated", "You did not pass a valid authentication token"),
    402: ("Billing required", "You need to set up billing to run this model."),
    404: ("Not found", "The requested resource could not be found."),
    500: ("Internal server error", "An unexpected error occurred."),
    503: ("Service unavailable", "The service is temporarily unavailable."),
}


def error(status: int, retry_after_s: float = 1.0) -> Response:
    if status == 429:
        return json_response(429, {"detail": "Request was throttled. Your rate limit resets "
                                             "in ~30s.", "status": 429},
                             retry_after(retry_after_s))
    title, detail = _PROBLEMS.get(status, _PROBLEMS[500])
    return json_response(status, {"title": title, "detail": detail, "status": status})


def _invalid(exc: BadInput) -> Response:
    return json_response(422, {"title": "Input validation failed", "status": 422,
                               "detail": f"- input: {exc.field}: {exc.message}",
                               "invalid_fields": [{"type": "invalid", "field": exc.field,
                                                   "description": exc.message}]})


def handle(state: State, req: Request) -> Response:
    create = _CREATE.fullmatch(req.path)
    if req.method == "POST" and (create or req.path == "/predictions"):
        return _create(state, req, "/".join(create.groups()) if create else None)
    found = _PREDICTION.fullmatch(req.path)
    if found is None:
        return error(404)
    if not _authorized(state, req):
        return error(401)
    job = state.job("replicate", found.group(1))
    if job is None:
        return error(404)
    if found.group(2) and req.method == "POST":
        if job.stage() != "done":
            job.canceled = True
        return json_response(200, _view(state, job))
    if found.group(2) or req.method != "GET":
        return error(404)
    phases = ("status", "result") if job.stage() == "done" else ("status",)
    failed = transient(state.poll_fault(job, *phases), error)
    if failed is not None:
        return failed
    return error(404) if job.expired else json_response(200, _view(state, job))


def _authorized(state: State, req: Request) -> bool:
    token = bearer(req, "Bearer") or bearer(req, "Token")
    return key_matches(token, state.keys["replicate"])


def _create(state: State, req: Request, model: str | None) -> Response:
    bad: BadInput | None = None
    try:
        body = req.json_object()
    except BadInput as exc:
        body, bad = {}, exc
    version = body.get("version")
    model = model or (str(version).split(":")[0] if version else "")
    state.attempt("replicate", model)
    if not _authorized(state, req):
        return error(401)
    fault = state.faults.take("replicate", "submit", model)
    refused = error_fault(fault, error)
    if refused is not None:
        return refused
    try:
        if bad is not None:
            raise bad
        if not model:
            raise BadInput("version", "a version or a model path is required")
        inputs = body.get("input")
        if not isinstance(inputs, dict):
            raise BadInput("input", "input is required and must be an object")
        work = _render(state, model, inputs)
    except BadInput as exc:
        return _invalid(exc)
    moderated = "input" if fault is not None and fault.kind == "moderation" else None
    job_id = "".join(secrets.choice(_ALPHABET) for _ in range(26))
    job = state.create_job("replicate", model, job_id, work, body, moderated)
    lost = lost_fault(fault)
    if lost is not None:
        return lost
    wait_s = _prefer_wait(req.header("prefer"))
    if wait_s:
        # Hold the answer until the prediction finishes or the wait runs out (§2.1).
        state.stop.wait(max(0.0, min(job.ready_at - time.monotonic(), wait_s)))
    view = _view(state, job)
    return json_response(201, view, {"Location": view["urls"]["get"]})


def _prefer_wait(header: str) -> float:
    for pref in header.split(","):
        name, _, value = pref.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return min(MAX_WAIT_S, max(1.0, float(value))) if value else MAX_WAIT_S
            except ValueError:
                return MAX_WAIT_S
    return 0.0


def _render(state: State, model: str, inputs: dict[str, Any]) -> media.Render:
    kind = "video" if any(h in model for h in _VIDEO_HINTS) else "image"
    prompt = inputs.get("prompt")
    if any(h in model for h in _IMAGE_ONLY_HINTS):  # upscalers take the image alone
        if inputs.get("image") is None:
            raise BadInput("image", "image is required")
        prompt = ""
    elif not isinstance(prompt, str) or not prompt.strip():
        raise BadInput("prompt", "prompt is required")
    seed = media.parse_seed(inputs.get("seed"))
    source = None
    for name in _SOURCE_FIELDS[kind]:
        ref = inputs.get(name)
        if isinstance(ref, list):
            ref = ref[0] if ref else None
        if ref is not None:
            source = media.load_image(ref, name, state.media)
            break
    aspect = inputs.get("aspect_ratio")
    if kind == "video":
        if source is None and "kling" in model:
            raise BadInput("start_image", "start_image is required")
        return media.Render("video", prompt, *media.video_size(aspect, source), seed,
                            source=source, seconds=media.parse_seconds(inputs.get("duration"), 5))
    size = inputs.get("size")
    if aspect == "custom" or size == "custom":
        width, height = media.check_size(inputs.get("width"), inputs.get("height"), "width")
    elif isinstance(aspect, str) and aspect != "match_input_image":
        width, height = media.aspect_size(aspect, _SIZE_SCALE.get(str(size), 1.0))
    elif source is not None:
        width, height = source.shape[1], source.shape[0]
    else:
        width, height = media.aspect_size("1:1", _SIZE_SCALE.get(str(size), 1.0))
    return media.Render("image", prompt, width, height, seed, source=source)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _view(state: State, job: Job) -> dict[str, Any]:
    """The prediction object of §2.2, as it stands now."""
    stage = job.stage()
    status = {"queued": "starting", "running": "processing"}.get(stage) or (
        "canceled" if job.canceled else "failed" if job.moderated else "succeeded")
    output: Any = None
    if status == "succeeded":
        urls = [media_url(state, b) for b in state.outputs(job)]
        output = urls if "seedream" in job.model else urls[0]
    done = stage == "done"
    base = f"{state.root}/replicate/v1/predictions/{job.id}"
    return {
        "id": job.id,
        "model": job.model,
        "version": hashlib.sha256(job.model.encode()).hexdigest(),
        "input": job.input.get("input", {}),
        "logs": "",
        "output": output,
        "error": E005 if status == "failed" else None,
        "status": status,
        "created_at": _iso(job.created),
        "started_at": None if stage == "queued" else _iso(job.created + 0.25 * job.latency_s),
        "completed_at": _iso(job.created + job.latency_s) if done else None,
        "data_removed": False,
        "metrics": {"predict_time": 0.75 * job.latency_s, "total_time": job.latency_s}
        if status == "succeeded" else {},
        "urls": {"get": base, "cancel": base + "/cancel",
                 "web": f"{state.root}/replicate/p/{job.id}"},
    }

"""Black Forest Labs' API (provider-apis.md §3): submit, poll `polling_url`, FastAPI errors.

Moderation is a poll status, not an HTTP error: a "moderation" fault on submit makes the task
end "Request Moderated" (the input was refused), on status/result "Content Moderated".
"""

import uuid
from typing import Any

from route_assets.emulator import media
from route_assets.emulator.cdn import media_url
from route_assets.emulator.state import Job, State
from route_assets.emulator.wire import (
    BadInput,
    Request,
    Response,
    error_fault,
    json_response,
    key_matches,
    lost_fault,
    retry_after,
    transient,
)

# Credits per image (1 credit = $0.01), after BFL's pricing page; flux-pro-1.1 is 4 (= $0.04).
COST_CREDITS = {
    "flux-pro-1.1": 4.0, "flux-pro-1.1-ultra": 6.0, "flux-kontext-pro": 4.0,
    "flux-kontext-max": 8.0, "flux-dev": 2.5, "flux-pro": 5.0, "flux-pro-1.0-fill": 5.0,
    "flux-pro-1.0-expand": 5.0, "flux-2-pro": 3.0, "flux-2-max": 7.0, "flux-2-flex": 6.0,
}
_KLEIN = "flux-2-klein-"  # a family of sizes; priced like the cheapest FLUX.2
_DETAILS = {
    401: "Not authenticated - Invalid Authentication",
    402: "Insufficient credits. Please add credits to your account.",
    404: "Not Found",
    429: "You have exceeded the number of active tasks. Please retry later.",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def error(status: int, retry_after_s: float = 1.0) -> Response:
    headers = retry_after(retry_after_s) if status == 429 else {}
    return json_response(status, {"detail": _DETAILS.get(status, _DETAILS[500])}, headers)


def _invalid(exc: BadInput, where: str = "body") -> Response:
    return json_response(422, {"detail": [{"loc": [where, exc.field], "msg": exc.message,
                                           "type": "value_error"}]})


def handle(state: State, req: Request) -> Response:
    name = req.path.removeprefix("/v1/")
    if req.method == "GET" and req.path == "/v1/get_result":
        return _poll(state, req)
    if req.method != "POST" or name == req.path or "/" in name:
        return error(404)
    return _submit(state, req, name)


def _submit(state: State, req: Request, model: str) -> Response:
    state.attempt("bfl", model)
    if not key_matches(req.header("x-key"), state.keys["bfl"]):
        return error(401)
    if model not in COST_CREDITS and not model.startswith(_KLEIN):
        return error(404)
    fault = state.faults.take("bfl", "submit", model)
    refused = error_fault(fault, error)
    if refused is not None:
        return refused
    try:
        body = req.json_object()
        work = _render(state, body)
    except BadInput as exc:
        return _invalid(exc)
    moderated = "input" if fault is not None and fault.kind == "moderation" else None
    job = state.create_job("bfl", model, str(uuid.uuid4()), work, body, moderated)
    in_mp = 0.0 if work.source is None else work.source.shape[0] * work.source.shape[1] / 1e6
    return lost_fault(fault) or json_response(200, {
        "id": job.id,
        "polling_url": f"{state.root}/bfl/v1/get_result?id={job.id}",
        "cost": COST_CREDITS.get(model, 3.0),
        "input_mp": round(in_mp, 2),
        "output_mp": round(work.width * work.height / 1e6, 2),
    })


def _render(state: State, body: dict[str, Any]) -> media.Render:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadInput("prompt", "Field required")
    seed = media.parse_seed(body.get("seed"))
    ref = body.get("input_image") or body.get("image")
    source = media.load_image(ref, "input_image", state.media) if ref else None
    aspect = body.get("aspect_ratio")
    if body.get("width") is not None or body.get("height") is not None:
        width, height = media.check_size(body.get("width") or 1024, body.get("height") or 1024,
                                         "width")
    elif isinstance(aspect, str):
        width, height = media.aspect_size(aspect)
    elif source is not None:
        width, height = source.shape[1], source.shape[0]
    else:
        width, height = media.DEFAULT_SIZE
    mask = media.load_mask(body, "mask", source, state.media)
    return media.Render("image", prompt, width, height, seed, source=source, mask=mask)


def _poll(state: State, req: Request) -> Response:
    if not key_matches(req.header("x-key"), state.keys["bfl"]):
        return error(401)
    task_id = req.query.get("id", "")
    if not task_id:
        return _invalid(BadInput("id", "Field required"), "query")
    job = state.job("bfl", task_id)
    if job is None:
        return _not_found(task_id)
    phases = ("status", "result") if job.stage() == "done" else ("status",)
    failed = transient(state.poll_fault(job, *phases), error)
    if failed is not None:
        return failed
    return _not_found(task_id) if job.expired else json_response(200, _view(state, job))


def _not_found(task_id: str) -> Response:
    return json_response(404, {"id": task_id, "status": "Task not found", "result": None,
                               "progress": None, "details": None, "preview": None})


def _view(state: State, job: Job) -> dict[str, Any]:
    view: dict[str, Any] = {"id": job.id, "status": "Pending", "result": None,
                            "progress": None, "details": None, "preview": None}
    stage = job.stage()
    if job.moderated == "input":  # refused up front, before any generation
        return {**view, "status": "Request Moderated",
                "details": {"moderation_reasons": ["Input flagged"]}}
    if stage != "done":
        return {**view, "progress": 0.0 if stage == "queued" else 0.5}
    if job.moderated:
        return {**view, "status": "Content Moderated",
                "details": {"moderation_reasons": ["Output flagged"]}}
    blob = state.outputs(job)[0]
    return {**view, "status": "Ready", "progress": 1.0, "result": {
        "sample": media_url(state, blob), "seed": job.render.seed, "prompt": job.render.prompt,
        "start_time": job.created, "end_time": job.created + job.latency_s,
        "duration": job.latency_s}}

"""Google's Gemini API (provider-apis.md §4): Nano Banana generateContent and Veo operations.

generateContent answers at once, so it is one request for both the "submit" and the "result"
phase: a "moderation" fault armed for submit blocks the prompt (`promptFeedback.blockReason`),
one armed for result blocks the image (`finishReason: IMAGE_SAFETY`); both are HTTP 200.
"""

import base64
import re
import secrets
from typing import Any

from route_assets.emulator import media
from route_assets.emulator.cdn import media_url
from route_assets.emulator.faults import Fault
from route_assets.emulator.state import Job, State
from route_assets.emulator.wire import (
    BadInput,
    Request,
    Response,
    error_fault,
    json_response,
    key_matches,
    lost_fault,
    transient,
)

_ACTION = re.compile(r"/v1beta/models/([^/:]+):(generateContent|predictLongRunning)")
_OPERATION = re.compile(r"/v1beta/models/([^/:]+)/operations/([a-z0-9]+)")
_FILE = re.compile(r"/v1beta/files/([A-Za-z0-9_-]+):download")
_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_MESSAGES = {
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
_RESPONSE_TYPE = ("type.googleapis.com/google.ai.generativelanguage.v1beta."
                  "PredictLongRunningResponse")
_IMAGE_SCALE = {"1K": 1.0, "2K": 2.0, "4K": 4.0}


def _google(status: int, code: str, message: str, details: list[Any] | None = None) -> Response:
    return json_response(status, {"error": {"code": status, "message": message, "status": code,
                                            "details": details or []}})


def _duration(seconds: float) -> str:
    # google.protobuf.Duration in JSON: decimal seconds with an "s" suffix, e.g. "2s", "0.5s".
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def error(status: int, retry_after_s: float = 1.0) -> Response:
    if status == 402:  # Google has no payment-required status: billing is a precondition
        return _google(400, "FAILED_PRECONDITION", "User location is not supported for the API "
                       "use without a billing account linked.")
    details: list[Any] = []
    if status == 429:  # the wait is in RetryInfo, never in a Retry-After header (§4.3)
        details = [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model",
                 "quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo",
             "retryDelay": _duration(retry_after_s)},
        ]
    code = _STATUS.get(status, "INTERNAL")
    return _google(status, code, _MESSAGES.get(status, "Request failed."), details)


def _auth_failure(state: State, req: Request) -> Response | None:
    presented = req.header("x-goog-api-key") or req.query.get("key", "")
    if not presented:
        return _google(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers "
                       "(callers without established identity). Please use API Key or other "
                       "form of API consumer identity to call this API.")
    if not key_matches(presented, state.keys["gemini"]):
        return _google(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                       [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                         "reason": "API_KEY_INVALID", "domain": "googleapis.com"}])
    return None


def handle(state: State, req: Request) -> Response:
    action = _ACTION.fullmatch(req.path)
    if action is not None and req.method == "POST":
        model, verb = action.groups()
        state.attempt("gemini", model)
        refused = _auth_failure(state, req)
        if refused is not None:
            return refused
        if verb == "generateContent":
            return _generate(state, req, model)
        return _submit_video(state, req, model)
    refused = _auth_failure(state, req)
    if refused is not None:
        return refused
    operation, file = _OPERATION.fullmatch(req.path), _FILE.fullmatch(req.path)
    if req.method == "GET" and operation is not None:
        job = state.job("gemini", operation.group(2))
        if job is not None and job.model == operation.group(1):
            return _poll(state, job)
    if req.method == "GET" and file is not None:
        blob = state.media.get(file.group(1))
        if blob is not None and blob.provider == "gemini" and not blob.expired:
            # Like Google: the file URI redirects to short-lived, unauthenticated storage.
            return Response(302, b"", headers={"Location": media_url(state, blob)})
    return error(404)


def _invalid(exc: BadInput) -> Response:
    return _google(400, "INVALID_ARGUMENT", f"Invalid value at '{exc.field}': {exc.message}")


def _pick(obj: Any, *names: str) -> Any:
    # The API's JSON parser takes both the proto (snake_case) and the JSON (camelCase) names.
    if isinstance(obj, dict):
        return next((obj[n] for n in names if n in obj), None)
    return None


def _image_render(state: State, body: dict[str, Any]) -> tuple[media.Render, list[str], int]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadInput("contents", "contents is not specified")
    texts, images = [], []
    for content in contents:
        for part in _pick(content, "parts") or []:
            if isinstance(_pick(part, "text"), str):
                texts.append(part["text"])
            inline = _pick(part, "inline_data", "inlineData")
            if inline is not None:
                images.append(media.decode_base64_image(str(_pick(inline, "data") or ""),
                                                        "contents.parts.inline_data"))
    prompt = " ".join(texts).strip()
    if not prompt and not images:
        raise BadInput("contents.parts", "a text or inline_data part is required")
    config = _pick(body, "generationConfig", "generation_config") or {}
    image_config = _pick(config, "imageConfig", "image_config") or {}
    aspect = _pick(image_config, "aspectRatio", "aspect_ratio")
    scale = _IMAGE_SCALE.get(str(_pick(image_config, "imageSize", "image_size") or "1K"))
    if scale is None:
        raise BadInput("generation_config.image_config.image_size", "unsupported image size")
    source = images[0] if images else None
    if aspect is not None:
        width, height = media.aspect_size(str(aspect), scale)
    elif source is not None:
        width, height = source.shape[1], source.shape[0]
    else:
        width, height = media.aspect_size("1:1", scale)
    modalities = _pick(config, "responseModalities", "response_modalities") or ["IMAGE"]
    seed = media.parse_seed(_pick(config, "seed"))
    work = media.Render("image", prompt or "edit", width, height, seed, source=source)
    return work, [str(m).upper() for m in modalities], len(images)


def _generate(state: State, req: Request, model: str) -> Response:
    fault, blocked_prompt = state.faults.take("gemini", "submit", model), True
    if fault is None:
        fault, blocked_prompt = state.faults.take("gemini", "result", model), False
    refused = error_fault(fault, error)
    if refused is not None:
        return refused
    try:
        body = req.json_object()
        work, modalities, inputs = _image_render(state, body)
    except BadInput as exc:
        return _invalid(exc)
    state.accept("gemini", model, body)  # answered (200) requests are billed, blocked or not
    lost = lost_fault(fault)
    if lost is not None:
        return lost
    prompt_tokens = max(1, len(work.prompt) // 4) + 258 * inputs
    image_tokens = 1290 if "2.5" in model else 2000 if work.width * work.height > 8e6 else 1120
    usage: dict[str, Any] = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens,
                             "promptTokensDetails": [{"modality": "TEXT",
                                                      "tokenCount": prompt_tokens}]}
    tail = {"modelVersion": model, "responseId": secrets.token_urlsafe(16)}
    moderated = _moderated(fault)
    if moderated and blocked_prompt:
        return json_response(200, {"promptFeedback": {"blockReason": "SAFETY"},
                                   "usageMetadata": usage, **tail})
    if moderated:
        return json_response(200, {"candidates": [{"finishReason": "IMAGE_SAFETY", "index": 0}],
                                   "usageMetadata": usage, **tail})
    state.stop.wait(state.latency_s)  # synchronous: the generation time is spent right here
    png = media.render(work)[0].data
    parts: list[dict[str, Any]] = [{"text": "Here is the image."}] if "TEXT" in modalities else []
    parts.append({"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png).decode()}})
    usage.update(candidatesTokenCount=image_tokens, totalTokenCount=prompt_tokens + image_tokens,
                 candidatesTokensDetails=[{"modality": "IMAGE", "tokenCount": image_tokens}])
    return json_response(200, {"candidates": [{"content": {"role": "model", "parts": parts},
                                               "finishReason": "STOP", "index": 0}],
                               "usageMetadata": usage, **tail})


def _moderated(fault: Fault | None) -> bool:
    return fault is not None and fault.kind == "moderation"


def _submit_video(state: State, req: Request, model: str) -> Response:
    fault = state.faults.take("gemini", "submit", model)
    refused = error_fault(fault, error)
    if refused is not None:
        return refused
    try:
        body = req.json_object()
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
            raise BadInput("instances", "instances must hold one instance")
        instance, params = instances[0], body.get("parameters") or {}
        prompt = instance.get("prompt")
        image = instance.get("image")
        if not isinstance(prompt, str) and image is None:
            raise BadInput("instances[0].prompt", "a prompt or an image is required")
        # The REST shape is bytesBase64Encoded; accept the generateContent-style inlineData too.
        data = _pick(image, "bytesBase64Encoded", "bytes_base64_encoded") or _pick(
            _pick(image, "inlineData", "inline_data"), "data")
        source = None if image is None else media.decode_base64_image(
            str(data or ""), "instances[0].image")
        aspect = params.get("aspectRatio", "16:9")
        if aspect not in ("16:9", "9:16"):
            raise BadInput("parameters.aspectRatio", "must be 16:9 or 9:16")
        width, height = media.video_size(aspect, source)
        seconds = media.parse_seconds(params.get("durationSeconds"), 8.0, "durationSeconds")
        if seconds not in (4, 6, 8):  # Veo 3.x takes 4, 6 or 8 seconds (provider-apis.md §4.2)
            raise BadInput("parameters.durationSeconds", "must be 4, 6 or 8")
        work = media.Render("video", prompt or "", width, height,
                            media.parse_seed(params.get("seed")), source=source, seconds=seconds)
    except BadInput as exc:
        return _invalid(exc)
    op_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    moderated = "output" if _moderated(fault) else None
    job = state.create_job("gemini", model, op_id, work, body, moderated)
    return lost_fault(fault) or json_response(200, {"name": _name(job), "done": False})


def _name(job: Job) -> str:
    return f"models/{job.model}/operations/{job.id}"


def _poll(state: State, job: Job) -> Response:
    phases = ("status", "result") if job.stage() == "done" else ("status",)
    failed = transient(state.poll_fault(job, *phases), error)
    if failed is not None:
        return failed
    if job.expired:
        return error(404)
    if job.stage() != "done":
        # proto3 JSON leaves out false booleans: a running operation has no "done" field.
        return json_response(200, {"name": _name(job)})
    if job.moderated:
        result: dict[str, Any] = {
            "raiMediaFilteredCount": 1,
            "raiMediaFilteredReasons": [
                "Unable to generate videos because the input or output may violate Google's "
                "Responsible AI practices."]}
    else:
        token = state.outputs(job)[0].token
        uri = f"{state.root}/gemini/v1beta/files/{token}:download?alt=media"
        result = {"generatedSamples": [{"video": {"uri": uri}}]}
    return json_response(200, {"name": _name(job), "done": True, "response": {
        "@type": _RESPONSE_TYPE, "generateVideoResponse": result}})

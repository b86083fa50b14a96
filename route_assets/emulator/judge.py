"""A vision judge for the emulator, in both wire formats route_assets' judge client speaks.

    /judge/gemini/v1beta/models/{model}:generateContent   Gemini, key and faults as "gemini"
    /judge/openai/v1/chat/completions                    OpenAI-compatible, Bearer OPENAI_KEY

The review is deterministic and computed from the image: a frame with almost no structure (no
subject) gets prompt_adherence 0.1 and a prompt_mismatch issue, any other frame 0.9 and no issue.
The OpenAI-compatible route has no fault board of its own: a model named `fault-<kind>` answers
with that fault (`fault-500`, `fault-429`, `fault-malformed` (cut-off JSON), `fault-off-schema`
(valid JSON that is not the review), `fault-refusal` (message.refusal, no content)).
"""

import json
import re
import secrets
from typing import Any

import numpy as np

from route_assets.emulator import gemini, media
from route_assets.emulator.state import State
from route_assets.emulator.wire import (
    BadInput,
    Request,
    Response,
    bearer,
    json_response,
    key_matches,
    malformed,
    retry_after,
    transient,
)

OPENAI_KEY = "sk-emulator-judge"
_GEMINI = re.compile(r"/gemini/v1beta/models/([^/:]+):generateContent")
_DATA_URI = re.compile(r"data:image/[a-z]+;base64,(.+)", re.S)


def review(image: np.ndarray) -> dict[str, Any]:
    """The emulator's deterministic opinion of a frame."""
    if float(np.asarray(image, np.float32).reshape(-1, image.shape[-1]).std(0).max()) < 8.0:
        return {"prompt_adherence": 0.1, "issues": [
            {"kind": "prompt_mismatch", "severity": 0.9, "description": "the subject is missing",
             "box": []}]}
    return {"prompt_adherence": 0.9, "issues": []}


def handle(state: State, req: Request) -> Response:
    match = _GEMINI.fullmatch(req.path)
    if match is not None and req.method == "POST":
        return _gemini(state, req, match.group(1))
    if req.path == "/openai/v1/chat/completions" and req.method == "POST":
        return _openai(state, req)
    return json_response(404, {"error": {"message": "Not Found"}})


def _gemini(state: State, req: Request, model: str) -> Response:
    state.attempt("gemini", model)
    presented = req.header("x-goog-api-key")
    if not key_matches(presented, state.keys["gemini"]):
        return gemini.error(403)
    fault = state.faults.take("gemini", "submit", model)
    failed = transient(fault, gemini.error)
    if failed is not None:
        return failed
    try:
        body = req.json_object()
        parts = [p for c in body.get("contents") or [] for p in c.get("parts") or []]
        inline = next((p.get("inline_data") or p.get("inlineData") for p in parts
                       if p.get("inline_data") or p.get("inlineData")), None)
        if inline is None:
            raise BadInput("contents.parts", "an inline_data image part is required")
        config = body.get("generationConfig") or {}
        if config.get("responseMimeType") != "application/json" or "responseSchema" not in config:
            raise BadInput("generation_config", "ask for application/json with a responseSchema")
        image = media.decode_base64_image(str(inline.get("data") or ""), "inline_data")
    except (BadInput, AttributeError) as exc:
        message = exc.message if isinstance(exc, BadInput) else "malformed contents"
        return json_response(400, {"error": {"code": 400, "message": message,
                                             "status": "INVALID_ARGUMENT"}})
    state.accept("gemini", model, body)
    if fault is not None and fault.kind == "moderation":
        return json_response(200, {"promptFeedback": {"blockReason": "SAFETY"}})
    text = json.dumps(review(image))
    return json_response(200, {"candidates": [{"content": {"role": "model", "parts": [
        {"text": text}]}, "finishReason": "STOP", "index": 0}], "modelVersion": model,
        "responseId": secrets.token_urlsafe(12)})


def _openai_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"error": {"message": message, "type": "invalid_request_error"
                                            if status < 500 else "server_error"}}, headers)


def _openai(state: State, req: Request) -> Response:
    if not key_matches(bearer(req, "Bearer"), OPENAI_KEY):
        return _openai_error(401, "Incorrect API key provided.")
    try:
        body = req.json_object()
        model = str(body.get("model") or "")
        content = body["messages"][-1]["content"]
        url = next(c["image_url"]["url"] for c in content if c.get("type") == "image_url")
        data = _DATA_URI.fullmatch(url)
        if data is None:
            raise BadInput("image_url", "a data:image/...;base64 URI is required")
        fmt = body.get("response_format") or {}
        if fmt.get("type") != "json_schema" or "schema" not in (fmt.get("json_schema") or {}):
            raise BadInput("response_format", "a json_schema response_format is required")
        image = media.decode_base64_image(data.group(1), "image_url")
    except (BadInput, KeyError, TypeError, StopIteration, AttributeError) as exc:
        return _openai_error(400, getattr(exc, "message", "malformed messages"))
    state.attempt("openai", model)
    fault = model.removeprefix("fault-") if model.startswith("fault-") else None
    if fault in ("429", "500", "503"):
        return _openai_error(int(fault), "emulated failure", retry_after(1.0))
    state.accept("openai", model, body)
    if fault == "malformed":
        return malformed()
    message: dict[str, Any] = {"role": "assistant", "content": json.dumps(review(image))}
    if fault == "off-schema":
        message["content"] = json.dumps({"verdict": "looks fine"})
    elif fault == "refusal":
        message = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    return json_response(200, {"id": f"chatcmpl-{secrets.token_hex(8)}", "object":
                               "chat.completion", "model": model, "choices": [
                                   {"index": 0, "message": message, "finish_reason": "stop"}]})

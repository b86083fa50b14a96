"""The optional vision judge: a multimodal chat model that reads a candidate frame and the brief
and reports prompt mismatches and malformed anatomy, which pixel measurements cannot see, and
lighting inconsistencies, which they see only when both sides are clear ramps.

Two wire formats (provider-apis.md):
    gemini  POST {base}/v1beta/models/{model}:generateContent
            inline PNG part, generationConfig.responseMimeType + responseSchema
    openai  POST {base}/chat/completions   (any OpenAI-compatible server; base ends in /v1)
            image_url data URI, response_format {type: json_schema, json_schema: {strict}}

The answer is untrusted: anything that is not the schema's JSON raises MalformedResponse naming
the field. One call per frame, never retried (a POST is a bill); the caller records its cost.
"""

import json
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from route_assets.clock import Clock, SystemClock
from route_assets.imaging.flaws import Box, Flaw, FlawKind
from route_assets.providers.errors import MalformedResponse, ProviderUnavailable
from route_assets.providers.http import build_http_client, checked_json, transport_failure
from route_assets.providers.shapes import b64, dig

Api = Literal["gemini", "openai"]
ISSUE_KINDS = {"prompt_mismatch": FlawKind.PROMPT_MISMATCH, "anatomy": FlawKind.BAD_ANATOMY,
               "lighting": FlawKind.INCONSISTENT_LIGHTING}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prompt_adherence": {"type": "number", "minimum": 0, "maximum": 1},
        "issues": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": sorted(ISSUE_KINDS)},
                    "severity": {"type": "number", "minimum": 0, "maximum": 1},
                    "description": {"type": "string"},
                    # x0, y0, x1, y1 as fractions of the width and height; [] for the whole frame
                    "box": {"type": "array", "items": {"type": "number"}},
                },
                "required": ["kind", "severity", "description", "box"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["prompt_adherence", "issues"],
    "additionalProperties": False,
}
INSTRUCTION = (
    "You review one generated advertising image before it is published. The brief asked for: "
    "{prompt!r}; the subject that must be shown is {subject!r}. Rate prompt_adherence from 0 "
    "(unrelated) to 1 (exactly the brief). List issues of kind 'prompt_mismatch' (something the "
    "brief asked for is missing or wrong), 'anatomy' (malformed hands, fingers, faces, limbs "
    "or bodies, for people and animals) and 'lighting' (the subject lit from another direction "
    "than its surroundings and their shadows), each with a severity from 0 to 1, a short "
    "description and its box as fractions [x0, y0, x1, y1] of the image, or [] if it concerns "
    "the whole image. Judge only these things; ignore exposure, noise, colour and text."
)


def _gemini_schema(schema: Any) -> Any:
    """Gemini's responseSchema is an OpenAPI subset: no additionalProperties."""
    if isinstance(schema, dict):
        return {k: _gemini_schema(v) for k, v in schema.items() if k != "additionalProperties"}
    return schema


class JudgeNotSent(ProviderUnavailable):
    """The connection never opened: nothing was sent, so nothing can be billed."""


@dataclass(frozen=True)
class Judgement:
    flaws: tuple[Flaw, ...]
    prompt_adherence: float
    request_id: str
    model: str
    provider: str  # "gemini" or "openai" (the wire format)
    cost_usd: float


class VisionJudge:
    def __init__(self, *, api: Api, base_url: str, model: str, api_key: str, price_usd: float,
                 min_adherence: float = 0.5, timeout_s: float = 60.0, clock: Clock | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not api_key:
            raise ValueError(f"vision judge ({api}): an API key is required")
        self.api, self.model, self.base_url = api, model, base_url.rstrip("/")
        self.price_usd, self.min_adherence = price_usd, min_adherence
        self._key, self._transport, self._clock = api_key, transport, clock or SystemClock()
        self._timeout = httpx.Timeout(connect=10.0, read=timeout_s, write=30.0, pool=10.0)

    def __repr__(self) -> str:  # the key is deliberately absent
        return f"VisionJudge(api={self.api!r}, base_url={self.base_url!r}, model={self.model!r})"

    def judge(self, png: bytes, *, size: tuple[int, int], prompt: str, subject: str) -> Judgement:
        """One paid call: the frame (PNG, `size` = width, height) against the brief."""
        text = INSTRUCTION.format(prompt=prompt, subject=subject)
        if self.api == "gemini":
            path = f"v1beta/models/{self.model}:generateContent"
            headers = {"x-goog-api-key": self._key}
            image = {"inline_data": {"mime_type": "image/png", "data": b64(png)}}
            body: dict[str, Any] = {
                "contents": [{"role": "user", "parts": [{"text": text}, image]}],
                "generationConfig": {"responseMimeType": "application/json",
                                     "responseSchema": _gemini_schema(SCHEMA), "temperature": 0}}
        else:
            path, headers = "chat/completions", {"Authorization": f"Bearer {self._key}"}
            url = f"data:image/png;base64,{b64(png)}"
            content = [{"type": "text", "text": text},
                       {"type": "image_url", "image_url": {"url": url}}]
            body = {"model": self.model, "temperature": 0,
                    "messages": [{"role": "user", "content": content}],
                    "response_format": {"type": "json_schema", "json_schema": {
                        "name": "frame_review", "strict": True, "schema": SCHEMA}}}
        where: dict[str, Any] = {"provider": f"judge-{self.api}", "model": self.model}
        client = build_http_client(base_url=self.base_url, headers=headers, timeout=self._timeout,
                                   transport=self._transport, clock=self._clock)
        with client:
            try:
                response = client.post(path, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise JudgeNotSent(f"not sent: {type(exc).__name__}", **where) from None
            except httpx.HTTPError as exc:
                raise transport_failure(exc, secrets=(self._key,), **where) from None
            answer = checked_json(response, secrets=(self._key,), **where)
        if self.api == "gemini":
            request_id = str(answer.get("responseId") or "")
            parts = dig(answer, "candidates", 0, "content", "parts") or []
            # (thinking models may send a thought summary first: it is not the answer)
            review = next((p.get("text") for p in parts if isinstance(p, dict)
                            and isinstance(p.get("text"), str) and not p.get("thought")), None)
        else:
            request_id = str(answer.get("id") or "")
            review = dig(answer, "choices", 0, "message", "content")
        if not isinstance(review, str):
            raise MalformedResponse("the answer holds no JSON text (refused or truncated?)",
                                    request_id=request_id or None, **where)
        adherence, flaws = parse_review(review, size, self.min_adherence,
                                        request_id=request_id, **where)
        return Judgement(flaws, adherence, request_id, self.model, self.api, self.price_usd)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{what} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _box(value: Any, size: tuple[int, int]) -> Box | None:
    if value in (None, []):
        return None
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError(f"box must be [] or [x0, y0, x1, y1], got {value!r}")
    x0, y0, x1, y1 = (_number(v, "a box coordinate") for v in value)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {value!r} is empty")
    w, h = size
    return (int(x0 * w), int(y0 * h), max(int(x0 * w) + 1, round(x1 * w)),
            max(int(y0 * h) + 1, round(y1 * h)))


def parse_review(text: str, size: tuple[int, int], min_adherence: float, *, provider: str,
                 model: str, request_id: str = "") -> tuple[float, tuple[Flaw, ...]]:
    """The judge's JSON as (prompt adherence, flaws); MalformedResponse names what is wrong."""
    try:
        review = json.loads(text)
        if not isinstance(review, dict):
            raise ValueError("the review must be a JSON object")
        adherence = _number(review.get("prompt_adherence"), "prompt_adherence")
        issues = review.get("issues")
        if not isinstance(issues, list):
            raise ValueError("issues must be a list")
        flaws: list[Flaw] = []
        for i, issue in enumerate(issues):
            if not isinstance(issue, dict) or issue.get("kind") not in ISSUE_KINDS:
                raise ValueError(f"issues[{i}].kind must be one of {sorted(ISSUE_KINDS)}")
            severity = _number(issue.get("severity"), f"issues[{i}].severity")
            flaws.append(Flaw(ISSUE_KINDS[issue["kind"]], round(severity, 3),
                              _box(issue.get("box"), size), {"judge_severity": severity}))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise MalformedResponse(f"the review is not the requested JSON: {exc}", provider=provider,
                                model=model, request_id=request_id or None) from None
    if adherence < min_adherence and not any(f.kind == FlawKind.PROMPT_MISMATCH for f in flaws):
        flaws.append(Flaw(FlawKind.PROMPT_MISMATCH, round(1 - adherence, 3), None,
                          {"prompt_adherence": adherence}))
    return adherence, tuple(flaws)

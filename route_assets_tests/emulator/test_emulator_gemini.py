"""Gemini generateContent and Veo operations as provider-apis.md §4 documents them."""

import base64
import time
from typing import Any

import httpx

from route_assets.emulator import Emulator
from route_assets.imaging.video import probe_video
from route_assets_tests.emulator.support import PROMPT, b64, gemini_auth, pixels, png

NANO = "gemini-2.5-flash-image"
VEO = "veo-3.1-fast-generate-preview"


def generate(http: httpx.Client, emu: Emulator, *, image: bytes | None = None,
             headers: dict[str, str] | None = None, **config: Any) -> httpx.Response:
    parts: list[dict[str, Any]] = [{"text": PROMPT}]
    if image is not None:
        parts.append({"inline_data": {"mime_type": "image/png", "data": b64(image)}})
    return http.post(f"{emu.base_urls()['gemini']}/v1beta/models/{NANO}:generateContent",
                     json={"contents": [{"role": "user", "parts": parts}],
                           "generationConfig": config},
                     headers=gemini_auth(emu) if headers is None else headers)


def image_of(response: httpx.Response) -> bytes:
    candidate = response.json()["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    inline = [p["inlineData"] for p in candidate["content"]["parts"] if "inlineData" in p]
    assert inline[0]["mimeType"] == "image/png"
    return base64.b64decode(inline[0]["data"])


def test_generate_content_inline_png_and_usage(emu: Emulator, http: httpx.Client) -> None:
    response = generate(http, emu, responseModalities=["TEXT", "IMAGE"],
                        imageConfig={"aspectRatio": "9:16"})
    assert response.status_code == 200
    assert pixels(image_of(response)).shape == (1344, 768, 3)
    assert "text" in response.json()["candidates"][0]["content"]["parts"][0]
    usage = response.json()["usageMetadata"]
    assert usage["candidatesTokensDetails"] == [{"modality": "IMAGE", "tokenCount": 1290}]
    source = png()
    edited = generate(http, emu, image=source)
    assert (pixels(image_of(edited)) == pixels(source)).all()
    assert (emu.attempts("gemini"), emu.submissions("gemini", f"models/{NANO}")) == (2, 2)


def test_moderation_is_http_200_without_an_image(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("gemini", "moderation")
    emu.inject("gemini", "moderation", phase="result")
    prompt_blocked = generate(http, emu, image=png()).json()
    assert prompt_blocked["promptFeedback"]["blockReason"] == "SAFETY"
    assert "candidates" not in prompt_blocked
    image_blocked = generate(http, emu, image=png()).json()
    assert image_blocked["candidates"][0]["finishReason"] == "IMAGE_SAFETY"
    assert "content" not in image_blocked["candidates"][0]


def test_google_error_shapes_and_auth(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("gemini", "429", retry_after_s=2)
    emu.inject("gemini", "402")
    throttled = generate(http, emu, image=png())
    assert throttled.status_code == 429 and "retry-after" not in throttled.headers
    error = throttled.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    retry = [d for d in error["details"] if d["@type"].endswith("google.rpc.RetryInfo")]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]
    billing = generate(http, emu, image=png())
    assert billing.status_code == 400
    assert billing.json()["error"]["status"] == "FAILED_PRECONDITION"
    missing = generate(http, emu, image=png(), headers={})
    assert (missing.status_code, missing.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    wrong = generate(http, emu, image=png(), headers={"x-goog-api-key": "nope"})
    assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert (emu.attempts("gemini"), emu.submissions("gemini")) == (4, 0)


def veo(http: httpx.Client, emu: Emulator, **params: Any) -> httpx.Response:
    body = {"instances": [{"prompt": PROMPT, "image": {"bytesBase64Encoded": b64(png()),
                                                       "mimeType": "image/png"}}],
            "parameters": {"durationSeconds": 4, "aspectRatio": "9:16", **params}}
    return http.post(f"{emu.base_urls()['gemini']}/v1beta/models/{VEO}:predictLongRunning",
                     json=body, headers=gemini_auth(emu))


def test_veo_operation_and_keyed_download(emu: Emulator, http: httpx.Client) -> None:
    emu.set_latency(0.3)
    operation = veo(http, emu).json()
    assert operation["name"].startswith(f"models/{VEO}/operations/") and not operation["done"]
    url = f"{emu.base_urls()['gemini']}/v1beta/{operation['name']}"
    assert "done" not in http.get(url, headers=gemini_auth(emu)).json()
    time.sleep(0.35)
    done = http.get(url, params={"key": emu.env()["GEMINI_API_KEY"]}).json()
    uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    assert uri.startswith(f"{emu.root}/gemini/v1beta/files/")
    assert http.get(uri).status_code == 403  # the file URI needs the key
    redirect = http.get(uri, headers=gemini_auth(emu))
    assert redirect.status_code == 302 and redirect.headers["location"].startswith(emu.root)
    clip = http.get(uri, headers=gemini_auth(emu), follow_redirects=True)
    info = probe_video(clip.content)
    assert (clip.headers["content-type"], info.width, info.height, info.seconds) == (
        "video/mp4", 360, 640, 4.0)


def test_veo_rai_filtering(emu: Emulator, http: httpx.Client) -> None:
    emu.inject("gemini", "moderation", phase="status", model=VEO)
    operation = veo(http, emu).json()
    done = http.get(f"{emu.base_urls()['gemini']}/v1beta/{operation['name']}",
                    headers=gemini_auth(emu)).json()
    response = done["response"]["generateVideoResponse"]
    assert response["raiMediaFilteredCount"] == 1 and response["raiMediaFilteredReasons"]
    assert "generatedSamples" not in response
    bad = veo(http, emu, aspectRatio="4:3")
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert emu.submissions("gemini", VEO) == 1

"""Image-to-video input shapes over real loopback HTTP: what our clients send for each video
model is accepted by the emulator, which refuses what the real APIs refuse (an unsupported
duration) in the provider's own error shape."""

import httpx
import pytest

from route_assets.emulator import Emulator
from route_assets.providers.base import VideoRequest
from route_assets.providers.fal import video_call
from route_assets.providers.gemini import video_body
from route_assets.providers.shapes import VIDEO_SHAPES
from route_assets_tests.emulator.support import fal_auth, gemini_auth, png

FAL_VIDEO = [
    "fal-ai/kling-video/v2.1/standard/image-to-video",
    "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
    "fal-ai/veo3.1/fast/image-to-video",
    "fal-ai/veo3.1/image-to-video",
    "fal-ai/bytedance/seedance/v1/lite/image-to-video",
    "fal-ai/bytedance/seedance/v1/pro/image-to-video",
]


def _request(endpoint: str, seconds: float, width: int = 720, height: int = 1280
             ) -> VideoRequest:
    return VideoRequest(model="m", endpoint=endpoint, prompt="slow push in, a bottle",
                        keyframe_png=png(), width=width, height=height, seconds=seconds, fps=24,
                        seed=3, focus_box=None)


@pytest.mark.parametrize("endpoint", FAL_VIDEO)
@pytest.mark.parametrize("seconds", [3.0, 7.0, 30.0])
def test_fal_client_shapes_are_accepted(emu: Emulator, http: httpx.Client, endpoint: str,
                                        seconds: float) -> None:
    path, body, billed = video_call(_request(endpoint, seconds))
    answer = http.post(f"{emu.base_urls()['fal']}/{path}", json=body, headers=fal_auth(emu))
    assert answer.status_code == 200, answer.text
    shape = next(s for (p, h), s in VIDEO_SHAPES.items() if p == "fal" and h in endpoint)
    assert billed in shape.durations and (billed >= seconds or billed == max(shape.durations))


@pytest.mark.parametrize(("endpoint", "duration"), [
    ("fal-ai/kling-video/v2.1/standard/image-to-video", "7"),
    ("fal-ai/veo3.1/fast/image-to-video", "5s"),
    ("fal-ai/veo3.1/fast/image-to-video", "8"),
    ("fal-ai/bytedance/seedance/v1/lite/image-to-video", "15"),
])
def test_fal_refuses_an_unsupported_duration(emu: Emulator, http: httpx.Client, endpoint: str,
                                             duration: str) -> None:
    _, body, _ = video_call(_request(endpoint, 5.0))
    answer = http.post(f"{emu.base_urls()['fal']}/{endpoint}", json={**body, "duration": duration},
                       headers=fal_auth(emu))
    assert answer.status_code == 422
    detail = answer.json()["detail"][0]
    assert detail["loc"] == ["body", "duration"] and detail["type"] == "literal_error"


@pytest.mark.parametrize("seconds", [3.0, 5.0, 12.0])
@pytest.mark.parametrize(("width", "height"), [(720, 1280), (1280, 720), (1080, 1080)])
def test_gemini_veo_shapes_are_accepted(emu: Emulator, http: httpx.Client, seconds: float,
                                        width: int, height: int) -> None:
    body, billed = video_body(_request("veo-3.1-fast-generate-preview", seconds, width, height))
    assert billed in (4, 6, 8)
    answer = http.post(f"{emu.base_urls()['gemini']}/v1beta/models/veo-3.1-fast-generate-preview"
                       ":predictLongRunning", json=body, headers=gemini_auth(emu))
    assert answer.status_code == 200, answer.text


def test_gemini_refuses_an_unsupported_duration(emu: Emulator, http: httpx.Client) -> None:
    body, _ = video_body(_request("veo-3.1-generate-preview", 5.0))
    body["parameters"]["durationSeconds"] = 5
    answer = http.post(f"{emu.base_urls()['gemini']}/v1beta/models/veo-3.1-generate-preview"
                       ":predictLongRunning", json=body, headers=gemini_auth(emu))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "durationSeconds" in error["message"]

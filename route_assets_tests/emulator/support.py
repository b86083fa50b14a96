"""Small helpers shared by the emulator tests."""

import base64
import io

import numpy as np
from PIL import Image

from route_assets.emulator import Emulator

PROMPT = 'a bottle of sunscreen on sand, headline "Made for summer", #0B3D91 #FFD166'


def png(width: int = 96, height: int = 160, colour: tuple[int, int, int] = (30, 120, 200)
        ) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = colour
    image[: height // 2, : width // 2] = (240, 200, 40)  # not flat: a real picture to compare
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + b64(data)


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def fal_auth(emu: Emulator) -> dict[str, str]:
    return {"Authorization": "Key " + emu.env()["FAL_KEY"]}


def replicate_auth(emu: Emulator) -> dict[str, str]:
    return {"Authorization": "Bearer " + emu.env()["REPLICATE_API_TOKEN"]}


def bfl_auth(emu: Emulator) -> dict[str, str]:
    return {"x-key": emu.env()["BFL_API_KEY"]}


def gemini_auth(emu: Emulator) -> dict[str, str]:
    return {"x-goog-api-key": emu.env()["GEMINI_API_KEY"]}

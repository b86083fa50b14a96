"""The model catalog, the routing policy and the placement catalog: data files, typed.

The YAML files live in `route_assets/data/`; everything here only loads and validates them.
"""

import functools
import math
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

PriceUnit = Literal["image", "megapixel", "second"]
HOSTED_PROVIDERS = ("bfl", "gemini", "fal", "replicate")
LOCAL = "local"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    unit: PriceUnit
    usd: float = Field(ge=0)
    min_seconds: float = 0

    def cost(self, *, width: int = 0, height: int = 0, seconds: float = 0, count: int = 1) -> float:
        """List price of `count` outputs of the given size or duration."""
        if self.unit == "image":
            each = self.usd
        elif self.unit == "megapixel":
            # fal bills every started megapixel (provider-apis.md §0).
            each = self.usd * math.ceil(width * height / 1_000_000)
        else:
            each = self.usd * max(seconds, self.min_seconds)
        return round(each * count, 6)


class Endpoint(Price):
    endpoint: str


class Model(_Strict):
    id: str
    kind: Literal["image", "video"]
    capabilities: tuple[str, ...]
    strengths: tuple[str, ...] = ()
    latency_s: float
    durations_s: tuple[float, ...] = ()
    list_price: Price
    endpoints: dict[str, Endpoint]
    defects: dict[str, float] = {}


class Catalog(_Strict):
    models: tuple[Model, ...]

    def get(self, model_id: str) -> Model:
        for model in self.models:
            if model.id == model_id:
                return model
        raise KeyError(f"model {model_id!r} is not in the catalog")

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(m.id for m in self.models)


class EditPolicy(_Strict):
    min_ssim_outside: float = 0.98
    max_palette_delta_e: float = 3.0
    editors: dict[str, tuple[str, ...]] = {}  # edit kind -> editors (catalog ids) in order


class VideoPolicy(_Strict):
    """video_expansion: how many seeds per ad set and the limits a clip must meet
    (imaging.video_scores.LIMIT_KIND says which way each one fails)."""

    seeds: int = Field(3, ge=1, le=8)
    long_side: int = Field(1280, ge=256, le=1920)  # the local engine's master clip
    thresholds: dict[str, float] = {}


class JudgePolicy(_Strict):
    """The optional vision judge (providers/judge.py): a paid call per candidate, off by default."""

    enabled: bool = False
    api: Literal["gemini", "openai"] = "gemini"
    base_url: str = "https://generativelanguage.googleapis.com"
    model: str = "gemini-2.5-flash"  # a catalog id with capability `judge` (its list price)
    key_env: str = "GEMINI_API_KEY"  # the env var holding the key (never the key itself)
    min_adherence: float = Field(0.5, ge=0, le=1)  # below this the frame does not show the brief
    timeout_s: float = Field(60.0, gt=0)


class ClassifyPolicy(_Strict):
    judge: JudgePolicy = JudgePolicy()


class Policy(_Strict):
    providers: tuple[str, ...]
    tiers: dict[str, tuple[str, ...]]
    motion: dict[str, tuple[str, ...]]
    candidates: int = Field(ge=1, le=8)
    max_rerolls: int = Field(ge=0, le=10)
    image_size: tuple[int, int]
    video_seconds: float = Field(gt=0, le=60)
    edit: EditPolicy = EditPolicy()
    video: VideoPolicy = VideoPolicy()
    thresholds: dict[str, float | bool] = {}  # classifier thresholds (imaging.classify)
    classify: ClassifyPolicy = ClassifyPolicy()

    def merged(self, overrides: dict[str, Any]) -> "Policy":
        """This policy with a brief's overrides applied (mappings merge one level deep)."""
        data = self.model_dump()
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return Policy.model_validate(data)


class SafeZone(_Strict):
    top: float = Field(0, ge=0, lt=0.5)
    bottom: float = Field(0, ge=0, lt=0.5)
    left: float = Field(0, ge=0, lt=0.5)
    right: float = Field(0, ge=0, lt=0.5)


class VideoSpec(_Strict):
    seconds: float = Field(gt=0)
    fps: int = Field(gt=0, le=60)
    max_bytes: int = Field(gt=0)
    min_seconds: float = 0
    max_seconds: float = 600
    min_kbps: float = 0  # the platform's bitrate floor
    max_kbps: float = 0  # a bitrate ceiling (0: only the byte cap)


ImageFormat = Literal["jpeg", "png"]


class Placement(_Strict):
    id: str
    name: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    format: ImageFormat  # what we emit
    accepts: tuple[ImageFormat, ...] = ("jpeg",)  # what the platform takes
    ratio: str = Field(pattern=r"^\d+(\.\d+)?:\d+(\.\d+)?$")  # as the platform states it
    source: str = Field(min_length=10)  # where the numbers come from
    max_bytes: int = Field(gt=0)
    safe_zone: SafeZone = SafeZone()
    video: VideoSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Placement":
        w, h = (float(x) for x in self.ratio.split(":"))
        if abs(self.width / self.height - w / h) > 0.01 * w / h:
            raise ValueError(f"placement {self.id}: {self.width}x{self.height} is not "
                             f"{self.ratio}; fix the size or the ratio")
        if self.format not in self.accepts:
            raise ValueError(f"placement {self.id}: format {self.format} is not in accepts")
        return self


class Placements(_Strict):
    placements: tuple[Placement, ...]

    def get(self, placement_id: str) -> Placement:
        for placement in self.placements:
            if placement.id == placement_id:
                return placement
        raise KeyError(f"placement {placement_id!r} is not in the placement catalog")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.placements)


def _data(name: str) -> Any:
    text = resources.files("route_assets").joinpath("data", name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@functools.cache
def load_catalog() -> Catalog:
    return Catalog.model_validate(_data("models.yaml"))


@functools.cache
def load_policy() -> Policy:
    return Policy.model_validate(_data("policy.yaml"))


@functools.cache
def load_placements() -> Placements:
    return Placements.model_validate(_data("placements.yaml"))

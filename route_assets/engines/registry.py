"""Which engine serves which provider: the local engines always, and each hosted provider
whose key is set (settings.providers())."""

from collections.abc import Mapping

import httpx

from route_assets.catalog import LOCAL, Catalog
from route_assets.clock import Clock
from route_assets.engines.local import LocalImageGenerator, LocalVideoGenerator
from route_assets.providers.base import (
    EditRequest,
    ImageEditor,
    ImageGenerator,
    ImageRequest,
    RequestJournal,
    VideoGenerator,
    VideoRequest,
)
from route_assets.providers.bfl import BflProvider
from route_assets.providers.fal import FalProvider
from route_assets.providers.gemini import GeminiProvider
from route_assets.providers.hosted import HostedProvider, PriceFn
from route_assets.providers.replicate import ReplicateProvider
from route_assets.settings import ProviderSettings

HOSTED: dict[str, type[HostedProvider]] = {
    "fal": FalProvider,
    "replicate": ReplicateProvider,
    "bfl": BflProvider,
    "gemini": GeminiProvider,
}


class Engines:
    def __init__(
        self,
        *,
        image_generators: dict[str, ImageGenerator],
        video_generators: dict[str, VideoGenerator],
        image_editors: dict[str, ImageEditor] | None = None,
    ) -> None:
        self._images = image_generators
        self._videos = video_generators
        self._editors = image_editors or {}  # hosted only: local edits run in imaging.edit

    @property
    def available_providers(self) -> frozenset[str]:
        return frozenset(self._images) | frozenset(self._videos) | frozenset(self._editors)

    def image_generator(self, provider: str) -> ImageGenerator:
        return self._images[provider]

    def video_generator(self, provider: str) -> VideoGenerator:
        return self._videos[provider]

    def image_editor(self, provider: str) -> ImageEditor:
        return self._editors[provider]


def local_engines(catalog: Catalog) -> Engines:
    return Engines(
        image_generators={LOCAL: LocalImageGenerator(catalog)},
        video_generators={LOCAL: LocalVideoGenerator(catalog)},
    )


def _pricer(catalog: Catalog, provider: str) -> PriceFn:
    def price(request: ImageRequest | VideoRequest | EditRequest) -> float:
        endpoint = catalog.get(request.model).endpoints[provider]
        if isinstance(request, VideoRequest):
            return endpoint.cost(seconds=request.seconds)
        return endpoint.cost(width=request.width, height=request.height)

    return price


def engines_for(
    catalog: Catalog,
    providers: Mapping[str, ProviderSettings],
    journal: RequestJournal,
    *,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
    poll_interval_s: float = 1.0,
) -> Engines:
    images: dict[str, ImageGenerator] = {LOCAL: LocalImageGenerator(catalog)}
    videos: dict[str, VideoGenerator] = {LOCAL: LocalVideoGenerator(catalog)}
    editors: dict[str, ImageEditor] = {}
    for name, cfg in providers.items():
        client = HOSTED[name](
            api_key=cfg.api_key,
            base_url=cfg.base_url,
            journal=journal,
            price_usd=_pricer(catalog, name),
            clock=clock,
            transport=transport,
            trusted_base=cfg.trusted_base, poll_interval_s=poll_interval_s,
        )
        if isinstance(client, ImageGenerator):
            images[name] = client
        if isinstance(client, VideoGenerator):
            videos[name] = client
        if isinstance(client, ImageEditor):
            editors[name] = client
    return Engines(image_generators=images, video_generators=videos, image_editors=editors)

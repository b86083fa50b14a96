"""Which engine serves which provider. Only the local engines exist offline; hosted provider
clients register here when their keys are set."""

from route_assets.catalog import LOCAL, Catalog
from route_assets.engines.local import LocalImageGenerator, LocalVideoGenerator
from route_assets.providers.base import ImageGenerator, VideoGenerator


class Engines:
    def __init__(
        self,
        *,
        image_generators: dict[str, ImageGenerator],
        video_generators: dict[str, VideoGenerator],
    ) -> None:
        self._images = image_generators
        self._videos = video_generators

    @property
    def available_providers(self) -> frozenset[str]:
        return frozenset(self._images) | frozenset(self._videos)

    def image_generator(self, provider: str) -> ImageGenerator:
        return self._images[provider]

    def video_generator(self, provider: str) -> VideoGenerator:
        return self._videos[provider]


def local_engines(catalog: Catalog) -> Engines:
    return Engines(
        image_generators={LOCAL: LocalImageGenerator(catalog)},
        video_generators={LOCAL: LocalVideoGenerator(catalog)},
    )

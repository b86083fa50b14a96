"""Dagster resources: typed configuration in, plain gateway objects out."""

import dagster as dg
from pydantic import Field

from route_assets import settings
from route_assets.catalog import load_catalog
from route_assets.engines.registry import Engines, local_engines
from route_assets.storage import CreativeStore, open_store


class StoreResource(dg.ConfigurableResource):
    """The CreativeStore: a local directory by default, S3 in production."""

    url: str | None = Field(
        default=None,
        description="A directory, or s3://bucket/prefix (credentials from the AWS environment); "
        "default ROUTE_ASSETS_STORE or $ROUTE_ASSETS_HOME/store, read when a run starts.",
    )
    endpoint_url: str | None = Field(
        default=None,
        description="S3-compatible endpoint (MinIO, R2, moto); default "
        "ROUTE_ASSETS_S3_ENDPOINT_URL; unset for AWS.",
    )

    def create_resource(self, context: dg.InitResourceContext) -> CreativeStore:
        return open_store(
            self.url or settings.store_url(),
            endpoint_url=self.endpoint_url or settings.s3_endpoint_url(),
        )


class EnginesResource(dg.ConfigurableResource):
    """Generation engines by provider; the local simulator is always available."""

    def create_resource(self, context: dg.InitResourceContext) -> Engines:
        return local_engines(load_catalog())

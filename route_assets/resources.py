"""Dagster resources: typed configuration in, plain gateway objects out."""

import dagster as dg
from pydantic import Field

from route_assets import settings
from route_assets.catalog import load_catalog
from route_assets.db import engine_for
from route_assets.engines.registry import Engines, engines_for
from route_assets.journal import SqlRequestJournal
from route_assets.ledger import Ledger
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


class LedgerResource(dg.ConfigurableResource):
    """The budget ledger: reserves an estimate before every paid call and settles after."""

    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default ROUTE_ASSETS_DB_URL or SQLite under "
        "$ROUTE_ASSETS_HOME. PostgreSQL needs postgresql+psycopg2://.",
    )

    def create_resource(self, context: dg.InitResourceContext) -> Ledger:
        return Ledger(engine_for(self.db_url or settings.db_url()))


class EnginesResource(dg.ConfigurableResource):
    """Generation engines by provider: local always, each hosted provider whose key is set."""

    db_url: str | None = Field(
        default=None, description="Where the request journal lives (same as the ledger)."
    )

    def create_resource(self, context: dg.InitResourceContext) -> Engines:
        journal = SqlRequestJournal(engine_for(self.db_url or settings.db_url()))
        return engines_for(load_catalog(), settings.providers(), journal)

"""Where things live on this machine: one place reads the environment for paths.

ROUTE_ASSETS_HOME (default ./var) holds the local store and the Dagster instance;
ROUTE_ASSETS_STORE overrides the store (a path or s3://bucket/prefix);
ROUTE_ASSETS_S3_ENDPOINT_URL points S3 at an S3-compatible server; DAGSTER_HOME overrides the
instance directory.
"""

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("ROUTE_ASSETS_HOME", "var")).resolve()


def store_url() -> str:
    return os.environ.get("ROUTE_ASSETS_STORE") or str(home() / "store")


def s3_endpoint_url() -> str | None:
    return os.environ.get("ROUTE_ASSETS_S3_ENDPOINT_URL") or None


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or home() / "dagster").resolve()

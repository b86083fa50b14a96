"""Where the brief sensor finds briefs: a folder, or an S3 prefix (ROUTE_ASSETS_BRIEFS)."""

import os
from pathlib import Path

from route_assets import settings
from route_assets.storage import make_s3_client

SUFFIXES = (".yaml", ".yml")


def briefs_location() -> str:
    return os.environ.get("ROUTE_ASSETS_BRIEFS") or "briefs"


def read_briefs(location: str) -> list[tuple[str, str]] | None:
    """(source name, YAML text) of every brief, sorted; None when the folder does not exist."""
    if location.startswith("s3://"):
        return _read_s3(location)
    folder = Path(location).resolve()
    if not folder.is_dir():
        return None
    return [(str(p), p.read_text(encoding="utf-8")) for p in sorted(folder.iterdir())
            if p.suffix in SUFFIXES and p.is_file()]


def _read_s3(location: str) -> list[tuple[str, str]]:
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    client = make_s3_client(settings.s3_endpoint_url())
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith(SUFFIXES):
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                out.append((f"s3://{bucket}/{key}", body.decode("utf-8", errors="replace")))
    return sorted(out)

"""CreativeStore: the sole owner of the object-key layout for creatives, manifests and reports.

Layout, relative to the store root (a directory, or an S3 bucket/prefix):
  blobs/sha256/<hh>/<sha256 hex><suffix>     content-addressed bytes (images, videos, masks)
  <campaign>/<ad_set>/<stage>/manifest.json  one manifest per stage per ad set
  <campaign>/<ad_set>/<stage>/<name>         readable published copies, found by name
  <campaign>/<name>                          campaign files (brief.json, cost_report.csv, ...)
  cache/<hh>/<fingerprint>.json              request fingerprint -> stored result
Every part of a key is validated: ids are untrusted, and a `/` or `..` could escape a prefix.
"""

import hashlib
import json
import mimetypes
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from route_assets.partitions import AdSetKey, check_part

BLOB_ROOT = "blobs"  # also a reserved campaign id, so no campaign nests inside the blobs
CACHE_ROOT = "cache"  # request-fingerprint entries; reserved the same way
FINGERPRINT_PATTERN = re.compile(r"[0-9a-f]{64}")
MANIFEST_NAME = "manifest.json"  # reserved: publish() must never overwrite a manifest
STAGE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,40}")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}")
SUFFIX_PATTERN = re.compile(r"(\.[a-z0-9]{1,15})?")
# No key part starts with ".", so temp files (".tmp-*"), "." and ".." are never keys.
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
KEY_PATTERN = re.compile(rf"{_PART}(/{_PART})*")
PREFIX_PATTERN = re.compile(rf"({_PART}(/{_PART})*/?)?")  # list prefixes: "", "c/", "c/a"
BLOB_KEY_PATTERN = re.compile(r"blobs/sha256/([0-9a-f]{2})/([0-9a-f]{64})(\.[a-z0-9]{1,15})?")
BUCKET_PATTERN = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_KEY_LENGTH = 1024  # the S3 limit, applied to both stores so they accept the same keys


class StoreError(Exception):
    """A missing or corrupted object, a bad key or a failed read/write; names key and location."""


class InvalidStoreKeyError(StoreError, ValueError):
    """A stage, name, suffix, campaign or key outside the allowed syntax (also a ValueError)."""


def _check(value: str, pattern: re.Pattern[str], what: str, rule: str) -> str:
    ok = isinstance(value, str) and len(value) <= MAX_KEY_LENGTH and ".." not in value
    if not ok or not pattern.fullmatch(value):
        raise InvalidStoreKeyError(f"invalid {what} {value!r}: {rule}")
    return value


def check_stage(stage: str) -> str:
    return _check(stage, STAGE_PATTERN, "stage", "use 1-41 of a-z0-9_ starting with a-z")


def check_name(name: str) -> str:
    rule = "use 1-121 of A-Za-z0-9._- starting with a letter or digit, no '..' (e.g. 'a-1.jpg')"
    return _check(name, NAME_PATTERN, "file name", rule)


def check_key(key: str, *, prefix: bool = False) -> str:
    rule = "use '/'-joined parts of A-Za-z0-9._- each starting with a letter or digit, no '..'"
    return _check(key, PREFIX_PATTERN if prefix else KEY_PATTERN, "object key", rule)


def blob_key(data: bytes, *, suffix: str) -> str:
    _check(suffix, SUFFIX_PATTERN, "blob suffix", "use '' or '.' and 1-15 of a-z0-9 (e.g. '.png')")
    digest = hashlib.sha256(data).hexdigest()
    return f"{BLOB_ROOT}/sha256/{digest[:2]}/{digest}{suffix}"


def _campaign(campaign: str) -> str:
    if check_part(campaign, what="campaign id") in (BLOB_ROOT, CACHE_ROOT):
        raise InvalidStoreKeyError(f"invalid campaign id {campaign!r}: reserved by the store")
    return campaign


def _stage_prefix(ad_set: AdSetKey, stage: str) -> str:
    # Re-check the parts: a frozen dataclass can still be changed with object.__setattr__.
    check_part(ad_set.ad_set, what="ad-set id")
    return f"{_campaign(ad_set.campaign)}/{ad_set.ad_set}/{check_stage(stage)}"


def _cache_key(fingerprint: str) -> str:
    _check(fingerprint, FINGERPRINT_PATTERN, "request fingerprint", "64 lowercase hex digits")
    return f"{CACHE_ROOT}/{fingerprint[:2]}/{fingerprint}.json"


class CreativeStore(ABC):
    """Layout and validation live here; subclasses only move bytes for already-checked keys."""

    # _read/_size return None for a missing object; _write must be atomic (old or new bytes).
    @abstractmethod
    def _read(self, key: str) -> bytes | None: ...

    @abstractmethod
    def _write(self, key: str, data: bytes) -> str: ...  # returns key

    @abstractmethod
    def _size(self, key: str) -> int | None: ...

    @abstractmethod
    def _list(self, prefix: str) -> list[str]: ...

    root_location: str  # set by __init__: the absolute folder, or s3://bucket[/prefix]

    def put_blob(self, data: bytes, *, suffix: str) -> str:
        key = blob_key(data, suffix=suffix)
        # A size check, not a download, decides the no-op: videos are large. A truncated copy
        # (the likely damage) differs in size and is rewritten; get_blob catches the rest.
        return key if self._size(key) == len(data) else self._write(key, data)

    def get_blob(self, key: str) -> bytes:
        match = BLOB_KEY_PATTERN.fullmatch(key) if isinstance(key, str) else None
        if match is None or match.group(1) != match.group(2)[:2]:
            raise InvalidStoreKeyError(f"invalid blob key {key!r} in {self.root_location}")
        data = self.get(key)
        if hashlib.sha256(data).hexdigest() != match.group(2):
            raise StoreError(f"corrupted blob {key!r} at {self.location(key)}: sha256 mismatch")
        return data

    def put_manifest(self, ad_set: AdSetKey, stage: str, manifest: Mapping[str, Any]) -> str:
        key = f"{_stage_prefix(ad_set, stage)}/{MANIFEST_NAME}"
        # allow_nan=False: NaN/Infinity are not JSON and would break other readers.
        text = json.dumps(dict(manifest), sort_keys=True, indent=2, allow_nan=False) + "\n"
        return self._write(key, text.encode("utf-8"))

    def get_manifest(self, ad_set: AdSetKey, stage: str) -> dict[str, Any] | None:
        key = f"{_stage_prefix(ad_set, stage)}/{MANIFEST_NAME}"
        if (data := self._read(key)) is None:
            return None
        try:
            manifest = json.loads(data)
        except ValueError as exc:
            raise StoreError(f"unreadable manifest {key!r} at {self.location(key)}: {exc}") from exc
        if not isinstance(manifest, dict):
            raise StoreError(f"manifest {key!r} at {self.location(key)} is not a JSON object")
        return manifest

    def publish(self, ad_set: AdSetKey, stage: str, name: str, data: bytes) -> str:
        if check_name(name) == MANIFEST_NAME:
            raise InvalidStoreKeyError(f"invalid file name {name!r}: reserved for the manifest")
        return self._write(f"{_stage_prefix(ad_set, stage)}/{name}", data)

    def put_campaign_file(self, campaign: str, name: str, data: bytes) -> str:
        return self._write(self.campaign_key(campaign, name), data)

    def get_campaign_file(self, campaign: str, name: str) -> bytes | None:
        return self._read(self.campaign_key(campaign, name))

    def put_cache_entry(self, fingerprint: str, entry: Mapping[str, Any]) -> str:
        text = json.dumps(dict(entry), sort_keys=True, allow_nan=False)
        return self._write(_cache_key(fingerprint), text.encode("utf-8"))

    def get_cache_entry(self, fingerprint: str) -> dict[str, Any] | None:
        data = self._read(_cache_key(fingerprint))
        return None if data is None else dict(json.loads(data))

    def get(self, key: str) -> bytes:
        if (data := self._read(check_key(key))) is None:
            raise StoreError(f"no object {key!r} at {self.location(key)}")
        return data

    def exists(self, key: str) -> bool:
        return self._size(check_key(key)) is not None

    def list_keys(self, prefix: str) -> list[str]:  # a plain string prefix, as in S3
        return sorted(self._list(check_key(prefix, prefix=True)))

    def location(self, key: str) -> str:
        return f"{self.root_location.rstrip('/')}/{check_key(key)}"

    @staticmethod
    def campaign_key(campaign: str, name: str) -> str:
        # Ad-set ids have no '.', so requiring one means a file never shadows an ad-set folder.
        if "." not in check_name(name):
            raise InvalidStoreKeyError(f"invalid campaign file name {name!r}: needs an extension")
        return f"{_campaign(campaign)}/{name}"


class LocalCreativeStore(CreativeStore):
    """A directory tree; each write goes to a temp file beside the target, then os.replace."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root_location = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/")) if key else self.root

    def _read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):  # a file where a folder would be
            return None
        except OSError as exc:  # e.g. the key names a folder, or permissions
            raise StoreError(f"cannot read {key!r} at {self.location(key)}: {exc}") from exc

    def _write(self, key: str, data: bytes) -> str:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Same folder as the target, so os.replace is an atomic same-filesystem rename.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())  # the bytes reach disk before the rename shows them
                os.chmod(tmp, 0o644)  # mkstemp makes 0600; other users (the UI) must read
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # so the rename itself survives a power loss
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StoreError(f"cannot write {key!r} at {self.location(key)}: {exc}") from exc
        return key

    def _size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def _list(self, prefix: str) -> list[str]:
        # Walk only the deepest folder the prefix names, then filter like S3's string prefix.
        base = self._path(prefix.rpartition("/")[0])
        keys = (p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())
        return [k for k in keys if k.startswith(prefix) and "/." not in f"/{k}"]  # no temp files


def make_s3_client(endpoint_url: str | None) -> Any:
    """The one place a boto3 S3 client is built (the store's, and the brief sensor's)."""
    import boto3  # lazy: local-only runs never pay for importing boto3
    from botocore.config import Config

    # Credentials come only from boto3's own chain (env, profile, instance role).
    env = os.environ
    endpoint = endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    options: dict[str, Any] = {"retries": {"max_attempts": 5, "mode": "standard"}}
    if endpoint:  # MinIO, R2 and moto want path-style URLs; some such servers reject the
        # CRC checksums botocore >= 1.36 sends by default (older botocore has no option).
        options["s3"] = {"addressing_style": "path"}
        if "request_checksum_calculation" in Config.OPTION_DEFAULTS:
            options["request_checksum_calculation"] = "when_required"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    config = Config(**options)
    return boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config)


class S3CreativeStore(CreativeStore):
    """An S3 or S3-compatible bucket/prefix; one put_object is atomic, so no temp keys."""

    def __init__(
        self, *, bucket: str, prefix: str = "", endpoint_url: str | None = None, client: Any = None
    ) -> None:
        if not BUCKET_PATTERN.fullmatch(bucket):
            raise InvalidStoreKeyError(f"invalid S3 bucket name {bucket!r}")
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/")) if prefix.strip("/") else ""
        self._root = f"{self.prefix}/" if self.prefix else ""  # prepended to every object key
        self._client = client if client is not None else self._make_client(endpoint_url)
        self.root_location = f"s3://{bucket}/{self.prefix}".rstrip("/")

    @staticmethod
    def _make_client(endpoint_url: str | None) -> Any:
        return make_s3_client(endpoint_url)


    def _call(self, op: str, key: str, **kwargs: Any) -> Any:
        """One S3 call on `key`: the response (a body's bytes), None if missing, else StoreError."""
        try:
            response = getattr(self._client, op)(Bucket=self.bucket, Key=self._root + key, **kwargs)
            return response["Body"].read() if op == "get_object" else response
        except Exception as exc:  # ClientError and BotoCoreError share no narrower base
            code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
            # Only reads may mean "missing" (HEAD 404s carry no error body); a failed write never.
            if op != "put_object" and str(code) in {"NoSuchKey", "404", "NotFound"}:
                return None
            # botocore messages name the operation and error code, never the credentials.
            raise StoreError(f"cannot {op} {key!r} at {self.location(key)}: {exc}") from exc

    def _read(self, key: str) -> bytes | None:
        return self._call("get_object", key)

    def _write(self, key: str, data: bytes) -> str:
        # A Content-Type lets browsers and presigned URLs show images and videos inline.
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        self._call("put_object", key, Body=data, ContentType=content_type)
        return key

    def _size(self, key: str) -> int | None:
        response = self._call("head_object", key)
        return None if response is None else int(response["ContentLength"])

    def _list(self, prefix: str) -> list[str]:
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.bucket, Prefix=self._root + prefix)
            return [o["Key"][len(self._root) :] for p in pages for o in p.get("Contents", [])]
        except Exception as exc:
            raise StoreError(f"cannot list {prefix!r} in {self.root_location}: {exc}") from exc


def open_store(url: str, *, endpoint_url: str | None = None) -> CreativeStore:
    """`s3://bucket/prefix` -> S3; `file:///abs/path` or a path -> local (ignores endpoint_url)."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        return S3CreativeStore(bucket=parsed.netloc, prefix=parsed.path, endpoint_url=endpoint_url)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return LocalCreativeStore(unquote(parsed.path))
    if "://" in url or not url.strip():
        raise ValueError(f"unsupported store URL {url!r}: use s3://bucket/prefix or a path")
    return LocalCreativeStore(url)

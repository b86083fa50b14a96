"""CreativeStore contract tests, run against a local folder and a real S3-compatible server."""

import hashlib
import json
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from route_assets import storage
from route_assets.partitions import AdSetKey
from route_assets.storage import (
    CreativeStore,
    InvalidStoreKeyError,
    LocalCreativeStore,
    S3CreativeStore,
    StoreError,
    open_store,
)

AD_SET = AdSetKey("summer-launch", "us-hero")
OTHER_AD_SET = AdSetKey("summer-launch", "us-hero-2")
S3_PREFIX = "runs/t1"
BLOB_RE = re.compile(r"blobs/sha256/([0-9a-f]{2})/([0-9a-f]{64})\.png")


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> CreativeStore:
    if request.param == "local":
        return LocalCreativeStore(tmp_path / "store")
    # Built the way production builds it: its own boto3 client, from the endpoint URL.
    bucket = request.getfixturevalue("s3_bucket")
    endpoint = request.getfixturevalue("s3_server")
    return S3CreativeStore(bucket=bucket, prefix=S3_PREFIX, endpoint_url=endpoint)


def backend_objects(store: CreativeStore) -> set[str]:
    """Every object really present in the backend, hidden and temp files included."""
    if isinstance(store, LocalCreativeStore):
        if not store.root.exists():
            return set()
        return {p.relative_to(store.root).as_posix() for p in store.root.rglob("*") if p.is_file()}
    assert isinstance(store, S3CreativeStore)
    client = store._client
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def backend_key(store: CreativeStore, key: str) -> str:
    return f"{S3_PREFIX}/{key}" if isinstance(store, S3CreativeStore) else key


def overwrite_raw(store: CreativeStore, key: str, data: bytes) -> None:
    """Damage an object behind the store's back."""
    if isinstance(store, LocalCreativeStore):
        (store.root / key).write_bytes(data)
    else:
        assert isinstance(store, S3CreativeStore)
        store._client.put_object(Bucket=store.bucket, Key=f"{S3_PREFIX}/{key}", Body=data)


# --- contract, both backends -----------------------------------------------------------------


def test_blob_round_trip_and_layout(store: CreativeStore) -> None:
    data = b"\x89PNG fake image bytes"
    key = store.put_blob(data, suffix=".png")
    digest = hashlib.sha256(data).hexdigest()
    assert key == f"blobs/sha256/{digest[:2]}/{digest}.png"
    assert store.get_blob(key) == data
    assert store.get(key) == data
    assert store.exists(key)
    assert store.put_blob(data, suffix=".mp4") != key  # the suffix is part of the key
    assert store.put_blob(data, suffix="") == f"blobs/sha256/{digest[:2]}/{digest}"


def test_blob_dedupe(store: CreativeStore) -> None:
    data = b"same bytes"
    first = store.put_blob(data, suffix=".png")
    before = backend_objects(store)
    assert store.put_blob(data, suffix=".png") == first
    assert backend_objects(store) == before
    assert store.list_keys("blobs/") == [first]


def test_manifest_round_trip_is_sorted_indented_json(store: CreativeStore) -> None:
    manifest = {"zeta": 1, "alpha": {"b": [1, 2], "a": "x"}, "blob": "blobs/sha256/ab/cd.png"}
    key = store.put_manifest(AD_SET, "qa_resize", manifest)
    assert key == "summer-launch/us-hero/qa_resize/manifest.json"
    assert store.get_manifest(AD_SET, "qa_resize") == manifest
    assert store.get(key).decode() == json.dumps(manifest, sort_keys=True, indent=2) + "\n"
    store.put_manifest(AD_SET, "qa_resize", {"version": 2})  # overwrite in place
    assert store.get_manifest(AD_SET, "qa_resize") == {"version": 2}


def test_get_manifest_of_missing_stage_is_none(store: CreativeStore) -> None:
    assert store.get_manifest(AD_SET, "generate") is None  # nothing written at all yet
    store.put_manifest(AD_SET, "generate", {"ok": True})
    assert store.get_manifest(AD_SET, "qa_resize") is None
    assert store.get_manifest(OTHER_AD_SET, "generate") is None
    assert store.get_manifest(AdSetKey("other-campaign", "us-hero"), "generate") is None


def test_manifest_rejects_values_that_are_not_json(store: CreativeStore) -> None:
    with pytest.raises(ValueError):
        store.put_manifest(AD_SET, "generate", {"score": float("nan")})
    assert backend_objects(store) == set()


def test_publish_and_campaign_files_round_trip(store: CreativeStore) -> None:
    key = store.publish(AD_SET, "qa_resize", "tiktok-infeed.jpg", b"jpeg")
    assert key == "summer-launch/us-hero/qa_resize/tiktok-infeed.jpg"
    assert store.get(key) == b"jpeg"
    store.publish(AD_SET, "qa_resize", "tiktok-infeed.jpg", b"jpeg v2")
    assert store.get(key) == b"jpeg v2"

    assert store.put_campaign_file("summer-launch", "brief.json", b"{}") == (
        "summer-launch/brief.json"
    )
    assert store.get_campaign_file("summer-launch", "brief.json") == b"{}"
    assert store.get_campaign_file("summer-launch", "cost_report.csv") is None
    assert store.get_campaign_file("no-such-campaign", "brief.json") is None


def test_cache_entries_round_trip_under_their_own_root(store: CreativeStore) -> None:
    fp = "ab" + "0" * 62
    assert store.get_cache_entry(fp) is None
    key = store.put_cache_entry(fp, {"blob": "blobs/x", "cost_usd": 0.04})
    assert key == f"cache/ab/{fp}.json" and store.list_keys("") == [key]
    assert store.get_cache_entry(fp) == {"blob": "blobs/x", "cost_usd": 0.04}
    with pytest.raises(InvalidStoreKeyError, match="request fingerprint"):
        store.get_cache_entry("../" + fp)
    with pytest.raises(InvalidStoreKeyError, match="reserved"):
        store.put_campaign_file("cache", "brief.json", b"{}")


def test_exact_object_keys_written(store: CreativeStore) -> None:
    blob = store.put_blob(b"video", suffix=".mp4")
    store.put_blob(b"video", suffix=".mp4")
    store.put_manifest(AD_SET, "generate", {"video": blob})
    store.publish(AD_SET, "qa_resize", "tiktok-infeed.jpg", b"jpeg")
    store.put_campaign_file("summer-launch", "brief.json", b"{}")
    store.put_campaign_file("summer-launch", "cost_report.csv", b"a,b\n")
    store.put_campaign_file("summer-launch", "cost_report.md", b"# cost\n")
    digest = hashlib.sha256(b"video").hexdigest()
    expected = {
        f"blobs/sha256/{digest[:2]}/{digest}.mp4",
        "summer-launch/us-hero/generate/manifest.json",
        "summer-launch/us-hero/qa_resize/tiktok-infeed.jpg",
        "summer-launch/brief.json",
        "summer-launch/cost_report.csv",
        "summer-launch/cost_report.md",
    }
    assert backend_objects(store) == {backend_key(store, key) for key in expected}
    assert store.list_keys("") == sorted(expected)


def test_list_keys_uses_string_prefixes_and_sorts(store: CreativeStore) -> None:
    store.publish(OTHER_AD_SET, "qa_resize", "b.jpg", b"2")
    store.publish(AD_SET, "qa_resize", "b.jpg", b"1")
    store.publish(AD_SET, "qa_resize", "a.jpg", b"1")
    store.put_campaign_file("summer-launch", "brief.json", b"{}")
    store.put_campaign_file("winter", "brief.json", b"{}")
    ad_set_keys = [
        "summer-launch/us-hero/qa_resize/a.jpg",
        "summer-launch/us-hero/qa_resize/b.jpg",
    ]
    assert store.list_keys("summer-launch/us-hero/") == ad_set_keys
    # Byte order, as S3 lists: "-" sorts before "/", so the sibling "us-hero-2" comes first.
    assert store.list_keys("summer-launch/us-hero") == [
        "summer-launch/us-hero-2/qa_resize/b.jpg",
        *ad_set_keys,
    ]
    assert store.list_keys("summer-launch/b") == ["summer-launch/brief.json"]
    assert store.list_keys("nothing/") == []
    assert len(store.list_keys("")) == 5


def test_missing_object_raises_store_error_naming_key_and_location(store: CreativeStore) -> None:
    key = "summer-launch/us-hero/qa_resize/nope.jpg"
    assert not store.exists(key)
    with pytest.raises(StoreError) as excinfo:
        store.get(key)
    assert key in str(excinfo.value) and store.location(key) in str(excinfo.value)
    digest = "ab" + "0" * 62
    with pytest.raises(StoreError, match="no object"):
        store.get_blob(f"blobs/sha256/ab/{digest}.png")


def test_corrupted_blob_is_detected(store: CreativeStore) -> None:
    data = b"original image bytes"
    key = store.put_blob(data, suffix=".png")
    overwrite_raw(store, key, b"Original image bytes")  # same size, one byte flipped
    with pytest.raises(StoreError, match="corrupted blob") as excinfo:
        store.get_blob(key)
    assert key in str(excinfo.value)


def test_truncated_blob_is_rewritten_by_put_blob(store: CreativeStore) -> None:
    data = b"a long video, cut short by a crashed copy"
    key = store.put_blob(data, suffix=".mp4")
    overwrite_raw(store, key, data[:10])
    with pytest.raises(StoreError, match="corrupted blob"):
        store.get_blob(key)
    assert store.put_blob(data, suffix=".mp4") == key
    assert store.get_blob(key) == data


def test_get_blob_rejects_keys_that_are_not_blob_keys(store: CreativeStore) -> None:
    store.put_campaign_file("summer-launch", "brief.json", b"{}")
    digest = hashlib.sha256(b"x").hexdigest()
    for bad in ["summer-launch/brief.json", f"blobs/sha256/zz/{digest}.png", "../x"]:
        with pytest.raises(InvalidStoreKeyError, match="invalid blob key"):
            store.get_blob(bad)


BAD_STAGES = ["", "../x", "a/b", "QA", "1stage", "qa-resize", "a" * 42, "qa resize"]
BAD_NAMES = ["", "..", "../x", "a/b", ".hidden", "a..b.jpg", "x" * 122, "a\\b", "a b.jpg"]
BAD_KEYS = ["", "../x", "/abs", "a//b", "a/../b", "a/./b", "a/", "a\\b", ".tmp-x.part", "x/.."]


@pytest.mark.parametrize("stage", BAD_STAGES)
def test_invalid_stage_rejected(store: CreativeStore, stage: str) -> None:
    for call in (
        lambda: store.put_manifest(AD_SET, stage, {}),
        lambda: store.get_manifest(AD_SET, stage),
        lambda: store.publish(AD_SET, stage, "a.jpg", b"x"),
    ):
        with pytest.raises(ValueError, match=r"invalid stage .*: use") as excinfo:
            call()
        assert repr(stage) in str(excinfo.value)
    assert backend_objects(store) == set()


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_name_rejected(store: CreativeStore, name: str) -> None:
    for call in (
        lambda: store.publish(AD_SET, "qa_resize", name, b"x"),
        lambda: store.put_campaign_file("summer-launch", name, b"x"),
        lambda: store.get_campaign_file("summer-launch", name),
    ):
        with pytest.raises(ValueError, match=r"invalid file name .*: use") as excinfo:
            call()
        assert repr(name) in str(excinfo.value)
    assert backend_objects(store) == set()


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_key_rejected(store: CreativeStore, key: str) -> None:
    for call in (lambda: store.get(key), lambda: store.exists(key), lambda: store.location(key)):
        with pytest.raises(InvalidStoreKeyError, match="invalid object key") as excinfo:
            call()
        assert repr(key) in str(excinfo.value)
    assert isinstance(excinfo.value, (StoreError, ValueError))


@pytest.mark.parametrize("prefix", ["../", "/", "a//", "a/../", ".tmp"])
def test_invalid_list_prefix_rejected(store: CreativeStore, prefix: str) -> None:
    with pytest.raises(InvalidStoreKeyError):
        store.list_keys(prefix)


def test_reserved_and_invalid_layout_parts_rejected(store: CreativeStore) -> None:
    with pytest.raises(ValueError, match="reserved for the manifest"):
        store.publish(AD_SET, "qa_resize", "manifest.json", b"{}")
    with pytest.raises(ValueError, match="reserved by the store"):
        store.put_campaign_file("blobs", "brief.json", b"{}")
    with pytest.raises(ValueError, match="reserved by the store"):
        store.put_manifest(AdSetKey("blobs", "sha256"), "ab", {})
    with pytest.raises(ValueError, match="needs an extension"):
        store.put_campaign_file("summer-launch", "us-hero", b"shadows the ad-set folder")
    for campaign in ["Summer", "a/b", "../x", ""]:
        with pytest.raises(ValueError, match="invalid campaign id"):
            store.put_campaign_file(campaign, "brief.json", b"{}")
    for suffix in ["png", ".PNG", "../x", "./x", ".a/b"]:
        with pytest.raises(ValueError, match="invalid blob suffix"):
            store.put_blob(b"x", suffix=suffix)
    assert backend_objects(store) == set()


def test_ad_set_key_mutated_after_validation_is_rejected(store: CreativeStore) -> None:
    forged = AdSetKey("summer-launch", "us-hero")
    object.__setattr__(forged, "ad_set", "../../escape")
    with pytest.raises(ValueError, match="invalid ad-set id"):
        store.publish(forged, "qa_resize", "a.jpg", b"x")
    assert backend_objects(store) == set()


# --- local store -----------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalCreativeStore:
    return LocalCreativeStore(tmp_path / "store")


def all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_local_location_is_absolute_path(local: LocalCreativeStore, tmp_path: Path) -> None:
    assert local.root_location == str((tmp_path / "store").resolve())
    key = local.publish(AD_SET, "qa_resize", "a.jpg", b"x")
    assert local.location(key) == str(tmp_path / "store" / key)
    assert Path(local.location(key)).read_bytes() == b"x"


def test_local_blob_dedupe_does_not_rewrite(local: LocalCreativeStore) -> None:
    key = local.put_blob(b"image", suffix=".png")
    inode = os.stat(local.location(key)).st_ino
    local.put_blob(b"image", suffix=".png")
    assert os.stat(local.location(key)).st_ino == inode  # a rewrite would os.replace a new inode


def test_local_files_are_world_readable(local: LocalCreativeStore) -> None:
    key = local.publish(AD_SET, "qa_resize", "a.jpg", b"x")
    assert stat.S_IMODE(os.stat(local.location(key)).st_mode) == 0o644


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_local_crash_mid_write_keeps_old_file_and_no_temp(
    local: LocalCreativeStore, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    key = local.put_manifest(AD_SET, "generate", {"version": 1})
    old = local.get(key)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, failing, crash)
    with pytest.raises(StoreError, match="cannot write") as excinfo:
        local.put_manifest(AD_SET, "generate", {"version": 2, "big": "x" * 100_000})
    assert key in str(excinfo.value)
    monkeypatch.undo()
    assert local.get(key) == old
    assert local.get_manifest(AD_SET, "generate") == {"version": 1}
    assert all_files(local.root) == {key}  # no temp file left behind


def test_local_interrupt_mid_write_is_not_wrapped_and_cleans_up(
    local: LocalCreativeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        local.publish(AD_SET, "qa_resize", "a.jpg", b"x")
    monkeypatch.undo()
    assert all_files(local.root) == set()
    assert local.list_keys("") == []


def test_local_readers_never_see_partial_content(local: LocalCreativeStore) -> None:
    versions = [bytes([i]) * 2_000_000 for i in (1, 2)]
    key = local.publish(AD_SET, "qa_resize", "big.mp4", versions[0])
    seen: list[bytes] = []
    done = threading.Event()

    def read_continuously() -> None:
        while not done.is_set():
            seen.append(local.get(key))

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        for i in range(30):
            local.publish(AD_SET, "qa_resize", "big.mp4", versions[i % 2])
    finally:
        done.set()
        reader.join()
    assert seen
    assert all(data in versions for data in seen)
    assert all_files(local.root) == {key}


def test_local_ignores_stale_temp_files(local: LocalCreativeStore) -> None:
    key = local.publish(AD_SET, "qa_resize", "a.jpg", b"x")
    stale = Path(local.location(key)).parent / ".tmp-abc123.part"
    stale.write_bytes(b"half a file from a killed process")
    assert local.list_keys("") == [key]
    assert local.list_keys("summer-launch/us-hero/qa_resize/") == [key]


def test_local_key_that_is_a_folder(local: LocalCreativeStore) -> None:
    local.publish(AD_SET, "qa_resize", "a.jpg", b"x")
    assert not local.exists("summer-launch/us-hero")
    with pytest.raises(StoreError, match="cannot read"):
        local.get("summer-launch/us-hero")
    assert not local.exists("summer-launch/us-hero/qa_resize/a.jpg/deeper")
    assert local.get_campaign_file("summer-launch", "us-hero.json") is None


# --- S3 store --------------------------------------------------------------------------------


def test_s3_location_and_root(s3_server: str, s3_bucket: str) -> None:
    store = S3CreativeStore(bucket=s3_bucket, prefix="/runs/t1/", endpoint_url=s3_server)
    assert store.root_location == f"s3://{s3_bucket}/runs/t1"
    key = store.put_campaign_file("summer-launch", "brief.json", b"{}")
    assert store.location(key) == f"s3://{s3_bucket}/runs/t1/summer-launch/brief.json"
    bare = S3CreativeStore(bucket=s3_bucket, endpoint_url=s3_server)
    assert bare.root_location == f"s3://{s3_bucket}"
    assert bare.location(key) == f"s3://{s3_bucket}/{key}"
    assert bare.list_keys("") == [f"runs/t1/{key}"]  # no prefix: sees the whole bucket


def test_s3_prefixes_isolate_stores(s3_server: str, s3_bucket: str) -> None:
    one = S3CreativeStore(bucket=s3_bucket, prefix="one", endpoint_url=s3_server)
    one_more = S3CreativeStore(bucket=s3_bucket, prefix="one-more", endpoint_url=s3_server)
    one.put_manifest(AD_SET, "generate", {"store": 1})
    one_more.put_manifest(AD_SET, "generate", {"store": 2})
    assert one.get_manifest(AD_SET, "generate") == {"store": 1}
    assert one.list_keys("") == ["summer-launch/us-hero/generate/manifest.json"]
    assert one_more.list_keys("") == ["summer-launch/us-hero/generate/manifest.json"]


def test_s3_dedupe_makes_no_second_upload(s3_server: str, s3_bucket: str, s3_client: Any) -> None:
    uploads: list[str] = []
    s3_client.meta.events.register(
        "before-parameter-build.s3.PutObject",
        lambda params, **kwargs: uploads.append(params["Key"]),
    )
    store = S3CreativeStore(bucket=s3_bucket, prefix="p", client=s3_client)
    key = store.put_blob(b"video bytes", suffix=".mp4")
    store.put_blob(b"video bytes", suffix=".mp4")
    assert uploads == [f"p/{key}"]


def test_s3_sets_content_types(s3_bucket: str, s3_client: Any) -> None:
    store = S3CreativeStore(bucket=s3_bucket, client=s3_client)
    keys = {
        store.put_blob(b"png", suffix=".png"): "image/png",
        store.put_blob(b"mp4", suffix=".mp4"): "video/mp4",
        store.put_manifest(AD_SET, "generate", {}): "application/json",
        store.put_campaign_file("summer-launch", "cost_report.csv", b"a\n"): "text/csv",
    }
    for key, content_type in keys.items():
        assert s3_client.head_object(Bucket=s3_bucket, Key=key)["ContentType"] == content_type


def test_s3_errors_other_than_missing_key_raise_store_error(
    s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sekrit-value-that-must-not-leak")
    store = S3CreativeStore(bucket="no-such-bucket-here", prefix="p", endpoint_url=s3_server)
    key = "summer-launch/us-hero/generate/manifest.json"
    calls = [
        lambda: store.get_manifest(AD_SET, "generate"),  # NoSuchBucket is not "missing": raise
        lambda: store.put_manifest(AD_SET, "generate", {}),
        lambda: store.get(key),
        lambda: store.list_keys("summer-launch/"),
    ]
    for call in calls:
        with pytest.raises(StoreError) as excinfo:
            call()
        message = str(excinfo.value)
        assert "s3://no-such-bucket-here/p" in message
        assert "sekrit" not in message and "testing" not in message
    # A HEAD response has no body, so a missing bucket and a missing key both read as absent.
    assert store.exists(key) is False


def test_s3_unreachable_endpoint_raises_store_error(aws_test_env: None) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    store = S3CreativeStore(bucket="bucket", client=client)
    with pytest.raises(StoreError, match="summer-launch/brief.json"):
        store.get_campaign_file("summer-launch", "brief.json")


def test_s3_bad_bucket_name_rejected() -> None:
    for bucket in ["", "UPPER", "a", "bucket/with/slash"]:
        with pytest.raises(InvalidStoreKeyError):
            S3CreativeStore(bucket=bucket, client=object())
    with pytest.raises(InvalidStoreKeyError):
        S3CreativeStore(bucket="fine", prefix="../up", client=object())


# --- open_store ------------------------------------------------------------------------------


def test_open_store_s3_url(s3_server: str, s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}/runs/t1", endpoint_url=s3_server)
    assert isinstance(store, S3CreativeStore)
    assert (store.bucket, store.prefix) == (s3_bucket, "runs/t1")
    store.put_manifest(AD_SET, "generate", {"ok": 1})
    assert store.get_manifest(AD_SET, "generate") == {"ok": 1}
    bare = open_store(f"s3://{s3_bucket}", endpoint_url=s3_server)
    assert isinstance(bare, S3CreativeStore) and bare.prefix == ""


def test_open_store_local_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    by_url = open_store(f"file://{tmp_path}/a%20b")
    assert isinstance(by_url, LocalCreativeStore) and by_url.root == tmp_path / "a b"
    by_path = open_store(str(tmp_path / "c"))
    assert isinstance(by_path, LocalCreativeStore) and by_path.root == tmp_path / "c"
    monkeypatch.chdir(tmp_path)
    relative = open_store("rel/store")
    assert isinstance(relative, LocalCreativeStore) and relative.root == tmp_path / "rel/store"


@pytest.mark.parametrize("url", ["", "  ", "gs://bucket/x", "https://example.com/x", "file://h/x"])
def test_open_store_rejects_unsupported_urls(url: str) -> None:
    with pytest.raises(ValueError):
        open_store(url)

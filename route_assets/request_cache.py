"""Request fingerprints: the same paid request (model, endpoint, parameters, input blob hashes,
seed) is made once; repeating it returns the stored result at no cost, marked cached."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from route_assets.storage import CreativeStore


def _identity(value: Any) -> str:
    # Input media enter the fingerprint by content hash, never as bytes.
    if isinstance(value, bytes | bytearray):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    return str(value)


def fingerprint(kind: str, payload: dict[str, Any]) -> str:
    body = json.dumps({"kind": kind, **payload}, sort_keys=True, default=_identity)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class CachedResult:
    blob: str
    request_id: str
    cost_usd: float  # what the original call cost; a hit costs nothing
    seed: int


class RequestCache:
    def __init__(self, store: CreativeStore) -> None:
        self._store = store

    def get(self, fp: str) -> CachedResult | None:
        entry = self._store.get_cache_entry(fp)
        if entry is None or not self._store.exists(entry["blob"]):
            return None
        return CachedResult(**entry)

    def put(self, fp: str, result: CachedResult) -> None:
        self._store.put_cache_entry(fp, result.__dict__)


def cached_call(
    store: CreativeStore,
    *,
    kind: str,
    payload: dict[str, Any],
    suffix: str,
    seed: int,
    make: Callable[[], tuple[bytes, str, float]],
) -> tuple[CachedResult, bool]:
    """Return the stored result of this exact request, or make it once (bytes, request id,
    cost) and remember it. The boolean says whether it came from the cache."""
    cache = RequestCache(store)
    fp = fingerprint(kind, payload)
    hit = cache.get(fp)
    if hit is not None:
        return hit, True
    data, request_id, cost_usd = make()
    result = CachedResult(store.put_blob(data, suffix=suffix), request_id, cost_usd, seed)
    cache.put(fp, result)
    return result, False

"""Where things live on this machine: one place reads the environment for paths.

ROUTE_ASSETS_HOME (default ./var) holds the local store and the Dagster instance;
ROUTE_ASSETS_STORE overrides the store (a path or s3://bucket/prefix);
ROUTE_ASSETS_S3_ENDPOINT_URL points S3 at an S3-compatible server; DAGSTER_HOME overrides the
instance directory; ROUTE_ASSETS_DB_URL is the ledger/journal database. Provider keys
(FAL_KEY, REPLICATE_API_TOKEN, BFL_API_KEY, GEMINI_API_KEY) enable hosted providers, and
*_BASE_URL variables point them elsewhere (the emulator). ROUTE_ASSETS_FOREGROUND_MODEL overrides
where `route-assets install-models` puts the crop planner's foreground model.
"""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("ROUTE_ASSETS_HOME", "var")).resolve()


def store_url() -> str:
    return os.environ.get("ROUTE_ASSETS_STORE") or str(home() / "store")


def s3_endpoint_url() -> str | None:
    return os.environ.get("ROUTE_ASSETS_S3_ENDPOINT_URL") or None


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or home() / "dagster").resolve()


def foreground_model_path() -> Path:
    """Beside the virtual environment it was installed for: `make clean` keeps it."""
    default = Path(sys.prefix) / "share" / "route_assets" / "isnet-fp16-any-size.onnx"
    return Path(os.environ.get("ROUTE_ASSETS_FOREGROUND_MODEL") or default)


@dataclass(frozen=True)
class ProviderSettings:
    name: str
    api_key: str = field(repr=False)  # never printed: repr and logs must not carry it
    base_url: str
    trusted_base: str | None  # set when base_url is not the provider's own (the emulator)


# provider -> (key variable, base-URL variable, the provider's real base URL)
PROVIDER_ENV = {
    "fal": ("FAL_KEY", "FAL_BASE_URL", "https://queue.fal.run"),
    "replicate": ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "https://api.replicate.com/v1"),
    "bfl": ("BFL_API_KEY", "BFL_BASE_URL", "https://api.bfl.ai"),
    "gemini": ("GEMINI_API_KEY", "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"),
}


def providers() -> dict[str, ProviderSettings]:
    """The hosted providers whose key is set; with none set everything runs on `local`."""
    out = {}
    for name, (key_var, base_var, default) in PROVIDER_ENV.items():
        key = os.environ.get(key_var, "").strip()
        if not key:
            continue
        base = (os.environ.get(base_var) or default).rstrip("/")
        out[name] = ProviderSettings(name, key, base, None if base == default else base)
    return out


def db_url() -> str:
    """The ledger and request journal database (SQLite by default, PostgreSQL in production)."""
    return os.environ.get("ROUTE_ASSETS_DB_URL") or f"sqlite:///{home() / 'route_assets.db'}"


@dataclass(frozen=True)
class SigningSettings:
    """Where the user's C2PA signing certificate chain and private key are (PEM files)."""

    cert_path: Path
    key_path: Path
    alg: str = "es256"
    tsa_url: str | None = None


# C2PA signing of delivered files: both paths set turns it on (route_assets[c2pa] extra).
C2PA_ENV = ("ROUTE_ASSETS_C2PA_CERT", "ROUTE_ASSETS_C2PA_KEY")


def c2pa_signing() -> SigningSettings | None:
    """Signing settings from ROUTE_ASSETS_C2PA_CERT / _KEY (paths, never the PEM itself),
    ROUTE_ASSETS_C2PA_ALG (default es256) and ROUTE_ASSETS_C2PA_TSA_URL; None when off."""
    cert, key = (os.environ.get(v, "").strip() for v in C2PA_ENV)
    if not cert and not key:
        return None
    if not cert or not key:
        missing = C2PA_ENV[0] if not cert else C2PA_ENV[1]
        raise ValueError(f"C2PA signing needs both {C2PA_ENV[0]} and {C2PA_ENV[1]}; set "
                         f"{missing} to the PEM file path, or unset both to turn signing off")
    alg = os.environ.get("ROUTE_ASSETS_C2PA_ALG", "").strip().lower() or "es256"
    tsa = os.environ.get("ROUTE_ASSETS_C2PA_TSA_URL", "").strip() or None
    return SigningSettings(Path(cert), Path(key), alg, tsa)

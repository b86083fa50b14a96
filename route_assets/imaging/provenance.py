"""Optional C2PA Content Credentials on delivered files, signed with the user's certificate.

Order matters: the XMP disclosure is written by the final encode, then the file is signed, and
nothing re-encodes it afterwards (any change to the bytes makes the manifest `Invalid`). The
signed manifest repeats the IPTC DigitalSourceType in a `c2pa.created` action, which is where
TikTok and C2PA-aware readers look. c2pa-python is the optional extra `route_assets[c2pa]`.
"""

import io
import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

MIME = {"jpeg": "image/jpeg", "png": "image/png"}
ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")


class ProvenanceError(RuntimeError):
    """Signing is configured but cannot be done; the message names the setting and the fix."""


@dataclass(frozen=True)
class Credentials:
    """The signing certificate chain (leaf first) and its private key, as PEM."""

    chain_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)  # never printed: repr, logs and errors must not carry it
    alg: str = "es256"
    tsa_url: str | None = None


@dataclass(frozen=True)
class Verification:
    state: str | None  # "Trusted", "Valid" or "Invalid" (c2pa-rs validation state)
    codes: tuple[str, ...]  # failure codes, e.g. "assertion.dataHash.mismatch"
    source_type: str | None  # digitalSourceType of the active manifest's c2pa.created action


def load_credentials(cert_path: Path, key_path: Path, *, alg: str = "es256",
                     tsa_url: str | None = None, what: str = "C2PA signing") -> Credentials:
    """Read the PEM files, checking only their shape (the key's content is never echoed)."""
    if alg not in ALGORITHMS:
        raise ProvenanceError(f"{what}: algorithm {alg!r} is not one of {', '.join(ALGORITHMS)}")
    files = {}
    for label, path, marker in (("certificate chain", cert_path, b"-----BEGIN CERTIFICATE"),
                                ("private key", key_path, b"PRIVATE KEY-----")):
        try:
            body = Path(path).read_bytes()
        except OSError as exc:
            raise ProvenanceError(f"{what}: cannot read the {label} file {path}: "
                                  f"{exc.strerror}; point the setting at a readable PEM file"
                                  ) from None
        if marker not in body:
            raise ProvenanceError(f"{what}: {path} does not look like a PEM {label}; export it "
                                  "as PEM (-----BEGIN ...-----)")
        files[label] = body
    return Credentials(files["certificate chain"], files["private key"], alg, tsa_url)


def _c2pa() -> Any:
    try:
        import c2pa  # an optional extra: only needed when signing is configured
    except ImportError:
        raise ProvenanceError("C2PA signing is configured but c2pa-python is not installed; "
                              "install route_assets[c2pa] or unset the signing settings") from None
    return c2pa


def _version() -> str:
    try:
        return metadata.version("route_assets")
    except metadata.PackageNotFoundError:
        return "0"


def sign(data: bytes, *, fmt: str, source_type: str, credentials: Credentials,
         title: str) -> bytes:
    """`data` with an embedded, signed C2PA manifest declaring `source_type`."""
    if fmt not in MIME:
        raise ProvenanceError(f"cannot sign {fmt!r} files; supported: {', '.join(MIME)}")
    c2pa = _c2pa()
    manifest = {
        "claim_generator_info": [{"name": "route_assets", "version": _version()}],
        "title": title,
        "assertions": [{
            "label": "c2pa.actions",
            "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": source_type}]},
        }],
    }
    info = c2pa.C2paSignerInfo(
        getattr(c2pa.C2paSigningAlg, credentials.alg.upper()),
        credentials.chain_pem,
        credentials.key_pem,
        credentials.tsa_url.encode() if credentials.tsa_url else None,
    )
    # No thumbnail: it would add ~130 KB to every file, against the placements' byte caps.
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    out = io.BytesIO()
    try:
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest, context) as builder:
            builder.sign(signer, MIME[fmt], io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        # The SDK's message is about certificates and formats, never the key's bytes.
        raise ProvenanceError(f"C2PA signing of {title} failed: {exc}; check that the "
                              "certificate chain matches the key and the algorithm") from None
    return out.getvalue()


def verify(data: bytes, *, fmt: str, trust_anchors_pem: bytes | None = None) -> Verification:
    """Read back and validate the embedded manifest; `Trusted` needs the signer's root among
    `trust_anchors_pem`."""
    c2pa = _c2pa()
    settings: dict[str, Any] = {"verify": {"verify_trust": trust_anchors_pem is not None}}
    if trust_anchors_pem is not None:
        settings["trust"] = {"trust_anchors": trust_anchors_pem.decode()}
    context = c2pa.Context.from_dict(settings)
    try:
        with c2pa.Reader(MIME[fmt], io.BytesIO(data), context=context) as reader:
            state = reader.get_validation_state()
            report = json.loads(reader.json())
    except c2pa.C2paError as exc:
        return Verification(None, (f"unreadable: {exc}",), None)
    active = report.get("manifests", {}).get(report.get("active_manifest"), {})
    source_type = None
    for assertion in active.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                if action.get("action") == "c2pa.created":
                    source_type = action.get("digitalSourceType")
    codes = tuple(s.get("code", "") for s in report.get("validation_status", []) or [])
    return Verification(state, codes, source_type)

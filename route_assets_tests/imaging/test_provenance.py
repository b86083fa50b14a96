"""C2PA signing with a certificate authority made in the test, verified by c2pa-python's reader,
with the XMP disclosure still readable by exiftool after signing."""

import datetime as dt
import json
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from skimage import data

from route_assets.imaging import codecs, provenance


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "route_assets test")])


def _cert(subject, issuer, public, signing_key, *, ca: bool, issuer_public=None):
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_public or public), critical=False)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A root CA and a leaf signing certificate (ES256), written as PEM files."""
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    root = _cert(_name("Test Root CA"), _name("Test Root CA"), root_key.public_key(), root_key,
                 ca=True)
    leaf = _cert(_name("Test Signer"), root.subject, leaf_key.public_key(), root_key, ca=False,
                 issuer_public=root_key.public_key())
    folder = tmp_path_factory.mktemp("pki")
    pem = serialization.Encoding.PEM
    (folder / "chain.pem").write_bytes(leaf.public_bytes(pem) + root.public_bytes(pem))
    (folder / "key.pem").write_bytes(leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder, root.public_bytes(pem)


def _exiftool(path) -> dict:
    exe = shutil.which("exiftool")
    assert exe, "exiftool is required (Debian: apt-get install libimage-exiftool-perl)"
    out = subprocess.run([exe, "-json", "-XMP-iptcExt:DigitalSourceType", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_signed_file_verifies_trusted_and_keeps_its_xmp(pki, fmt, tmp_path):
    folder, root_pem = pki
    creds = provenance.load_credentials(folder / "chain.pem", folder / "key.pem")
    encoded, _ = codecs.encode_for_placement(data.astronaut(), fmt=fmt, max_bytes=5_000_000,
                                             source_type=codecs.COMPOSITE)
    signed = provenance.sign(encoded, fmt=fmt, source_type=codecs.COMPOSITE, credentials=creds,
                             title=f"test.{fmt}")
    assert len(signed) > len(encoded)

    trusted = provenance.verify(signed, fmt=fmt, trust_anchors_pem=root_pem)
    assert trusted.state == "Trusted", trusted.codes
    assert trusted.source_type == codecs.COMPOSITE
    untrusted = provenance.verify(signed, fmt=fmt)  # no trust anchors: valid, not trusted
    assert untrusted.state == "Valid"

    # The disclosure written by the final encode survives signing, for us and for exiftool.
    assert codecs.read_disclosure(signed) == codecs.COMPOSITE
    path = tmp_path / f"signed.{'jpg' if fmt == 'jpeg' else 'png'}"
    path.write_bytes(signed)
    assert _exiftool(path)["DigitalSourceType"] == codecs.COMPOSITE
    assert codecs.decode(signed).shape == (512, 512, 3)


def test_tampering_invalidates_the_manifest(pki):
    folder, root_pem = pki
    creds = provenance.load_credentials(folder / "chain.pem", folder / "key.pem")
    encoded, _ = codecs.encode_for_placement(data.coffee(), fmt="jpeg", max_bytes=5_000_000,
                                             source_type=codecs.GENERATED)
    signed = bytearray(provenance.sign(encoded, fmt="jpeg", source_type=codecs.GENERATED,
                                       credentials=creds, title="coffee.jpg"))
    signed[-200] ^= 0xFF  # one flipped byte in the entropy-coded image data
    result = provenance.verify(bytes(signed), fmt="jpeg", trust_anchors_pem=root_pem)
    assert result.state == "Invalid"
    assert any("dataHash.mismatch" in code for code in result.codes), result.codes


def test_another_root_is_not_trusted(pki):
    folder, _ = pki
    creds = provenance.load_credentials(folder / "chain.pem", folder / "key.pem")
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert(_name("Other Root"), _name("Other Root"), other_key.public_key(), other_key,
                  ca=True).public_bytes(serialization.Encoding.PEM)
    encoded, _ = codecs.encode_for_placement(data.chelsea(), fmt="jpeg", max_bytes=5_000_000,
                                             source_type=codecs.GENERATED)
    signed = provenance.sign(encoded, fmt="jpeg", source_type=codecs.GENERATED,
                             credentials=creds, title="chelsea.jpg")
    result = provenance.verify(signed, fmt="jpeg", trust_anchors_pem=other)
    assert result.state == "Valid"  # intact, but not chained to a trusted root
    assert any("untrusted" in code for code in result.codes), result.codes


def test_bad_credentials_are_named_without_their_content(pki, tmp_path):
    folder, _ = pki
    with pytest.raises(provenance.ProvenanceError, match="cannot read the private key file"):
        provenance.load_credentials(folder / "chain.pem", tmp_path / "missing.pem")
    key_text = (folder / "key.pem").read_text()
    with pytest.raises(provenance.ProvenanceError, match="does not look like a PEM certificate"
                       ) as err:
        provenance.load_credentials(folder / "key.pem", folder / "key.pem")
    assert key_text.splitlines()[1] not in str(err.value)
    creds = provenance.load_credentials(folder / "chain.pem", folder / "key.pem")
    assert key_text.splitlines()[1] not in repr(creds)
    # A key that does not match the certificate: a clear error, no key material in it.
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    mismatched = provenance.load_credentials(folder / "chain.pem", wrong)
    encoded, _ = codecs.encode_for_placement(data.rocket(), fmt="jpeg", max_bytes=5_000_000,
                                             source_type=codecs.GENERATED)
    with pytest.raises(provenance.ProvenanceError, match="C2PA signing of rocket.jpg failed") as e:
        provenance.sign(encoded, fmt="jpeg", source_type=codecs.GENERATED,
                        credentials=mismatched, title="rocket.jpg")
    assert wrong.read_text().splitlines()[1] not in str(e.value)

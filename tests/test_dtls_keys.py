"""DTLS 1.2 key schedule, ECDHE, signatures and certificates (rtcstack.dtls.keys, .ecdhe,
.certificate) against the vectors in rfc-vectors/ and against OpenSSL."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.x509.oid import NameOID

from rtcstack.common import SeededRandom
from rtcstack.dtls.certificate import (
    FINGERPRINT_ALGORITHMS,
    SUPPORTED_SIGNATURE_SCHEMES,
    Certificate,
    certificate_fingerprint,
    check_fingerprint,
    verify_signature,
)
from rtcstack.dtls.constants import AlertDescription, CipherSuite, NamedGroup, SignatureScheme
from rtcstack.dtls.ecdhe import CURVE_ORDERS, KeyExchange, server_ecdh_params, signed_params
from rtcstack.dtls.errors import DtlsAlert
from rtcstack.dtls.kat import check_tls12_prf
from rtcstack.dtls.keys import (
    SUITES,
    Transcript,
    export_keying_material,
    key_block,
    nss_keylog_line,
    prf,
    srtp_keying_material,
    verify_data,
)
from rtcstack.vectors import all_vectors

ROOT = Path(__file__).resolve().parents[1]
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="install the Debian package openssl")

PRF_VECTORS = [v for v in all_vectors(layer="dtls") if v.kind == "tls12-prf"]
CR = bytes(range(32))
SR = bytes(range(32, 64))


# --- known answers -----------------------------------------------------------------------------


def test_prf_vectors_present() -> None:
    names = {f"{v.path.parent.name}/{v.name}" for v in PRF_VECTORS}
    assert {"rfc5246/5-prf-published", "rfc5246/5-prf-openssl", "rfc5246/6.3-key-block-openssl",
            "rfc5246/7.4.9-finished-openssl", "rfc5246/8.1-master-secret-openssl",
            "rfc7627/4-extended-master-secret-openssl", "rfc5705/4-exporter-openssl"} <= names


@pytest.mark.parametrize("vector", PRF_VECTORS, ids=lambda v: f"{v.path.parent.name}/{v.name}")
def test_prf_vector(vector: object) -> None:
    assert check_tls12_prf(vector) == []


def test_prf_checker_catches_a_wrong_output() -> None:
    vector = next(v for v in PRF_VECTORS if v.name == "6.3-key-block-openssl")
    case = dict(vector.cases[0])
    out = bytearray.fromhex(case["output"])
    out[-1] ^= 1
    case["output"] = out.hex()
    bad = dataclasses.replace(vector, cases=(case,))
    problems = check_tls12_prf(bad)
    assert len(problems) == 2 and "prf gives" in problems[0] and "key_block gives" in problems[1]


def test_published_sha256_vector_directly() -> None:
    """The IETF TLS list P_SHA256 vector, independent of the JSON loader."""
    out = prf("sha256", bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label",
              bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"), 100)
    assert out[:16].hex() == "e3f229ba727be17b8d122620557cd453"
    assert out[-8:].hex() == "10fff70187347b66"


@needs_openssl
def test_derive_script_reproduces_the_files() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "rfc-vectors/derive_dtls_kats.py"),
                             "--check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@needs_openssl
@pytest.mark.parametrize("context", [None, b"", b"ctx"])
def test_exporter_against_openssl(context: bytes | None) -> None:
    master = hashlib.sha384(b"master").digest()
    seed = CR + SR if context is None else CR + SR + len(context).to_bytes(2, "big") + context
    label = b"EXPORTER-test"
    out = subprocess.run(
        [str(OPENSSL), "kdf", "-keylen", "33", "-kdfopt", "digest:SHA256", "-kdfopt",
         f"hexsecret:{master.hex()}", "-kdfopt", f"hexseed:{(label + seed).hex()}", "TLS1-PRF"],
        capture_output=True, text=True, check=True).stdout.strip()
    want = bytes.fromhex(out.replace(":", ""))
    assert export_keying_material("sha256", master, label, CR, SR, 33, context) == want


# --- key schedule API ----------------------------------------------------------------------------


def test_prf_lengths_and_errors() -> None:
    assert prf("sha256", b"k", b"l", b"s", 0) == b""
    long = prf("sha384", b"k", b"l", b"s", 200)
    assert len(long) == 200 and prf("sha384", b"k", b"l", b"s", 7) == long[:7]
    with pytest.raises(ValueError):
        prf("md5", b"k", b"l", b"s", 10)
    with pytest.raises(ValueError):
        prf("sha256", b"k", b"l", b"s", -1)


def test_suites_table() -> None:
    assert set(SUITES) == set(CipherSuite)
    for suite, p in SUITES.items():
        assert p.suite is suite
        assert p.prf_hash == ("sha384" if suite.name.endswith("SHA384") else "sha256")
        assert p.authentication == ("ecdsa" if "ECDSA" in suite.name else "rsa")
        if "CHACHA20" in suite.name:
            assert (p.cipher, p.key_length, p.fixed_iv_length, p.record_iv_length) == (
                "chacha20-poly1305", 32, 12, 0)
        else:
            assert (p.cipher, p.fixed_iv_length, p.record_iv_length) == ("aes-gcm", 4, 8)
            assert p.key_length == (16 if "128" in suite.name else 32)


def test_key_block_partition() -> None:
    master = bytes(range(48))
    suite = CipherSuite.ECDHE_RSA_WITH_AES_256_GCM_SHA384
    kb = key_block(suite, master, CR, SR)
    block = prf("sha384", master, b"key expansion", SR + CR, 72)
    assert (kb.client_write_key, kb.server_write_key) == (block[:32], block[32:64])
    assert (kb.client_write_iv, kb.server_write_iv) == (block[64:68], block[68:72])
    assert key_block(SUITES[suite], master, CR, SR) == kb
    with pytest.raises(ValueError):
        key_block(suite, master, CR[:31], SR)


def test_verify_data_labels() -> None:
    master, hh = bytes(48), bytes(32)
    client = verify_data("sha256", master, "client finished", hh)
    assert client == verify_data("sha256", master, b"client finished", hh)
    assert len(client) == 12 and client != verify_data("sha256", master, "server finished", hh)
    with pytest.raises(ValueError):
        verify_data("sha256", master, "finished", hh)


def test_exporter_context_and_srtp_split() -> None:
    master = bytes(range(48))
    none = export_keying_material("sha256", master, "EXPORTER-x", CR, SR, 20)
    empty = export_keying_material("sha256", master, "EXPORTER-x", CR, SR, 20, b"")
    assert none != empty
    with pytest.raises(ValueError):
        export_keying_material("sha256", master, "EXPORTER-x", CR, SR, 20, bytes(0x10000))
    with pytest.raises(ValueError):
        export_keying_material("sha256", master, "", CR, SR, 20)
    m = srtp_keying_material("sha256", master, CR, SR, 16, 14)
    raw = export_keying_material("sha256", master, "EXTRACTOR-dtls_srtp", CR, SR, 60)
    assert (m.client_key, m.server_key, m.client_salt, m.server_salt) == (
        raw[:16], raw[16:32], raw[32:46], raw[46:])
    assert m.local(True) == (m.client_key, m.client_salt) == m.remote(False)
    assert m.local(False) == (m.server_key, m.server_salt) == m.remote(True)


def test_transcript() -> None:
    t = Transcript()
    t.update(b"client hello")
    fork = t.copy()
    t.update(b"server hello")
    assert t.digest("sha256") == hashlib.sha256(b"client helloserver hello").digest()
    assert t.digest("sha384") == hashlib.sha384(b"client helloserver hello").digest()
    assert fork.digest("sha256") == hashlib.sha256(b"client hello").digest()
    assert t.data == b"client helloserver hello" and len(t) == 24


def test_nss_keylog_line() -> None:
    line = nss_keylog_line(CR, bytes(range(48)))
    assert line == f"CLIENT_RANDOM {CR.hex()} {bytes(range(48)).hex()}"
    with pytest.raises(ValueError):
        nss_keylog_line(CR, bytes(47))


# --- ECDHE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", list(NamedGroup))
def test_ecdhe_agreement(group: NamedGroup) -> None:
    a = KeyExchange.generate(group)
    b = KeyExchange.generate(group, SeededRandom(b"b"))
    assert a.group is group
    secret = a.shared_secret(b.public_bytes())
    assert secret == b.shared_secret(a.public_bytes())
    size = {NamedGroup.X25519: 32, NamedGroup.SECP256R1: 32, NamedGroup.SECP384R1: 48}[group]
    assert len(secret) == size
    if group != NamedGroup.X25519:
        assert len(a.public_bytes()) == 1 + 2 * size and a.public_bytes()[0] == 4
    else:
        assert len(a.public_bytes()) == 32


@pytest.mark.parametrize("group", list(NamedGroup))
def test_ecdhe_is_reproducible_from_the_random_source(group: NamedGroup) -> None:
    one = KeyExchange.generate(group, SeededRandom(7)).public_bytes()
    assert one == KeyExchange.generate(group, SeededRandom(7)).public_bytes()
    assert one != KeyExchange.generate(group, SeededRandom(8)).public_bytes()


def test_ecdhe_nist_scalar_in_range() -> None:
    # An all-ones source gives a scalar reduced into [1, n-1], never 0 or n.
    kx = KeyExchange.generate(NamedGroup.SECP256R1, lambda n: b"\xff" * n)
    assert kx.public_bytes()[0] == 4
    kx0 = KeyExchange.generate(NamedGroup.SECP256R1, lambda n: bytes(n))  # scalar 1: generator
    gx = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    assert kx0.public_bytes()[1:33].hex() == gx
    # n - 1 is the largest scalar: its public key is -G (same x as G).
    n = CURVE_ORDERS["secp256r1"]
    top = KeyExchange.generate(NamedGroup.SECP256R1,
                               lambda k: (n - 2).to_bytes(k, "big"))  # (n-2) % (n-1) + 1
    assert top.public_bytes()[1:33].hex() == gx != top.public_bytes()[33:].hex()
    assert top.public_bytes()[33:] != kx0.public_bytes()[33:]


def _alert(call: object, description: AlertDescription) -> DtlsAlert:
    with pytest.raises(DtlsAlert) as info:
        call()  # type: ignore[operator]
    assert info.value.description == description, info.value
    return info.value


@pytest.mark.parametrize("group", [NamedGroup.SECP256R1, NamedGroup.SECP384R1])
def test_ecdhe_rejects_invalid_nist_points(group: NamedGroup) -> None:
    kx = KeyExchange.generate(group)
    good = KeyExchange.generate(group).public_bytes()
    off_curve = good[:-1] + bytes([good[-1] ^ 1])
    x_only = bytes([2 + (good[-1] & 1)]) + good[1 : 1 + (len(good) - 1) // 2]  # compressed
    infinity = b"\x04" + bytes(len(good) - 1)
    for bad in (off_curve, x_only, infinity, good[:-1], b"", b"\x00"):
        _alert(lambda bad=bad: kx.shared_secret(bad), AlertDescription.ILLEGAL_PARAMETER)


def test_ecdhe_rejects_low_order_x25519_points() -> None:
    kx = KeyExchange.generate(NamedGroup.X25519)
    low_order = [
        bytes(32),
        (1).to_bytes(32, "little"),
        # RFC 7748 §6.1 / the curve25519 order-8 points (u coordinates)
        bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    ]
    for point in low_order:
        _alert(lambda p=point: kx.shared_secret(p), AlertDescription.ILLEGAL_PARAMETER)
    _alert(lambda: kx.shared_secret(bytes(31)), AlertDescription.ILLEGAL_PARAMETER)


def test_ecdhe_unknown_group() -> None:
    with pytest.raises(ValueError):
        KeyExchange.generate(30)  # x448: not implemented


def test_server_ecdh_params_and_signed_data() -> None:
    kx = KeyExchange.generate(NamedGroup.X25519, SeededRandom(1))
    params = server_ecdh_params(NamedGroup.X25519, kx.public_bytes())
    assert params == b"\x03\x00\x1d\x20" + kx.public_bytes()
    assert signed_params(CR, SR, params) == CR + SR + params
    with pytest.raises(ValueError):
        signed_params(CR, b"", params)


# --- certificates ------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
FINGERPRINT = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2})*$")


@pytest.fixture(scope="module")
def ecdsa() -> Certificate:
    return Certificate.generate(now=NOW, random_bytes=SeededRandom(b"ecdsa"))


@pytest.fixture(scope="module")
def rsa_cert() -> Certificate:
    return Certificate.generate("rsa-2048", common_name="rsa peer", lifetime_days=10, now=NOW)


@pytest.fixture(scope="module")
def p384() -> Certificate:
    return Certificate.generate("ecdsa-p384", now=NOW)


def test_generate_fields(ecdsa: Certificate, rsa_cert: Certificate) -> None:
    c = ecdsa.certificate
    assert c.not_valid_before_utc == NOW - datetime.timedelta(days=1)
    assert c.not_valid_after_utc == NOW + datetime.timedelta(days=30)
    assert c.subject == c.issuer
    assert c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "rtcstack"
    assert 0 < c.serial_number < 2**127
    c.public_key().verify(c.signature, c.tbs_certificate_bytes,  # type: ignore[union-attr,call-arg]
                          ec.ECDSA(hashes.SHA256()))  # type: ignore[arg-type]
    assert ecdsa.key_type == "ecdsa-p256" and rsa_cert.key_type == "rsa-2048"
    assert rsa_cert.certificate.not_valid_after_utc == NOW + datetime.timedelta(days=10)
    assert ecdsa.der == c.public_bytes(serialization.Encoding.DER)
    with pytest.raises(ValueError):
        Certificate.generate("dsa")


def test_generate_is_reproducible_for_ecdsa(ecdsa: Certificate) -> None:
    again = Certificate.generate(now=NOW, random_bytes=SeededRandom(b"ecdsa"))
    assert again.certificate.serial_number == ecdsa.certificate.serial_number
    assert again.certificate.public_key() == ecdsa.certificate.public_key()
    other = Certificate.generate(now=NOW, random_bytes=SeededRandom(b"other"))
    assert other.certificate.serial_number != ecdsa.certificate.serial_number


def test_pem_round_trip(ecdsa: Certificate, rsa_cert: Certificate) -> None:
    for cert in (ecdsa, rsa_cert):
        cert_pem, key_pem = cert.to_pem()
        assert cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
        back = Certificate.from_pem(cert_pem, key_pem.decode())
        assert back.der == cert.der and back.fingerprint() == cert.fingerprint()
        scheme = back.signature_schemes[0]
        verify_signature(cert.der, scheme, b"data", back.sign(scheme, b"data"))
    with pytest.raises(ValueError, match="does not belong"):
        Certificate.from_pem(ecdsa.to_pem()[0], rsa_cert.to_pem()[1])


def test_fingerprint_format(ecdsa: Certificate) -> None:
    for algorithm, algo in FINGERPRINT_ALGORITHMS.items():
        fp = ecdsa.fingerprint(algorithm)
        assert FINGERPRINT.match(fp) and len(fp) == 3 * algo.digest_size - 1
        assert fp == certificate_fingerprint(ecdsa.der, algorithm.upper())
    assert ecdsa.fingerprint() == hashlib.sha256(ecdsa.der).digest().hex(":").upper()
    with pytest.raises(ValueError):
        ecdsa.fingerprint("md5")


@needs_openssl
def test_fingerprint_matches_openssl(ecdsa: Certificate, rsa_cert: Certificate) -> None:
    for cert in (ecdsa, rsa_cert):
        for alg in ("sha256", "sha1", "sha512"):
            out = subprocess.run([str(OPENSSL), "x509", "-noout", "-fingerprint", f"-{alg}"],
                                 input=cert.to_pem()[0], capture_output=True, check=True)
            value = out.stdout.decode().strip().split("=", 1)[1]
            assert value == cert.fingerprint(f"sha-{alg[3:]}")


def test_signature_schemes(ecdsa: Certificate, rsa_cert: Certificate, p384: Certificate) -> None:
    assert ecdsa.signature_schemes == (SignatureScheme.ECDSA_SECP256R1_SHA256,)
    assert p384.signature_schemes == (SignatureScheme.ECDSA_SECP384R1_SHA384,)
    assert rsa_cert.signature_schemes[:2] == (SignatureScheme.RSA_PSS_RSAE_SHA256,
                                              SignatureScheme.RSA_PKCS1_SHA256)
    assert set(rsa_cert.signature_schemes) == {s for s in SUPPORTED_SIGNATURE_SCHEMES
                                               if s.name.startswith("RSA")}


def test_sign_and_verify_every_scheme(ecdsa: Certificate, rsa_cert: Certificate,
                                      p384: Certificate) -> None:
    data = signed_params(CR, SR, b"\x03\x00\x17\x41" + bytes(65))
    for cert in (ecdsa, rsa_cert, p384):
        for scheme in cert.signature_schemes:
            signature = cert.sign(scheme, data)
            verify_signature(cert.der, scheme, data, signature)
            tampered = bytearray(signature)
            tampered[len(tampered) // 2] ^= 1
            _alert(lambda s=scheme, t=bytes(tampered), c=cert: verify_signature(c.der, s, data, t),
                   AlertDescription.DECRYPT_ERROR)
            _alert(lambda s=scheme, g=signature, c=cert: verify_signature(c.der, s, data + b"x", g),
                   AlertDescription.DECRYPT_ERROR)


def test_pss_salt_is_the_hash_length(rsa_cert: Certificate) -> None:
    signature = rsa_cert.sign(SignatureScheme.RSA_PSS_RSAE_SHA384, b"m")
    public = rsa_cert.certificate.public_key()
    public.verify(signature, b"m",  # type: ignore[union-attr,call-arg]
                  padding.PSS(padding.MGF1(hashes.SHA384()), 48), hashes.SHA384())  # type: ignore[arg-type]
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"m",  # type: ignore[union-attr,call-arg]
                      padding.PSS(padding.MGF1(hashes.SHA384()), 32), hashes.SHA384())  # type: ignore[arg-type]


def test_wrong_scheme_and_wrong_key(ecdsa: Certificate, rsa_cert: Certificate,
                                    p384: Certificate) -> None:
    with pytest.raises(ValueError):
        ecdsa.sign(SignatureScheme.RSA_PKCS1_SHA256, b"m")
    with pytest.raises(ValueError):
        ecdsa.sign(SignatureScheme.ECDSA_SECP384R1_SHA384, b"m")  # P-256 key, P-384 scheme
    with pytest.raises(ValueError):
        rsa_cert.sign(SignatureScheme.RSA_PKCS1_SHA1, b"m")
    sig = ecdsa.sign(SignatureScheme.ECDSA_SECP256R1_SHA256, b"m")
    # An RSA scheme for an EC key, a SHA-1 scheme, an unsupported one.
    _alert(lambda: verify_signature(ecdsa.der, SignatureScheme.RSA_PKCS1_SHA256, b"m", sig),
           AlertDescription.ILLEGAL_PARAMETER)
    # TLS 1.2 (RFC 5246 §7.4.1.4.1): ecdsa_secp256r1_sha256 is "SHA-256 with ECDSA" on any
    # curve, so a P-384 key's SHA-256 signature verifies; a wrong signature still fails.
    p384_sig = p384.private_key.sign(b"m", ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg, arg-type]
    verify_signature(p384.der, SignatureScheme.ECDSA_SECP256R1_SHA256, b"m", p384_sig)
    _alert(lambda: verify_signature(p384.der, SignatureScheme.ECDSA_SECP256R1_SHA256, b"m", sig),
           AlertDescription.DECRYPT_ERROR)
    _alert(lambda: verify_signature(ecdsa.der, SignatureScheme.ECDSA_SHA1, b"m", sig),
           AlertDescription.ILLEGAL_PARAMETER)
    _alert(lambda: verify_signature(ecdsa.der, 0x0807, b"m", sig),  # ed25519
           AlertDescription.ILLEGAL_PARAMETER)
    # Signed by another key of the same type.
    other = Certificate.generate(now=NOW, random_bytes=SeededRandom(b"other"))
    _alert(lambda: verify_signature(other.der, SignatureScheme.ECDSA_SECP256R1_SHA256, b"m",
                                    sig), AlertDescription.DECRYPT_ERROR)
    rsa_sig = rsa_cert.sign(SignatureScheme.RSA_PKCS1_SHA256, b"m")
    _alert(lambda: verify_signature(rsa_cert.der, SignatureScheme.RSA_PSS_RSAE_SHA256, b"m",
                                    rsa_sig), AlertDescription.DECRYPT_ERROR)


def test_bad_and_unsupported_certificates(ecdsa: Certificate) -> None:
    _alert(lambda: verify_signature(b"\x30\x03\x02\x01\x00",
                                    SignatureScheme.ECDSA_SECP256R1_SHA256, b"m", b"s"),
           AlertDescription.BAD_CERTIFICATE)
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
            .sign(key, None))
    der = cert.public_bytes(serialization.Encoding.DER)
    _alert(lambda: verify_signature(der, SignatureScheme.ECDSA_SECP256R1_SHA256, b"m", b"s"),
           AlertDescription.UNSUPPORTED_CERTIFICATE)
    with pytest.raises(ValueError):
        Certificate.from_pem(cert.public_bytes(serialization.Encoding.PEM),
                             key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))


def test_check_fingerprint(ecdsa: Certificate, rsa_cert: Certificate) -> None:
    check_fingerprint(ecdsa.der, [("sha-256", ecdsa.fingerprint())])
    check_fingerprint(ecdsa.der, [("SHA-256", ecdsa.fingerprint().lower())])
    # One of several fingerprints of the chosen hash matches (RFC 8122 §5).
    check_fingerprint(ecdsa.der, [("sha-256", rsa_cert.fingerprint()),
                                  ("sha-256", ecdsa.fingerprint()), ("md5", "00")])
    alert = _alert(lambda: check_fingerprint(ecdsa.der, [("sha-256", rsa_cert.fingerprint())]),
                   AlertDescription.BAD_CERTIFICATE)
    assert "sha-256" in alert.reason
    # The most preferred hash offered decides: a wrong sha-512 is not rescued by a right sha-256.
    _alert(lambda: check_fingerprint(ecdsa.der, [("sha-256", ecdsa.fingerprint()),
                                                 ("sha-512", rsa_cert.fingerprint("sha-512"))]),
           AlertDescription.BAD_CERTIFICATE)
    check_fingerprint(ecdsa.der, [("sha-1", "00"), ("sha-384", ecdsa.fingerprint("sha-384"))])
    _alert(lambda: check_fingerprint(ecdsa.der, [("md5", "00:11")]),
           AlertDescription.BAD_CERTIFICATE)
    _alert(lambda: check_fingerprint(ecdsa.der, []), AlertDescription.BAD_CERTIFICATE)

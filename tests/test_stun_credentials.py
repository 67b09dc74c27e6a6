"""RFC 8489 §9 keys and string preparation (RFC 4013 SASLprep, RFC 8265 OpaqueString)."""

from __future__ import annotations

import pytest

from rtcstack.stun import PasswordAlgorithmId, long_term_key, opaque_string, saslprep, userhash
from rtcstack.stun.credentials import LongTermCredentials, short_term_key


def test_long_term_key_example_rfc8489_section_9_2_2() -> None:
    # RFC 8489 §9.2.2: "if the username is 'user', the realm is 'realm', and the password is
    # 'pass', then the 16-byte HMAC key would be ... 0x8493fbc53ba582fb4c044c456bdc40eb."
    assert long_term_key("user", "realm", "pass").hex() == "8493fbc53ba582fb4c044c456bdc40eb"
    expected = long_term_key("user", "realm", "pass")
    assert LongTermCredentials("user", "pass").key("realm") == expected


def test_sha256_long_term_key_is_sha256_of_the_same_string() -> None:
    import hashlib

    key = long_term_key("user", "realm", "pass", PasswordAlgorithmId.SHA256)
    assert key == hashlib.sha256(b"user:realm:pass").digest()
    with pytest.raises(ValueError):
        long_term_key("user", "realm", "pass", 0x7777)


@pytest.mark.parametrize(
    ("text", "prepared"),
    [  # RFC 4013 §3 examples
        ("I\u00adX", "IX"),
        ("user", "user"),
        ("USER", "USER"),
        ("\u00aa", "a"),
        ("\u2168", "IX"),
        ("The\u00adM\u00aatr\u2168", "TheMatrIX"),  # RFC 5769 §2.4's password
        ("a\u00a0b", "a b"),
    ],
)
def test_saslprep_examples(text: str, prepared: str) -> None:
    assert saslprep(text) == prepared


@pytest.mark.parametrize("text", ["\u0007", "\u0627\u0031"])  # RFC 4013 §3: prohibited, bidi
def test_saslprep_rejections(text: str) -> None:
    with pytest.raises(ValueError):
        saslprep(text)


def test_opaque_string() -> None:
    assert opaque_string("pass word") == "pass word"
    assert opaque_string("a\u00a0b") == "a b"  # non-ASCII space maps to SPACE
    assert opaque_string("e\u0301") == "\u00e9"  # NFC
    assert opaque_string("\u30de\u30c8\u30ea") == "\u30de\u30c8\u30ea"
    for bad in ("", "a\u0007", "a\u00adb", "\ue000"):
        with pytest.raises(ValueError):
            opaque_string(bad)
    assert short_term_key("VOkJxbRl1RmTxUk/WvJxBt") == b"VOkJxbRl1RmTxUk/WvJxBt"


def test_userhash_rfc8489_appendix_b1() -> None:
    user = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"
    assert userhash(user, "example.org").hex() == (
        "4a3cf38fef6992bda952c6780417da0f24819415569e60b205c46e41407f1704"
    )

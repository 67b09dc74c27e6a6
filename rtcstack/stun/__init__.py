"""STUN: Session Traversal Utilities for NAT (RFC 8489), usable on its own.

Scope: the message format and every RFC 8489 attribute, the ICE attributes (RFC 8445 §7.1), the
TURN attribute formats (RFC 8656 §18) and ChannelData framing (§12), the RFC 5780 NAT behaviour
discovery attributes; short-term and long-term credentials; client transactions; a server.

Building, sending and verifying a Binding request::

    >>> from rtcstack.stun import Message, MessageClass, Method, Username, Priority
    >>> request = Message.new(Method.BINDING, MessageClass.REQUEST,
    ...                       [Username("evtj:h6vY"), Priority(0x6E0001FF)])
    >>> data = request.serialize(integrity_key=b"VOkJxbRl1RmTxUk/WvJxBt", fingerprint=True)
    >>> parsed = Message.parse(data)
    >>> parsed.get(Username).value, parsed.check_integrity(b"VOkJxbRl1RmTxUk/WvJxBt")
    ('evtj:h6vY', True)
    >>> parsed.check_fingerprint()
    True

``Message.parse`` raises :class:`rtcstack.ParseError` (a ``ValueError``) for anything that is not
a well-formed STUN message; integrity failures are reported separately (``check_*`` return
``False``; higher layers raise :class:`IntegrityError`).
"""

from rtcstack.stun.attributes import (
    AdditionalAddressFamily,
    AddressErrorCode,
    AddressFamily,
    AlternateDomain,
    AlternateServer,
    Attribute,
    AttrType,
    ChangeRequest,
    ChannelNumber,
    Data,
    DontFragment,
    ErrorCode,
    EvenPort,
    Fingerprint,
    IceControlled,
    IceControlling,
    Icmp,
    Lifetime,
    MappedAddress,
    MessageIntegrity,
    MessageIntegritySha256,
    Nonce,
    OtherAddress,
    Padding,
    PasswordAlgorithm,
    PasswordAlgorithmId,
    PasswordAlgorithms,
    PasswordAlgorithmSpec,
    Priority,
    Realm,
    RequestedAddressFamily,
    RequestedTransport,
    ReservationToken,
    ResponseOrigin,
    ResponsePort,
    Software,
    UnknownAttribute,
    UnknownAttributes,
    UseCandidate,
    Userhash,
    Username,
    XorMappedAddress,
    XorPeerAddress,
    XorRelayedAddress,
    make_nonce_cookie,
    nonce_security_features,
)
from rtcstack.stun.credentials import (
    LongTermCredentials,
    long_term_key,
    opaque_string,
    saslprep,
    short_term_key,
    userhash,
)
from rtcstack.stun.errors import IntegrityError
from rtcstack.stun.message import Message, MessageClass, Method, is_stun

__all__ = [
    "AdditionalAddressFamily",
    "AddressErrorCode",
    "AddressFamily",
    "AlternateDomain",
    "AlternateServer",
    "AttrType",
    "Attribute",
    "ChangeRequest",
    "ChannelNumber",
    "Data",
    "DontFragment",
    "ErrorCode",
    "EvenPort",
    "Fingerprint",
    "IceControlled",
    "IceControlling",
    "Icmp",
    "IntegrityError",
    "Lifetime",
    "LongTermCredentials",
    "MappedAddress",
    "Message",
    "MessageClass",
    "MessageIntegrity",
    "MessageIntegritySha256",
    "Method",
    "Nonce",
    "OtherAddress",
    "Padding",
    "PasswordAlgorithm",
    "PasswordAlgorithmId",
    "PasswordAlgorithmSpec",
    "PasswordAlgorithms",
    "Priority",
    "Realm",
    "RequestedAddressFamily",
    "RequestedTransport",
    "ReservationToken",
    "ResponseOrigin",
    "ResponsePort",
    "Software",
    "UnknownAttribute",
    "UnknownAttributes",
    "UseCandidate",
    "Userhash",
    "Username",
    "XorMappedAddress",
    "XorPeerAddress",
    "XorRelayedAddress",
    "is_stun",
    "long_term_key",
    "make_nonce_cookie",
    "nonce_security_features",
    "opaque_string",
    "saslprep",
    "short_term_key",
    "userhash",
]

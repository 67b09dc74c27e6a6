"""SDP: session descriptions (RFC 8866) and JSEP offer/answer (RFC 3264, RFC 9429).

Scope: the whole RFC 8866 grammar, kept line for line so that ``serialize(parse(text)) == text``;
typed views of every attribute WebRTC uses (RFC 8839 ICE, RFC 8122/8842 DTLS, RFC 9143 BUNDLE,
RFC 8830 msid, RFC 5576 ssrc, RFC 8851/8853 rid and simulcast, RFC 8285 extmap, RFC 4585 rtcp-fb,
RFC 8841 SCTP); offer/answer negotiation as pure functions.  Out of scope: SDP over anything but
WebRTC's profiles (no multicast, no ``k=`` keys, no ``z=`` arithmetic -- those lines are kept but
not interpreted).

Reading and editing a description::

    >>> from rtcstack.sdp import SessionDescription, RtpMap
    >>> text = ("v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\ns=-\\r\\nt=0 0\\r\\n"
    ...         "m=audio 9 UDP/TLS/RTP/SAVPF 111\\r\\na=mid:0\\r\\n"
    ...         "a=rtpmap:111 opus/48000/2\\r\\na=x-unknown:kept\\r\\n")
    >>> sdp = SessionDescription.parse(text)
    >>> sdp.serialize() == text
    True
    >>> audio = sdp.media[0]
    >>> audio.mid, audio.rtpmaps[111]
    ('0', RtpMap(payload_type=111, encoding='opus', clock_rate=48000, channels=2))
    >>> audio.direction = "recvonly"
    >>> sdp.serialize().splitlines()[-2:]
    ['a=x-unknown:kept', 'a=recvonly']

Offer/answer (RFC 9429 JSEP) as pure functions; randomness is injected, so this is reproducible::

    >>> from rtcstack.common import SeededRandom
    >>> from rtcstack.sdp import (LocalSpec, IceParameters, DtlsParameters, Fingerprint,
    ...                           create_offer, create_answer, apply_answer)
    >>> def spec(seed):
    ...     random = SeededRandom(seed)
    ...     return LocalSpec.default(
    ...         ice=IceParameters.generate(random), random_bytes=random,
    ...         dtls=DtlsParameters((Fingerprint.from_digest("sha-256", bytes(32)),)))
    >>> offer = create_offer(spec(1))
    >>> [(m.kind, m.mid) for m in offer.media]
    [('audio', '0'), ('video', '1'), ('application', '2')]
    >>> answer = create_answer(offer, spec(2))
    >>> answer.media[0].setup, answer.bundle_groups()
    ('active', [('0', '1', '2')])
    >>> negotiated = apply_answer(offer, answer)
    >>> negotiated.dtls_role, negotiated.ice_controlling, negotiated.sections[0].send_codecs[0].name
    ('server', True, 'opus')

``check_description(desc, role="answer")`` lists what a WebRTC peer would reject, one
``Problem(line, severity, message, rule)`` each (``rtcstack sdp check``).

Errors: :class:`SdpParseError` (a ``ValueError``) names the line and the reason; lines whose
attribute value is malformed are kept and reported when read or by
``SessionDescription.parse_errors()``.
"""

from rtcstack.sdp.attributes import (
    DIRECTIONS,
    FLAGS,
    REGISTRY,
    Attribute,
    Bandwidth,
    Candidate,
    Connection,
    ExtMap,
    Fingerprint,
    Fmtp,
    Group,
    IceOptions,
    IcePwd,
    IceUfrag,
    MaxMessageSize,
    MediaLine,
    Mid,
    Msid,
    MsidSemantic,
    Origin,
    Rid,
    Rtcp,
    RtcpFb,
    RtpMap,
    SctpMap,
    SctpPort,
    Setup,
    Simulcast,
    SimulcastRid,
    Ssrc,
    SsrcGroup,
    Timing,
    parse_format_parameters,
    serialize_format_parameters,
)
from rtcstack.sdp.check import RULES, Problem, check_description
from rtcstack.sdp.codecs import Codec, codecs_match, default_codecs
from rtcstack.sdp.description import MediaSection, Section, SessionDescription
from rtcstack.sdp.errors import NegotiationError, SdpParseError
from rtcstack.sdp.jsep import (
    DataChannelSpec,
    DtlsParameters,
    HeaderExtension,
    IceParameters,
    LocalSpec,
    Negotiated,
    NegotiatedSection,
    RemoteTransport,
    TransceiverSpec,
    apply_answer,
    create_answer,
    create_offer,
    negotiate,
)

__all__ = [
    "DIRECTIONS",
    "FLAGS",
    "REGISTRY",
    "RULES",
    "Attribute",
    "Bandwidth",
    "Candidate",
    "Codec",
    "Connection",
    "DataChannelSpec",
    "DtlsParameters",
    "ExtMap",
    "Fingerprint",
    "Fmtp",
    "Group",
    "HeaderExtension",
    "IceOptions",
    "IceParameters",
    "IcePwd",
    "IceUfrag",
    "LocalSpec",
    "MaxMessageSize",
    "MediaLine",
    "MediaSection",
    "Mid",
    "Msid",
    "MsidSemantic",
    "Negotiated",
    "NegotiatedSection",
    "NegotiationError",
    "Origin",
    "Problem",
    "RemoteTransport",
    "Rid",
    "Rtcp",
    "RtcpFb",
    "RtpMap",
    "SctpMap",
    "SctpPort",
    "SdpParseError",
    "Section",
    "SessionDescription",
    "Setup",
    "Simulcast",
    "SimulcastRid",
    "Ssrc",
    "SsrcGroup",
    "Timing",
    "TransceiverSpec",
    "apply_answer",
    "check_description",
    "codecs_match",
    "create_answer",
    "create_offer",
    "default_codecs",
    "negotiate",
    "parse_format_parameters",
    "serialize_format_parameters",
]

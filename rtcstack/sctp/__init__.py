"""SCTP (RFC 9260) over DTLS (RFC 8261) and WebRTC data channels (RFC 8831, RFC 8832).

(The full manual arrives with the association; this package is being built for issue #7.)
"""

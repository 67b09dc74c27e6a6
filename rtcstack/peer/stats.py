"""W3C ``webrtc-stats`` objects for a :class:`~rtcstack.peer.PeerConnection` (sans-IO).

:func:`collect_stats` returns plain dictionaries with the W3C member names (``type``, ``id``,
``timestamp`` in milliseconds, then the type's members): peer-connection, transport,
candidate-pair, local-candidate, remote-candidate, certificate, codec, inbound-rtp,
outbound-rtp, remote-inbound-rtp, remote-outbound-rtp, media-source and data-channel.  The
driver adds what only it knows (encoder and decoder counts, the source's frames) through
``media``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from rtcstack.ice import Candidate, PairState

if TYPE_CHECKING:
    from rtcstack.peer.connection import PeerConnection
    from rtcstack.peer.transceiver import Transceiver

__all__ = ["collect_stats"]

Stats = dict[str, Any]

_PAIR_STATES = {
    PairState.FROZEN: "frozen", PairState.WAITING: "waiting",
    PairState.IN_PROGRESS: "in-progress", PairState.SUCCEEDED: "succeeded",
    PairState.FAILED: "failed",
}


def _candidate_id(c: Candidate, prefix: str) -> str:
    return f"{prefix}{c.foundation}_{c.address}_{c.port}"


def _candidate(c: Candidate, prefix: str, kind: str, ts: float, transport_id: str,
               ufrag: str | None = None) -> Stats:
    """``ufrag``: the generation's, for a candidate whose line carries none (a host candidate
    of ours, a peer-reflexive one learnt from a check)."""
    return {
        "id": _candidate_id(c, prefix), "type": kind, "timestamp": ts,
        "transportId": transport_id, "address": c.address, "port": c.port,
        "protocol": c.transport, "candidateType": str(c.type), "priority": c.priority,
        "foundation": c.foundation, "relatedAddress": c.related_address,
        "relatedPort": c.related_port, "usernameFragment": c.ufrag or ufrag or None,
    }


def collect_stats(pc: PeerConnection, *, now: float, timestamp: float,
                  media: Mapping[int, Mapping[str, Any]] | None = None,
                  channels: Mapping[int, Any] | None = None) -> Iterator[Stats]:
    """Every stats object of ``pc`` (W3C webrtc-stats §3).  ``timestamp``: wall-clock ms;
    ``media``: the driver's per-transceiver extras keyed by ``id(transceiver)``."""
    ts = timestamp
    media = media or {}
    channel_list = list(pc.channels.channels.values()) if pc.channels is not None else []
    opened = sum(1 for ch in channel_list if ch.messages_sent or ch.messages_received
                 or ch.ready_state.name == "OPEN")
    yield {"id": "P", "type": "peer-connection", "timestamp": ts,
           "dataChannelsOpened": opened,
           "dataChannelsClosed": max(0, len(pc.data_channel_requests) - opened)}

    # --- transport, ICE ----------------------------------------------------------------------
    transport_id = "T01"
    agent = pc.ice
    pair = agent.selected_pair
    pair_id = (f"CP{_candidate_id(pair.local, 'I')}-{_candidate_id(pair.remote, 'I')}"
               if pair is not None else None)
    local_cert = "CF" + pc.certificate.fingerprint("sha-256")
    remote_cert = ("CF" + pc.remote_fingerprints[0].value) if pc.remote_fingerprints else None
    transport: Stats = {
        "id": transport_id, "type": "transport", "timestamp": ts,
        "packetsSent": pc.stats.packets_sent, "packetsReceived": pc.stats.packets_received,
        "bytesSent": pc.stats.bytes_sent, "bytesReceived": pc.stats.bytes_received,
        "iceRole": "controlling" if agent.controlling else "controlled",
        "iceLocalUsernameFragment": agent.local_credentials[0],
        "iceState": pc.ice_connection_state.value,
        "dtlsState": pc.dtls_state, "selectedCandidatePairId": pair_id,
        "localCertificateId": local_cert, "remoteCertificateId": remote_cert,
        "dtlsRole": pc.dtls_role or "unknown",
        "selectedCandidatePairChanges": 1 if pair is not None else 0,
    }
    dtls = pc.dtls
    if dtls is not None and dtls.cipher_suite is not None:
        from rtcstack.dtls.constants import CipherSuite

        suite = dtls.cipher_suite
        transport["tlsVersion"] = "FEFD"
        try:
            transport["dtlsCipher"] = CipherSuite(suite).name
        except ValueError:
            transport["dtlsCipher"] = f"0x{suite:04X}"
    if pc.srtp_profile is not None:
        transport["srtpCipher"] = pc.srtp_profile.name
    yield transport
    seen: set[str] = set()
    pairs = agent.pairs
    if pair is not None and pair not in pairs:
        # after an ICE restart the old generation's selected pair carries the data, outside
        # the new checklist, until a new pair is nominated: selectedCandidatePairId names it
        pairs.append(pair)
    for p in pairs:
        for c, prefix, kind, ufrag in ((p.local, "I", "local-candidate", p.local_ufrag),
                                       (p.remote, "I", "remote-candidate", p.remote_ufrag)):
            cid = _candidate_id(c, prefix)
            if cid not in seen:
                seen.add(cid)
                yield _candidate(c, prefix, kind, ts, transport_id, ufrag)
        pid = f"CP{_candidate_id(p.local, 'I')}-{_candidate_id(p.remote, 'I')}"
        selected = p is pair
        entry: Stats = {
            "id": pid, "type": "candidate-pair", "timestamp": ts,
            "transportId": transport_id, "localCandidateId": _candidate_id(p.local, "I"),
            "remoteCandidateId": _candidate_id(p.remote, "I"),
            "state": _PAIR_STATES.get(p.state, "waiting"), "nominated": p.nominated,
            "priority": p.priority,
        }
        if p.rtt is not None:
            entry["currentRoundTripTime"] = p.rtt
        if selected:
            entry["packetsSent"] = pc.stats.packets_sent
            entry["packetsReceived"] = pc.stats.packets_received
            entry["bytesSent"] = pc.stats.bytes_sent
            entry["bytesReceived"] = pc.stats.bytes_received
            if p.last_consent is not None:
                entry["lastPacketReceivedTimestamp"] = ts - (now - p.last_consent) * 1000
        yield entry
    for c in agent.local_candidates:
        cid = _candidate_id(c, "I")
        if cid not in seen:
            seen.add(cid)
            yield _candidate(c, "I", "local-candidate", ts, transport_id)

    # --- certificates ---------------------------------------------------------------------
    yield {"id": local_cert, "type": "certificate", "timestamp": ts,
           "fingerprint": pc.certificate.fingerprint("sha-256"),
           "fingerprintAlgorithm": "sha-256",
           "base64Certificate": base64.b64encode(pc.certificate.der).decode()}
    if remote_cert is not None and pc.remote_fingerprints:
        f = pc.remote_fingerprints[0]
        entry = {"id": remote_cert, "type": "certificate", "timestamp": ts,
                 "fingerprint": f.value, "fingerprintAlgorithm": f.algorithm}
        if dtls is not None and dtls.peer_certificate:
            entry["base64Certificate"] = base64.b64encode(dtls.peer_certificate).decode()
        yield entry

    # --- RTP ---------------------------------------------------------------------------
    codecs_done: set[str] = set()
    for t in pc.transceivers:
        yield from _rtp_stats(t, ts, transport_id, media.get(id(t), {}), codecs_done)

    # --- data channels ---------------------------------------------------------------------
    for ch in channel_list:
        yield {"id": f"D{ch.id}", "type": "data-channel", "timestamp": ts,
               "label": ch.label, "protocol": ch.protocol, "dataChannelIdentifier": ch.id,
               "state": ch.ready_state.name.lower(), "messagesSent": ch.messages_sent,
               "bytesSent": ch.bytes_sent, "messagesReceived": ch.messages_received,
               "bytesReceived": ch.bytes_received}
    del channels


def _codec(codec: Any, ts: float, transport_id: str, done: set[str]) -> tuple[str, Stats | None]:
    cid = f"COT01_{codec.payload_type}"
    if cid in done:
        return cid, None
    done.add(cid)
    fmtp = ";".join(k if v is None else f"{k}={v}" for k, v in codec.parameters)
    entry: Stats = {"id": cid, "type": "codec", "timestamp": ts, "transportId": transport_id,
                    "payloadType": codec.payload_type, "mimeType": codec.mime_type,
                    "clockRate": codec.clock_rate}
    if codec.channels:
        entry["channels"] = codec.channels
    if fmtp:
        entry["sdpFmtpLine"] = fmtp
    return cid, entry


def _outbound(t: Transceiver, rid: str | None, send: Any, ts: float, transport_id: str,
              codec_id: str, source_id: str, extra: Mapping[str, Any]) -> Iterator[Stats]:
    """outbound-rtp (W3C webrtc-stats §3.3.1), one per SSRC -- per simulcast layer -- and its
    remote-inbound-rtp once the peer reported on it."""
    s, kind, ssrc = send.stats, t.kind, send.ssrc
    out: Stats = {
        "id": f"OT{ssrc}", "type": "outbound-rtp", "timestamp": ts, "kind": kind,
        "ssrc": ssrc, "transportId": transport_id, "codecId": codec_id, "mid": t.mid,
        "mediaSourceId": source_id, "remoteId": f"RIT{ssrc}",
        "packetsSent": s.packets_sent, "bytesSent": s.bytes_sent,
        "headerBytesSent": s.header_bytes_sent,
        "retransmittedPacketsSent": s.retransmitted_packets_sent,
        "retransmittedBytesSent": s.retransmitted_bytes_sent,
        "nackCount": s.nack_count, "active": t.sending,
    }
    if rid is not None:
        out["rid"] = rid
    if send.rtx_ssrc is not None:
        out["rtxSsrc"] = send.rtx_ssrc
    if kind == "video":
        out.update(framesEncoded=extra.get("frames_encoded", 0),
                   keyFramesEncoded=extra.get("keyframes_encoded", 0),
                   framesSent=s.frames_sent, pliCount=s.pli_count, firCount=s.fir_count,
                   totalEncodeTime=extra.get("total_encode_time", 0.0))
        if extra.get("width"):
            out.update(frameWidth=extra["width"], frameHeight=extra["height"])
    yield out
    if s.remote_report_at is not None:
        remote: Stats = {
            "id": f"RIT{ssrc}", "type": "remote-inbound-rtp", "timestamp": ts,
            "kind": kind, "ssrc": ssrc, "transportId": transport_id,
            "codecId": codec_id, "localId": f"OT{ssrc}",
            "packetsLost": s.remote_packets_lost, "jitter": s.remote_jitter,
            "fractionLost": s.remote_fraction_lost,
            "roundTripTimeMeasurements": s.rtt_measurements,
            "totalRoundTripTime": s.total_rtt,
        }
        if s.rtt is not None:
            remote["roundTripTime"] = s.rtt
        yield remote


def _rtp_stats(t: Transceiver, ts: float, transport_id: str, extra: Mapping[str, Any],
               codecs_done: set[str]) -> Iterator[Stats]:
    kind = t.kind
    codec_id: str | None
    if t.send_streams and t.send_codec is not None:
        codec_id, codec_stats = _codec(t.send_codec, ts, transport_id, codecs_done)
        if codec_stats is not None:
            yield codec_stats
        source_id = f"SO{t.ssrc}"
        yield {"id": source_id, "type": "media-source", "timestamp": ts, "kind": kind,
               "trackIdentifier": extra.get("track_id"),
               **({"frames": extra.get("media_frames", 0), "width": extra.get("width"),
                   "height": extra.get("height")} if kind == "video" else {})}
        for rid, send in t.send_streams.items():
            yield from _outbound(t, rid, send, ts, transport_id, codec_id, source_id,
                                 extra.get("layers", {}).get(rid, extra))
    for ssrc, r in t.receive_streams.items():
        rid = t.rid_of_ssrc.get(ssrc)
        layer = extra.get("receive_layers", {}).get(rid, extra) if rid is not None else extra
        codec = next((c for c in t.receive_codecs
                      if c.payload_type == getattr(r, "payload_type", None)), None) or next(
            (c for c in t.receive_codecs if not c.is_rtx), None)
        codec_id = None
        if codec is not None:
            codec_id, codec_stats = _codec(codec, ts, transport_id, codecs_done)
            if codec_stats is not None:
                yield codec_stats
        rs = r.stats
        inbound: Stats = {
            "id": f"IT{ssrc}", "type": "inbound-rtp", "timestamp": ts, "kind": kind,
            "ssrc": ssrc, "transportId": transport_id, "codecId": codec_id, "mid": t.mid,
            "trackIdentifier": extra.get("receiver_track_id", t.receiver_track_id),
            "remoteId": f"ROT{ssrc}", "packetsReceived": rs.packets_received,
            "bytesReceived": rs.bytes_received, "headerBytesReceived": rs.header_bytes_received,
            "packetsLost": rs.packets_lost, "jitter": rs.jitter,
            "packetsDiscarded": rs.packets_discarded, "nackCount": rs.nack_count,
            "retransmittedPacketsReceived": rs.retransmitted_packets_received,
        }
        if rid is not None:
            inbound["rid"] = rid
        if rs.last_packet_received_at is not None:
            inbound["lastPacketReceivedTimestamp"] = ts
        if kind == "video":
            inbound.update(framesReceived=rs.frames_received,
                           framesDecoded=layer.get("frames_decoded", 0),
                           keyFramesDecoded=layer.get("keyframes_decoded", 0),
                           framesDropped=rs.frames_dropped + extra.get("frames_dropped", 0),
                           pliCount=rs.pli_count, firCount=rs.fir_count,
                           totalDecodeTime=layer.get("total_decode_time", 0.0))
            if layer.get("frame_width"):
                inbound.update(frameWidth=layer["frame_width"],
                               frameHeight=layer["frame_height"])
        else:
            inbound["framesDecoded"] = extra.get("frames_decoded", 0)
        yield inbound
        if rs.remote_report_at is not None:
            yield {"id": f"ROT{ssrc}", "type": "remote-outbound-rtp", "timestamp": ts,
                   "kind": kind, "ssrc": ssrc, "transportId": transport_id,
                   "codecId": codec_id, "localId": f"IT{ssrc}",
                   "packetsSent": rs.remote_packets_sent, "bytesSent": rs.remote_bytes_sent,
                   "remoteTimestamp": _ntp_to_unix_ms(rs.remote_ntp_timestamp)}


def _ntp_to_unix_ms(ntp: int | None) -> float | None:
    """webrtc-stats remoteTimestamp: the SR's NTP time (RFC 3550 §4: seconds since 1900 in
    32.32 fixed point) as milliseconds since the Unix epoch, on the sender's clock."""
    if ntp is None:
        return None
    return ((ntp >> 32) + (ntp & 0xFFFF_FFFF) / 2**32 - 2208988800) * 1000

"""W3C "perfect negotiation" (WebRTC 1.0 §10.7) for an rtcstack ``RTCPeerConnection``, over
any ordered signaling channel.

:class:`PerfectNegotiator` is the W3C example line for line (``makingOffer``, ``ignoreOffer``,
``polite``): it offers on ``negotiationneeded``, trickles candidates, and resolves glare --
the impolite side ignores a colliding offer, the polite side gives way (rtcstack's
``setRemoteDescription`` rolls its own offer back implicitly).  What it sends through
``send(data)`` and what :meth:`PerfectNegotiator.handle` takes are JSON objects:
``{"description": {"type", "sdp"}}`` or ``{"candidate": RTCIceCandidateInit | null}``.
:func:`rtcstack.asyncio.signaling.pair_with_peer_connection` runs it over the signaling
server; a test or another channel can feed it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["PerfectNegotiator"]


class PerfectNegotiator:
    """Perfect negotiation for ``pc`` (exactly one of the two sides is ``polite``).

    Made before any change to ``pc``, so that the first ``negotiationneeded`` is seen.
    ``errors`` keeps what went wrong (a failed offer, a description or candidate refused);
    ``ignored`` and ``rolled_back`` count the glare resolved each way."""

    def __init__(self, pc: Any, *, polite: bool, send: Callable[[dict[str, Any]], None]) -> None:
        self.pc = pc  # rtcstack.asyncio.peer.RTCPeerConnection (not imported: no media import)
        self.polite = polite
        self.send = send
        self.making_offer = False
        self.ignore_offer = False
        self.ignored = 0
        self.rolled_back = 0
        self.errors: list[BaseException] = []
        pc.on("negotiationneeded", self._on_negotiationneeded)
        pc.on("icecandidate", self._on_icecandidate)

    def detach(self) -> None:
        """Stop listening to ``pc``."""
        self.pc.off("negotiationneeded", self._on_negotiationneeded)
        self.pc.off("icecandidate", self._on_icecandidate)

    async def _on_negotiationneeded(self) -> None:
        try:
            self.making_offer = True
            await self.pc.setLocalDescription()
            # no await between here and setLocalDescription: the description is sent before
            # the candidates it gathered (they surface in later tasks)
            self.send({"description": self.pc.localDescription.to_json()})
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self.making_offer = False

    def _on_icecandidate(self, candidate: Any) -> None:
        self.send({"candidate": None if candidate is None else candidate.to_json()})

    async def handle(self, data: dict[str, Any]) -> None:
        """One message from the other side; a failure goes to ``errors``."""
        try:
            await self._handle(data)
        except Exception as exc:
            self.errors.append(exc)

    async def _handle(self, data: dict[str, Any]) -> None:
        pc = self.pc
        description = data.get("description")
        if description is not None:
            offer_collision = description.get("type") == "offer" and (
                self.making_offer or pc.signalingState != "stable")
            self.ignore_offer = not self.polite and offer_collision
            if self.ignore_offer:
                self.ignored += 1
                return
            if offer_collision:
                self.rolled_back += 1
            await pc.setRemoteDescription(description)  # rtcstack rolls back implicitly
            if description.get("type") == "offer":
                await pc.setLocalDescription()
                self.send({"description": pc.localDescription.to_json()})
        elif "candidate" in data:
            try:
                await pc.addIceCandidate(data["candidate"])
            except Exception:
                if not self.ignore_offer:  # the candidates of an ignored offer fail: fine
                    raise

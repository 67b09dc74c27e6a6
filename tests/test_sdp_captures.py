"""Real browser SDPs (``rfc-vectors/captures/``): provenance, byte-exact round trip, and
negotiation against every captured offer and answer.

The captures were made by ``rfc-vectors/capture_browser_sdp.py`` from Chromium 156 and Firefox
ESR 153 (program, version and date in each ``captures.json``).  Here, with no browser running:

- every file is what its index says (sha256) and round-trips byte for byte;
- rtcstack answers every captured offer; the answer passes ``check_description`` and
  ``negotiate`` accepts the pair;
- ``apply_answer`` accepts every browser answer to a browser offer (the browsers agreed on
  these, so rtcstack's answer checks must too), with the DTLS and ICE roles RFC 8842 §5.3 and
  RFC 8445 §6.1.1 give, and sees the ICE restart of the restart round.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from rtcstack.common import SeededRandom
from rtcstack.sdp import (
    DtlsParameters,
    Fingerprint,
    IceParameters,
    LocalSpec,
    SessionDescription,
    apply_answer,
    check_description,
    create_answer,
    negotiate,
)

CAPTURES = Path(__file__).resolve().parent.parent / "rfc-vectors" / "captures"
PROGRAMS = ("chromium-156", "firefox-esr-153")


def _index(program: str) -> dict[str, Any]:
    return json.loads((CAPTURES / program / "captures.json").read_text(encoding="utf-8"))


ENTRIES = [(program, entry) for program in PROGRAMS for entry in _index(program)["captures"]]
OFFERS = [(p, e) for p, e in ENTRIES if e["role"] in ("offer", "restart-offer")]
ANSWERS = [(p, e) for p, e in ENTRIES if e["role"] in ("answer", "restart-answer")]


def _read(program: str, name: str) -> str:
    return (CAPTURES / program / name).read_bytes().decode("utf-8")


def _id(item: tuple[str, dict[str, Any]]) -> str:
    return f"{item[0]}/{item[1]['file']}"


@pytest.mark.parametrize("program", PROGRAMS)
def test_index_names_its_program_version_and_date(program: str) -> None:
    index = _index(program)
    assert index["schema"] == "rtcstack-capture/1"
    assert index["program"] in ("chromium", "firefox-esr") and index["version"]
    assert index["date"] == "2026-11-21"
    files = {e["file"] for e in index["captures"]}
    assert files == {p.name for p in (CAPTURES / program).glob("*.sdp")}


@pytest.mark.parametrize("item", ENTRIES, ids=_id)
def test_capture_round_trips_byte_for_byte(item: tuple[str, dict[str, Any]]) -> None:
    program, entry = item
    data = (CAPTURES / program / entry["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    text = data.decode("utf-8")
    sdp = SessionDescription.parse(text)
    assert sdp.serialize() == text and sdp.normalised == ()
    assert sdp.parse_errors() == []
    role = "offer" if "offer" in entry["role"] else "answer"
    assert [p for p in check_description(sdp, role=role) if p.severity == "error"] == []


def _spec(seed: int) -> LocalSpec:
    random = SeededRandom(seed)
    return LocalSpec.default(
        ice=IceParameters.generate(random),
        dtls=DtlsParameters((Fingerprint.from_digest("sha-256", bytes(range(32))),)),
        random_bytes=random)


@pytest.mark.parametrize("item", OFFERS, ids=_id)
def test_rtcstack_answers_every_captured_offer(item: tuple[str, dict[str, Any]]) -> None:
    program, entry = item
    offer = SessionDescription.parse(_read(program, entry["file"]))
    answer = SessionDescription.parse(create_answer(offer, _spec(3)).serialize())
    assert [m.mid for m in answer.media] == [m.mid for m in offer.media]
    assert [p for p in check_description(answer, role="answer") if p.severity == "error"] == []
    negotiated = negotiate(answer, offer, local_is_offerer=False)
    # the browsers offer actpass; rtcstack answers active and is the DTLS client (RFC 8842 §5.2)
    assert negotiated.dtls_role == "client"
    # a full-ICE answerer of a full-ICE offerer is controlled (RFC 8445 §6.1.1)
    assert negotiated.ice_controlling is False
    for section, offered in zip(negotiated.sections, offer.media, strict=True):
        assert section.rejected is (offered.port == 0 and not offered.bundle_only)


@pytest.mark.parametrize("item", ANSWERS, ids=_id)
def test_apply_answer_accepts_every_browser_answer(item: tuple[str, dict[str, Any]]) -> None:
    program, entry = item
    offer_path = (CAPTURES / program / entry["answers"]).resolve()
    offer = SessionDescription.parse(offer_path.read_bytes().decode("utf-8"))
    answer = SessionDescription.parse(_read(program, entry["file"]))
    previous = None
    if entry["role"] == "restart-answer":
        previous = SessionDescription.parse(_read(program, "ice-restart-answer.sdp"))
    negotiated = apply_answer(offer, answer, previous_remote=previous)
    assert negotiated.local_is_offerer and negotiated.ice_controlling
    # both browsers answer actpass with active: the offerer is the DTLS server
    assert negotiated.dtls_role == "server"
    assert negotiated.ice_restart is (entry["role"] == "restart-answer")
    accepted = [s for s in negotiated.sections if not s.rejected]
    assert accepted and all(s.mid is not None for s in accepted)

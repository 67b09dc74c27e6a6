"""Regenerate rfc-vectors/captures/: real SDP offers and answers from Chromium and Firefox ESR.

    .venv/bin/python rfc-vectors/capture_browser_sdp.py [--browser chromium|firefox] [--out DIR]

For each installed browser it runs every scenario of ``tests/interop/browser.py`` headless on
loopback (one launch for the plain scenarios, one with ``mdns=True`` for the ``-mdns`` ones) and
writes ``captures/<program>-<major>/<scenario>-{offer,answer,restart-offer,restart-answer}.sdp``
byte for byte as ``pc.localDescription.sdp`` gave them (CRLF, after ICE gathering completed),
plus the cross-browser answers (a Chromium offer answered by Firefox and the reverse) as
``from-<other>-<scenario>-answer.sdp``, and one ``captures.json`` index per program.

Captured bytes are never edited.  Host addresses other than loopback and ``.local`` names are
listed per file under ``non_loopback_addresses`` (these machines' own eth0 addresses: neither
browser can be limited to ``lo`` by a flag or pref, see the index's ``notes``).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.interop.browser import (  # noqa: E402
    SCENARIOS,
    BrowserSession,
    Capture,
    find_browser,
    major_version,
    open_session,
)

PROGRAMS = {"chromium": "chromium", "firefox": "firefox-esr"}
CROSS_SCENARIO = "audio-video-data"
LOOPBACK = {"127.0.0.1", "::1", "0.0.0.0", "::"}
_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ ", re.IGNORECASE)
_CONNECTION = re.compile(r"^c=IN IP[46] (\S+)")
_RTCP = re.compile(r"^a=rtcp:\d+ IN IP[46] (\S+)")

HOW = (
    "tests/interop/browser.py capture(): in one headless page, pc1 = new RTCPeerConnection() "
    "builds the scenario, createOffer + setLocalDescription, waits for the end of ICE gathering, "
    "and pc.localDescription.sdp is the offer; pc2 setRemoteDescription(offer), adds local "
    "tracks (fake getUserMedia devices; synthetic canvas/WebAudio tracks for -mdns), "
    "createAnswer + setLocalDescription, gathering, pc2.localDescription.sdp is the answer; "
    "ice-restart then runs pc1.restartIce() and createOffer({iceRestart: true}) for a second "
    "round.  No ICE servers; the browser ran headless on 127.0.0.1 with a fresh profile "
    "(flags and prefs in tests/interop/browser.py).  Regenerate with "
    "rfc-vectors/capture_browser_sdp.py."
)

NOTES = {
    "chromium": (
        "Launched with --allow-loopback-in-peer-connection: host candidates cover 127.0.0.1 and "
        "::1 but also the machine's eth0 addresses (here 192.0.2.2 and fd00::2; Chromium has no "
        "flag to gather on lo only) -- listed per file, bytes unedited.  The -mdns scenarios run "
        "without --disable-features=WebRtcHideLocalIpsWithMdns and without "
        "--use-fake-ui-for-media-stream (with it Chromium treats the page as permitted and shows "
        "addresses) and use synthetic tracks instead of getUserMedia, so host candidates are "
        "<uuid>.local names and Chromium gathers no loopback candidate then."
    ),
    "firefox": (
        "Firefox 153 gathers no 127.0.0.1/::1 candidate even with "
        "media.peerconnection.ice.loopback=true (media.peerconnection.ice.force_interface=lo "
        "did not help either): host candidates are the machine's eth0 addresses (here 192.0.2.2 "
        "and fd00::2), listed per file, bytes unedited; loopback peers reach them through lo. "
        "The -mdns scenarios set media.peerconnection.ice.obfuscate_host_addresses=true "
        "(synthetic tracks, as for Chromium): host candidates are <uuid>.local names.  No "
        "OpenH264 plugin is installed (downloads are off), so Firefox offers no H264."
    ),
}


def host_addresses(sdp: str) -> list[str]:
    """Addresses named by candidate, c= and a=rtcp lines that are neither loopback nor mDNS."""
    found: list[str] = []
    for line in sdp.split("\r\n"):
        for pattern in (_CANDIDATE, _CONNECTION, _RTCP):
            m = pattern.match(line)
            if m:
                address = m.group(1)
                local = address in LOOPBACK or address.lower().endswith(".local")
                if not local and address not in found:
                    found.append(address)
    return found


def write_sdp(folder: Path, name: str, sdp: str) -> dict[str, Any]:
    data = sdp.encode("utf-8")
    (folder / name).write_bytes(data)
    return {
        "file": name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "line_endings": "CRLF" if b"\n" not in data.replace(b"\r\n", b"") else "mixed",
        "non_loopback_addresses": host_addresses(sdp),
    }


def capture_program(
    browser: str, out: Path, date: str
) -> tuple[Path, dict[str, Any], dict[str, Capture]]:
    """All scenarios in ``browser``; returns its folder, its index and the captures by name."""
    captures: dict[str, Capture] = {}
    timings: dict[str, float] = {}
    for mdns in (False, True):
        started = time.monotonic()
        with open_session(browser, mdns=mdns) as session:
            timings["launch-mdns" if mdns else "launch"] = round(session.startup_seconds or 0, 2)
            for scenario in SCENARIOS:
                if scenario.endswith("-mdns") != mdns:
                    continue
                t = time.monotonic()
                captures[scenario] = session.capture(scenario)
                timings[scenario] = round(time.monotonic() - t, 2)
                print(f"  {browser} {scenario}: {timings[scenario]} s", file=sys.stderr)
        timings["session-mdns" if mdns else "session"] = round(time.monotonic() - started, 2)
    first = next(iter(captures.values()))
    folder = out / f"{PROGRAMS[browser]}-{major_version(first.version)}"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.sdp"):
        stale.unlink()
    entries: list[dict[str, Any]] = []
    for scenario, cap in captures.items():
        rounds = [("offer", cap.offer), ("answer", cap.answer)]
        if cap.restart_offer is not None and cap.restart_answer is not None:
            rounds += [("restart-offer", cap.restart_offer), ("restart-answer", cap.restart_answer)]
        for role, sdp in rounds:
            entry = {"scenario": scenario, "role": role, "mdns": scenario.endswith("-mdns")}
            entry.update(write_sdp(folder, f"{scenario}-{role}.sdp", sdp))
            if role.endswith("answer"):
                entry["answers"] = f"{scenario}-{role.replace('answer', 'offer')}.sdp"
            entries.append(entry)
    index = {
        "schema": "rtcstack-capture/1",
        "program": PROGRAMS[browser],
        "version": first.version,
        "major": major_version(first.version),
        "user_agent": first.user_agent,
        "date": date,
        "how": HOW,
        "notes": NOTES[browser],
        "timings_seconds": timings,
        "captures": entries,
    }
    return folder, index, captures


def cross_answer(
    session: BrowserSession, offerer: str, offer: str, folder: Path, offer_folder: Path
) -> dict[str, Any]:
    """``session``'s browser answers another browser's offer (setRemoteDescription + answer)."""
    accepted, answer, error = session.answers_offer(offer, CROSS_SCENARIO)
    if not accepted or answer is None:
        raise RuntimeError(f"{session.browser.name} refused the {offerer} offer: {error}")
    scenario = f"from-{offerer}-{CROSS_SCENARIO}"
    entry: dict[str, Any] = {"scenario": scenario, "role": "answer", "mdns": False}
    entry.update(write_sdp(folder, f"{scenario}-answer.sdp", answer))
    entry["answers"] = f"../{offer_folder.name}/{CROSS_SCENARIO}-offer.sdp"
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", choices=sorted(PROGRAMS), action="append")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "captures")
    args = parser.parse_args(argv)
    date = datetime.date.today().isoformat()
    browsers = args.browser or sorted(PROGRAMS)
    results: dict[str, tuple[Path, dict[str, Any], dict[str, Capture]]] = {}
    for browser in browsers:
        if find_browser(browser) is None:
            print(
                f"skipping {browser}: install the Debian package {PROGRAMS[browser]}",
                file=sys.stderr,
            )
            continue
        print(f"capturing {browser} ...", file=sys.stderr)
        results[browser] = capture_program(browser, args.out, date)
    if "chromium" in results and "firefox" in results:
        for answerer, offerer in (("firefox", "chromium"), ("chromium", "firefox")):
            folder, index, _ = results[answerer]
            offer = results[offerer][2][CROSS_SCENARIO].offer
            with open_session(answerer) as session:
                index["captures"].append(
                    cross_answer(session, offerer, offer, folder, results[offerer][0])
                )
            print(f"  {answerer} answered the {offerer} offer", file=sys.stderr)
    for folder, index, _ in results.values():
        (folder / "captures.json").write_text(
            json.dumps(index, indent=2, ensure_ascii=True) + "\n", encoding="utf-8"
        )
        odd = sorted({a for e in index["captures"] for a in e["non_loopback_addresses"]})
        print(f"{folder}: {len(index['captures'])} SDPs; non-loopback host addresses: {odd}")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())

"""Each layer's ``__init__`` docstring is its manual (STYLE.md rule 9): its examples must run."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["rtcstack.stun", "rtcstack.sdp", "rtcstack.rtp",
                                    "rtcstack.rtp.formats", "rtcstack.srtp",
                                    "rtcstack.dtls", "rtcstack.ice", "rtcstack.ice.mdns",
                                    "rtcstack.ice.candidate", "rtcstack.sctp",
                                    "rtcstack.peer", "rtcstack.media"])
def test_layer_manual_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module}'s docstring has no examples"
    assert result.failed == 0

"""Shared pytest configuration.

Hypothesis profiles: "ci" (selected when the environment variable CI is set) runs more examples
per property; "dev" keeps the local run quick.  Neither has a deadline: timing on a loaded
2-core machine is not what the properties test.  ``--hypothesis-profile NAME`` still overrides.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

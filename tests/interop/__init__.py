"""Interop tests against real programs nobody here wrote (coturn, ...)."""

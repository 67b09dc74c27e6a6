"""rtcstack's side-by-side benchmarks (``python -m bench``; see bench/README.md)."""

"""Every benchmark in bench/ runs (quick mode, in-process) so that none can rot.

No timing is asserted: machines are noisy and speed targets are read by people (bench/README.md).
"""

from __future__ import annotations

import inspect
import io
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is a top-level package of the checkout, not installed
    sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

pytest.importorskip("aioice", reason="the STUN benchmark's reference: pip install aioice")


def _declared_rows() -> dict[str, list[str]]:
    rows = {}
    for name in harness.discover():
        module = __import__(f"bench.bench_{name}", fromlist=["cases"])
        # the rows of the quick run (a module may size its operations down, and say so)
        takes_quick = "quick" in inspect.signature(module.cases).parameters
        cases = module.cases(quick=True) if takes_quick else module.cases()
        rows[name] = [case.name for case in cases]
    return rows


def test_every_bench_file_is_discovered() -> None:
    files = sorted(p.stem[len("bench_") :] for p in (ROOT / "bench").glob("bench_*.py"))
    assert files, "no bench/bench_*.py found"
    assert harness.discover() == files
    assert "stun" in files


def test_quick_json_has_a_row_per_case_with_positive_timings() -> None:
    out = io.StringIO()
    assert harness.main(["--quick", "--json"], out=out) == 0
    payload = json.loads(out.getvalue())
    results = payload["results"]
    got = {(r["module"], r["name"]) for r in results}
    want = {(m, n) for m, names in _declared_rows().items() for n in names}
    assert got == want
    assert len(results) == len(want)
    for r in results:
        assert r["rtcstack_s"] > 0 and r["reference_s"] > 0
        assert r["ratio"] == pytest.approx(r["reference_s"] / r["rtcstack_s"])
        assert r["target"] > 0
        assert r["met"] == (r["ratio"] >= r["target"])
        # heavy rows cap their iterations (Case.max_iterations)
        assert 1 <= r["iterations"] <= harness.QUICK.fixed_iterations


def test_quick_table_for_one_module() -> None:
    out = io.StringIO()
    assert harness.main(["stun", "--quick"], out=out) == 0
    lines = out.getvalue().splitlines()
    names = _declared_rows()["stun"]
    for name in names:
        row = [line for line in lines if line.startswith(f"stun: {name}")]
        assert len(row) == 1, (name, lines)
        assert "µs" in row[0] and "aioice" in row[0] and "x" in row[0]
    assert not any(line.startswith("hmac:") for line in lines)
    assert "ratio = reference time / rtcstack time" in lines[-1]


def test_stun_bench_covers_the_issue_message() -> None:
    from bench import bench_stun
    from rtcstack.stun import (
        Fingerprint,
        IceControlling,
        Message,
        MessageIntegrity,
        Priority,
        Username,
    )

    message = Message.parse(bench_stun.REQUEST)
    assert [type(a) for a in message.attributes] == [
        Username, Priority, IceControlling, MessageIntegrity, Fingerprint,
    ]
    assert message.check_integrity(bench_stun.KEY) and message.check_fingerprint()


def test_sides_that_disagree_stop_the_benchmark() -> None:
    case = harness.Case("broken", lambda: 1, lambda: 2, expect=1)
    with pytest.raises(harness.BenchError, match="reference returned 2"):
        harness.measure(case, harness.QUICK)


def test_unknown_benchmark_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert harness.main(["no-such-bench", "--quick"], out=io.StringIO()) == 1
    assert "no benchmark 'no-such-bench'" in capsys.readouterr().err

"""``rtcstack vectors``: lists every vector, checks it, exits 0 only when all checked pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rtcstack.cli.main import main
from rtcstack.vectors import all_vectors, vectors_dir


def test_vectors_lists_and_checks_everything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors"]) == 0
    out = capsys.readouterr().out
    vectors = all_vectors()
    for v in vectors:
        # names repeat across RFCs ("example"): the label (RFC and section) tells them apart
        line = next(line for line in out.splitlines()
                    if line.startswith(v.label) and f" {v.name} " in line)
        assert v.kind in line and line.endswith("pass")
    assert f"{len(vectors)} vectors: {len(vectors)} passed, 0 failed, 0 without a checker" in out


def test_vectors_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = doc["vectors"]
    assert len(rows) == len(all_vectors()) >= 7
    assert {r["status"] for r in rows} == {"pass"}
    assert all(r["problems"] == [] for r in rows)
    assert doc["summary"] == {"pass": len(rows), "fail": 0, "no checker": 0}
    first = next(r for r in rows if r["name"] == "sample-request")
    assert (first["rfc"], first["section"], first["title"], first["kind"]) == (
        5769,
        "2.1",
        "Sample Request",
        "stun-message",
    )


def test_vectors_list_only_and_rfc_filter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vectors", "--list", "--rfc", "8489", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["vectors"]
    assert {r["name"] for r in rows} == {"b1-as-published", "b1-errata-6268"}
    assert all("status" not in r for r in rows)


def _copy_vectors(tmp_path: Path) -> Path:
    target = tmp_path / "rfc-vectors"
    shutil.copytree(vectors_dir(), target)
    return target


def test_a_failing_vector_fails_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _copy_vectors(tmp_path)
    path = directory / "rfc5769" / "sample-request.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["hex"][6] == "53 54 55 4e"
    doc["hex"][6] = "53 54 55 4f"  # SOFTWARE "STUO test client": integrity must now fail
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["vectors", "--dir", str(directory)]) == 1
    out = capsys.readouterr().out
    failing = out[out.index("sample-request ") :].splitlines()
    assert failing[0].endswith("fail")
    assert any("MESSAGE-INTEGRITY" in line for line in failing[1:4])
    assert "1 failed" in out


def test_an_unknown_kind_is_reported_as_no_checker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _copy_vectors(tmp_path)
    path = directory / "rfc5769" / "sample-request.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["kind"] = "future-kind"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["vectors", "--dir", str(directory), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["vectors"]
    row = next(r for r in rows if r["name"] == "sample-request")
    assert row["status"] == "no checker"
    assert sum(r["status"] == "pass" for r in rows) == len(rows) - 1


def test_a_malformed_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _copy_vectors(tmp_path)
    bad = directory / "rfc5769" / "broken.json"
    bad.write_text('{"schema": ', encoding="utf-8")
    assert main(["vectors", "--dir", str(directory)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "invalid JSON" in err

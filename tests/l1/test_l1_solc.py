"""solcjs compilation and the artifact cache."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from jovay.errors import CriticalError
from jovay.l1 import solc
from jovay.l1.solc import CONTRACTS_DIR, CompiledContract, compile_contracts


def test_session_artifacts_have_both_contracts(artifacts: dict[str, CompiledContract]) -> None:
    for name in ("Bridge", "Rollup"):
        assert len(artifacts[name].bytecode) > 100
        assert artifacts[name].bytecode.startswith("0x")
    names = {e.get("name") for e in artifacts["Rollup"].abi}
    assert {"commitBatch", "BatchCommitted", "batches", "proposeOutput", "finalizedStateRoot"} <= names


def test_cold_then_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second compile of unchanged sources reads the cache and never starts node."""
    monkeypatch.setenv("JOVAY_CACHE_DIR", str(tmp_path))
    cold = compile_contracts()
    [entry] = (tmp_path / "contracts").iterdir()
    assert len(entry.name) == 64 and (entry / "Bridge.json").is_file()

    def no_node(*args: object, **kwargs: object) -> None:
        raise AssertionError("solc ran although the cache is warm")

    monkeypatch.setattr(subprocess, "run", no_node)
    assert compile_contracts() == cold


def test_changed_sources_get_a_new_cache_entry(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(CONTRACTS_DIR, src)
    first = solc.artifact_dir_for(src, tmp_path / "out")
    (src / "Bridge.sol").write_text((src / "Bridge.sol").read_text() + "\n// changed\n")
    assert solc.artifact_dir_for(src, tmp_path / "out") != first


def test_compile_error_carries_solc_message(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Broken.sol").write_text("pragma solidity ^0.8.0;\ncontract Broken { function f( }\n")
    with pytest.raises(CriticalError, match="Broken.sol") as info:
        compile_contracts(tmp_path / "out", sources_dir=src)
    assert "ParserError" in str(info.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_main_prints_artifact_dir(
    artifacts: dict[str, CompiledContract], capsys: pytest.CaptureFixture[str]
) -> None:
    assert solc.main([]) == 0
    out = capsys.readouterr().out
    assert str(solc.artifact_dir_for()) in out and "Rollup.json" in out

"""The repository's promises to users: README commands, CI entry point, compose file shape, pins."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("```")[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make devnet", "make test"]


def test_ci_runs_make_test() -> None:
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_docker_compose_has_anvil_node_and_batcher() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"anvil", "node", "batcher"}
    node_cmd, batcher_cmd = services["node"]["command"], services["batcher"]["command"]
    assert node_cmd[:2] == ["jovay", "node"] and batcher_cmd[:2] == ["jovay", "batcher"]
    assert "http://anvil:8546" in node_cmd and "http://node:8545" in batcher_cmd
    assert services["node"]["depends_on"] == ["anvil"] and services["batcher"]["depends_on"] == ["node"]
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:")  # never published beyond loopback


def test_dependencies_are_pinned() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" in requirement, requirement
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    for name, version in package["devDependencies"].items():
        assert version[0].isdigit(), (name, version)
        assert lock["packages"][f"node_modules/{name}"]["version"] == version

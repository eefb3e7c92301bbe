"""docker-compose.yml stays runnable: its structure and every command it runs exist."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from listener.cli.app import cli

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_services_volumes_and_secrets():
    compose = _compose()
    services = compose["services"]
    assert {"listener", "scheduler", "mailpit"} <= set(services)
    for name in ("listener", "scheduler"):
        service = services[name]
        assert any(v.endswith(":/data") for v in service["volumes"]), name
        assert service["environment"]["LISTENER_STORE"].startswith("/data/")
        assert all(not isinstance(e, dict) or e.get("required") is False for e in service["env_file"])
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            assert source.startswith("./") or source in compose["volumes"], volume
    assert services["scheduler"]["healthcheck"]["test"][-2:] == ["schedule", "--check"]
    tracked = subprocess.run(
        ["git", "ls-files", ".env", "config/.env.example"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert ".env" not in tracked


def test_every_command_the_compose_file_runs_exists():
    services = _compose()["services"]
    commands = [
        services["listener"]["command"],
        services["scheduler"]["command"],
        services["scheduler"]["healthcheck"]["test"][2:],
    ]
    for argv in commands:
        assert argv[0] in cli.commands, argv
        command = cli.commands[argv[0]]
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert all(arg in options for arg in argv[1:] if arg.startswith("--")), argv

"""A bad config gives one clear line naming the key, exit code 2, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ORG_TOML, run_cli

from listener.core.errors import ConfigError
from listener.core.settings import load_settings

CASES = [
    ("[organization]\nname = 'A'\n", "'organization': needs a 'query' (or a 'brand_terms' list)"),
    (ORG_TOML + "[sources.rss]\nenabeld = true\n", "unknown key 'sources.rss.enabeld' (did you mean 'enabled'?)"),
    (ORG_TOML + "[sources.rss]\nfeeds = ['ftp://example.com/x']\n", "'sources.rss.feeds[0].url': feed url must start"),
    (ORG_TOML + "[digest.smtp]\nsecurity = 'tls'\n", "'digest.smtp.security'"),
    (ORG_TOML + "[digest.smtp]\nport = 'abc'\n", "'digest.smtp.port'"),
    (ORG_TOML + "[store\npath = 1\n", "not valid TOML"),
    (
        ORG_TOML.replace('brand_terms = ["acme", "\\"acme coffee\\""]', 'brand_terms = ["-acme"]'),
        "'organization.brand_terms': needs at least one term that is not an exclusion",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_bad_config_exits_2_with_key_and_writes_nothing(tmp_path: Path, text: str, expected: str):
    config = tmp_path / "listener.toml"
    config.write_text(text + "\n", encoding="utf-8")
    result = run_cli("--config", str(config), "run")
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["listener.toml"]  # no database, no data dir


def test_missing_config_file_names_the_ways_to_give_one(tmp_path: Path):
    result = run_cli("--config", str(tmp_path / "nope.toml"), "run")
    assert result.returncode == 2
    assert "config file not found" in result.stderr and "LISTENER_CONFIG" in result.stderr


def test_config_from_environment_variable(tmp_path: Path):
    config = tmp_path / "elsewhere.toml"
    config.write_text(ORG_TOML, encoding="utf-8")
    result = run_cli("run", "--json", env={"LISTENER_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "listener.duckdb").exists()  # default store path, next to the config


def test_unknown_source_is_a_usage_error(tmp_path: Path):
    config = tmp_path / "listener.toml"
    config.write_text(ORG_TOML, encoding="utf-8")
    result = run_cli("--config", str(config), "collect", "--source", "myspace")
    assert result.returncode == 2 and "unknown source 'myspace'" in result.stderr


def test_example_config_is_valid():
    settings = load_settings(Path(__file__).parent.parent / "config" / "listener.example.toml")
    assert settings.organization.name and settings.sources.rss.feeds


def test_secrets_are_not_config_keys(tmp_path: Path):
    config = tmp_path / "listener.toml"
    config.write_text(ORG_TOML + "[digest.smtp]\npassword = 'hunter2'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'digest.smtp.password'"):
        load_settings(config)

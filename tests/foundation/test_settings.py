"""Settings: unknown or malformed values stop start-up with a message naming the variable."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from salesflow.settings import KNOWN, PROJECT_ROOT, SettingsError, load_settings


def test_defaults_need_no_configuration(tmp_path: Path) -> None:
    cfg = load_settings(env={}, env_file=tmp_path / "absent.env")
    assert cfg.DATABASE_URL is None
    assert cfg.OPENAI_API_KEY is None
    assert cfg.SALESFLOW_DEV_PORT == 54321


def test_environment_wins_over_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=postgresql://file@127.0.0.1/file\nSALESFLOW_DEV_PORT=6000\n")
    cfg = load_settings(env={"DATABASE_URL": "postgresql://env@127.0.0.1/env"}, env_file=env_file)
    assert cfg.DATABASE_URL == "postgresql://env@127.0.0.1/env"
    assert cfg.SALESFLOW_DEV_PORT == 6000


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL"),
        ({"SUPABASE_URL": "localhost:54321"}, "SUPABASE_URL"),
        ({"SALESFLOW_DEV_PORT": "eighty"}, "SALESFLOW_DEV_PORT"),
        ({"SALESFLOW_DEV_PORT": "70000"}, "SALESFLOW_DEV_PORT"),
        ({"SALESFLOW_LOG_LEVEL": "LOUD"}, "SALESFLOW_LOG_LEVEL"),
        ({"SUPABASE_JWT_SECRET": "short"}, "SUPABASE_JWT_SECRET"),
        ({"SALESFLOW_DATABASE": "x"}, "SALESFLOW_DATABASE"),
    ],
)
def test_malformed_or_unknown_settings_name_the_variable(tmp_path: Path, env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env=env, env_file=tmp_path / "absent.env")


def test_an_unknown_key_in_the_env_file_is_refused(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATABSE_URL=postgresql://typo@127.0.0.1/x\n")
    with pytest.raises(SettingsError, match="DATABSE_URL"):
        load_settings(env={}, env_file=env_file)


def test_the_cli_exits_2_naming_a_malformed_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "salesflow.cli.main", "db", "status"],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "mysql://nope"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


def test_env_example_documents_exactly_the_known_settings() -> None:
    example = (PROJECT_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^# ?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert documented == set(KNOWN)

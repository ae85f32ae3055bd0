"""Which transport `salesflow listen` uses when --transport is not given."""

from __future__ import annotations

from pathlib import Path

import pytest

from salesflow.cli.listen import default_transport
from salesflow.settings import load_settings

SUPABASE = {"SUPABASE_URL": "http://127.0.0.1:54321", "SUPABASE_SERVICE_ROLE_KEY": "service-key"}


@pytest.mark.parametrize(
    ("env", "database_url", "expected"),
    [
        ({}, None, "postgres"),
        (SUPABASE, None, "supabase"),
        ({"SUPABASE_URL": "http://127.0.0.1:54321"}, None, "postgres"),
        (SUPABASE, "postgresql://postgres@127.0.0.1/x", "postgres"),
        ({**SUPABASE, "SALESFLOW_TRANSPORT": "postgres"}, None, "postgres"),
        ({"SALESFLOW_TRANSPORT": "supabase"}, "postgresql://postgres@127.0.0.1/x", "supabase"),
    ],
)
def test_default_transport(tmp_path: Path, env: dict[str, str], database_url: str | None, expected: str) -> None:
    cfg = load_settings(env=env, env_file=tmp_path / "absent.env")
    assert default_transport(cfg, database_url) == expected

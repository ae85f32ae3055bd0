"""What the local stack reads from supabase/config.toml: API schemas and limits, auth, functions."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salesflow.devstack.auth import AuthConfig
from salesflow.settings import PROJECT_ROOT

CONFIG_FILE = PROJECT_ROOT / "supabase" / "config.toml"
FUNCTIONS_DIR = PROJECT_ROOT / "functions"


@dataclass(frozen=True)
class ProjectConfig:
    schemas: tuple[str, ...] = ("public", "graphql_public")
    extra_search_path: tuple[str, ...] = ("public", "extensions")
    max_rows: int | None = 1000
    auth: AuthConfig = field(default_factory=AuthConfig)
    verify_jwt: dict[str, bool] = field(default_factory=dict)


def load_config(path: Path = CONFIG_FILE) -> ProjectConfig:
    """Read config.toml (missing file: Supabase's defaults)."""
    data: dict[str, Any] = tomllib.loads(path.read_text()) if path.exists() else {}
    api = data.get("api", {})
    auth = data.get("auth", {})
    hook = auth.get("hook", {}).get("custom_access_token", {})
    hook_function = None
    if hook.get("enabled"):
        uri = str(hook.get("uri", ""))
        if not uri.startswith("pg-functions://"):
            raise ValueError(f"{path}: [auth.hook.custom_access_token] uri must be pg-functions://<db>/<schema>/<fn>")
        parts = uri.removeprefix("pg-functions://").split("/")
        if len(parts) != 3:
            raise ValueError(f"{path}: [auth.hook.custom_access_token] uri {uri!r} is not pg-functions://db/schema/fn")
        hook_function = (parts[1], parts[2])
    signup = bool(auth.get("enable_signup", False)) and bool(auth.get("email", {}).get("enable_signup", True))
    functions = data.get("functions", {})
    return ProjectConfig(
        schemas=tuple(api.get("schemas", ["public", "graphql_public"])),
        extra_search_path=tuple(api.get("extra_search_path", ["public", "extensions"])),
        max_rows=api.get("max_rows", 1000) or None,
        auth=AuthConfig(jwt_expiry=int(auth.get("jwt_expiry", 3600)), enable_signup=signup,
                        hook_function=hook_function,
                        refresh_token_rotation=bool(auth.get("enable_refresh_token_rotation", True)),
                        refresh_token_reuse_interval=int(auth.get("refresh_token_reuse_interval", 10))),
        verify_jwt={name: bool(conf.get("verify_jwt", True)) for name, conf in functions.items()
                    if isinstance(conf, dict)},
    )

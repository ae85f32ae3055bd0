"""Where Postgres comes from: DATABASE_URL, else the local server at 127.0.0.1:5432, else an embedded one."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from salesflow.settings import Settings

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE = "salesflow"


@dataclass(frozen=True)
class DatabaseLocation:
    url: str
    origin: Literal["DATABASE_URL", "local server", "embedded"]

    def describe(self) -> str:
        return f"{redact(self.url)} (from {self.origin})"


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    params = conninfo_to_dict(url)
    if params.get("password"):
        params["password"] = "***"
    host = params.get("host", "")
    return f"postgresql://{params.get('user', '')}@{host}:{params.get('port', 5432)}/{params.get('dbname', '')}"


def with_database(url: str, dbname: str) -> str:
    """The same server, another database, as a postgresql:// URL."""
    params = conninfo_to_dict(make_conninfo(url, dbname=dbname))
    user = quote(str(params.pop("user", "postgres")), safe="")
    password = params.pop("password", None)
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    host = str(params.pop("host", "127.0.0.1"))
    port = params.pop("port", None)
    name = quote(str(params.pop("dbname")), safe="")
    if host.startswith("/"):
        # A Unix socket directory (the embedded server) cannot stand in the URL's host part.
        params["host"] = host
        host = ""
    netloc = f"{auth}@{host}" + (f":{port}" if port else "")
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{netloc}/{name}{query}"


def answers(url: str, timeout: int = 2) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=timeout) as conn:
            conn.execute("select 1")
        return True
    except psycopg.OperationalError:
        return False


def ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist (connects to `postgres` on the same server)."""
    dbname = conninfo_to_dict(url).get("dbname") or DEFAULT_DATABASE
    admin = with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(str(dbname))))


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the embedded Postgres of the `pgserver` package; returns its URL."""
    try:
        import pgserver  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise RuntimeError(
            "no DATABASE_URL, no server at 127.0.0.1:5432, and the embedded Postgres is not installed: "
            "run `pip install -e '.[embedded]'` or set DATABASE_URL"
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode=None)
    return with_database(str(server.get_uri("postgres")), DEFAULT_DATABASE)


def locate(cfg: Settings, local_server: str = LOCAL_SERVER) -> DatabaseLocation:
    """Pick the Postgres to use, in the documented order, and make sure its database exists."""
    if cfg.DATABASE_URL:
        return DatabaseLocation(cfg.DATABASE_URL, "DATABASE_URL")
    if answers(local_server):
        url = with_database(local_server, DEFAULT_DATABASE)
        ensure_database(url)
        return DatabaseLocation(url, "local server")
    url = start_embedded(Path(cfg.SALESFLOW_EMBEDDED_DIR))
    ensure_database(url)
    return DatabaseLocation(url, "embedded")

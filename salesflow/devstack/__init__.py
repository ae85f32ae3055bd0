"""The local Supabase-compatible stack (`salesflow dev`): PostgREST, Realtime, Auth and functions contracts
over the project's Postgres. `DevStack` runs it; see server.py."""

from salesflow.devstack.server import DevStack

__all__ = ["DevStack"]

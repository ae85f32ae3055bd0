"""Transports: how the engine reaches the database (`postgres`: psycopg + LISTEN/NOTIFY; `supabase`:
PostgREST RPC + Realtime). Each implements the ports of `salesflow.events.ports`."""

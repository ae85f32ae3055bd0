"""Database plumbing: where Postgres comes from, the Supabase-compatibility bootstrap, migrations."""

"""Dashboard targets: nothing is sent. The `alerts` row is the notification: the dashboard's Alerts view reads it
over RLS and sees it change through Realtime (`alerts` is in the supabase_realtime publication). A test of a
dashboard target writes a resolved `test` alert, so the view shows that the path works."""

from __future__ import annotations

TEST_SUMMARY = "Test notification from salesflow alerts test"

INSERT_TEST_ALERT = """
insert into public.alerts (tenant_id, metric, dedup_key, status, severity, summary, resolved_at, details)
values (%s, 'test', 'test:' || %s::text, 'resolved', 'info', %s, now(), jsonb_build_object('target', %s::text))
returning id
"""

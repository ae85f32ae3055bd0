-- One wake-up per statement, not one per row.
--
-- The outbox's row trigger sent pg_notify('salesflow_events', <event id>) for every inserted event. The
-- listener ignores the payload (it only learns "there may be work" and claims from the table), yet unique
-- payloads cannot be folded: Postgres queues every one of them at commit, checks each against the ones
-- already queued in the transaction, and delivers them all to every listener. A 10,000-row insert queued
-- 10,000 notifications. A statement-level trigger with a constant payload sends one per statement, and
-- Postgres folds identical notifications of one transaction into one, so a busy producer wakes the
-- listener exactly as before (`./scripts/bench sql` measures the difference).
--
-- The local stack's Realtime capture (salesflow/devstack/capture.sql) has row triggers of its own on
-- another channel; they are not touched.

create or replace function private.notify_events_inserted() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify('salesflow_events', 'inserted');
  return null;
end
$$;
revoke execute on function private.notify_events_inserted() from public, anon, authenticated;

drop trigger if exists events_notify on public.events;
create trigger events_notify after insert on public.events
  for each statement execute function private.notify_events_inserted();

drop function if exists private.notify_event();

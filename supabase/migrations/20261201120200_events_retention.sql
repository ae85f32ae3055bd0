-- Retention: processed events (and, through the events_forget_deliveries trigger, their deliveries) older
-- than a retention are deleted in small batches by the listeners' maintenance loop (and by
-- `salesflow events prune`). Failed events stay until they are replayed or purged by hand; pending and
-- processing events are never touched.
--
-- The index finds the oldest processed events without walking the table; every finish already writes a
-- new index entry per index (a status change is never a HOT update), so it costs one entry more.
create index if not exists events_processed_at_idx on public.events (processed_at) where status = 'processed';

-- prune_events: delete up to p_limit processed events whose processed_at is older than
-- p_older_than_seconds, oldest first, with their deliveries. One pruner at a time: a call while another
-- pruner's batch runs returns null at once (transaction-level advisory lock, never waited for). Rows that
-- are locked are skipped. p_dry_run counts every event that would go (no limit) and deletes nothing.
-- Returns how many events were deleted (or would be).
create or replace function public.prune_events(
  p_older_than_seconds double precision,
  p_limit integer default 1000,
  p_dry_run boolean default false
) returns bigint
language plpgsql volatile
set search_path = ''
as $$
declare
  cutoff timestamptz;
  gone bigint;
begin
  if p_older_than_seconds is null or p_older_than_seconds < 0 then
    raise exception 'prune_events.p_older_than_seconds: must be >= 0 (got %)', p_older_than_seconds
      using errcode = '22023';
  end if;
  if p_limit is null or p_limit not between 1 and 100000 then
    raise exception 'prune_events.p_limit: must be between 1 and 100000 (got %)', p_limit using errcode = '22023';
  end if;
  cutoff := now() - make_interval(secs => p_older_than_seconds);
  if p_dry_run then
    select count(*) into gone from public.events e where e.status = 'processed' and e.processed_at < cutoff;
    return gone;
  end if;
  if not pg_try_advisory_xact_lock(hashtext('salesflow.prune_events')) then
    return null;
  end if;
  perform private.commit_without_waiting();
  with deleted as (
    delete from public.events e
    where e.id = any(array(
      select x.id from public.events x
      where x.status = 'processed' and x.processed_at < cutoff
      order by x.processed_at
      limit p_limit
      for update skip locked))
    returning 1
  )
  select count(*) into gone from deleted;
  return gone;
end
$$;

revoke all on function public.prune_events(double precision, integer, boolean) from public, anon, authenticated;
grant execute on function public.prune_events(double precision, integer, boolean) to service_role;

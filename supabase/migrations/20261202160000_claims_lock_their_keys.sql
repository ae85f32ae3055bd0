-- Two claims never take two events of one ordering key: each claim takes a transaction-level advisory lock per
-- ordering key it picked (pg_try_advisory_xact_lock, never waited for) and re-checks the key in a statement
-- of its own, whose snapshot is taken after the lock.
--
-- Until now each claim decided from its own snapshot whether a key was free, and a claim cannot see what
-- another claim took before that one commits. Within one snapshot a key has at most one claimable event, but
-- which one changes with time: an earlier event that was only scheduled for later (it does not block its key)
-- becomes due. A claim that took the key's later event just before, and had not committed yet, was invisible
-- to a claim that took the earlier one just after: two events of one key in flight (measured: six claimers on
-- 300 such keys doubled 40 of them). A leased claim (claim_events) had no re-check at all, so it could also
-- lease an event a window had held in the instant between the lease's snapshot and its row lock.
--
-- Now: an advisory lock is held until the claim commits, and the claim's hold or lease commits with it. A
-- second claim of the same key either fails to get the lock (the first is still open: it drops the event; the
-- event stays in line for the next claim) or gets it after the first committed, and then its re-check, with a
-- snapshot taken after the lock, sees the first claim's hold or lease and drops the event. So claims of one key
-- are serialised and each sees what the one before took. The re-check is the pick's own ordering test (nothing
-- of the key held or processing, nothing earlier due or waiting for a retry) plus "not held itself"; keyless
-- events only need the latter (their row lock serialises them the same way: it is released when the hold
-- that took it commits). The lock is taken after the pick, on the rows the pick locked, so a claim locks the
-- keys it takes, not the keys it passed over. The lock space is the two-integer form with a constant first
-- half (hashtext('salesflow.events.ordering_key')), apart from the one-bigint locks of prune_events and the
-- prompt store. Two keys with the same hash only make one of them wait for the next claim.
--
-- The fix relies on READ COMMITTED (each statement a fresh snapshot), which is how both transports call these
-- functions (autocommit psycopg, one PostgREST transaction per RPC).

create or replace function public.hold_events(
  p_worker text,
  p_batch integer default 100,
  p_hold_seconds double precision default 30
) returns table (
  id uuid, tenant_id uuid, type text, payload jsonb, attempts integer, max_attempts integer,
  ordering_key text, correlation_id uuid, causation_id uuid, source text, created_at timestamptz,
  run_after timestamptz, succeeded_handlers text[], hold_id bigint
)
language plpgsql volatile
set search_path = ''
set enable_seqscan = off -- as claim_events
as $$
declare
  picked public.events[];
  held uuid[];
  hold bigint;
begin
  if p_worker is null or btrim(p_worker) = '' then
    raise exception 'hold_events.p_worker: name the worker that holds the events' using errcode = '22023';
  end if;
  perform private.check_claim_batch('hold_events', p_batch);
  if p_hold_seconds is null or p_hold_seconds <= 0 or p_hold_seconds > 86400 then
    raise exception 'hold_events.p_hold_seconds: must be > 0 and <= 86400 (got %)', p_hold_seconds
      using errcode = '22023';
  end if;
  perform private.commit_without_waiting();
  -- The pick locks its rows; then each keyed row's key is locked until this transaction commits, or the row
  -- is dropped (another claim of the key is open right now).
  picked := array(
    select p.event from private.pick_due_events(p_batch) p
    where (p.event).ordering_key is null
       or pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('salesflow.events.ordering_key'),
                                               pg_catalog.hashtext((p.event).ordering_key)));
  if cardinality(picked) = 0 then
    return;
  end if;
  -- A statement of its own, so a snapshot taken after the key locks: drop what a claim committed since the
  -- pick's snapshot took (the event itself, or another event of its key).
  insert into private.event_holds (worker, held_until, event_ids, ordering_keys)
  select p_worker, now() + make_interval(secs => p_hold_seconds), array_agg(x.id),
         coalesce(array_agg(x.ordering_key) filter (where x.ordering_key is not null), '{}')
  from unnest(picked) x
  where x.id not in (select i from private.held_event_ids() i)
    and (x.ordering_key is null or not (
      x.ordering_key in (select k from private.held_ordering_keys() k)
      or exists (select 1 from public.events o
                 where o.ordering_key = x.ordering_key and o.status = 'processing')
      or exists (select 1 from public.events o
                 where o.ordering_key = x.ordering_key and o.seq < x.seq
                   and o.status in ('pending', 'processing') and (o.run_after <= now() or o.attempts > 0))))
  having count(*) > 0
  returning event_holds.id, event_holds.event_ids into hold, held;
  if hold is null then
    return;
  end if;
  return query
  select x.id, x.tenant_id, x.type, x.payload, x.attempts + 1, x.max_attempts, x.ordering_key,
         x.correlation_id, x.causation_id, x.source, x.created_at, x.run_after,
         coalesce((select array_agg(d.handler order by d.handler) from public.event_deliveries d
                   where d.event_id = x.id and d.status = 'succeeded'), '{}'::text[]),
         hold
  from unnest(picked) x
  where x.id = any(held)
  order by x.run_after, x.seq;
end
$$;

create or replace function public.claim_events(
  p_worker text,
  p_batch integer default 100,
  p_lease_seconds double precision default 30
) returns table (
  id uuid, tenant_id uuid, type text, payload jsonb, attempts integer, max_attempts integer,
  ordering_key text, correlation_id uuid, causation_id uuid, source text, created_at timestamptz,
  run_after timestamptz, succeeded_handlers text[]
)
language plpgsql volatile
set search_path = ''
-- Index lookups only: plpgsql keeps a plan for the connection's life, and a plan made while
-- event_deliveries was empty would scan the whole table for every claimed event once it has grown.
set enable_seqscan = off
as $$
declare
  picked tid[];
begin
  if p_worker is null or btrim(p_worker) = '' then
    raise exception 'claim_events.p_worker: name the worker that takes the lease' using errcode = '22023';
  end if;
  perform private.check_claim_batch('claim_events', p_batch);
  perform private.commit_without_waiting();
  if p_lease_seconds is null or p_lease_seconds <= 0 or p_lease_seconds > 86400 then
    raise exception 'claim_events.p_lease_seconds: must be > 0 and <= 86400 (got %)', p_lease_seconds
      using errcode = '22023';
  end if;

  -- Picked in a statement of its own (the pick may put held-back rows back in line, and a later statement
  -- sees those new row versions); each keyed row's key locked as in hold_events.
  picked := array(
    select p.row_id from private.pick_due_events(p_batch) p
    where (p.event).ordering_key is null
       or pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('salesflow.events.ordering_key'),
                                               pg_catalog.hashtext((p.event).ordering_key)));
  if cardinality(picked) = 0 then
    return;
  end if;
  return query
  with claimed as (
    update public.events e
    set status = 'processing',
        attempts = e.attempts + 1,
        locked_by = p_worker,
        locked_until = now() + make_interval(secs => p_lease_seconds)
    -- A TID lookup per picked row (locked, so its ctid is current), never a scan of the whole outbox; then
    -- the re-check of hold_events, with this statement's snapshot (taken after the key locks).
    where e.ctid = any(picked)
      and e.id not in (select i from private.held_event_ids() i)
      and (e.ordering_key is null or not (
        e.ordering_key in (select k from private.held_ordering_keys() k)
        or exists (select 1 from public.events o
                   where o.ordering_key = e.ordering_key and o.status = 'processing')
        or exists (select 1 from public.events o
                   where o.ordering_key = e.ordering_key and o.seq < e.seq
                     and o.status in ('pending', 'processing') and (o.run_after <= now() or o.attempts > 0))))
    returning e.*
  )
  select c.id, c.tenant_id, c.type, c.payload, c.attempts, c.max_attempts, c.ordering_key,
         c.correlation_id, c.causation_id, c.source, c.created_at, c.run_after,
         coalesce((select array_agg(d.handler order by d.handler) from public.event_deliveries d
                   where d.event_id = c.id and d.status = 'succeeded'), '{}'::text[])
  from claimed c
  order by c.run_after, c.seq;
end
$$;

do $$
declare
  fn text;
begin
  foreach fn in array array[
    'public.hold_events(text, integer, double precision)',
    'public.claim_events(text, integer, double precision)'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated', fn);
    execute format('grant execute on function %s to service_role', fn);
  end loop;
end
$$;

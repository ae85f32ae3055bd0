-- The claim functions plan once per connection: every claim looked up the live holds through two SQL
-- functions (private.held_event_ids() and held_ordering_keys()), and a SQL function that carries its own
-- settings is never inlined, so it was planned again on every call, up to five times per claim; and with
-- sequential scans disabled (claim_events, hold_events) the planner's cost of the scan of event_holds bought a
-- JIT compilation of the statements that called them outside pick_due_events (which already has jit off).
-- And plpgsql's plan cache kept choosing custom plans for statements with parameters (the batch size, the
-- picked rows), planning them again on every call. Now the look-ups are subqueries of the claim's own
-- statements, the three functions use generic plans only (planned once per connection), hold_events and
-- claim_events run with jit off, and they set asynchronous commit inline. Measured: see docs/events.md,
-- Throughput. What the functions do is unchanged (see 20261201120100_event_holds.sql and
-- 20261202160000_claims_lock_their_keys.sql).

-- pick_due_events as in 20261201120100_event_holds.sql, the hold look-ups inline.
create or replace function private.pick_due_events(p_batch integer)
returns table (row_id tid, event public.events)
language plpgsql volatile
set search_path = ''
set jit = off
-- One plan per connection: a custom plan (`limit p_batch` known) looked cheaper than the generic one, so
-- every call was planned again, and planning `run_after <= now()` probes the claim index.
set plan_cache_mode = force_generic_plan
as $$
declare
  picked integer;
  demoted_keys text[];
begin
  return query
  select e.ctid, e
  from public.events e
  where e.status = 'pending'
    and not e.held_back
    and e.run_after <= now()
    and e.id not in (select unnest(h.event_ids) from private.event_holds h)
    and (e.ordering_key is null or not (
      e.ordering_key in (select unnest(h.ordering_keys) from private.event_holds h)
      or exists (select 1 from public.events o
                 where o.ordering_key = e.ordering_key and o.status = 'processing')
      or exists (select 1 from public.events o
                 where o.ordering_key = e.ordering_key and o.seq < e.seq
                   and o.status in ('pending', 'processing') and (o.run_after <= now() or o.attempts > 0))))
  order by e.run_after, e.seq
  limit p_batch
  for update of e skip locked;
  get diagnostics picked = row_count;
  if picked < p_batch then
    with demoted_rows as (
      update public.events e
      set held_back = true
      where e.id = any(array(
        select b.id
        from public.events b
        where b.status = 'pending'
          and not b.held_back
          and b.run_after <= now()
          and b.ordering_key is not null
          and b.id not in (select unnest(h.event_ids) from private.event_holds h)
          and (b.ordering_key in (select unnest(h.ordering_keys) from private.event_holds h)
               or exists (select 1 from public.events o
                          where o.ordering_key = b.ordering_key and o.status = 'processing')
               or exists (select 1 from public.events o
                          where o.ordering_key = b.ordering_key and o.seq < b.seq
                            and o.status in ('pending', 'processing') and (o.run_after <= now() or o.attempts > 0)))
        order by b.run_after, b.seq
        limit 10000
        for update of b skip locked))
      returning e.ordering_key
    )
    select array_agg(distinct d.ordering_key) into demoted_keys from demoted_rows d;
    if demoted_keys is not null then
      perform private.release_held_back(demoted_keys);
    end if;
  end if;
end
$$;

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
set jit = off -- as pick_due_events: its plans' costs (seq scans disabled) would buy JIT on every call
set plan_cache_mode = force_generic_plan -- as pick_due_events
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
  perform pg_catalog.set_config('synchronous_commit', 'off', true); -- private.commit_without_waiting(), inline
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
  where x.id not in (select unnest(h.event_ids) from private.event_holds h)
    and (x.ordering_key is null or not (
      x.ordering_key in (select unnest(h.ordering_keys) from private.event_holds h)
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
set jit = off -- as hold_events
set plan_cache_mode = force_generic_plan -- as pick_due_events
as $$
declare
  picked tid[];
begin
  if p_worker is null or btrim(p_worker) = '' then
    raise exception 'claim_events.p_worker: name the worker that takes the lease' using errcode = '22023';
  end if;
  perform private.check_claim_batch('claim_events', p_batch);
  perform pg_catalog.set_config('synchronous_commit', 'off', true); -- private.commit_without_waiting(), inline
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
      and e.id not in (select unnest(h.event_ids) from private.event_holds h)
      and (e.ordering_key is null or not (
        e.ordering_key in (select unnest(h.ordering_keys) from private.event_holds h)
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
    'public.claim_events(text, integer, double precision)',
    'private.pick_due_events(integer)'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated', fn);
    execute format('grant execute on function %s to service_role', fn);
  end loop;
end
$$;

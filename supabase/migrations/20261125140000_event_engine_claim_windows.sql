-- Claim windows: a second, cheaper way to take events, for workers that hold a database connection; and
-- followers of a busy ordering key wait out of the claim line.
--
-- A leased claim (claim_events) writes every event twice: once to lease it (status processing) and once
-- to finish it. Most handlers take milliseconds, so the lease is written and overwritten at once. In a
-- claim window the worker instead locks due events in an open transaction (lock_events: FOR UPDATE SKIP
-- LOCKED, no write), runs their handlers for a short moment, and then, in the same transaction,
-- settle_events finishes those whose handlers are done and leases only those still running. One row
-- version and one commit per event instead of two; the row lock is the lease while the window is open.
--
-- If the worker dies inside a window its transaction rolls back: the events are pending again, with no
-- attempt charged, and run again (at least once, as after an expired lease). A worker therefore takes its
-- first claims after starting as leases, so an event that kills its worker outright is charged an attempt
-- and ends in `failed` after max_attempts like any other (salesflow/events/engine.py).
--
-- PostgREST calls each RPC in its own transaction, so the supabase transport keeps to leased claims.
--
-- Followers of a busy ordering key leave the claim line until their key is free:
--
-- A claim walks due pending events in (run_after, seq) order and passes over those whose ordering key has an
-- earlier event in flight or waiting. When a large backlog is mostly such followers of a few busy keys, every
-- claim walked past all of them again (measured: 20,000 events over 50 keys drained at ~1,300/s, against
-- ~30,000/s without keys). Now a claim that comes back short marks the followers it passed over `held_back`
-- (they leave the claim index), and an event that leaves the active set (processed or failed) puts the next
-- held-back event of its key back in line. The ordering check in the claim stays the authority; held_back
-- only decides what the claim has to look at.
--
-- A claim and a finish of the same key racing can leave a follower held back while its key is free (the
-- claim decided from a snapshot that still showed the finished event, and the finish did not yet see the
-- follower held back). Three things put such followers back in line: the claim looks again at what it just
-- held back, a claim that finds the line empty looks at every held-back key, and recover_expired_leases
-- (every listener's maintenance) does the same.

-- event_deliveries loses its foreign key to events: its check cost every recorded delivery a lookup and
-- a row lock on the event (measured ~3 us of a finish's ~25 us per event), and deliveries are written only
-- by the SQL API below, for events it has just updated. A statement trigger keeps the cascade: deliveries
-- go with their event (and so with their tenant).
alter table public.event_deliveries drop constraint if exists event_deliveries_event_id_fkey;

create or replace function private.forget_deliveries() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  delete from public.event_deliveries d using gone where d.event_id = gone.id;
  return null;
end
$$;

drop trigger if exists events_forget_deliveries on public.events;
create trigger events_forget_deliveries after delete on public.events
  referencing old table as gone
  for each statement execute function private.forget_deliveries();

alter table public.events add column if not exists held_back boolean not null default false;

-- The claim line: pending events not held back, in (run_after, seq) order. The held-back events of a key,
-- in order: the next one to put back in line is one probe away (empty unless a key has a backlog). Together
-- they cover every pending event (event_backlog counts through both).
drop index if exists public.events_claim_idx;
create index events_claim_idx on public.events (run_after, seq) where status = 'pending' and not held_back;
create index if not exists events_held_back_idx on public.events (ordering_key, seq)
  where held_back and status = 'pending';

-- Which keys have an event processing: a lookup per keyed candidate. (Through the index on active events
-- of a key it was a walk over all of them: a key's head with 400 followers cost 400 index entries.) Claim
-- windows never set processing for events their handlers finish in time, so this index stays small.
create index if not exists events_processing_key_idx on public.events (ordering_key)
  where status = 'processing' and ordering_key is not null;

-- Put back in line the first held-back event of each of p_keys (null: of every key) whose key is free:
-- nothing of its key processing, nothing earlier due or waiting for a retry. Only a key's first held-back
-- event can be free (the later ones wait behind it). Returns how many. Called when events of those keys
-- left the active set, and as a sweep for the race described at the top of this file.
create or replace function private.release_held_back(p_keys text[])
returns integer
language sql volatile
set search_path = ''
set jit = off -- as pick_due_events
as $$
  with candidates as (
    -- One probe of events_held_back_idx per key.
    select (select h.id from public.events h
            where h.ordering_key = k.key and h.held_back and h.status = 'pending'
            order by h.seq limit 1) as id
    from unnest(p_keys) as k(key)
    where p_keys is not null
    union all
    select f.id from (
      select distinct on (h.ordering_key) h.id
      from public.events h
      where p_keys is null and h.held_back and h.status = 'pending'
      order by h.ordering_key, h.seq) f
  ), released as (
    update public.events e
    set held_back = false
    where e.id = any(array(select c.id from candidates c))
      and not exists (select 1 from public.events o
                      where o.ordering_key = e.ordering_key and o.status = 'processing')
      and not exists (select 1 from public.events o
                      where o.ordering_key = e.ordering_key and o.seq < e.seq
                        and o.status in ('pending', 'processing') and (o.run_after <= now() or o.attempts > 0))
    returning 1
  )
  select count(*)::integer from released
$$;

-- The events the next claim takes: due pending events in line, in (run_after, seq) order, at most one per
-- ordering_key in flight (see claim_events in 20261125110000_event_engine_api.sql), locked FOR UPDATE
-- SKIP LOCKED for the caller's transaction. One definition for both ways of claiming. It returns each row
-- whole with its ctid: the row is locked, so the ctid stays valid to the end of the transaction and the
-- caller needs no second index lookup (measured ~5 us per event on a freshly filled outbox).
-- (plpgsql, not sql: plpgsql keeps the plan, a sql function is planned again on every call, and planning
-- `run_after <= now()` probes the claim index, which is slow while it holds many dead entries.)
-- An event must wait when another event of its key is processing, or an earlier one is pending and due
-- or waiting for a retry (claim_events in 20261125110000_event_engine_api.sql).
create or replace function private.pick_due_events(p_batch integer)
returns table (row_id tid, event public.events)
language plpgsql volatile
set search_path = ''
-- The planner's estimates for a backlog's worth of rows would buy JIT compilation (~13 ms measured) for a
-- statement that runs many times a second and touches a batch of rows.
set jit = off
as $$
declare
  picked integer;
  swept boolean := false;
  demoted_keys text[];
begin
  loop
    return query
    select e.ctid, e
    from public.events e
    where e.status = 'pending'
      and not e.held_back
      and e.run_after <= now()
      and (e.ordering_key is null or not (
        exists (select 1 from public.events o
                where o.ordering_key = e.ordering_key and o.status = 'processing')
        or exists (select 1 from public.events o
                   where o.ordering_key = e.ordering_key and o.seq < e.seq
                     and o.status in ('pending', 'processing') and (o.run_after <= now() or o.attempts > 0))))
    order by e.run_after, e.seq
    limit p_batch
    for update of e skip locked;
    get diagnostics picked = row_count;
    exit when picked > 0 or swept;
    -- Nothing in line: put back any follower left out of line while its key is free (the race described
    -- at the top of this file), and look once more.
    swept := true;
    exit when private.release_held_back(null) = 0;
  end loop;
  if picked < p_batch then
    -- Short: this claim walked every due event in line. Those it passed over wait for their key; they leave
    -- the line so the next claims do not walk past them again (at most 10,000 per claim, oldest first).
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
          and (exists (select 1 from public.events o
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
    -- Decided from this statement's snapshot: an event that finished since frees its key, and its finish
    -- did not see these followers held back. A fresh look puts such followers back at once.
    if demoted_keys is not null then
      perform private.release_held_back(demoted_keys);
    end if;
  end if;
end
$$;

-- The engine's own state changes (claims, leases, verdicts) commit without waiting for the WAL flush.
-- Losing the last few hundred milliseconds of them in a database crash only means those events run again,
-- which at-least-once delivery already allows: a handler's own writes commit on their own, durably, and
-- the delivery record and idempotent handlers make the second run harmless. What must never be lost, the
-- events themselves, is written by the producer's transaction with its own (synchronous) commit. Measured:
-- one WAL flush per claim and per finish was ~10% of a drain. (set_config is_local: this transaction only.)
create or replace function private.commit_without_waiting()
returns void
language sql volatile
set search_path = ''
as $$
  select set_config('synchronous_commit', 'off', true);
  select null::void
$$;

create or replace function private.check_claim_batch(p_function text, p_batch integer)
returns void
language plpgsql immutable
set search_path = ''
as $$
begin
  if p_batch is null or p_batch not between 1 and 1000 then
    raise exception '%.p_batch: must be between 1 and 1000 (got %)', p_function, p_batch using errcode = '22023';
  end if;
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

  -- Picked in a statement of its own: the pick may itself put held-back rows back in line, and a later
  -- statement sees those new row versions (one statement would not).
  picked := array(select p.row_id from private.pick_due_events(p_batch) p);
  return query
  with claimed as (
    update public.events e
    set status = 'processing',
        attempts = e.attempts + 1,
        locked_by = p_worker,
        locked_until = now() + make_interval(secs => p_lease_seconds)
    -- A TID lookup per picked row (locked, so its ctid is current), never a scan of the whole outbox.
    where e.ctid = any(picked)
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

-- lock_events: open a claim window. Locks up to p_batch due events for the caller's transaction and
-- returns them as claim_events would (attempts is the attempt about to run), without writing them. Only
-- meaningful inside an explicit transaction that ends with settle_events (or a rollback).
create or replace function public.lock_events(p_batch integer default 100)
returns table (
  id uuid, tenant_id uuid, type text, payload jsonb, attempts integer, max_attempts integer,
  ordering_key text, correlation_id uuid, causation_id uuid, source text, created_at timestamptz,
  run_after timestamptz, succeeded_handlers text[]
)
language plpgsql volatile
set search_path = ''
set enable_seqscan = off -- as claim_events
as $$
begin
  perform private.check_claim_batch('lock_events', p_batch);
  return query
  select (p.event).id, (p.event).tenant_id, (p.event).type, (p.event).payload, (p.event).attempts + 1,
         (p.event).max_attempts, (p.event).ordering_key, (p.event).correlation_id, (p.event).causation_id,
         (p.event).source, (p.event).created_at, (p.event).run_after,
         coalesce((select array_agg(d.handler order by d.handler) from public.event_deliveries d
                   where d.event_id = (p.event).id and d.status = 'succeeded'), '{}'::text[])
  from private.pick_due_events(p_batch) p;
end
$$;

-- apply_results: the verdicts of one worker, for finish_events (events leased by p_worker) and for
-- settle_events (events locked by the current transaction, whose attempt is charged here).
-- p_results: [{"id", "outcome": "processed"|"retry"|"failed", "error"?, "retry_in_seconds"?,
--              "deliveries": [{"handler", "status": "succeeded"|"failed", "duration_ms", "error"?}]}]
-- A retry waits retry_in_seconds when given, else p_backoff_base_seconds * 2^(attempts-1) (capped at one
-- hour) times a jitter of 0.75-1.25, so consecutive delays always grow. The last allowed attempt's retry
-- becomes `failed`. Returns how many events were finished.
-- An event of an ordering key that is processed or failed puts the next held-back event of its key back
-- in line.
create or replace function private.apply_results(
  p_caller text,
  p_worker text,
  p_results jsonb,
  p_backoff_base_seconds double precision,
  p_in_window boolean
) returns integer
language plpgsql volatile
set search_path = ''
as $$
declare
  bad text;
  finished integer;
  done_keys text[];
  charged integer := case when p_in_window then 1 else 0 end;
  -- A row this transaction locked FOR UPDATE carries its transaction id in xmax: settle_events touches
  -- only those, so it can never finish an event some other worker holds.
  me xid := case when p_in_window then pg_current_xact_id()::xid end;
begin
  if jsonb_typeof(p_results) is distinct from 'array' then
    raise exception '%.p_results: must be a JSON array of results', p_caller using errcode = '22023';
  end if;
  select r ->> 'outcome' into bad from jsonb_array_elements(p_results) r
  where coalesce(r ->> 'outcome', '') not in ('processed', 'retry', 'failed') limit 1;
  if found then
    raise exception '%.p_results: outcome must be processed, retry or failed (got %)',
      p_caller, coalesce(bad, 'nothing') using errcode = '22023';
  end if;

  with r as materialized (
    select x.id, x.outcome, x.error, x.retry_in_seconds, x.deliveries
    from jsonb_to_recordset(p_results)
      as x(id uuid, outcome text, error text, retry_in_seconds double precision, deliveries jsonb)
  ), updated as (
    update public.events e
    set status = case when r.outcome = 'processed' then 'processed'
                      when r.outcome = 'failed' or e.attempts + charged >= e.max_attempts then 'failed'
                      else 'pending' end,
        attempts = e.attempts + charged,
        processed_at = case when r.outcome = 'processed' then now() else e.processed_at end,
        failed_at = case when r.outcome = 'failed'
                           or (r.outcome = 'retry' and e.attempts + charged >= e.max_attempts)
                         then now() end,
        last_error = case when r.outcome = 'processed' then e.last_error else r.error end,
        run_after = case when r.outcome = 'retry' and e.attempts + charged < e.max_attempts
                         then now() + make_interval(secs => coalesce(
                           r.retry_in_seconds,
                           least(p_backoff_base_seconds * power(2, e.attempts + charged - 1), 3600)
                             * (0.75 + random() * 0.5)))
                         else e.run_after end,
        locked_by = null,
        locked_until = null
    from r
    -- Found by primary key; the lease (or the window's lock) is re-checked on the locked row, so an event
    -- whose lease expired and was recovered meanwhile is left alone. (`is true` keeps the planner off the
    -- partial indexes on status, which hold every dead version a busy outbox leaves until vacuum.)
    where e.id = r.id and e.id = any(array(select r.id from r))
      and (case when p_in_window then (e.status = 'pending') is true and e.xmax = me
                else (e.status = 'processing') is true and e.locked_by = p_worker end)
    returning e.id, e.tenant_id, e.ordering_key, e.status
  ), recorded as (
    insert into public.event_deliveries as d
      (event_id, handler, tenant_id, status, attempts, last_error, duration_ms, started_at, finished_at)
    select u.id, x.handler, u.tenant_id, x.status, 1, x.error, x.duration_ms,
           now() - make_interval(secs => coalesce(x.duration_ms, 0) / 1000.0), now()
    from updated u
    join r on r.id = u.id
    cross join lateral jsonb_to_recordset(coalesce(r.deliveries, '[]'::jsonb))
      as x(handler text, status text, duration_ms double precision, error text)
    on conflict (event_id, handler) do update
      set status = excluded.status,
          attempts = d.attempts + 1,
          last_error = coalesce(excluded.last_error, d.last_error),
          duration_ms = excluded.duration_ms,
          started_at = excluded.started_at,
          finished_at = excluded.finished_at
  )
  -- (A data-modifying WITH runs to completion whether or not it is read, so `recorded` is not joined.)
  select count(*), array_agg(distinct u.ordering_key) filter (where u.ordering_key is not null
                                                               and u.status <> 'pending')
  into finished, done_keys
  from updated u;
  if done_keys is not null then
    perform private.release_held_back(done_keys);
  end if;
  return finished;
end
$$;

-- finish_events: the verdicts of one worker on events it leased, in one call (see apply_results).
-- Events no longer leased by p_worker (lease expired and recovered) are left alone.
create or replace function public.finish_events(
  p_worker text,
  p_results jsonb,
  p_backoff_base_seconds double precision default 1
) returns integer
language sql volatile
set search_path = ''
as $$
  select private.commit_without_waiting();
  select private.apply_results('finish_events', p_worker, p_results, p_backoff_base_seconds, false)
$$;

-- settle_events: close a claim window. In the transaction that called lock_events: finish the events in
-- p_results (their attempt is charged now) and lease p_lease_ids, whose handlers are still running, to
-- p_worker for p_lease_seconds (they finish later through finish_events). Events this transaction did not
-- lock are left alone. Returns how many events were finished or leased.
create or replace function public.settle_events(
  p_worker text,
  p_results jsonb,
  p_lease_ids uuid[] default '{}',
  p_lease_seconds double precision default 30,
  p_backoff_base_seconds double precision default 1
) returns integer
language plpgsql volatile
set search_path = ''
as $$
declare
  finished integer := 0;
  leased integer;
begin
  if p_worker is null or btrim(p_worker) = '' then
    raise exception 'settle_events.p_worker: name the worker that takes the lease' using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds <= 0 or p_lease_seconds > 86400 then
    raise exception 'settle_events.p_lease_seconds: must be > 0 and <= 86400 (got %)', p_lease_seconds
      using errcode = '22023';
  end if;
  perform private.commit_without_waiting();
  if jsonb_typeof(p_results) is distinct from 'array' or jsonb_array_length(p_results) > 0 then
    finished := private.apply_results('settle_events', p_worker, p_results, p_backoff_base_seconds, true);
  end if;
  if cardinality(p_lease_ids) > 0 then
    update public.events e
    set status = 'processing',
        attempts = e.attempts + 1,
        locked_by = p_worker,
        locked_until = now() + make_interval(secs => p_lease_seconds)
    where e.id = any(p_lease_ids) and (e.status = 'pending') is true and e.xmax = pg_current_xact_id()::xid;
    get diagnostics leased = row_count;
  end if;
  return finished + coalesce(leased, 0);
end
$$;

-- recover_expired_leases as before, and the sweep for the claim/finish race: a held-back event whose key
-- is free again goes back in line. Returns the number of recovered leases.
create or replace function public.recover_expired_leases()
returns integer
language plpgsql volatile
set search_path = ''
set jit = off -- as pick_due_events
as $$
declare
  recovered integer;
begin
  with expired as (
    select e.id from public.events e
    where e.status = 'processing' and e.locked_until < now()
    for update skip locked
  ), done as (
    update public.events e
    set status = case when e.attempts >= e.max_attempts then 'failed' else 'pending' end,
        failed_at = case when e.attempts >= e.max_attempts then now() end,
        last_error = case when e.attempts >= e.max_attempts
                          then format('the lease of worker %s expired on the last attempt (%s of %s): '
                                      'the worker stopped or hung', e.locked_by, e.attempts, e.max_attempts)
                          else e.last_error end,
        lease_expiries = e.lease_expiries + 1,
        last_lease_expired_at = now(),
        locked_by = null,
        locked_until = null
    from expired x
    where e.id = x.id
    returning 1
  )
  select count(*) into recovered from done d;
  -- Followers of keys freed here (an event failed for good) or by a raced claim go back in line.
  perform private.release_held_back(null);
  return recovered;
end
$$;

-- event_backlog: as before, counted through the two indexes that together hold every pending event.
create or replace function public.event_backlog()
returns table (pending bigint, oldest_due_age_seconds double precision, next_due_in_seconds double precision)
language sql stable
set search_path = ''
as $$
  with p as (
    select e.run_after from public.events e where e.status = 'pending' and not e.held_back
    union all
    select e.run_after from public.events e where e.status = 'pending' and e.held_back
  )
  select count(*),
         extract(epoch from now() - min(p.run_after) filter (where p.run_after <= now()))::double precision,
         extract(epoch from min(p.run_after) filter (where p.run_after > now()) - now())::double precision
  from p
$$;

-- next_event_due: held-back events wait for their key, not for the clock.
create or replace function public.next_event_due()
returns double precision
language sql stable
set search_path = ''
as $$
  select extract(epoch from e.run_after - now())::double precision
  from public.events e
  where e.status = 'pending' and not e.held_back and e.run_after > now()
  order by e.run_after, e.seq
  limit 1
$$;

do $$
declare
  fn text;
begin
  foreach fn in array array[
    'public.claim_events(text, integer, double precision)',
    'public.lock_events(integer)',
    'public.finish_events(text, jsonb, double precision)',
    'public.settle_events(text, jsonb, uuid[], double precision, double precision)',
    'private.pick_due_events(integer)',
    'private.forget_deliveries()',
    'private.check_claim_batch(text, integer)',
    'private.commit_without_waiting()',
    'private.apply_results(text, text, jsonb, double precision, boolean)',
    'private.release_held_back(text[])',
    'public.recover_expired_leases()',
    'public.next_event_due()',
    'public.event_backlog()'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated', fn);
    execute format('grant execute on function %s to service_role', fn);
  end loop;
end
$$;

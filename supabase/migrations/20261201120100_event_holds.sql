-- Claim windows that hold under faults: an event in a window is held by a committed row of its own.
--
-- Until now a claim window locked its events in an open transaction (lock_events) and the row lock was the
-- lease. A lock lives only as long as its backend: when the window's connection was killed
-- (pg_terminate_backend, a network cut) while handlers of the window were still running in the worker, the
-- transaction rolled back, the events were pending again, and the next claim, the worker's own or another's,
-- took them at once: the same event ran twice at once, and its ordering key had two events in flight. The
-- settle step proved ownership by `xmax = pg_current_xact_id()`, which a row updated by the claim's own
-- demotion step may not satisfy, and nothing reported what it could not settle. And held-back followers were
-- put back in line without SKIP LOCKED from inside open windows, so windows waited on each other.
--
-- Now a window is two short autocommitted calls, and nothing stays locked between them:
--   hold_events    picks due events (FOR UPDATE SKIP LOCKED, as claim_events) and writes one row per event
--                  into private.event_holds (worker, until when), committed before any handler starts. A held
--                  event stays `pending` (one row version of the event is still all a window writes) but no
--                  claim takes it, nor another event of its ordering key, until the hold is gone;
--   settle_events  finishes the events whose handlers are done and leases those still running (status
--                  processing, as claim_events leases them), removing their holds, in one transaction; it
--                  returns the ids it could not settle because this worker no longer holds them.
-- If settle_events fails (the connection is killed), the holds stay: the worker still owns its events, its
-- heartbeat extends the holds, and its finish loop finishes them through finish_events, which accepts events
-- the worker holds as well as events it leased. A worker that dies leaves its holds behind; they expire like
-- leases (recover_expired_leases), and the attempt is charged then, so an event that kills its worker ends in
-- `failed` after max_attempts without any special first claim.
--
-- Between two claims the hold's key index is the authority on "one event of a key in flight": two claims
-- whose snapshots both missed the other's hold cannot both insert one (ON CONFLICT DO NOTHING drops the
-- second). Followers are put back in line with SKIP LOCKED: a follower another transaction has locked is left
-- to the next release or the maintenance sweep, never waited for. Every multi-row update of a worker's own
-- events (finish, settle, extend_lease) either owns disjoint rows or skips locked ones, so a worker's own
-- calls never wait on each other and cannot deadlock.

create table if not exists private.event_holds (
  event_id uuid primary key,
  worker text not null,
  ordering_key text,
  held_until timestamptz not null
);
comment on table private.event_holds is
  'Events in a claim window of a worker: not claimable, nor their ordering key, until settled or expired.';
create unique index if not exists event_holds_key_idx on private.event_holds (ordering_key)
  where ordering_key is not null;
create index if not exists event_holds_until_idx on private.event_holds (held_until);
create index if not exists event_holds_worker_idx on private.event_holds (worker);
revoke all on table private.event_holds from public, anon, authenticated;
grant select, insert, update, delete on table private.event_holds to service_role;

-- The engine's old window functions go: their promise (the row lock is the lease) does not survive faults.
drop function if exists public.lock_events(integer);
drop function if exists public.settle_events(text, jsonb, uuid[], double precision, double precision);
drop function if exists public.finish_events(text, jsonb, double precision);
drop function if exists private.apply_results(text, text, jsonb, double precision, boolean);

-- Put back in line the first held-back event of each of p_keys (null: of every key) whose key is free:
-- nothing of its key held or processing, nothing earlier due or waiting for a retry. SKIP LOCKED: a follower
-- another transaction has locked (a claim demoting it right now) is left to that claim's own re-check or the
-- maintenance sweep, never waited for. Returns how many.
create or replace function private.release_held_back(p_keys text[])
returns integer
language sql volatile
set search_path = ''
set jit = off
as $$
  with candidates as (
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
  ), free as (
    select e.id from public.events e
    where e.id = any(array(select c.id from candidates c where c.id is not null))
      and e.held_back and e.status = 'pending'
      and not exists (select 1 from private.event_holds k where k.ordering_key = e.ordering_key)
      and not exists (select 1 from public.events o
                      where o.ordering_key = e.ordering_key and o.status = 'processing')
      and not exists (select 1 from public.events o
                      where o.ordering_key = e.ordering_key and o.seq < e.seq
                        and o.status in ('pending', 'processing') and (o.run_after <= now() or o.attempts > 0))
    for update of e skip locked
  ), released as (
    update public.events e
    set held_back = false
    where e.id = any(array(select f.id from free f))
    returning 1
  )
  select count(*)::integer from released
$$;

-- The events the next claim takes: due pending events in line, in (run_after, seq) order, neither held nor of
-- a key with an event held or processing, nor behind an earlier event of their key that is due or waiting for
-- a retry; locked FOR UPDATE SKIP LOCKED for the caller's statement (see 20261125140000 for the rest). A
-- claim that comes back short holds back the followers it passed over and re-checks their keys. (An empty
-- claim no longer sweeps every held-back key: the maintenance loop's recover_expired_leases does.)
create or replace function private.pick_due_events(p_batch integer)
returns table (row_id tid, event public.events)
language plpgsql volatile
set search_path = ''
set jit = off
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
    and not exists (select 1 from private.event_holds h where h.event_id = e.id)
    and (e.ordering_key is null or not (
      exists (select 1 from private.event_holds h where h.ordering_key = e.ordering_key)
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
          and not exists (select 1 from private.event_holds h where h.event_id = b.id)
          and (exists (select 1 from private.event_holds h where h.ordering_key = b.ordering_key)
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

-- hold_events: open a claim window. Holds up to p_batch due events for p_worker for p_hold_seconds and
-- returns them as claim_events does (attempts is the attempt about to run; it is charged when the event is
-- settled or finished, or when its hold expires). Commits on its own: the holds exist before any handler runs.
create or replace function public.hold_events(
  p_worker text,
  p_batch integer default 100,
  p_hold_seconds double precision default 30
) returns table (
  id uuid, tenant_id uuid, type text, payload jsonb, attempts integer, max_attempts integer,
  ordering_key text, correlation_id uuid, causation_id uuid, source text, created_at timestamptz,
  run_after timestamptz, succeeded_handlers text[]
)
language plpgsql volatile
set search_path = ''
set enable_seqscan = off -- as claim_events
as $$
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
  return query
  with picked as materialized (
    select p.event from private.pick_due_events(p_batch) p
  ), held as (
    -- A claim whose snapshot missed another's fresh hold (of this event or of its key) inserts nothing here.
    insert into private.event_holds (event_id, worker, ordering_key, held_until)
    select (p.event).id, p_worker, (p.event).ordering_key, now() + make_interval(secs => p_hold_seconds)
    from picked p
    on conflict do nothing
    returning event_holds.event_id
  )
  select (p.event).id, (p.event).tenant_id, (p.event).type, (p.event).payload, (p.event).attempts + 1,
         (p.event).max_attempts, (p.event).ordering_key, (p.event).correlation_id, (p.event).causation_id,
         (p.event).source, (p.event).created_at, (p.event).run_after,
         coalesce((select array_agg(d.handler order by d.handler) from public.event_deliveries d
                   where d.event_id = (p.event).id and d.status = 'succeeded'), '{}'::text[])
  from picked p
  where (p.event).id in (select h.event_id from held h)
  order by (p.event).run_after, (p.event).seq;
end
$$;

-- The verdicts of one worker on the events it holds or leased (for finish_events and settle_events).
-- p_results: [{"id", "outcome": "processed"|"retry"|"failed", "error"?, "retry_in_seconds"?,
--              "deliveries": [{"handler", "status": "succeeded"|"failed", "duration_ms", "error"?}]}]
-- A held event's attempt is charged here (a leased one was charged by its lease). A retry waits
-- retry_in_seconds when given, else p_backoff_base_seconds * 2^(attempts-1) (capped at one hour) times a
-- jitter of 0.75-1.25; the last allowed attempt's retry becomes `failed`. An event of an ordering key that is
-- processed or failed puts the next held-back event of its key back in line. Returns the ids of the results
-- it did not apply: events this worker no longer holds or leases (its lease or hold expired and was
-- recovered, or it was finished already).
create or replace function private.finish_results(
  p_caller text,
  p_worker text,
  p_results jsonb,
  p_backoff_base_seconds double precision
) returns uuid[]
language plpgsql volatile
set search_path = ''
as $$
declare
  bad text;
  lost uuid[];
  done_keys text[];
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
  ), unheld as (
    delete from private.event_holds h
    where h.event_id = any(array(select r.id from r)) and h.worker = p_worker
    returning h.event_id
  ), mine as materialized (
    select r.*, (u.event_id is not null) as held, case when u.event_id is not null then 1 else 0 end as charged
    from r left join unheld u on u.event_id = r.id
  ), updated as (
    update public.events e
    set status = case when m.outcome = 'processed' then 'processed'
                      when m.outcome = 'failed' or e.attempts + m.charged >= e.max_attempts then 'failed'
                      else 'pending' end,
        attempts = e.attempts + m.charged,
        processed_at = case when m.outcome = 'processed' then now() else e.processed_at end,
        failed_at = case when m.outcome = 'failed'
                           or (m.outcome = 'retry' and e.attempts + m.charged >= e.max_attempts)
                         then now() end,
        last_error = case when m.outcome = 'processed' then e.last_error else m.error end,
        run_after = case when m.outcome = 'retry' and e.attempts + m.charged < e.max_attempts
                         then now() + make_interval(secs => coalesce(
                           m.retry_in_seconds,
                           least(p_backoff_base_seconds * power(2, e.attempts + m.charged - 1), 3600)
                             * (0.75 + random() * 0.5)))
                         else e.run_after end,
        locked_by = null,
        locked_until = null
    from mine m
    -- Found by primary key; ownership is re-checked on the row: held by this worker (the hold just removed)
    -- or leased to it. (`is true` keeps the planner off the partial indexes on status.)
    where e.id = m.id and e.id = any(array(select m2.id from mine m2))
      and (case when m.held then (e.status = 'pending') is true
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
  select array(select r.id from r where r.id not in (select u.id from updated u)),
         (select array_agg(distinct u.ordering_key) filter (where u.ordering_key is not null
                                                             and u.status <> 'pending') from updated u)
  into lost, done_keys;
  if done_keys is not null then
    perform private.release_held_back(done_keys);
  end if;
  return lost;
end
$$;

-- finish_events: the verdicts of one worker on events it leased or holds, in one call (see finish_results).
-- Returns the ids it could not finish (no longer this worker's); an empty array when all were finished.
create function public.finish_events(
  p_worker text,
  p_results jsonb,
  p_backoff_base_seconds double precision default 1
) returns uuid[]
language sql volatile
set search_path = ''
as $$
  select private.commit_without_waiting();
  select private.finish_results('finish_events', p_worker, p_results, p_backoff_base_seconds)
$$;

-- settle_events: close a claim window. Finishes p_results and leases p_lease_ids (handlers still running)
-- to p_worker for p_lease_seconds, for events p_worker holds, removing their holds, in one transaction.
-- Returns the ids of results and leases it could not apply because p_worker no longer holds them.
create function public.settle_events(
  p_worker text,
  p_results jsonb,
  p_lease_ids uuid[] default '{}',
  p_lease_seconds double precision default 30,
  p_backoff_base_seconds double precision default 1
) returns uuid[]
language plpgsql volatile
set search_path = ''
as $$
declare
  lost uuid[] := '{}';
  not_leased uuid[];
begin
  if p_worker is null or btrim(p_worker) = '' then
    raise exception 'settle_events.p_worker: name the worker that holds the events' using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds <= 0 or p_lease_seconds > 86400 then
    raise exception 'settle_events.p_lease_seconds: must be > 0 and <= 86400 (got %)', p_lease_seconds
      using errcode = '22023';
  end if;
  perform private.commit_without_waiting();
  if jsonb_typeof(p_results) is distinct from 'array' or jsonb_array_length(p_results) > 0 then
    lost := private.finish_results('settle_events', p_worker, p_results, p_backoff_base_seconds);
  end if;
  if cardinality(p_lease_ids) > 0 then
    with unheld as (
      delete from private.event_holds h
      where h.event_id = any(p_lease_ids) and h.worker = p_worker
      returning h.event_id
    ), leased as (
      update public.events e
      set status = 'processing',
          attempts = e.attempts + 1,
          locked_by = p_worker,
          locked_until = now() + make_interval(secs => p_lease_seconds)
      where e.id = any(array(select u.event_id from unheld u)) and (e.status = 'pending') is true
      returning e.id
    )
    select array(select i from unnest(p_lease_ids) i where i not in (select l.id from leased l))
    into not_leased;
    lost := lost || not_leased;
  end if;
  return lost;
end
$$;

-- record_deliveries: as before, for an event p_worker leased or holds.
create or replace function public.record_deliveries(p_worker text, p_event_id uuid, p_deliveries jsonb)
returns boolean
language plpgsql volatile
set search_path = ''
as $$
declare
  owner uuid;
begin
  select e.tenant_id into owner from public.events e
  where e.id = p_event_id
    and ((e.status = 'processing' and e.locked_by = p_worker)
         or (e.status = 'pending' and exists (select 1 from private.event_holds h
                                              where h.event_id = e.id and h.worker = p_worker)));
  if not found then
    return false;
  end if;
  perform private.upsert_deliveries(p_event_id, owner, p_deliveries);
  return true;
end
$$;

-- extend_lease: heartbeat for long handlers, for leases and holds. Rows another transaction has locked (one
-- of this worker's own finishes, say) are skipped, never waited for (a wait here deadlocked with finish);
-- they are still reported as held. Returns the ids p_worker still leases or holds.
create or replace function public.extend_lease(p_worker text, p_event_ids uuid[], p_lease_seconds double precision)
returns setof uuid
language plpgsql volatile
set search_path = ''
as $$
begin
  perform private.commit_without_waiting();
  update private.event_holds h
  set held_until = now() + make_interval(secs => p_lease_seconds)
  where h.event_id = any(array(select k.event_id from private.event_holds k
                               where k.event_id = any(p_event_ids) and k.worker = p_worker
                               for update skip locked));
  update public.events e
  set locked_until = now() + make_interval(secs => p_lease_seconds)
  where e.id = any(array(select x.id from public.events x
                         where x.id = any(p_event_ids) and x.status = 'processing' and x.locked_by = p_worker
                         for update skip locked));
  return query
  select k.event_id from private.event_holds k where k.event_id = any(p_event_ids) and k.worker = p_worker
  union
  select x.id from public.events x
  where x.id = any(p_event_ids) and x.status = 'processing' and x.locked_by = p_worker;
end
$$;

-- release_events: graceful shutdown gives back events it did not finish, leased or held; the attempt is
-- not charged.
create or replace function public.release_events(p_worker text, p_event_ids uuid[])
returns integer
language sql volatile
set search_path = ''
as $$
  with unheld as (
    delete from private.event_holds h
    where h.event_id = any(p_event_ids) and h.worker = p_worker
    returning 1
  ), released as (
    update public.events e
    set status = 'pending', attempts = greatest(e.attempts - 1, 0), locked_by = null, locked_until = null
    where e.id = any(p_event_ids) and e.status = 'processing' and e.locked_by = p_worker
    returning 1
  )
  select ((select count(*) from unheld) + (select count(*) from released))::integer
$$;

-- recover_expired_leases: expired leases as before; expired holds (a worker died or hung inside a window)
-- are charged the attempt they were running and counted in lease_expiries, or fail on the last attempt;
-- then the sweep puts back in line any follower left out while its key is free. Returns how many events
-- were recovered.
create or replace function public.recover_expired_leases()
returns integer
language plpgsql volatile
set search_path = ''
set jit = off
as $$
declare
  recovered integer;
  unheld integer;
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

  with expired as (
    delete from private.event_holds h
    where h.event_id = any(array(select k.event_id from private.event_holds k
                                 where k.held_until < now() for update skip locked))
    returning h.event_id, h.worker
  ), done as (
    update public.events e
    set attempts = e.attempts + 1,
        status = case when e.attempts + 1 >= e.max_attempts then 'failed' else 'pending' end,
        failed_at = case when e.attempts + 1 >= e.max_attempts then now() end,
        last_error = case when e.attempts + 1 >= e.max_attempts
                          then format('the hold of worker %s expired on the last attempt (%s of %s): '
                                      'the worker stopped or hung', x.worker, e.attempts + 1, e.max_attempts)
                          else e.last_error end,
        lease_expiries = e.lease_expiries + 1,
        last_lease_expired_at = now()
    from expired x
    where e.id = x.event_id and e.status = 'pending'
    returning 1
  )
  select count(*) into unheld from done d;

  perform private.release_held_back(null);
  return recovered + unheld;
end
$$;

-- event_backlog: held events are in flight, not waiting.
create or replace function public.event_backlog()
returns table (pending bigint, oldest_due_age_seconds double precision, next_due_in_seconds double precision)
language sql stable
set search_path = ''
as $$
  with p as (
    select e.run_after from public.events e
    where e.status = 'pending' and not e.held_back
      and not exists (select 1 from private.event_holds h where h.event_id = e.id)
    union all
    select e.run_after from public.events e where e.status = 'pending' and e.held_back
  )
  select count(*),
         extract(epoch from now() - min(p.run_after) filter (where p.run_after <= now()))::double precision,
         extract(epoch from min(p.run_after) filter (where p.run_after > now()) - now())::double precision
  from p
$$;

do $$
declare
  fn text;
begin
  foreach fn in array array[
    'public.hold_events(text, integer, double precision)',
    'public.finish_events(text, jsonb, double precision)',
    'public.settle_events(text, jsonb, uuid[], double precision, double precision)',
    'public.record_deliveries(text, uuid, jsonb)',
    'public.extend_lease(text, uuid[], double precision)',
    'public.release_events(text, uuid[])',
    'public.recover_expired_leases()',
    'public.event_backlog()',
    'private.pick_due_events(integer)',
    'private.release_held_back(text[])',
    'private.finish_results(text, text, jsonb, double precision)'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated', fn);
    execute format('grant execute on function %s to service_role', fn);
  end loop;
end
$$;

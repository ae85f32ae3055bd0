-- Claim windows that hold under faults: the events of a window are held by one committed row.
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
--   hold_events    picks due events (FOR UPDATE SKIP LOCKED, as claim_events) and writes one row for the
--                  window into private.event_holds (the worker, the event ids, their ordering keys, until
--                  when), committed before any handler starts. A held event stays `pending` (one row version
--                  of the event is still all a window writes) but no claim takes it, nor another event of its
--                  ordering key, until the hold is gone;
--   settle_events  names the window it closes (its hold_id), finishes the events whose handlers are done and
--                  leases those still running (status processing, as claim_events leases them), deleting the
--                  hold, in one transaction; it returns the ids it could not settle because this worker no
--                  longer holds them.
-- If settle_events fails (the connection is killed), the hold stays: the worker still owns its events, its
-- heartbeat extends the hold, and its finish loop finishes them through finish_events, which accepts events
-- the worker holds as well as events it leased. A worker that dies leaves its holds behind; they expire like
-- leases (recover_expired_leases), and the attempt is charged then, so an event that kills its worker ends in
-- `failed` after max_attempts without any special first claim.
--
-- Two claims racing: a claim locks its events FOR UPDATE SKIP LOCKED in one statement and, in a second
-- statement with a fresh snapshot, drops those a hold committed meanwhile took (an event, or its key). A row
-- lock is released only when the holder commits, and the holder's hold commits with it, so a claim that got
-- the lock of an event another claim just held always sees that hold in its second statement. Followers are
-- put back in line with SKIP LOCKED: a follower another transaction has locked is left to the next release
-- or the maintenance sweep, never waited for. Every multi-row update of a worker's own events (finish,
-- settle, extend_lease) either owns disjoint rows or skips locked ones, so a worker's own calls never wait on
-- each other and cannot deadlock.
--
-- One row per window, not per event: a row per held event (tried first) cost ~25 us per event to write and
-- delete, a third more than the whole window cost before.

-- The engine's old window functions go: their promise (the row lock is the lease) does not survive faults.
drop function if exists public.lock_events(integer);
drop function if exists public.settle_events(text, jsonb, uuid[], double precision, double precision);
drop function if exists public.finish_events(text, jsonb, double precision);
drop function if exists private.apply_results(text, text, jsonb, double precision, boolean);

create table private.event_holds (
  id bigint generated always as identity primary key,
  worker text not null,
  held_until timestamptz not null,
  event_ids uuid[] not null,
  ordering_keys text[] not null default '{}'
);
comment on table private.event_holds is
  'Claim windows of workers: their events (and ordering keys) are not claimable until settled or expired.';
create index event_holds_worker_idx on private.event_holds (worker);
revoke all on table private.event_holds from public, anon, authenticated;
grant select, insert, update, delete on table private.event_holds to service_role;

-- What every claim excludes: all held events and all ordering keys with a held event.
create or replace function private.held_event_ids()
returns setof uuid
language sql stable
set search_path = ''
as $$
  select unnest(h.event_ids) from private.event_holds h
$$;

create or replace function private.held_ordering_keys()
returns setof text
language sql stable
set search_path = ''
as $$
  select unnest(h.ordering_keys) from private.event_holds h
$$;

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
      and e.ordering_key not in (select k from private.held_ordering_keys() k)
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
-- Held events and keys are excluded through one hashed look-up of all live holds each.
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
    and e.id not in (select i from private.held_event_ids() i)
    and (e.ordering_key is null or not (
      e.ordering_key in (select k from private.held_ordering_keys() k)
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
          and b.id not in (select i from private.held_event_ids() i)
          and (b.ordering_key in (select k from private.held_ordering_keys() k)
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
-- Every returned row carries the window's hold_id, which settle_events takes; no row when nothing was due.
create function public.hold_events(
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
  picked := array(select p.event from private.pick_due_events(p_batch) p);
  if cardinality(picked) = 0 then
    return;
  end if;
  -- A statement of its own, so a fresh snapshot: drop what a hold committed since the pick's snapshot took
  -- (the event itself, or another event of its key).
  insert into private.event_holds (worker, held_until, event_ids, ordering_keys)
  select p_worker, now() + make_interval(secs => p_hold_seconds), array_agg(x.id),
         coalesce(array_agg(x.ordering_key) filter (where x.ordering_key is not null), '{}')
  from unnest(picked) x
  where x.id not in (select i from private.held_event_ids() i)
    and (x.ordering_key is null or x.ordering_key not in (select k from private.held_ordering_keys() k))
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

-- Take p_ids out of p_worker's holds; returns those that were held. (The rare paths: a verdict after a
-- failed settle, a release, a lease converted outside settle_events.)
create or replace function private.unhold(p_worker text, p_ids uuid[])
returns uuid[]
language plpgsql volatile
set search_path = ''
as $$
declare
  taken uuid[];
begin
  with touched as (
    select h.id, h.event_ids from private.event_holds h
    where h.worker = p_worker and h.event_ids && p_ids
    for update
  ), emptied as (
    delete from private.event_holds h using touched t
    where h.id = t.id and t.event_ids <@ p_ids
  ), shrunk as (
    update private.event_holds h
    set event_ids = array(select x from unnest(h.event_ids) x where x <> all(p_ids)),
        ordering_keys = array(select e.ordering_key from public.events e
                              where e.id = any(h.event_ids) and e.id <> all(p_ids) and e.ordering_key is not null)
    from touched t
    where h.id = t.id and not (t.event_ids <@ p_ids)
  )
  select coalesce(array_agg(x), '{}') into taken from touched t, unnest(t.event_ids) x where x = any(p_ids);
  return taken;
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
-- p_held: the ids of results that were held by the worker (the caller took them out of its holds); the rest
-- must be leased to it.
create or replace function private.finish_results(
  p_caller text,
  p_worker text,
  p_results jsonb,
  p_backoff_base_seconds double precision,
  p_held uuid[]
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
    select x.id, x.outcome, x.error, x.retry_in_seconds, x.deliveries, x.id = any(p_held) as held,
           case when x.id = any(p_held) then 1 else 0 end as charged
    from jsonb_to_recordset(p_results)
      as x(id uuid, outcome text, error text, retry_in_seconds double precision, deliveries jsonb)
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
    from r m
    where e.id = m.id and e.id = any(array(select r2.id from r r2))
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
-- Held events are found among the worker's holds.
create or replace function public.finish_events(
  p_worker text,
  p_results jsonb,
  p_backoff_base_seconds double precision default 1
) returns uuid[]
language plpgsql volatile
set search_path = ''
as $$
declare
  held uuid[] := '{}'::uuid[];
begin
  perform private.commit_without_waiting();
  if jsonb_typeof(p_results) = 'array'
     and exists (select 1 from private.event_holds h where h.worker = p_worker) then
    held := private.unhold(p_worker, array(select (r ->> 'id')::uuid from jsonb_array_elements(p_results) r));
  end if;
  return private.finish_results('finish_events', p_worker, p_results, p_backoff_base_seconds, held);
end
$$;

-- settle_events: close the claim window p_hold_id of p_worker: finish p_results and lease p_lease_ids (its
-- handlers still running), removing the hold, in one transaction. Returns the ids it could not settle: all of
-- them when the hold is gone (it expired and was recovered).
create function public.settle_events(
  p_worker text,
  p_hold_id bigint,
  p_results jsonb,
  p_lease_ids uuid[] default '{}',
  p_lease_seconds double precision default 30,
  p_backoff_base_seconds double precision default 1
) returns uuid[]
language plpgsql volatile
set search_path = ''
as $$
declare
  held uuid[];
  lost uuid[] := '{}'::uuid[];
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
  delete from private.event_holds h where h.id = p_hold_id and h.worker = p_worker
  returning h.event_ids into held;
  held := coalesce(held, '{}');
  if jsonb_typeof(p_results) is distinct from 'array' or jsonb_array_length(p_results) > 0 then
    lost := private.finish_results('settle_events', p_worker, p_results, p_backoff_base_seconds, held);
  end if;
  if cardinality(p_lease_ids) > 0 then
    with leased as (
      update public.events e
      set status = 'processing',
          attempts = e.attempts + 1,
          locked_by = p_worker,
          locked_until = now() + make_interval(secs => p_lease_seconds)
      where e.id = any(p_lease_ids) and e.id = any(held) and (e.status = 'pending') is true
      returning e.id
    )
    select array(select i from unnest(p_lease_ids) i where i not in (select l.id from leased l))
    into not_leased;
    lost := lost || not_leased;
  end if;
  return lost;
end
$$;

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
                                              where h.worker = p_worker and p_event_id = any(h.event_ids))));
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
  where h.id = any(array(select k.id from private.event_holds k
                         where k.worker = p_worker and k.event_ids && p_event_ids
                         for update skip locked));
  update public.events e
  set locked_until = now() + make_interval(secs => p_lease_seconds)
  where e.id = any(array(select x.id from public.events x
                         where x.id = any(p_event_ids) and x.status = 'processing' and x.locked_by = p_worker
                         for update skip locked));
  return query
  select i from private.event_holds k, unnest(k.event_ids) i
  where k.worker = p_worker and i = any(p_event_ids)
  union
  select x.id from public.events x
  where x.id = any(p_event_ids) and x.status = 'processing' and x.locked_by = p_worker;
end
$$;

create or replace function public.release_events(p_worker text, p_event_ids uuid[])
returns integer
language plpgsql volatile
set search_path = ''
as $$
declare
  unheld integer;
  released integer;
begin
  unheld := cardinality(private.unhold(p_worker, p_event_ids));
  update public.events e
  set status = 'pending', attempts = greatest(e.attempts - 1, 0), locked_by = null, locked_until = null
  where e.id = any(p_event_ids) and e.status = 'processing' and e.locked_by = p_worker;
  get diagnostics released = row_count;
  return unheld + released;
end
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
    where h.id = any(array(select k.id from private.event_holds k
                           where k.held_until < now() for update skip locked))
    returning h.worker, h.event_ids
  ), unnested as (
    select x.worker, i as id from expired x, unnest(x.event_ids) i
  ), done as (
    update public.events e
    set attempts = e.attempts + 1,
        status = case when e.attempts + 1 >= e.max_attempts then 'failed' else 'pending' end,
        failed_at = case when e.attempts + 1 >= e.max_attempts then now() end,
        last_error = case when e.attempts + 1 >= e.max_attempts
                          then format('the hold of worker %s expired on the last attempt (%s of %s): '
                                      'the worker stopped or hung', u.worker, e.attempts + 1, e.max_attempts)
                          else e.last_error end,
        lease_expiries = e.lease_expiries + 1,
        last_lease_expired_at = now()
    from unnested u
    where e.id = u.id and e.status = 'pending'
    returning 1
  )
  select count(*) into unheld from done d;

  perform private.release_held_back(null);
  return recovered + unheld;
end
$$;

create or replace function public.event_backlog()
returns table (pending bigint, oldest_due_age_seconds double precision, next_due_in_seconds double precision)
language sql stable
set search_path = ''
as $$
  with p as (
    select e.run_after from public.events e
    where e.status = 'pending' and not e.held_back and e.id not in (select i from private.held_event_ids() i)
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
    'public.settle_events(text, bigint, jsonb, uuid[], double precision, double precision)',
    'public.record_deliveries(text, uuid, jsonb)',
    'public.extend_lease(text, uuid[], double precision)',
    'public.release_events(text, uuid[])',
    'public.recover_expired_leases()',
    'public.event_backlog()',
    'private.held_event_ids()',
    'private.held_ordering_keys()',
    'private.pick_due_events(integer)',
    'private.release_held_back(text[])',
    'private.unhold(text, uuid[])',
    'private.finish_results(text, text, jsonb, double precision, uuid[])'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated', fn);
    execute format('grant execute on function %s to service_role', fn);
  end loop;
end
$$;

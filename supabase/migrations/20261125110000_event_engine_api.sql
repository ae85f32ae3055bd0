-- The event engine's SQL API. Every state transition of an event lives here, so both transports (psycopg
-- and PostgREST RPC) only call these functions. Callable by service_role only.
--
-- Lifecycle: pending --claim--> processing --finish--> processed
--                                            \--finish(retry)--> pending (run_after = now() + backoff)
--                                            \--finish(failed) or attempts exhausted--> failed (dead letter)
--            processing --lease expired--> pending (or failed when attempts are exhausted)
--            processed | failed --replay--> pending

-- claim_events: lease up to p_batch due pending events to p_worker.
-- Ordering: an event with an ordering_key is claimable only when no other event of that key is
-- processing, and no earlier event (by seq) of that key is pending and either due or waiting for a retry.
-- So one key has at most one event in flight, oldest first, and a retry keeps later events waiting; an
-- earlier event that is merely scheduled for later (never attempted) does not block the key.
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
as $$
begin
  if p_worker is null or btrim(p_worker) = '' then
    raise exception 'claim_events.p_worker: name the worker that takes the lease' using errcode = '22023';
  end if;
  if p_batch is null or p_batch not between 1 and 1000 then
    raise exception 'claim_events.p_batch: must be between 1 and 1000 (got %)', p_batch using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds <= 0 or p_lease_seconds > 86400 then
    raise exception 'claim_events.p_lease_seconds: must be > 0 and <= 86400 (got %)', p_lease_seconds
      using errcode = '22023';
  end if;

  return query
  with picked as (
    select e.id
    from public.events e
    where e.status = 'pending'
      and e.run_after <= now()
      and (e.ordering_key is null or not exists (
        select 1 from public.events o
        where o.ordering_key = e.ordering_key
          and o.status in ('pending', 'processing')
          and o.id <> e.id
          and (o.status = 'processing'
               or (o.seq < e.seq and (o.run_after <= now() or o.attempts > 0)))
      ))
    order by e.run_after, e.seq
    limit p_batch
    for update of e skip locked
  ), claimed as (
    update public.events e
    set status = 'processing',
        attempts = e.attempts + 1,
        locked_by = p_worker,
        locked_until = now() + make_interval(secs => p_lease_seconds)
    -- any(array(...)) makes this an index lookup per picked id, never a scan of the whole outbox.
    where e.id = any(array(select picked.id from picked))
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

-- The deliveries of one finish or record call: upsert by (event, handler), counting attempts.
create or replace function private.upsert_deliveries(p_event_id uuid, p_tenant_id uuid, p_deliveries jsonb)
returns void
language sql volatile
set search_path = ''
as $$
  insert into public.event_deliveries as d
    (event_id, handler, tenant_id, status, attempts, last_error, duration_ms, started_at, finished_at)
  select p_event_id, x.handler, p_tenant_id, x.status, 1, x.error, x.duration_ms,
         now() - make_interval(secs => coalesce(x.duration_ms, 0) / 1000.0), now()
  from jsonb_to_recordset(coalesce(p_deliveries, '[]'::jsonb))
    as x(handler text, status text, duration_ms double precision, error text)
  on conflict (event_id, handler) do update
    set status = excluded.status,
        attempts = d.attempts + 1,
        last_error = coalesce(excluded.last_error, d.last_error),
        duration_ms = excluded.duration_ms,
        started_at = excluded.started_at,
        finished_at = excluded.finished_at
$$;

-- finish_events: the verdicts of one worker on events it holds, in one call.
-- p_results: [{"id", "outcome": "processed"|"retry"|"failed", "error"?, "retry_in_seconds"?,
--              "deliveries": [{"handler", "status": "succeeded"|"failed", "duration_ms", "error"?}]}]
-- A retry waits retry_in_seconds when given, else p_backoff_base_seconds * 2^(attempts-1) (capped at one
-- hour) times a jitter of 0.75-1.25, so consecutive delays always grow. The last allowed attempt's retry
-- becomes `failed`. Events no longer leased by p_worker (lease expired and recovered) are left alone.
-- Returns how many events were finished.
create or replace function public.finish_events(
  p_worker text,
  p_results jsonb,
  p_backoff_base_seconds double precision default 1
) returns integer
language plpgsql volatile
set search_path = ''
as $$
declare
  bad text;
  finished integer;
begin
  if jsonb_typeof(p_results) is distinct from 'array' then
    raise exception 'finish_events.p_results: must be a JSON array of results' using errcode = '22023';
  end if;
  select r ->> 'outcome' into bad from jsonb_array_elements(p_results) r
  where coalesce(r ->> 'outcome', '') not in ('processed', 'retry', 'failed') limit 1;
  if found then
    raise exception 'finish_events.p_results: outcome must be processed, retry or failed (got %)',
      coalesce(bad, 'nothing') using errcode = '22023';
  end if;

  with r as materialized (
    select x.id, x.outcome, x.error, x.retry_in_seconds, x.deliveries
    from jsonb_to_recordset(p_results)
      as x(id uuid, outcome text, error text, retry_in_seconds double precision, deliveries jsonb)
  ), updated as (
    update public.events e
    set status = case when r.outcome = 'processed' then 'processed'
                      when r.outcome = 'failed' or e.attempts >= e.max_attempts then 'failed'
                      else 'pending' end,
        processed_at = case when r.outcome = 'processed' then now() else e.processed_at end,
        failed_at = case when r.outcome = 'failed' or (r.outcome = 'retry' and e.attempts >= e.max_attempts)
                         then now() end,
        last_error = case when r.outcome = 'processed' then e.last_error else r.error end,
        run_after = case when r.outcome = 'retry' and e.attempts < e.max_attempts
                         then now() + make_interval(secs => coalesce(
                           r.retry_in_seconds,
                           least(p_backoff_base_seconds * power(2, e.attempts - 1), 3600)
                             * (0.75 + random() * 0.5)))
                         else e.run_after end,
        locked_by = null,
        locked_until = null
    from r
    -- Found by primary key; the lease test is re-checked on the locked row, so an event whose lease
    -- expired and was recovered meanwhile is left alone. (`is true` keeps the planner off the partial
    -- index on processing events, which holds every dead version a busy outbox leaves until vacuum.)
    where e.id = r.id and e.id = any(array(select r.id from r))
      and (e.status = 'processing') is true and e.locked_by = p_worker
    returning e.id, e.tenant_id
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
    returning 1
  )
  select count(*) into finished from updated, (select count(*) from recorded) as all_recorded;
  return finished;
end
$$;

create or replace function public.complete_event(p_event_id uuid, p_worker text, p_deliveries jsonb default '[]')
returns boolean
language sql volatile
set search_path = ''
as $$
  select public.finish_events(p_worker, jsonb_build_array(jsonb_build_object(
    'id', p_event_id, 'outcome', 'processed', 'deliveries', coalesce(p_deliveries, '[]'::jsonb)))) = 1
$$;

create or replace function public.fail_event(
  p_event_id uuid,
  p_worker text,
  p_error text,
  p_deliveries jsonb default '[]',
  p_retry_in_seconds double precision default null,
  p_permanent boolean default false,
  p_backoff_base_seconds double precision default 1
) returns boolean
language sql volatile
set search_path = ''
as $$
  select public.finish_events(p_worker, jsonb_build_array(jsonb_build_object(
    'id', p_event_id, 'outcome', case when p_permanent then 'failed' else 'retry' end, 'error', p_error,
    'retry_in_seconds', p_retry_in_seconds, 'deliveries', coalesce(p_deliveries, '[]'::jsonb))),
    p_backoff_base_seconds) = 1
$$;

-- record_deliveries: handler outcomes recorded before the event finishes (several handlers on one event:
-- a crash then does not repeat a handler that already succeeded). Only for an event p_worker holds.
create or replace function public.record_deliveries(p_worker text, p_event_id uuid, p_deliveries jsonb)
returns boolean
language plpgsql volatile
set search_path = ''
as $$
declare
  owner uuid;
begin
  select e.tenant_id into owner from public.events e
  where e.id = p_event_id and e.status = 'processing' and e.locked_by = p_worker;
  if not found then
    return false;
  end if;
  perform private.upsert_deliveries(p_event_id, owner, p_deliveries);
  return true;
end
$$;

-- extend_lease: heartbeat for long handlers. Returns the ids p_worker still holds.
create or replace function public.extend_lease(p_worker text, p_event_ids uuid[], p_lease_seconds double precision)
returns setof uuid
language sql volatile
set search_path = ''
as $$
  update public.events e
  set locked_until = now() + make_interval(secs => p_lease_seconds)
  where e.id = any(p_event_ids) and e.status = 'processing' and e.locked_by = p_worker
  returning e.id
$$;

-- release_events: graceful shutdown gives back events it did not finish; the attempt is not charged.
create or replace function public.release_events(p_worker text, p_event_ids uuid[])
returns integer
language sql volatile
set search_path = ''
as $$
  with released as (
    update public.events e
    set status = 'pending', attempts = greatest(e.attempts - 1, 0), locked_by = null, locked_until = null
    where e.id = any(p_event_ids) and e.status = 'processing' and e.locked_by = p_worker
    returning 1
  )
  select count(*)::integer from released
$$;

-- recover_expired_leases: a crashed or hung worker's events run again (counted in lease_expiries);
-- an event whose attempts are exhausted goes to failed instead, so a poison event cannot crash-loop.
create or replace function public.recover_expired_leases()
returns integer
language sql volatile
set search_path = ''
as $$
  with expired as (
    select e.id from public.events e
    where e.status = 'processing' and e.locked_until < now()
    for update skip locked
  ), recovered as (
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
  select count(*)::integer from recovered
$$;

-- replay_event: a processed or failed event back to pending. By default only handlers whose delivery did
-- not succeed run again; p_all_handlers forgets the deliveries so every handler runs again.
create or replace function public.replay_event(p_event_id uuid, p_all_handlers boolean default false)
returns text
language plpgsql volatile
set search_path = ''
as $$
declare
  current_status text;
begin
  select e.status into current_status from public.events e where e.id = p_event_id for update;
  if not found then
    raise exception 'replay_event: no event with id %', p_event_id using errcode = 'P0002';
  end if;
  if current_status not in ('processed', 'failed') then
    raise exception 'replay_event: event % is %; only processed or failed events can be replayed',
      p_event_id, current_status using errcode = '55000';
  end if;
  if p_all_handlers then
    delete from public.event_deliveries d where d.event_id = p_event_id;
  end if;
  update public.events e
  set status = 'pending', attempts = 0, run_after = now(), failed_at = null, processed_at = null,
      locked_by = null, locked_until = null
  where e.id = p_event_id;
  return 'pending';
end
$$;

-- replay_events: every event with p_status (failed by default) matching the filters; returns how many.
create or replace function public.replay_events(
  p_status text default 'failed',
  p_type text default null,
  p_since timestamptz default null,
  p_all_handlers boolean default false
) returns integer
language plpgsql volatile
set search_path = ''
as $$
declare
  replayed integer;
begin
  if p_status is null or p_status not in ('processed', 'failed') then
    raise exception 'replay_events.p_status: must be failed or processed (got %)', coalesce(p_status, 'null')
      using errcode = '22023';
  end if;
  with picked as (
    select e.id from public.events e
    where e.status = p_status
      and (p_type is null or e.type = p_type)
      and (p_since is null or e.created_at >= p_since)
    for update
  ), forgotten as (
    delete from public.event_deliveries d using picked
    where p_all_handlers and d.event_id = picked.id
  ), replayed_rows as (
    update public.events e
    set status = 'pending', attempts = 0, run_after = now(), failed_at = null, processed_at = null,
        locked_by = null, locked_until = null
    from picked
    where e.id = picked.id
    returning 1
  )
  select count(*) into replayed from replayed_rows;
  return replayed;
end
$$;

-- event_backlog: pending events, the lag of the oldest due one, and when the next delayed one is due.
create or replace function public.event_backlog()
returns table (pending bigint, oldest_due_age_seconds double precision, next_due_in_seconds double precision)
language sql stable
set search_path = ''
as $$
  select count(*),
         extract(epoch from now() - min(e.run_after) filter (where e.run_after <= now()))::double precision,
         extract(epoch from min(e.run_after) filter (where e.run_after > now()) - now())::double precision
  from public.events e
  where e.status = 'pending'
$$;

-- next_event_due: seconds until the earliest not-yet-due pending event (null when none): the idle
-- listener sleeps until then, because a delayed event sends no NOTIFY when it becomes due.
create or replace function public.next_event_due()
returns double precision
language sql stable
set search_path = ''
as $$
  select extract(epoch from e.run_after - now())::double precision
  from public.events e
  where e.status = 'pending' and e.run_after > now()
  order by e.run_after, e.seq
  limit 1
$$;

-- publish_event: the checked way for services and the CLI to publish. Errors name the field.
create or replace function public.publish_event(
  p_tenant_id uuid,
  p_type text,
  p_payload jsonb default '{}',
  p_ordering_key text default null,
  p_run_after_seconds double precision default null,
  p_correlation_id uuid default null,
  p_causation_id uuid default null,
  p_source text default 'api',
  p_max_attempts integer default 5
) returns uuid
language plpgsql volatile
set search_path = ''
as $$
declare
  size integer;
begin
  if p_tenant_id is null then
    raise exception 'publish_event.tenant_id: required' using errcode = '23502';
  end if;
  if not exists (select 1 from public.tenants t where t.id = p_tenant_id) then
    raise exception 'publish_event.tenant_id: no tenant with id %', p_tenant_id using errcode = '23503';
  end if;
  if p_type is null or not exists (select 1 from public.event_types t where t.name = p_type) then
    raise exception 'publish_event.type: unknown event type %', coalesce(quote_literal(p_type), 'null')
      using errcode = '22023',
            hint = 'known types: ' || (select string_agg(t.name, ', ' order by t.name) from public.event_types t);
  end if;
  if jsonb_typeof(coalesce(p_payload, '{}'::jsonb)) <> 'object' then
    raise exception 'publish_event.payload: must be a JSON object (got a JSON %)', jsonb_typeof(p_payload)
      using errcode = '22023';
  end if;
  size := octet_length(coalesce(p_payload, '{}'::jsonb)::text);
  if size > 262144 then
    raise exception 'publish_event.payload: % bytes is over the limit of 262144 bytes (256 KiB)', size
      using errcode = '54000';
  end if;
  if p_max_attempts is null or p_max_attempts not between 1 and 100 then
    raise exception 'publish_event.max_attempts: must be between 1 and 100 (got %)', p_max_attempts
      using errcode = '22023';
  end if;
  if p_run_after_seconds is not null and p_run_after_seconds < 0 then
    raise exception 'publish_event.run_after_seconds: must be >= 0 (got %)', p_run_after_seconds
      using errcode = '22023';
  end if;
  return private.emit_event(
    p_tenant_id, p_type, coalesce(p_payload, '{}'::jsonb), p_ordering_key, coalesce(p_source, 'api'),
    now() + make_interval(secs => coalesce(p_run_after_seconds, 0)), p_correlation_id, p_causation_id,
    p_max_attempts);
end
$$;

-- event_status_report: what `salesflow events status` shows, as one JSON document.
create or replace function public.event_status_report()
returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object(
    'by_status', (select coalesce(jsonb_object_agg(s.status, s.n), '{}'::jsonb) from (
        select e.status, count(*) as n from public.events e group by e.status) s),
    'by_type', (select coalesce(jsonb_agg(jsonb_build_object('type', t.type, 'status', t.status, 'count', t.n)
                                          order by t.type, t.status), '[]'::jsonb) from (
        select e.type, e.status, count(*) as n from public.events e group by e.type, e.status) t),
    'oldest_pending_age_seconds', (select extract(epoch from now() - min(e.run_after))::double precision
                                   from public.events e where e.status = 'pending' and e.run_after <= now()),
    'failed_last_hour', (select count(*) from public.events e
                         where e.status = 'failed' and e.failed_at > now() - interval '1 hour'),
    'lease_expiries_total', (select coalesce(sum(e.lease_expiries), 0) from public.events e),
    'lease_expiries_last_hour', (select count(*) from public.events e
                                 where e.last_lease_expired_at > now() - interval '1 hour'),
    'processing', (select count(*) from public.events e where e.status = 'processing'),
    'generated_at', now()
  )
$$;

do $$
declare
  fn text;
begin
  foreach fn in array array[
    'public.claim_events(text, integer, double precision)',
    'public.finish_events(text, jsonb, double precision)',
    'public.complete_event(uuid, text, jsonb)',
    'public.fail_event(uuid, text, text, jsonb, double precision, boolean, double precision)',
    'public.record_deliveries(text, uuid, jsonb)',
    'public.extend_lease(text, uuid[], double precision)',
    'public.release_events(text, uuid[])',
    'public.recover_expired_leases()',
    'public.replay_event(uuid, boolean)',
    'public.replay_events(text, text, timestamptz, boolean)',
    'public.event_backlog()',
    'public.next_event_due()',
    'public.publish_event(uuid, text, jsonb, text, double precision, uuid, uuid, text, integer)',
    'public.event_status_report()',
    'private.upsert_deliveries(uuid, uuid, jsonb)'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated', fn);
    execute format('grant execute on function %s to service_role', fn);
  end loop;
end
$$;

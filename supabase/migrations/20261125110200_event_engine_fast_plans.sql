-- Event engine, second pass: plans that stay fast on a busy outbox (measured with ./scripts/bench events).
--
-- An index on (status, type) costs every claim and finish an index insert, and lured the planner into
-- walking all dead 'processing' versions a busy outbox leaves behind until vacuum. The status report
-- counts with one scan instead; failed events have their own partial index (events_failed_at_idx).
drop index if exists public.events_status_type_idx;

-- claim_events: the UPDATE finds the picked rows by primary key (it hash-joined a scan of the whole
-- outbox before). Same signature and semantics as in 20261125110000_event_engine_api.sql.
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

-- finish_events: one primary-key lookup per result (no plan through a status index). Same signature and
-- semantics as in 20261125110000_event_engine_api.sql.
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
  ), mine as materialized (
    select e.id, e.tenant_id, e.attempts, e.max_attempts, r.outcome, r.error, r.retry_in_seconds,
           r.deliveries
    -- One primary-key lookup per result. The status test stays outside the locking subquery (which is
    -- never flattened into a join) so no index on status can be chosen: such a plan walks every dead
    -- 'processing' version a busy outbox leaves behind until vacuum.
    from r cross join lateral (
      select ev.id, ev.tenant_id, ev.attempts, ev.max_attempts, ev.status, ev.locked_by
      from public.events ev
      where ev.id = r.id
      offset 0  -- keeps the outer status test from being pushed down into this lookup
      for update
    ) e
    where e.status = 'processing' and e.locked_by = p_worker
  ), recorded as (
    insert into public.event_deliveries as d
      (event_id, handler, tenant_id, status, attempts, last_error, duration_ms, started_at, finished_at)
    select m.id, x.handler, m.tenant_id, x.status, 1, x.error, x.duration_ms,
           now() - make_interval(secs => coalesce(x.duration_ms, 0) / 1000.0), now()
    from mine m,
         jsonb_to_recordset(coalesce(m.deliveries, '[]'::jsonb))
           as x(handler text, status text, duration_ms double precision, error text)
    on conflict (event_id, handler) do update
      set status = excluded.status,
          attempts = d.attempts + 1,
          last_error = coalesce(excluded.last_error, d.last_error),
          duration_ms = excluded.duration_ms,
          started_at = excluded.started_at,
          finished_at = excluded.finished_at
    returning 1
  ), updated as (
    update public.events e
    set status = case when m.outcome = 'processed' then 'processed'
                      when m.outcome = 'failed' or e.attempts >= e.max_attempts then 'failed'
                      else 'pending' end,
        processed_at = case when m.outcome = 'processed' then now() else e.processed_at end,
        failed_at = case when m.outcome = 'failed' or (m.outcome = 'retry' and e.attempts >= e.max_attempts)
                         then now() end,
        last_error = case when m.outcome = 'processed' then e.last_error else m.error end,
        run_after = case when m.outcome = 'retry' and e.attempts < e.max_attempts
                         then now() + make_interval(secs => coalesce(
                           m.retry_in_seconds,
                           least(p_backoff_base_seconds * power(2, e.attempts - 1), 3600)
                             * (0.75 + random() * 0.5)))
                         else e.run_after end,
        locked_by = null,
        locked_until = null
    from mine m
    where e.id = m.id and e.id = any(array(select mine.id from mine))
    returning e.id
  )
  select count(*) into finished from updated;
  return finished;
end
$$;

revoke all on function public.claim_events(text, integer, double precision) from public, anon, authenticated;
grant execute on function public.claim_events(text, integer, double precision) to service_role;
revoke all on function public.finish_events(text, jsonb, double precision) from public, anon, authenticated;
grant execute on function public.finish_events(text, jsonb, double precision) to service_role;

-- The dashboard's Events view: one summary read and one replay, both for a signed-in user of a tenant.
--
-- dashboard_event_summary is security invoker: RLS on public.events scopes it to the token's tenant as
-- any other read. Every part of it is read through an index (docs/dashboard.md shows the plans with
-- 1,000,000 events):
--   window counts           events_tenant_created_idx (tenant_id, created_at desc), the window only
--   failed / oldest pending events_failed_tenant_idx (20261203110100), events_claim_idx (partial: only
--                           failed / pending rows)
--   throughput per minute   events_processed_at_idx, events_failed_at_idx (partial, the last hour only)
-- No rollup and no trigger on public.events: either would cost every claim and finish.
--
-- dashboard_replay_event is security definer (replay_event is a service function): it replays only an
-- event of the caller's token tenant, and only for its owners and admins.

create or replace function public.dashboard_event_summary(
  p_since timestamptz default null,
  p_type text default null
) returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  tenant uuid := private.tenant_id();
  since timestamptz := coalesce(p_since, now() - interval '1 hour');
  result jsonb;
begin
  if since < now() - interval '7 days' then
    raise exception 'dashboard_event_summary.p_since: must be within the last 7 days (got %)', p_since
      using errcode = '22023';
  end if;
  if p_type is not null and p_type !~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$' then
    raise exception 'dashboard_event_summary.p_type: an event type like lead.created (got %)', p_type
      using errcode = '22023';
  end if;
  if tenant is null then
    return null;
  end if;

  with win as (
    select e.type, e.status, count(*) as n
    from public.events e
    where e.tenant_id = tenant and e.created_at >= since and (p_type is null or e.type = p_type)
    group by e.type, e.status
  ), minutes as (
    select m.minute, sum(m.processed)::bigint as processed, sum(m.failed)::bigint as failed
    from (
      select date_trunc('minute', e.processed_at) as minute, 1 as processed, 0 as failed
      from public.events e
      where e.status = 'processed' and e.processed_at >= now() - interval '1 hour' and e.tenant_id = tenant
        and (p_type is null or e.type = p_type)
      union all
      select date_trunc('minute', e.failed_at), 0, 1
      from public.events e
      where e.status = 'failed' and e.failed_at >= now() - interval '1 hour' and e.tenant_id = tenant
        and (p_type is null or e.type = p_type)
    ) m
    group by m.minute
  )
  select jsonb_build_object(
    'tenant_id', tenant,
    'since', since,
    'type', p_type,
    'window_by_status', (select coalesce(jsonb_object_agg(s.status, s.n), '{}'::jsonb)
                         from (select w.status, sum(w.n)::bigint as n from win w group by w.status) s),
    'window_by_type', (select coalesce(jsonb_agg(jsonb_build_object('type', w.type, 'status', w.status, 'count', w.n)
                                                 order by w.type, w.status), '[]'::jsonb) from win w),
    'failed', (select count(*) from public.events e
               where e.status = 'failed' and e.tenant_id = tenant and (p_type is null or e.type = p_type)),
    -- Pending in two parts so that each is read through its partial index (the claim line, the held back).
    'pending', (select count(*) from public.events e
                where e.status = 'pending' and not e.held_back and e.tenant_id = tenant
                  and (p_type is null or e.type = p_type))
             + (select count(*) from public.events e
                where e.status = 'pending' and e.held_back and e.tenant_id = tenant
                  and (p_type is null or e.type = p_type)),
    'processing', (select count(*) from public.events e
                   where e.status = 'processing' and e.tenant_id = tenant and (p_type is null or e.type = p_type)),
    'oldest_pending_age_seconds', (
      select extract(epoch from now() - min(e.run_after))::double precision
      from public.events e
      where e.status = 'pending' and not e.held_back and e.run_after <= now() and e.tenant_id = tenant
        and (p_type is null or e.type = p_type)),
    'throughput', (select coalesce(jsonb_agg(jsonb_build_object('minute', m.minute, 'processed', m.processed,
                                                                 'failed', m.failed) order by m.minute), '[]'::jsonb)
                   from minutes m),
    'processed_last_hour', (select coalesce(sum(m.processed), 0) from minutes m),
    'failed_last_hour', (select coalesce(sum(m.failed), 0) from minutes m),
    'generated_at', now()
  ) into result;
  return result;
end
$$;

comment on function public.dashboard_event_summary(timestamptz, text) is
  'The Events view''s counts for the token''s tenant: by status and type of the events created since p_since '
  '(default the last hour, at most 7 days), failed/pending/processing totals, the age of the oldest due '
  'pending event, and processed/failed per minute over the last hour. Security invoker under RLS.';

create or replace function public.dashboard_replay_event(p_event_id uuid, p_all_handlers boolean default false)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  tenant uuid := private.tenant_id();
  caller_role text := private.tenant_role();
  event_tenant uuid;
  event_status text;
begin
  if p_event_id is null then
    raise exception 'dashboard_replay_event.p_event_id: the id of an event of your tenant is required'
      using errcode = '22023';
  end if;
  if tenant is null then
    raise exception 'dashboard_replay_event: the token names no tenant you are a member of'
      using errcode = '42501';
  end if;
  select e.tenant_id, e.status into event_tenant, event_status from public.events e where e.id = p_event_id;
  -- Another tenant's event is answered like a missing one: its existence is not theirs to learn.
  if not found or event_tenant is distinct from tenant then
    -- PT404 / PT409: PostgREST answers these SQLSTATEs with that HTTP status.
    raise exception 'dashboard_replay_event.p_event_id: no event % in your tenant', p_event_id
      using errcode = 'PT404';
  end if;
  if caller_role not in ('owner', 'admin') then
    raise exception 'dashboard_replay_event: only owners and admins of the tenant may replay events (your role: %)', caller_role
      using errcode = '42501';
  end if;
  if event_status not in ('failed', 'processed') then
    raise exception 'dashboard_replay_event.p_event_id: event % is %; only failed or processed events can be replayed',
      p_event_id, event_status using errcode = 'PT409';
  end if;
  perform public.replay_event(p_event_id, coalesce(p_all_handlers, false));
  return jsonb_build_object('id', p_event_id, 'status', 'pending', 'all_handlers', coalesce(p_all_handlers, false));
end
$$;

comment on function public.dashboard_replay_event(uuid, boolean) is
  'Replay one event of the token''s tenant (owners and admins only): its failed handlers, or every handler '
  'with p_all_handlers. Refuses members (42501, HTTP 403), events of other tenants as missing (PT404) and events not failed or processed (PT409).';

revoke all on function public.dashboard_event_summary(timestamptz, text) from public, anon;
grant execute on function public.dashboard_event_summary(timestamptz, text) to authenticated, service_role;
revoke all on function public.dashboard_replay_event(uuid, boolean) from public, anon;
grant execute on function public.dashboard_replay_event(uuid, boolean) to authenticated, service_role;

-- The backfill: re-derive a tenant's analytics facts for a period from the tables and the events still kept,
-- then recompute its journeys and rollups, in one transaction (salesflow analytics rebuild).
--
-- public.analytics_rebuild(p_tenant_id, p_from, p_to) → jsonb counts. Days are the tenant's (time zone as the
-- reports'); null = from the beginning / up to now. What it does, for facts in the period:
--   touchpoints      from public.messages (inbound: received_at; outbound: sent_at, once sent): missing ones are
--                    added, derived columns (lead, channel, direction, actor, time) corrected, and touchpoints
--                    whose message is gone (or was never sent) removed. AI cost, sequence and step are kept.
--   stage entries    lead_created from public.leads; status stages from the lead.status_changed events still
--                    kept (events are pruned after SALESFLOW_EVENT_RETENTION; older entries stay as they are).
--   deal outcomes    from the kept lead.status_changed events to won / lost.
--   meetings         from the kept meeting.booked events.
-- Then every journey of the tenant is recomputed and its rollups are replaced by a fresh group-by. The triggers
-- stand aside meanwhile (salesflow.analytics_bulk), and the journey and rollup tables are locked against the
-- handlers' concurrent updates (they wait, then apply on top).

create or replace function private.analytics_stage_of_status(p_status text) returns text
language sql immutable
set search_path = ''
as $$
  select case p_status
    when 'contacted' then 'first_contact' when 'qualified' then 'lead_qualified' when 'proposal' then 'proposal_sent'
    when 'negotiation' then 'negotiation' when 'won' then 'deal_closed_won' when 'lost' then 'lost'
  end
$$;
comment on function private.analytics_stage_of_status(text) is
  'The funnel stage a lead status enters (null for new). Mirrored by salesflow/analytics/stages.py.';

create or replace function public.analytics_rebuild(
  p_tenant_id uuid,
  p_from date default null,
  p_to date default null
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  zone text;
  starts timestamptz;
  ends timestamptz;
  n_touch integer;
  n_touch_removed integer;
  n_stage integer;
  n_status integer;
  n_outcome integer;
  n_meeting integer;
  n_journeys integer;
  n_rollups integer;
  handler_name constant text := 'analytics_rebuild';
begin
  if p_tenant_id is null or not exists (select 1 from public.tenants t where t.id = p_tenant_id) then
    raise exception 'analytics_rebuild.p_tenant_id: no tenant %', coalesce(p_tenant_id::text, 'null')
      using errcode = '22023';
  end if;
  if p_from is not null and p_to is not null and p_from > p_to then
    raise exception 'analytics_rebuild.p_from: % is after p_to %', p_from, p_to using errcode = '22023';
  end if;
  zone := private.analytics_tenant_timezone(p_tenant_id);
  starts := coalesce(p_from::timestamp at time zone zone, '-infinity'::timestamptz);
  ends := coalesce((p_to + 1)::timestamp at time zone zone, 'infinity'::timestamptz);

  lock table public.analytics_lead_journeys, public.analytics_daily_rollups in share row exclusive mode;
  perform set_config('salesflow.analytics_bulk', 'on', true);

  insert into public.analytics_touchpoints as t
    (tenant_id, lead_id, message_id, channel, direction, actor, occurred_at, handler)
  select m.tenant_id, m.lead_id, m.id, m.channel, m.direction,
         case when m.direction = 'in' then 'lead' when m.sent_by = 'autopilot' then 'autopilot'
              when m.sent_by = 'sequence' then 'sequence' else 'human' end,
         case when m.direction = 'in' then m.received_at else m.sent_at end,
         handler_name
  from public.messages m
  where m.tenant_id = p_tenant_id
    and (case when m.direction = 'in' then m.received_at else m.sent_at end) >= starts
    and (case when m.direction = 'in' then m.received_at else m.sent_at end) < ends
  on conflict (message_id) do update set
    lead_id = excluded.lead_id, channel = excluded.channel, direction = excluded.direction, actor = excluded.actor,
    occurred_at = excluded.occurred_at
  where t.tenant_id = excluded.tenant_id
    and (t.lead_id, t.channel, t.direction, t.actor, t.occurred_at)
        is distinct from (excluded.lead_id, excluded.channel, excluded.direction, excluded.actor, excluded.occurred_at);
  get diagnostics n_touch = row_count;

  delete from public.analytics_touchpoints t
  where t.tenant_id = p_tenant_id and t.occurred_at >= starts and t.occurred_at < ends
    and not exists (select 1 from public.messages m
                    where m.id = t.message_id and m.tenant_id = p_tenant_id
                      and (m.direction = 'in' or m.sent_at is not null));
  get diagnostics n_touch_removed = row_count;

  insert into public.analytics_stage_entries (tenant_id, lead_id, stage, entered_at, handler)
  select l.tenant_id, l.id, 'lead_created', l.created_at, handler_name
  from public.leads l
  where l.tenant_id = p_tenant_id and l.created_at >= starts and l.created_at < ends
  on conflict (lead_id, stage, entered_at) do nothing;
  get diagnostics n_stage = row_count;

  insert into public.analytics_stage_entries (tenant_id, lead_id, stage, from_status, to_status, entered_at,
                                              event_id, handler)
  select l.tenant_id, l.id, private.analytics_stage_of_status(e.payload ->> 'to'), e.payload ->> 'from',
         e.payload ->> 'to', e.created_at, e.id, handler_name
  from public.events e
  join public.leads l on l.id = (e.payload ->> 'lead_id')::uuid and l.tenant_id = e.tenant_id
  where e.tenant_id = p_tenant_id and e.type = 'lead.status_changed'
    and e.created_at >= starts and e.created_at < ends
    and private.analytics_stage_of_status(e.payload ->> 'to') is not null
  on conflict (lead_id, stage, entered_at) do nothing;
  get diagnostics n_status = row_count;

  insert into public.analytics_deal_outcomes (tenant_id, lead_id, outcome, value, currency, closed_at, event_id,
                                              handler)
  select l.tenant_id, l.id, e.payload ->> 'to',
         coalesce((e.payload #>> '{changes,deal_value,to}')::numeric, l.deal_value),
         case when e.payload #>> '{changes,deal_value,to}' is not null
              then coalesce(e.payload #>> '{changes,currency,to}', l.currency) else l.currency end,
         e.created_at, e.id, handler_name
  from public.events e
  join public.leads l on l.id = (e.payload ->> 'lead_id')::uuid and l.tenant_id = e.tenant_id
  where e.tenant_id = p_tenant_id and e.type = 'lead.status_changed' and e.payload ->> 'to' in ('won', 'lost')
    and e.created_at >= starts and e.created_at < ends
  on conflict (lead_id, outcome, closed_at) do nothing;
  get diagnostics n_outcome = row_count;

  insert into public.analytics_meetings as mt (id, tenant_id, lead_id, starts_at, booked_at, held_at, event_id, handler)
  select (e.payload ->> 'meeting_id')::uuid, l.tenant_id, l.id, (e.payload ->> 'starts_at')::timestamptz,
         (e.payload ->> 'booked_at')::timestamptz, (e.payload ->> 'held_at')::timestamptz, e.id, handler_name
  from public.events e
  join public.leads l on l.id = (e.payload ->> 'lead_id')::uuid and l.tenant_id = e.tenant_id
  where e.tenant_id = p_tenant_id and e.type = 'meeting.booked'
    and (e.payload ->> 'booked_at')::timestamptz >= starts and (e.payload ->> 'booked_at')::timestamptz < ends
  order by e.created_at
  on conflict (id) do update set held_at = excluded.held_at
    where mt.held_at is null and excluded.held_at is not null and mt.tenant_id = excluded.tenant_id;
  get diagnostics n_meeting = row_count;

  perform private.analytics_refresh_journeys(p_tenant_id, null);
  select count(*) into n_journeys from public.analytics_lead_journeys j where j.tenant_id = p_tenant_id;

  delete from public.analytics_daily_rollups r where r.tenant_id = p_tenant_id;
  insert into public.analytics_daily_rollups
  select * from private.analytics_rollups_recomputed(p_tenant_id);
  get diagnostics n_rollups = row_count;

  perform set_config('salesflow.analytics_bulk', 'off', true);
  return jsonb_build_object(
    'tenant_id', p_tenant_id, 'from', p_from, 'to', p_to, 'tz', zone,
    'touchpoints_written', n_touch, 'touchpoints_removed', n_touch_removed,
    'stage_entries_added', n_stage + n_status, 'deal_outcomes_added', n_outcome, 'meetings_written', n_meeting,
    'journeys', n_journeys, 'rollup_rows', n_rollups);
end
$$;

revoke all on function private.analytics_stage_of_status(text) from public, anon;
grant execute on function private.analytics_stage_of_status(text) to authenticated, service_role;
revoke all on function public.analytics_rebuild(uuid, date, date) from public, anon, authenticated;
grant execute on function public.analytics_rebuild(uuid, date, date) to service_role;

comment on function public.analytics_rebuild(uuid, date, date) is
  'Re-derive a tenant''s analytics facts for [p_from, p_to] (tenant days) from tables and kept events, then '
  'recompute its journeys and rollups. Service code only (salesflow analytics rebuild).';

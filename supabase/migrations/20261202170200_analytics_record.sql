-- How the analytics handlers write facts: one call per event, for service code only.
--
-- public.analytics_record(p_tenant_id, p_touchpoints, p_stage_entries, p_meetings, p_deal_outcomes) inserts
-- the given rows (JSON arrays of objects with the tables' column names) in the tenant, skipping
--   * rows whose lead is not (or no longer) the tenant's: a deleted lead's late event writes nothing and fails
--     nothing (a foreign-key error would retry the event until it is dead-lettered);
--   * rows already recorded (each table's natural key), so a redelivered event changes nothing.
-- Left out: a stage entry's entered_at is the lead's created_at for lead_created; a won or lost deal's value
-- and currency are the lead's when not given. A meeting recorded again with held_at keeps the first held_at.
-- Returns {"touchpoints": n, "stage_entries": n, "meetings": n, "deal_outcomes": n}: how many rows were new.

create or replace function public.analytics_record(
  p_tenant_id uuid,
  p_touchpoints jsonb default '[]'::jsonb,
  p_stage_entries jsonb default '[]'::jsonb,
  p_meetings jsonb default '[]'::jsonb,
  p_deal_outcomes jsonb default '[]'::jsonb
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  n_touch integer;
  n_stage integer;
  n_meeting integer;
  n_outcome integer;
begin
  if p_tenant_id is null then
    raise exception 'analytics_record.p_tenant_id: a tenant is required' using errcode = '22023';
  end if;

  insert into public.analytics_touchpoints as t
    (tenant_id, lead_id, message_id, channel, direction, actor, sequence_id, step_id, ai_cost_usd, occurred_at,
     event_id, handler)
  select l.tenant_id, l.id, r.message_id, r.channel, r.direction, r.actor, r.sequence_id, r.step_id,
         coalesce(r.ai_cost_usd, 0), r.occurred_at, r.event_id, r.handler
  from jsonb_to_recordset(coalesce(p_touchpoints, '[]'::jsonb)) as r(
         lead_id uuid, message_id uuid, channel text, direction text, actor text, sequence_id uuid, step_id uuid,
         ai_cost_usd numeric, occurred_at timestamptz, event_id uuid, handler text)
  join public.leads l on l.id = r.lead_id and l.tenant_id = p_tenant_id
  on conflict (message_id) do nothing;
  get diagnostics n_touch = row_count;

  insert into public.analytics_stage_entries as s
    (tenant_id, lead_id, stage, from_status, to_status, entered_at, event_id, handler)
  select l.tenant_id, l.id, r.stage, r.from_status, r.to_status,
         coalesce(r.entered_at, case when r.stage = 'lead_created' then l.created_at end), r.event_id, r.handler
  from jsonb_to_recordset(coalesce(p_stage_entries, '[]'::jsonb)) as r(
         lead_id uuid, stage text, from_status text, to_status text, entered_at timestamptz, event_id uuid,
         handler text)
  join public.leads l on l.id = r.lead_id and l.tenant_id = p_tenant_id
  on conflict (lead_id, stage, entered_at) do nothing;
  get diagnostics n_stage = row_count;

  with input as (
    select r.* from jsonb_to_recordset(coalesce(p_meetings, '[]'::jsonb)) as r(
      id uuid, lead_id uuid, starts_at timestamptz, booked_at timestamptz, held_at timestamptz, event_id uuid,
      handler text)
  ), written as (
    insert into public.analytics_meetings as m (id, tenant_id, lead_id, starts_at, booked_at, held_at, event_id, handler)
    select i.id, l.tenant_id, l.id, i.starts_at, i.booked_at, i.held_at, i.event_id, i.handler
    from input i join public.leads l on l.id = i.lead_id and l.tenant_id = p_tenant_id
    on conflict (id) do update set held_at = excluded.held_at
      where m.held_at is null and excluded.held_at is not null and m.tenant_id = excluded.tenant_id
    returning (xmax = 0) as inserted
  )
  select count(*) filter (where w.inserted) into n_meeting from written w;

  insert into public.analytics_deal_outcomes as d
    (tenant_id, lead_id, outcome, value, currency, closed_at, event_id, handler)
  select l.tenant_id, l.id, r.outcome,
         case when r.value is not null then r.value else l.deal_value end,
         case when r.value is not null then coalesce(r.currency, l.currency) else l.currency end,
         r.closed_at, r.event_id, r.handler
  from jsonb_to_recordset(coalesce(p_deal_outcomes, '[]'::jsonb)) as r(
         lead_id uuid, outcome text, value numeric, currency text, closed_at timestamptz, event_id uuid, handler text)
  join public.leads l on l.id = r.lead_id and l.tenant_id = p_tenant_id
  on conflict (lead_id, outcome, closed_at) do nothing;
  get diagnostics n_outcome = row_count;

  return jsonb_build_object('touchpoints', n_touch, 'stage_entries', n_stage, 'meetings', n_meeting,
                            'deal_outcomes', n_outcome);
end
$$;

revoke all on function public.analytics_record(uuid, jsonb, jsonb, jsonb, jsonb) from public, anon, authenticated;
grant execute on function public.analytics_record(uuid, jsonb, jsonb, jsonb, jsonb) to service_role;

comment on function public.analytics_record(uuid, jsonb, jsonb, jsonb, jsonb) is
  'Insert analytics facts for a tenant, idempotently (natural keys), skipping rows whose lead is not the tenant''s. '
  'Service code only (salesflow/handlers/analytics_facts.py).';

-- public.analytics_record, the same facts: a kind with no rows is not inserted at all. Every call ran four
-- inserts, and each fired its table's analytics statement triggers even with nothing to write; one message's
-- event writes one touchpoint, so three of the four were empty statements paid per event (issue 12 point 5).
-- Results, privileges and errors are unchanged.
-- Whether a kind's argument may hold rows: anything but null or an empty array (a non-array still reaches
-- jsonb_to_recordset and fails there, as before).
create or replace function private.analytics_has_rows(p_rows jsonb) returns boolean
language sql immutable
set search_path = ''
as $$
  select p_rows is not null and not (jsonb_typeof(p_rows) = 'array' and jsonb_array_length(p_rows) = 0)
$$;

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
  n_touch integer := 0;
  n_stage integer := 0;
  n_meeting integer := 0;
  n_outcome integer := 0;
begin
  if p_tenant_id is null then
    raise exception 'analytics_record.p_tenant_id: a tenant is required' using errcode = '22023';
  end if;

  if private.analytics_has_rows(p_touchpoints) then
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
  end if;

  if private.analytics_has_rows(p_stage_entries) then
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
  end if;

  if private.analytics_has_rows(p_meetings) then
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
  end if;

  if private.analytics_has_rows(p_deal_outcomes) then
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
  end if;

  return jsonb_build_object('touchpoints', n_touch, 'stage_entries', n_stage, 'meetings', n_meeting,
                            'deal_outcomes', n_outcome);
end
$$;

revoke all on function private.analytics_has_rows(jsonb) from public, anon, authenticated;

-- private.analytics_journeys_of, the same journeys (docs/analytics.md, "Stage rules"), found lead by lead.
--
-- The first version filtered every fact table with `lead_id = any (p_lead_ids)` and found the replies with a
-- join of all the tenant's inbound touchpoints to the leads' first contact: one refresh read every inbound
-- touchpoint of the tenant (800,000 rows on a tenant with 2,000,000 touchpoints), for every event the listener
-- handled, and a 2,000-element array was searched linearly per row (0.6 s to refresh 2,000 leads of a small
-- tenant). Now the leads are a set (the array unnested; all the tenant's leads when it is null, for the
-- rebuild) and each lead's facts are read through the (tenant_id, lead_id, ...) indexes: the cost of a refresh
-- is the size of those leads' histories, whatever the size of the tenant.

create or replace function private.analytics_journeys_of(p_tenant_id uuid, p_lead_ids uuid[])
returns setof public.analytics_lead_journeys
language plpgsql stable security definer
set search_path = ''
as $$
begin
  -- PL/pgSQL, not SQL: the plan is cached per session (planning this query took ~25 ms, longer than running it
  -- for one lead, and a SQL function returning a set is planned at every call).
  return query
  with l as materialized (
    select l.id, l.tenant_id, l.status, l.created_at, l.deal_value, l.currency
    from public.leads l
    where l.tenant_id = p_tenant_id and p_lead_ids is null
    union all
    select l.id, l.tenant_id, l.status, l.created_at, l.deal_value, l.currency
    from (select distinct u.id from unnest(p_lead_ids) as u(id)) ids
    join public.leads l on l.id = ids.id and l.tenant_id = p_tenant_id
    where p_lead_ids is not null
  ), per_lead as (
    select l.*, s.*, o.first_out, m.meeting_scheduled, m.meeting_completed, w.won_value, w.won_currency, w.has_win
    from l
    left join lateral (
      select min(e.entered_at) filter (where e.stage = 'lead_created') as s_lead_created,
             min(e.entered_at) filter (where e.stage = 'lead_qualified') as s_lead_qualified,
             min(e.entered_at) filter (where e.stage = 'first_contact') as s_first_contact,
             min(e.entered_at) filter (where e.stage = 'proposal_sent') as s_proposal_sent,
             min(e.entered_at) filter (where e.stage = 'negotiation') as s_negotiation,
             min(e.entered_at) filter (where e.stage = 'deal_closed_won') as s_deal_closed_won,
             min(e.entered_at) filter (where e.stage = 'lost') as s_lost,
             min(e.entered_at) filter (where e.stage = 'churned') as s_churned
      from public.analytics_stage_entries e
      where e.tenant_id = p_tenant_id and e.lead_id = l.id
    ) s on true
    left join lateral (
      select min(t.occurred_at) as first_out
      from public.analytics_touchpoints t
      where t.tenant_id = p_tenant_id and t.lead_id = l.id and t.direction = 'out'
    ) o on true
    left join lateral (
      select min(mt.booked_at) as meeting_scheduled, min(mt.held_at) as meeting_completed
      from public.analytics_meetings mt
      where mt.tenant_id = p_tenant_id and mt.lead_id = l.id
    ) m on true
    left join lateral (
      select d.value as won_value, d.currency as won_currency, true as has_win
      from public.analytics_deal_outcomes d
      where d.tenant_id = p_tenant_id and d.lead_id = l.id and d.outcome = 'won'
      order by d.closed_at
      limit 1
    ) w on true
  ), contacted as (
    -- first contact: the first outbound message, or the move to `contacted`, whichever came first
    select p.*,
           least(p.first_out, p.s_first_contact,
                 case when p.status = 'contacted' and p.s_first_contact is null then p.created_at end) as contact_at
    from per_lead p
  ), answered as (
    select c.*, r.replies
    from contacted c
    left join lateral (
      select array(
        select t.occurred_at
        from public.analytics_touchpoints t
        where t.tenant_id = p_tenant_id and t.lead_id = c.id and t.direction = 'in' and t.occurred_at >= c.contact_at
        order by t.occurred_at, t.message_id
        limit 2) as replies
    ) r on c.contact_at is not null
  )
  select
    a.id, a.tenant_id,
    coalesce(a.s_lead_created, a.created_at),
    -- A status with no recorded move into it is the status the lead was created (or imported) with.
    coalesce(a.s_lead_qualified, case when a.status = 'qualified' then a.created_at end),
    a.contact_at,
    a.replies[1],
    a.replies[2],
    a.meeting_scheduled,
    a.meeting_completed,
    coalesce(a.s_proposal_sent, case when a.status = 'proposal' then a.created_at end),
    coalesce(a.s_negotiation, case when a.status = 'negotiation' then a.created_at end),
    coalesce(a.s_deal_closed_won, case when a.status = 'won' then a.created_at end),
    coalesce(a.s_lost, case when a.status = 'lost' then a.created_at end),
    a.s_churned,
    case when coalesce(a.s_deal_closed_won, case when a.status = 'won' then a.created_at end) is not null
         then case when a.has_win then a.won_value else a.deal_value end end::numeric(14, 2),
    case when coalesce(a.s_deal_closed_won, case when a.status = 'won' then a.created_at end) is not null
         then case when a.has_win then a.won_currency else a.currency end end,
    now()
  from answered a;
end
$$;

revoke all on function private.analytics_journeys_of(uuid, uuid[]) from public, anon, authenticated;

-- The inbox's 0–100 priority of a conversation (docs/inbox.md has the formula and worked examples):
--   engagement  0–30  5 points per message the lead wrote, at most 30
--   recency     0–25  25 at the lead's last message, falling linearly to 0 a week (168 h) later
--   sentiment   0–15  positive 15, neutral or unknown 7.5, negative 0
--   interest    0–10  10 when the lead showed interest (salesflow/inbox/signals.py)
--   lead score  0–20  20 % of the lead's score (0–100), as the old system weighed it
-- rounded half up. p_at is the moment it is computed for (now() in the inbox), so it is immutable and testable.
--
-- The inbox shows the autopilot's newest draft waiting for approval on a conversation (draft_action_id,
-- draft_text and the reason "a draft waits for approval"): an interested lead's conversation needs a person,
-- and the autopilot (20261202190100_autopilot_actions.sql) has usually drafted the answer already; a member
-- approves, edits or rejects it with public.autopilot_decide. Expired drafts are left out.

create or replace function private.inbox_priority(
  p_inbound_count integer, p_last_inbound_at timestamptz, p_sentiment text, p_interest boolean,
  p_lead_score integer, p_at timestamptz
) returns integer
language sql immutable
set search_path = ''
as $$
  select least(100, greatest(0, round(
      least(30, 5 * greatest(coalesce(p_inbound_count, 0), 0))::numeric
    + case when p_last_inbound_at is null then 0::numeric
           else 25 * least(1::numeric, greatest(0::numeric,
                  1 - extract(epoch from (p_at - p_last_inbound_at)) / (168 * 3600)))
      end
    + case p_sentiment when 'positive' then 15::numeric when 'negative' then 0::numeric else 7.5 end
    + case when coalesce(p_interest, false) then 10::numeric else 0::numeric end
    + 0.2 * least(100, greatest(0, coalesce(p_lead_score, 0)))::numeric
  )))::integer
$$;
revoke all on function private.inbox_priority(integer, timestamptz, text, boolean, integer, timestamptz)
  from public, anon;
grant execute on function private.inbox_priority(integer, timestamptz, text, boolean, integer, timestamptz)
  to authenticated, service_role;

-- The inbox: a tenant's conversations on every channel (archived ones left out), highest priority first,
-- with what a list needs. Security invoker: a member sees their token's tenant only (RLS); service code
-- names p_tenant_id. Pages: pass the last row's priority and conversation id as p_before_priority /
-- p_before_id. p_needs_attention: only conversations waiting for a person.
create or replace function public.inbox(
  p_needs_attention boolean default false,
  p_limit integer default 50,
  p_before_priority integer default null,
  p_before_id uuid default null,
  p_tenant_id uuid default null
) returns table (
  conversation_id uuid, lead_id uuid, lead_name text, channel text, inbox_status text, status text,
  priority integer, reasons text[], unread_count integer, last_message_preview text,
  last_message_direction text, last_message_at timestamptz, last_inbound_at timestamptz,
  snoozed_until timestamptz, lead_score integer, draft_action_id uuid, draft_text text
)
language sql stable security invoker
set search_path = ''
as $$
  with scored as (
    select c.id, c.tenant_id, c.lead_id, c.channel, c.inbox_status, c.status, c.unread_count, c.last_inbound_at,
           c.snoozed_until, c.sentiment, c.interest_at, l.name as lead_name, l.score as lead_score,
           private.inbox_priority(c.inbound_count, c.last_inbound_at, c.sentiment, c.interest_at is not null,
                                  l.score, now()) as priority
    from public.conversations c
    join public.leads l on l.id = c.lead_id and l.tenant_id = c.tenant_id
    where c.tenant_id = coalesce(p_tenant_id, (select private.tenant_id()))
      and c.inbox_status <> 'archived'
      and (not coalesce(p_needs_attention, false) or c.inbox_status = 'needs_human_attention')
  )
  select s.id, s.lead_id, s.lead_name, s.channel::text, s.inbox_status, s.status, s.priority,
         array_remove(array[
           case when s.inbox_status = 'needs_human_attention' then 'needs a person' end,
           case when s.interest_at is not null then 'showed interest' end,
           case when s.unread_count > 0 then s.unread_count::text || ' unread' end,
           case s.sentiment when 'positive' then 'positive tone' when 'negative' then 'negative tone' end,
           case when s.lead_score >= 70 then 'lead score ' || s.lead_score::text end,
           case when s.snoozed_until > now() then 'asked to wait until ' || to_char(s.snoozed_until, 'YYYY-MM-DD') end,
           case when d.id is not null then 'a draft waits for approval' end
         ], null),
         s.unread_count,
         left(coalesce(m.body, '[' || coalesce(m.template_name, m.content_type) || ']'), 140),
         m.direction, m.created_at, s.last_inbound_at, s.snoozed_until, s.lead_score, d.id, d.draft
  from scored s
  left join lateral (
    select x.body, x.template_name, x.content_type, x.direction, x.created_at
    from public.messages x
    where x.conversation_id = s.id and x.tenant_id = s.tenant_id and x.lead_id = s.lead_id and x.channel = s.channel
    order by x.created_at desc
    limit 1
  ) m on true
  left join lateral (
    select a.id, a.draft
    from public.autopilot_actions a
    where a.conversation_id = s.id and a.tenant_id = s.tenant_id and a.status = 'queued_for_approval'
      and (a.expires_at is null or a.expires_at > now())
    order by a.created_at desc
    limit 1
  ) d on true
  where p_before_priority is null
     or (s.priority, s.id) < (p_before_priority, coalesce(p_before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid))
  order by s.priority desc, s.id desc
  limit least(greatest(coalesce(p_limit, 50), 1), 500)
$$;
revoke all on function public.inbox(boolean, integer, integer, uuid, uuid) from public, anon;
grant execute on function public.inbox(boolean, integer, integer, uuid, uuid) to authenticated, service_role;

-- Best contact time: when a lead writes, as an hour-of-week histogram in the lead's time zone (leads.timezone,
-- else UTC), most replies first. hour_of_week = (ISO weekday - 1) * 24 + hour: 0 is Monday 00:00–00:59.
create or replace function public.lead_best_contact_hours(p_lead_id uuid, p_limit integer default 3)
returns table (hour_of_week integer, weekday integer, hour integer, replies integer, time_zone text)
language sql stable security invoker
set search_path = ''
as $$
  with lead as (
    select l.id, l.tenant_id, coalesce(l.timezone, 'UTC') as tz from public.leads l where l.id = p_lead_id
  ), local as (
    select (m.received_at at time zone lead.tz) as at, lead.tz
    from lead join public.messages m on m.lead_id = lead.id and m.tenant_id = lead.tenant_id
    where m.direction = 'in'
  )
  select ((extract(isodow from at)::integer - 1) * 24 + extract(hour from at)::integer),
         extract(isodow from at)::integer, extract(hour from at)::integer, count(*)::integer, tz
  from local
  group by 1, 2, 3, 5
  order by 4 desc, 1
  limit least(greatest(coalesce(p_limit, 3), 1), 168)
$$;
revoke all on function public.lead_best_contact_hours(uuid, integer) from public, anon;
grant execute on function public.lead_best_contact_hours(uuid, integer) to authenticated, service_role;

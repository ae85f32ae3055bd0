-- The inbox shows the autopilot's newest draft waiting for approval on a conversation (draft_action_id,
-- draft_text and the reason "a draft waits for approval"): an interested lead's conversation needs a person,
-- and the autopilot (20261202190100_autopilot_actions.sql) has usually drafted the answer already; a member
-- approves, edits or rejects it with public.autopilot_decide. Expired drafts are left out. The result gains
-- columns, so the function is dropped and made again (same arguments, same grants).

drop function if exists public.inbox(boolean, integer, integer, uuid, uuid);

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

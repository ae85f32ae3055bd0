-- What the inbox handler read in an inbound message (salesflow/inbox/signals.py), applied to its conversation:
--   interest  → needs_human_attention, interest_at = the message's time
--   delay     → delay_requested, snoozed_until = the message's time + p_snooze_days, the thread snoozed
--   none      → the status stays (the messages trigger made it replied); the sentiment is still recorded
-- Only the conversation's newest inbound message moves it, once (inbox_signal_message_id): a redelivered or
-- late event changes nothing, and converted, archived or unsubscribed conversations stay as they are.
-- Returns {"applied": bool, "conversation_id", "lead_id", "inbox_status", "snoozed_until"}.
--
-- A requested delay ends: inbox_apply_signal publishes `inbox.delay_over` delayed to snoozed_until (the
-- 14 days), and the inbox handler then hands the conversation back to a person (needs_human_attention) and
-- resumes the sequence enrollments the delay paused (salesflow/handlers/inbox.py).

insert into public.event_types (name, description) values
  ('inbox.delay_over', 'A lead''s requested delay ended (delayed with run_after = snoozed_until). Payload: '
                       'conversation_id, lead_id, message_id, snoozed_until.')
on conflict (name) do update set description = excluded.description;

create or replace function public.inbox_apply_signal(
  p_tenant_id uuid, p_message_id uuid, p_signal text, p_sentiment text default null, p_snooze_days integer default 14
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_conversation uuid;
  v_lead uuid;
  v_received timestamptz;
  v_direction text;
  v_status text;
  v_until timestamptz;
begin
  if p_signal is null or p_signal not in ('interest', 'delay', 'none') then
    raise exception 'inbox_apply_signal.p_signal: % is not a signal; allowed: interest, delay, none',
      coalesce(quote_literal(p_signal), 'null') using errcode = '22023', column = 'p_signal';
  end if;
  if p_sentiment is not null and p_sentiment not in ('positive', 'neutral', 'negative') then
    raise exception 'inbox_apply_signal.p_sentiment: % is not a sentiment; allowed: positive, neutral, negative',
      quote_literal(p_sentiment) using errcode = '22023', column = 'p_sentiment';
  end if;
  if p_snooze_days is null or p_snooze_days not between 1 and 365 then
    raise exception 'inbox_apply_signal.p_snooze_days: must be 1 to 365 days' using errcode = '22023';
  end if;
  select m.conversation_id, m.lead_id, m.received_at, m.direction
    into v_conversation, v_lead, v_received, v_direction
  from public.messages m where m.id = p_message_id and m.tenant_id = p_tenant_id;
  if not found or v_direction <> 'in' then
    return jsonb_build_object('applied', false, 'reason', 'no inbound message ' || p_message_id::text);
  end if;
  update public.conversations c
  set inbox_status = case p_signal when 'interest' then 'needs_human_attention'
                                   when 'delay' then 'delay_requested' else c.inbox_status end,
      interest_at = case when p_signal = 'interest' then v_received
                         when p_sentiment = 'negative' then null else c.interest_at end,
      snoozed_until = case when p_signal = 'delay' then v_received + make_interval(days => p_snooze_days)
                           else c.snoozed_until end,
      status = case when p_signal = 'delay' then 'snoozed' else c.status end,
      sentiment = coalesce(p_sentiment, c.sentiment),
      inbox_signal_message_id = p_message_id
  where c.id = v_conversation and c.tenant_id = p_tenant_id
    and c.inbox_signal_message_id is distinct from p_message_id
    and c.inbox_status not in ('converted', 'archived', 'unsubscribed')
    and not exists (
      select 1 from public.messages later
      where later.conversation_id = c.id and later.tenant_id = c.tenant_id and later.direction = 'in'
        and (later.received_at, later.id) > (v_received, p_message_id))
  returning c.inbox_status, c.snoozed_until into v_status, v_until;
  if v_status is null then
    select c.inbox_status, c.snoozed_until into v_status, v_until from public.conversations c where c.id = v_conversation;
    return jsonb_build_object('applied', false, 'conversation_id', v_conversation, 'lead_id', v_lead,
                              'inbox_status', v_status, 'snoozed_until', v_until);
  end if;
  if p_signal = 'delay' then
    -- The end of the pause, delayed to it; a later delay request publishes its own (and this one then finds
    -- another snoozed_until and does nothing).
    insert into public.events (tenant_id, type, payload, ordering_key, source, run_after)
    values (p_tenant_id, 'inbox.delay_over',
            jsonb_build_object('conversation_id', v_conversation, 'lead_id', v_lead, 'message_id', p_message_id,
                               'snoozed_until', v_until),
            v_lead::text, 'db', v_until);
  end if;
  return jsonb_build_object('applied', true, 'conversation_id', v_conversation, 'lead_id', v_lead,
                            'inbox_status', v_status, 'snoozed_until', v_until);
end
$$;
revoke all on function public.inbox_apply_signal(uuid, uuid, text, text, integer) from public, anon, authenticated;
grant execute on function public.inbox_apply_signal(uuid, uuid, text, text, integer) to service_role;

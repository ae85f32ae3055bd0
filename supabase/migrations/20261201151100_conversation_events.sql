-- Conversation events, published by triggers in the same transaction as the change (DESIGN.md principle 1),
-- tenant from the row, ordering_key the lead id (one lead's events are handled in order):
--
--   conversation.created    a conversation was inserted
--   message.received        an inbound message was inserted
--   message.sent            an outbound message reached sent (or delivered / read with its sent report lost):
--                           once per message, when sent_at is first set and the status is sent, delivered or
--                           read (a late `sent` after `failed` publishes nothing)
--   message.status_changed  an outbound message's status moved (late reports that are ignored publish nothing)
--   lead.opted_out          a consent became opted_out (inserted so, or changed from opted_in)
--
-- Outbound messages inserted already past `queued` (an imported chat) publish nothing: they are history,
-- not sends. Payloads carry ids and the facts a handler needs, never a message's body (it is personal data,
-- and `leads forget` must not have to find it in the outbox).

insert into public.event_types (name, description) values
  ('message.received', 'An inbound message was recorded. Payload: conversation_id, lead_id, channel, message_id, '
                       'content_type, provider_message_id, received_at.'),
  ('message.sent', 'An outbound message reached sent (once per message). Payload: conversation_id, lead_id, channel, '
                   'message_id, provider_message_id, sent_by, sent_at, latency_ms.'),
  ('message.status_changed', 'An outbound message''s status moved forward. Payload: conversation_id, lead_id, '
                             'channel, message_id, from, to, at, error_code, error_message.'),
  ('conversation.created', 'A conversation was started. Payload: conversation_id, lead_id, channel, status.'),
  ('lead.opted_out', 'A lead opted out of a channel. Payload: lead_id, channel, consent_id, method, opted_out_at.')
on conflict (name) do update set description = excluded.description;

create or replace function private.conversations_publish() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.emit_event(new.tenant_id, 'conversation.created',
    jsonb_build_object('conversation_id', new.id, 'lead_id', new.lead_id, 'channel', new.channel,
                       'status', new.status),
    new.lead_id::text, 'db');
  return null;
end
$$;
revoke all on function private.conversations_publish() from public, anon, authenticated;

drop trigger if exists conversations_publish on public.conversations;
create trigger conversations_publish after insert on public.conversations
  for each row execute function private.conversations_publish();

create or replace function private.messages_publish() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  new_status_at timestamptz;
begin
  if tg_op = 'INSERT' then
    if new.direction = 'in' then
      perform private.emit_event(new.tenant_id, 'message.received',
        jsonb_build_object('conversation_id', new.conversation_id, 'lead_id', new.lead_id, 'channel', new.channel,
                           'message_id', new.id, 'content_type', new.content_type,
                           'provider_message_id', new.provider_message_id, 'received_at', new.received_at),
        new.lead_id::text, 'db');
    end if;
    return null;
  end if;

  new_status_at := case new.status
    when 'sending' then new.sending_at when 'sent' then new.sent_at when 'delivered' then new.delivered_at
    when 'read' then new.read_at when 'failed' then new.failed_at when 'unknown' then new.unknown_at end;
  perform private.emit_event(new.tenant_id, 'message.status_changed',
    jsonb_build_object('conversation_id', new.conversation_id, 'lead_id', new.lead_id, 'channel', new.channel,
                       'message_id', new.id, 'from', old.status, 'to', new.status, 'at', new_status_at,
                       'error_code', new.error_code, 'error_message', new.error_message),
    new.lead_id::text, 'db');
  if old.sent_at is null and new.sent_at is not null and new.status in ('sent', 'delivered', 'read') then
    perform private.emit_event(new.tenant_id, 'message.sent',
      jsonb_build_object('conversation_id', new.conversation_id, 'lead_id', new.lead_id, 'channel', new.channel,
                         'message_id', new.id, 'provider_message_id', new.provider_message_id,
                         'sent_by', new.sent_by, 'sent_at', new.sent_at,
                         'latency_ms', round((extract(epoch from new.sent_at - new.queued_at) * 1000)::numeric, 1)),
      new.lead_id::text, 'db');
  end if;
  return null;
end
$$;
revoke all on function private.messages_publish() from public, anon, authenticated;

drop trigger if exists messages_publish_received on public.messages;
create trigger messages_publish_received after insert on public.messages
  for each row when (new.direction = 'in') execute function private.messages_publish();

drop trigger if exists messages_publish_status on public.messages;
create trigger messages_publish_status after update of status on public.messages
  for each row when (old.status is distinct from new.status) execute function private.messages_publish();

create or replace function private.consents_publish() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.emit_event(new.tenant_id, 'lead.opted_out',
    jsonb_build_object('lead_id', new.lead_id, 'channel', new.channel, 'consent_id', new.id,
                       'method', new.method, 'opted_out_at', new.changed_at),
    new.lead_id::text, 'db');
  return null;
end
$$;
revoke all on function private.consents_publish() from public, anon, authenticated;

drop trigger if exists consents_publish_opt_out on public.consents;
create trigger consents_publish_opt_out after insert on public.consents
  for each row when (new.status = 'opted_out') execute function private.consents_publish();

drop trigger if exists consents_publish_opt_out_change on public.consents;
create trigger consents_publish_opt_out_change after update of status on public.consents
  for each row when (new.status = 'opted_out' and old.status is distinct from 'opted_out')
  execute function private.consents_publish();

-- message.queued: an outbound message was queued, and the send job (salesflow/handlers/sending.py) is to send
-- it. Published by a trigger in the inserting transaction, so whoever queues a message (the CLI, the inbox,
-- a sequence, the autopilot, a member over PostgREST) starts exactly one send job, and a refused insert (an
-- opted-out lead, 20261201151200) starts none.
--
-- Ordering key `send:<lead id>`, not the bare lead id of the other message events. One lead's sends still run
-- one at a time and in the order they were queued (a send waiting for a retry keeps the lead's later sends
-- waiting, so message 2 never overtakes message 1). But a send in the provider's hands, or waiting out a
-- 429 back-off, does not hold back the lead's inbound events: a STOP the lead writes meanwhile is handled
-- (consent recorded) at once, and the send job re-checks consent before every attempt.
--
-- max_attempts 10: a rate-limited provider gets about 17 minutes of back-off (base 2 s, doubling) before
-- the send job gives up and fails the message with the provider's last reason.

insert into public.event_types (name, description) values
  ('message.queued', 'An outbound message was queued for sending (the send job''s work). Payload: conversation_id, '
                     'lead_id, channel, message_id, sent_by, queued_at, redelivery.')
on conflict (name) do update set description = excluded.description;

create or replace function private.messages_publish_queued() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.emit_event(new.tenant_id, 'message.queued',
    jsonb_build_object('conversation_id', new.conversation_id, 'lead_id', new.lead_id, 'channel', new.channel,
                       'message_id', new.id, 'sent_by', new.sent_by, 'queued_at', new.queued_at,
                       'redelivery', false),
    'send:' || new.lead_id::text, 'db', null, null, null, 10);
  return null;
end
$$;
revoke all on function private.messages_publish_queued() from public, anon, authenticated;

drop trigger if exists messages_publish_queued on public.messages;
create trigger messages_publish_queued after insert on public.messages
  for each row when (new.direction = 'out' and new.status = 'queued') execute function private.messages_publish_queued();

-- Conversation events are published by triggers in the same transaction, with the row's tenant and the lead id
-- as ordering key: conversation.created, message.received, lead.opted_out (message.sent and
-- message.status_changed: 031_message_status.sql). Payloads carry no message body.
begin;
select no_plan();

select is(
  array(select name from public.event_types where name in ('message.received', 'message.sent', 'message.status_changed',
    'conversation.created', 'lead.opted_out') order by name),
  array['conversation.created', 'lead.opted_out', 'message.received', 'message.sent', 'message.status_changed'],
  'the conversation event types are in the catalogue');

delete from public.events;

-- A member starts a conversation over the API; the event is published although members cannot write events.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select lives_ok($$insert into public.conversations (id, lead_id, channel)
  values ('c0000000-0000-4000-8000-00000000000a', '10000000-0000-4000-8000-000000000001', 'whatsapp')$$,
  'a member starts a conversation without naming the tenant');
reset role;
select results_eq(
  $$select tenant_id::text, ordering_key, payload from public.events where type = 'conversation.created'$$,
  $$values ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001',
            '{"conversation_id": "c0000000-0000-4000-8000-00000000000a", "lead_id": "10000000-0000-4000-8000-000000000001",
              "channel": "whatsapp", "status": "open"}'::jsonb)$$,
  'conversation.created: the row''s tenant, the lead as ordering key, the conversation in the payload');

set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
insert into public.messages (id, conversation_id, direction, body, provider_message_id, received_at)
values ('e0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-00000000000a', 'in', 'Was kostet das Paket?',
        'wamid.IN1', '2026-12-01 09:30+00');
insert into public.messages (conversation_id, direction, body, sent_by)
values ('c0000000-0000-4000-8000-00000000000a', 'out', 'Hallo Julia', 'inbox');
insert into public.messages (conversation_id, direction, body, sent_by, status, provider_message_id)
values ('c0000000-0000-4000-8000-00000000000a', 'out', 'Importiert', 'user', 'read', 'wamid.OLD');
reset role;
select results_eq(
  $$select tenant_id::text, ordering_key, payload from public.events where type = 'message.received'$$,
  $$values ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001',
            '{"conversation_id": "c0000000-0000-4000-8000-00000000000a", "lead_id": "10000000-0000-4000-8000-000000000001",
              "channel": "whatsapp", "message_id": "e0000000-0000-4000-8000-000000000001", "content_type": "text",
              "provider_message_id": "wamid.IN1", "received_at": "2026-12-01T09:30:00+00:00"}'::jsonb)$$,
  'message.received: one event for the inbound insert, its ids, no body');
select is((select count(*)::int from public.events where type like 'message.%' and type <> 'message.queued'), 1,
  'queueing an outbound message (but for its message.queued, 042) or recording an imported one publishes nothing');
select is((select count(*)::int from public.events where payload::text like '%Paket%' or payload::text like '%Julia%'), 0,
  'no event payload carries a message body');

-- Opt-outs: on insert as opted_out, on a change from opted_in, not on a repeated opt-out.
insert into public.consents (id, tenant_id, lead_id, channel, status, method, evidence) values
  ('d0000000-0000-4000-8000-0000000000c1', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001',
   'whatsapp', 'opted_out', 'inbound_keyword', 'STOPP'),
  ('d0000000-0000-4000-8000-0000000000c2', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001',
   'email', 'opted_in', 'form', null);
update public.consents set method = 'member' where id = 'd0000000-0000-4000-8000-0000000000c1';
update public.consents set status = 'opted_out', method = 'email_unsubscribe' where id = 'd0000000-0000-4000-8000-0000000000c2';
select results_eq(
  $$select ordering_key, payload ->> 'lead_id', payload ->> 'channel', payload ->> 'consent_id', payload ->> 'method'
    from public.events where type = 'lead.opted_out' order by seq$$,
  $$values ('10000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001', 'whatsapp',
            'd0000000-0000-4000-8000-0000000000c1', 'inbound_keyword'),
           ('10000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001', 'email',
            'd0000000-0000-4000-8000-0000000000c2', 'email_unsubscribe')$$,
  'lead.opted_out: once for the opt-out inserted, once for the opt-in turned opt-out, not for other edits');
select ok((select (payload ->> 'opted_out_at')::timestamptz is not null from public.events
           where type = 'lead.opted_out' and payload ->> 'channel' = 'email'), 'lead.opted_out says when');

select * from finish();
rollback;

-- An outbound message's status never moves backwards (20261201150600_message_status.sql): provider reports
-- that arrive late or twice are ignored and keep the furthest status; SalesFlow's own backward moves are
-- refused; message.sent is published once per message and message.status_changed once per real move.
begin;
select no_plan();

insert into public.conversations (id, tenant_id, lead_id, channel) values
  ('c0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'whatsapp');
insert into public.messages (id, conversation_id, direction, body, sent_by, queued_at)
select ('e0000000-0000-4000-8000-00000000000' || n)::uuid, 'c0000000-0000-4000-8000-00000000000a', 'out', 'Hallo ' || n,
       'sequence', now() - interval '2 seconds'
from generate_series(1, 6) n;
delete from public.events;

set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);

-- Message 1 goes the whole way, with reports out of order.
select throws_ok($$update public.messages set status = 'sent' where id = 'e0000000-0000-4000-8000-000000000001'$$,
  '23514', 'messages.status cannot move from queued to sent',
  'a message is recorded sending before it can be sent');
select lives_ok($$update public.messages set status = 'sending' where id = 'e0000000-0000-4000-8000-000000000001'$$,
  'queued → sending');
select lives_ok($$update public.messages set status = 'sent', provider_message_id = 'wamid.1'
  where id = 'e0000000-0000-4000-8000-000000000001'$$, 'sending → sent, with the provider''s id');
select results_eq($$select status, applied from public.apply_message_status(
    '11111111-1111-4111-8111-111111111111', 'whatsapp', 'wamid.1', 'read', '2026-12-01 10:05+00')$$,
  $$values ('read'::text, true)$$, 'a read report before the delivery report moves sent → read');
select results_eq($$select status, applied from public.apply_message_status(
    '11111111-1111-4111-8111-111111111111', 'whatsapp', 'wamid.1', 'delivered', '2026-12-01 10:04+00')$$,
  $$values ('read'::text, false)$$, 'the late delivery report is ignored: the status stays read');
select results_eq($$select status, delivered_at, read_at from public.messages where id = 'e0000000-0000-4000-8000-000000000001'$$,
  $$values ('read'::text, '2026-12-01 10:04+00'::timestamptz, '2026-12-01 10:05+00'::timestamptz)$$,
  'the late report still records when the message was delivered');
select results_eq($$select status, applied from public.apply_message_status(
    '11111111-1111-4111-8111-111111111111', 'whatsapp', 'wamid.1', 'read', '2026-12-01 10:09+00')$$,
  $$values ('read'::text, false)$$, 'a repeated report changes nothing');
select is((select read_at from public.messages where id = 'e0000000-0000-4000-8000-000000000001'),
  '2026-12-01 10:05+00'::timestamptz, 'a repeated report keeps the first timestamp');
select results_eq($$select status, applied from public.apply_message_status(
    '11111111-1111-4111-8111-111111111111', 'whatsapp', 'wamid.1', 'failed', null, '131026', 'undeliverable')$$,
  $$values ('read'::text, false)$$, 'a failure reported after read is ignored');
select is((select error_code from public.messages where id = 'e0000000-0000-4000-8000-000000000001'), null,
  'an ignored failure leaves no error behind');
select throws_ok($$update public.messages set status = 'sending' where id = 'e0000000-0000-4000-8000-000000000001'$$,
  '23514', 'messages.status cannot move from read to sending', 'a read message is never handed to a provider again');
select throws_ok($$update public.messages set status = 'queued' where id = 'e0000000-0000-4000-8000-000000000001'$$,
  '23514', null, 'nothing goes back to queued');
select is((select count(*)::int from public.apply_message_status(
    '11111111-1111-4111-8111-111111111111', 'whatsapp', 'wamid.nope', 'delivered')), 0,
  'a report for an unknown provider id finds no message');
select is((select count(*)::int from public.apply_message_status(
    '22222222-2222-4222-8222-222222222222', 'whatsapp', 'wamid.1', 'delivered')), 0,
  'a report names the tenant: another tenant''s provider id is not found');
select throws_ok($$select * from public.apply_message_status(
    '11111111-1111-4111-8111-111111111111', 'whatsapp', 'wamid.1', 'queued')$$,
  '22023', 'apply_message_status.p_status: must be one of sent, delivered, read, failed (got ''queued'')',
  'a report can only say sent, delivered, read or failed');

-- Message 2: sending → delivered (the sent report lost), then the late sent report.
update public.messages set status = 'sending' where id = 'e0000000-0000-4000-8000-000000000002';
update public.messages set status = 'delivered', provider_message_id = 'wamid.2' where id = 'e0000000-0000-4000-8000-000000000002';
select results_eq($$select status, applied from public.apply_message_status(
    '11111111-1111-4111-8111-111111111111', 'whatsapp', 'wamid.2', 'sent', '2026-12-01 09:00+00')$$,
  $$values ('delivered'::text, false)$$, 'a sent report after delivered is ignored');
select ok((select sent_at is not null and sent_at <= delivered_at from public.messages
           where id = 'e0000000-0000-4000-8000-000000000002'), 'a delivered message has its sent time');

-- Message 3: failed is final.
update public.messages set status = 'sending' where id = 'e0000000-0000-4000-8000-000000000003';
update public.messages set status = 'failed', error_code = '131047', error_message = 're-engagement window closed'
  where id = 'e0000000-0000-4000-8000-000000000003';
update public.messages set status = 'delivered' where id = 'e0000000-0000-4000-8000-000000000003';
select results_eq($$select status, error_code, delivered_at is not null from public.messages
    where id = 'e0000000-0000-4000-8000-000000000003'$$,
  $$values ('failed'::text, '131047'::text, true)$$, 'a report after failed is ignored (its time recorded), the error kept');

-- Message 4: a crash in the provider call leaves it unknown; it is never sent again, only resolved.
update public.messages set status = 'sending' where id = 'e0000000-0000-4000-8000-000000000004';
update public.messages set status = 'unknown' where id = 'e0000000-0000-4000-8000-000000000004';
select throws_ok($$update public.messages set status = 'sending' where id = 'e0000000-0000-4000-8000-000000000004'$$,
  '23514', 'messages.status cannot move from unknown to sending', 'an unknown message is never handed to a provider again');
select lives_ok($$update public.messages set status = 'sent' where id = 'e0000000-0000-4000-8000-000000000004'$$,
  'unknown resolves to sent (the provider lookup found it)');

-- Message 5: failed straight from queued (refused before sending); message 6 stays queued.
select lives_ok($$update public.messages set status = 'failed', error_code = 'window_closed'
  where id = 'e0000000-0000-4000-8000-000000000005'$$, 'queued → failed');
select throws_ok($$update public.messages set status = 'received' where id = 'e0000000-0000-4000-8000-000000000006'$$,
  '23514', null, 'an outbound message never becomes received');
reset role;

-- Events: message.sent once per message that got through (1, 2, 4); one status_changed per real move.
select results_eq(
  $$select payload ->> 'message_id' from public.events where type = 'message.sent' order by payload ->> 'message_id'$$,
  $$values ('e0000000-0000-4000-8000-000000000001'), ('e0000000-0000-4000-8000-000000000002'), ('e0000000-0000-4000-8000-000000000004')$$,
  'message.sent is published once for each message that reached sent, delivered or read');
select results_eq(
  $$select payload ->> 'from', payload ->> 'to' from public.events
    where type = 'message.status_changed' and payload ->> 'message_id' = 'e0000000-0000-4000-8000-000000000001' order by seq$$,
  $$values ('queued', 'sending'), ('sending', 'sent'), ('sent', 'read')$$,
  'message.status_changed follows the real moves only, never the ignored reports');
select is((select count(*)::int from public.events where type = 'message.status_changed'), 3 + 2 + 2 + 3 + 1,
  'every applied move and nothing else publishes message.status_changed');
select ok((select bool_and(ordering_key = '10000000-0000-4000-8000-000000000001' and tenant_id = '11111111-1111-4111-8111-111111111111')
           from public.events), 'message events are the lead''s tenant''s, ordered by the lead id');
select ok((select (payload ->> 'latency_ms')::numeric >= 2000 and payload ->> 'sent_by' = 'sequence'
                  and payload ->> 'provider_message_id' = 'wamid.1'
           from public.events where type = 'message.sent' and payload ->> 'message_id' = 'e0000000-0000-4000-8000-000000000001'),
  'message.sent carries the provider id, who sent it and the latency from queued to sent');

select * from finish();
rollback;

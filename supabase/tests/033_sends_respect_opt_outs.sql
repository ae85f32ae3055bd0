-- A send to an opted-out lead is refused in the database, whoever sends it (service_role and the database
-- owner included), with a message naming the consent record; an opt-out fails the lead's queued messages.
begin;
select no_plan();

insert into public.conversations (id, tenant_id, lead_id, channel) values
  ('c0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'whatsapp'),
  ('c0000000-0000-4000-8000-00000000000e', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'email');
insert into public.messages (id, conversation_id, direction, body, sent_by) values
  ('e0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-00000000000a', 'out', 'Angebot 1', 'sequence'),
  ('e0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-00000000000a', 'out', 'Angebot 2', 'sequence'),
  ('e0000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-00000000000e', 'out', 'Newsletter', 'sequence');
update public.messages set status = 'sending' where id = 'e0000000-0000-4000-8000-000000000002';

insert into public.consents (id, tenant_id, lead_id, channel, status, method, evidence, changed_at) values
  ('d0000000-0000-4000-8000-0000000000c1', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001',
   'whatsapp', 'opted_out', 'inbound_keyword', 'STOP', '2026-12-01 08:00+00');

select results_eq(
  $$select id::text, status, error_code from public.messages order by id$$,
  $$values ('e0000000-0000-4000-8000-000000000001', 'failed'::text, 'opted_out'::text),
           ('e0000000-0000-4000-8000-000000000002', 'sending', null),
           ('e0000000-0000-4000-8000-000000000003', 'queued', null)$$,
  'an opt-out fails the lead''s queued messages on that channel; one in the provider''s hands and other channels keep their course');
select matches((select error_message from public.messages where id = 'e0000000-0000-4000-8000-000000000001'),
  'consent d0000000-0000-4000-8000-0000000000c1', 'the failed message names the consent');

set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select throws_ok($$insert into public.messages (conversation_id, direction, body, sent_by)
  values ('c0000000-0000-4000-8000-00000000000a', 'out', 'Noch ein Angebot', 'autopilot')$$,
  '23514',
  'messages: lead 10000000-0000-4000-8000-000000000001 opted out of whatsapp (consent d0000000-0000-4000-8000-0000000000c1, '
  'opted out at ' || '2026-12-01 08:00+00'::timestamptz || ' by inbound_keyword): nothing is sent to them on whatsapp',
  'service_role cannot queue a message to an opted-out lead; the refusal names the consent, its channel, when and how');
select lives_ok($$insert into public.messages (conversation_id, direction, body, received_at)
  values ('c0000000-0000-4000-8000-00000000000a', 'in', 'STOP', now())$$,
  'an opted-out lead''s inbound messages are still recorded');
select lives_ok($$insert into public.messages (conversation_id, direction, body, sent_by)
  values ('c0000000-0000-4000-8000-00000000000e', 'out', 'Per E-Mail', 'user')$$,
  'other channels of the lead are not affected');
reset role;

-- The owner of the database is bound too.
select throws_ok($$insert into public.messages (conversation_id, direction, body, sent_by)
  values ('c0000000-0000-4000-8000-00000000000a', 'out', 'As postgres', 'sequence')$$,
  '23514', null, 'the database owner cannot send to an opted-out lead either');

-- A member through the API.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select throws_ok($$insert into public.messages (conversation_id, direction, body, sent_by)
  values ('c0000000-0000-4000-8000-00000000000a', 'out', 'Vom Inbox', 'inbox')$$,
  '23514', null, 'a member cannot send to an opted-out lead from the inbox');
reset role;

-- A message queued before the opt-out is refused when a send job moves it to sending (here the opt-out's own
-- clean-up is held back to reach that state).
alter table public.consents disable trigger consents_stop_queued_sends;
insert into public.messages (id, conversation_id, direction, body, sent_by) values
  ('e0000000-0000-4000-8000-000000000004', 'c0000000-0000-4000-8000-00000000000e', 'out', 'Vor dem Abmelden', 'sequence');
insert into public.consents (id, tenant_id, lead_id, channel, status, method) values
  ('d0000000-0000-4000-8000-0000000000c2', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001',
   'email', 'opted_out', 'email_unsubscribe');
alter table public.consents enable trigger consents_stop_queued_sends;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select throws_ok($$update public.messages set status = 'sending' where id = 'e0000000-0000-4000-8000-000000000004'$$,
  '23514', null, 'a queued message is refused at sending once the lead opted out');
select lives_ok($$update public.messages set status = 'failed', error_code = 'opted_out'
  where id = 'e0000000-0000-4000-8000-000000000004'$$, 'the send job can still fail it');
reset role;

-- A new opt-in lifts the refusal.
update public.consents set status = 'opted_in', method = 'form' where id = 'd0000000-0000-4000-8000-0000000000c1';
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select lives_ok($$insert into public.messages (conversation_id, direction, body, sent_by)
  values ('c0000000-0000-4000-8000-00000000000a', 'out', 'Willkommen zurück', 'user')$$,
  'after a new opt-in messages are queued again');
reset role;

select * from finish();
rollback;

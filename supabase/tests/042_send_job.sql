-- The send job's promises in SQL (20261202110000..110200): queueing publishes one message.queued; an attempt
-- is recorded before the provider call; an attempt without an outcome is in doubt and never begun again; an
-- outcome applies to the open attempt only; a refused attempt may be followed by another, an opted-out lead's
-- may not; stalled sends are requeued once their job is gone.
begin;
select no_plan();

insert into public.conversations (id, tenant_id, lead_id, channel) values
  ('c0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'sms');
insert into public.channel_identities (tenant_id, lead_id, channel, address) values
  ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'sms', '+491512345678');
delete from public.events;

set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
insert into public.messages (id, conversation_id, direction, body, sent_by) values
  ('e0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-00000000000a', 'out', 'Hallo Julia', 'user'),
  ('e0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-00000000000a', 'out', 'Zweite', 'sequence');
insert into public.messages (conversation_id, direction, body, sent_by, status, provider_message_id)
values ('c0000000-0000-4000-8000-00000000000a', 'out', 'Importiert', 'user', 'sent', 'SMOLD');

select results_eq(
  $$select ordering_key, payload ->> 'message_id', payload ->> 'sent_by', (payload ->> 'redelivery')::boolean, max_attempts
    from public.events where type = 'message.queued' order by seq$$,
  $$values ('send:10000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000001', 'user', false, 10),
           ('send:10000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000002', 'sequence', false, 10)$$,
  'each queued message publishes one message.queued, keyed send:<lead>; an imported one publishes none');
select is((select count(*)::int from public.events where type = 'message.queued' and payload::text like '%Hallo%'), 0,
  'message.queued carries no body');

select is(public.message_for_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001') ->> 'to',
  '+491512345678', 'message_for_sending names the lead''s address on the channel');
select is(public.message_for_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001') -> 'connection',
  'null'::jsonb, 'no connection on the channel: none (the send job uses the outbox adapter)');
select is(public.message_for_sending('22222222-2222-4222-8222-222222222222', 'e0000000-0000-4000-8000-000000000001'),
  null, 'another tenant''s message is not found');

select is(public.begin_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001') - 'started_at',
  '{"outcome": "begun", "attempt": 1}'::jsonb, 'queued → sending: attempt 1 begun');
select is((select status from public.messages where id = 'e0000000-0000-4000-8000-000000000001'), 'sending',
  'the message is sending before the provider is called');
select is(public.begin_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001') ->> 'outcome',
  'in_doubt', 'an attempt without an outcome is in doubt: no second attempt begins');

select is(public.record_send_outcome('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001', 1,
  'refused', p_error_code => 'http_429', p_error_message => 'Too Many Requests'),
  '{"applied": true, "status": "sending"}'::jsonb, 'a refused attempt keeps the message sending');
select is((select error_code from public.messages where id = 'e0000000-0000-4000-8000-000000000001'), 'http_429',
  'the refusal is on the message for people to see');
select is(public.begin_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001') ->> 'attempt',
  '2', 'after a refusal the next attempt begins');
select is(public.record_send_outcome('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001', 1,
  'accepted', 'SM1'), '{"applied": false, "status": "sending"}'::jsonb, 'an outcome for an attempt no longer open is not applied');
select throws_ok($$select public.record_send_outcome('11111111-1111-4111-8111-111111111111',
  'e0000000-0000-4000-8000-000000000001', 2, 'accepted')$$, '22023', null, 'an accept needs the provider''s id');
select is(public.record_send_outcome('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001', 2,
  'accepted', 'SM1', '{"segments": 1}'), '{"applied": true, "status": "sent"}'::jsonb, 'accepted → sent');
select results_eq($$select status, provider_message_id, provider_detail, error_code from public.messages
  where id = 'e0000000-0000-4000-8000-000000000001'$$,
  $$values ('sent'::text, 'SM1'::text, '{"segments": 1}'::jsonb, null::text)$$,
  'the provider''s id and detail are recorded, the earlier refusal cleared');
select is((select count(*)::int from public.events where type = 'message.sent'
  and payload ->> 'message_id' = 'e0000000-0000-4000-8000-000000000001'), 1, 'one message.sent');
select is(public.record_send_outcome('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001', 2,
  'accepted', 'SM1') ->> 'applied', 'false', 'recording the accept twice changes nothing');
select is(public.begin_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001'),
  '{"outcome": "done", "status": "sent"}'::jsonb, 'a sent message is never begun again');

-- Message 2: in doubt, reconciled as not found, sent again; then an opt-out before the third attempt.
select is(public.begin_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000002', gen_random_uuid()) ->> 'attempt',
  '1', 'message 2: attempt 1');
select is(public.record_send_outcome('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000002', 1,
  'not_found') ->> 'status', 'sending', 'the provider''s look-up found nothing: still sending');
select is(public.begin_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000002') ->> 'attempt',
  '2', 'not found: a new attempt may begin');
select is(public.record_send_outcome('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000002', 2,
  'refused', p_error_code => 'http_503', p_error_message => 'down') ->> 'status', 'sending', 'refused');
reset role;
insert into public.consents (id, tenant_id, lead_id, channel, status, method) values
  ('d0000000-0000-4000-8000-0000000000c1', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001',
   'sms', 'opted_out', 'inbound_keyword');
set local role service_role;
select is(public.begin_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000002') ->> 'outcome',
  'refused', 'an opt-out between attempts refuses the next one');
select results_eq($$select status, error_code from public.messages where id = 'e0000000-0000-4000-8000-000000000002'$$,
  $$values ('failed'::text, 'opted_out'::text)$$, 'and fails the message naming the opt-out');
select matches((select error_message from public.messages where id = 'e0000000-0000-4000-8000-000000000002'),
  'consent d0000000-0000-4000-8000-0000000000c1', 'the failure names the consent');
reset role;
delete from public.consents;
set local role service_role;

-- Rejected before any attempt (the job's own check), and unknown after an unanswered attempt.
insert into public.messages (id, conversation_id, direction, body, sent_by) values
  ('e0000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-00000000000a', 'out', 'Drei', 'user'),
  ('e0000000-0000-4000-8000-000000000004', 'c0000000-0000-4000-8000-00000000000a', 'out', 'Vier', 'user');
select is(public.record_send_outcome('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000003', null,
  'rejected', p_error_code => 'window_closed', p_error_message => '24 h window closed') ->> 'status', 'failed',
  'a refusal of the job''s own check fails a queued message');
select throws_ok($$select public.record_send_outcome('11111111-1111-4111-8111-111111111111',
  'e0000000-0000-4000-8000-000000000004', null, 'accepted', 'SMX')$$, '22023', null,
  'only a rejection is recorded without an attempt');
select is(public.begin_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000004') ->> 'outcome',
  'begun', 'message 4 begun');
select is(public.record_send_outcome('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000004', 1,
  'unanswered', p_error_code => 'no_answer', p_error_message => 'nobody can tell') ->> 'status', 'unknown',
  'an attempt nobody can reconcile leaves the message unknown');

-- The sweep: a message sending for long with no send job of its lead pending or running is requeued.
insert into public.messages (id, conversation_id, direction, body, sent_by) values
  ('e0000000-0000-4000-8000-000000000005', 'c0000000-0000-4000-8000-00000000000a', 'out', 'Fünf', 'user');
select is(public.begin_sending('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000005') ->> 'outcome',
  'begun', 'message 5 begun (and then its job dies)');
reset role;
update public.events set status = 'failed', failed_at = now() where type = 'message.queued';
update private.message_send_attempts set started_at = now() - interval '1 hour'
  where message_id = 'e0000000-0000-4000-8000-000000000005';
update public.messages set queued_at = now() - interval '1 hour', sending_at = now() - interval '1 hour'
  where id = 'e0000000-0000-4000-8000-000000000005';
set local role service_role;
select is((select count(*)::int from public.requeue_stalled_sends(3600 * 2)), 0, 'younger than the threshold: left alone');
select results_eq($$select message_id::text, status from public.requeue_stalled_sends(60)$$,
  $$values ('e0000000-0000-4000-8000-000000000005', 'sending'::text)$$, 'the stalled send is requeued');
select results_eq($$select (payload ->> 'redelivery')::boolean, source from public.events
  where type = 'message.queued' and status = 'pending'$$, $$values (true, 'reconcile'::text)$$,
  'as a message.queued redelivery');
select is((select count(*)::int from public.requeue_stalled_sends(60)), 0, 'while that job is pending nothing more is requeued');

reset role;
select throws_ok($$set local role authenticated; select public.message_for_sending('11111111-1111-4111-8111-111111111111',
  'e0000000-0000-4000-8000-000000000001')$$, '42501', null, 'members cannot read a message with its channel secrets');

select * from finish();
rollback;

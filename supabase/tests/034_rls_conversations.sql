-- RLS on the conversation tables: anon sees nothing; a member of A reads and writes only A's conversations,
-- messages, facts and consents and never B's; members queue outbound messages but cannot forge inbound ones
-- or set statuses; a channel's secrets are invisible to every member, its owner included.
-- Anna owns Acme (A), Ben is a member of A, Bea owns Nordlicht (B).
begin;
select no_plan();

insert into public.channel_connections (id, tenant_id, channel, provider, address) values
  ('cc000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', 'whatsapp', 'whatsapp_cloud', '+493012345678');
insert into private.channel_credentials (connection_id, tenant_id, secrets) values
  ('cc000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111',
   '{"access_token": "EAAG-secret", "app_secret": "s3cr3t"}');
insert into public.conversations (id, tenant_id, lead_id, channel) values
  ('c0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'whatsapp'),
  ('c0000000-0000-4000-8000-00000000000b', '22222222-2222-4222-8222-222222222222', '20000000-0000-4000-8000-000000000001', 'whatsapp');
insert into public.messages (id, conversation_id, direction, body) values
  ('e0000000-0000-4000-8000-00000000000a', 'c0000000-0000-4000-8000-00000000000a', 'in', 'Hallo von Julia'),
  ('e0000000-0000-4000-8000-00000000000b', 'c0000000-0000-4000-8000-00000000000b', 'in', 'Hello from Olivia');
insert into public.channel_identities (tenant_id, lead_id, channel, address) values
  ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'whatsapp', '+491512345678'),
  ('22222222-2222-4222-8222-222222222222', '20000000-0000-4000-8000-000000000001', 'whatsapp', '+447700900123');
insert into public.lead_facts (tenant_id, lead_id, key, value) values
  ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'budget_eur', '5000'),
  ('22222222-2222-4222-8222-222222222222', '20000000-0000-4000-8000-000000000001', 'budget_gbp', '4000');
insert into public.consents (tenant_id, lead_id, channel, status, method) values
  ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'email', 'opted_in', 'form'),
  ('22222222-2222-4222-8222-222222222222', '20000000-0000-4000-8000-000000000001', 'email', 'opted_in', 'form');
insert into public.conversation_summaries (tenant_id, conversation_id, summary, covered_until, message_count) values
  ('11111111-1111-4111-8111-111111111111', 'c0000000-0000-4000-8000-00000000000a', 'Julia fragt nach einem Angebot.', now(), 1),
  ('22222222-2222-4222-8222-222222222222', 'c0000000-0000-4000-8000-00000000000b', 'Olivia says hello.', now(), 1);
insert into public.inbound_webhooks (tenant_id, provider, external_id, raw_body) values
  ('11111111-1111-4111-8111-111111111111', 'whatsapp_cloud', 'wamid.A', '\x7b7d'),
  ('22222222-2222-4222-8222-222222222222', 'whatsapp_cloud', 'wamid.B', '\x7b7d');

-- anon: nothing at all.
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok(format('select count(*) from public.%I', t), '42501', null, format('anon cannot read %s', t))
from unnest(array['channel_connections', 'channel_identities', 'conversations', 'messages', 'conversation_summaries',
                  'lead_facts', 'consents', 'inbound_webhooks']) t;
select throws_ok($$insert into public.messages (conversation_id, direction, body)
  values ('c0000000-0000-4000-8000-00000000000a', 'in', 'spoofed')$$, '42501', null, 'anon cannot write messages');
reset role;

-- Anna, owner of A.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*)::int from public.conversations where tenant_id = '22222222-2222-4222-8222-222222222222')
        + (select count(*)::int from public.messages where tenant_id = '22222222-2222-4222-8222-222222222222')
        + (select count(*)::int from public.channel_identities where tenant_id = '22222222-2222-4222-8222-222222222222')
        + (select count(*)::int from public.lead_facts where tenant_id = '22222222-2222-4222-8222-222222222222')
        + (select count(*)::int from public.consents where tenant_id = '22222222-2222-4222-8222-222222222222')
        + (select count(*)::int from public.conversation_summaries where tenant_id = '22222222-2222-4222-8222-222222222222')
        + (select count(*)::int from public.inbound_webhooks where tenant_id = '22222222-2222-4222-8222-222222222222'),
  0, 'a member of A reads none of B''s conversations, messages, identities, facts, consents, summaries, webhooks');
select results_eq($$select (select count(*) from public.conversations)::int, (select count(*) from public.messages)::int,
    (select count(*) from public.lead_facts)::int, (select count(*) from public.consents)::int,
    (select count(*) from public.conversation_summaries)::int, (select count(*) from public.inbound_webhooks)::int$$,
  $$values (1, 1, 1, 1, 1, 1)$$, 'a member of A reads A''s rows');
select is((select count(*)::int from public.channel_connections), 1, 'the owner sees that WhatsApp is connected');
select throws_ok($$select secrets from private.channel_credentials$$, '42501', null,
  'the owner cannot read the channel''s secrets over SQL');
select throws_ok($$select count(*) from private.channel_credentials$$, '42501', null,
  'the owner cannot even count the secrets');
select throws_ok($$insert into public.messages (conversation_id, direction, body)
  values ('c0000000-0000-4000-8000-00000000000a', 'in', 'forged inbound')$$, '42501', null,
  'a member cannot forge an inbound message');
select lives_ok($$insert into public.messages (conversation_id, direction, body, sent_by)
  values ('c0000000-0000-4000-8000-00000000000a', 'out', 'Gern, ich rufe an', 'inbox')$$,
  'a member queues an outbound message in their conversation, without naming the tenant');
select is((select sent_by_user_id from public.messages where body = 'Gern, ich rufe an'),
  'a0000000-0000-4000-8000-000000000001'::uuid, 'the queued message records which member sent it');
select throws_ok($$insert into public.messages (conversation_id, direction, body, sent_by, status)
  values ('c0000000-0000-4000-8000-00000000000a', 'out', 'already sent?', 'inbox', 'sent')$$, '42501', null,
  'a member cannot record a message as sent');
select throws_ok($$update public.messages set status = 'sending'$$, '42501', null,
  'a member cannot change message statuses');
select throws_ok($$insert into public.messages (conversation_id, direction, body, sent_by)
  values ('c0000000-0000-4000-8000-00000000000b', 'out', 'into B', 'inbox')$$, '23503', null,
  'a member of A cannot write into B''s conversation');
with u as (update public.conversations set status = 'closed' where id = 'c0000000-0000-4000-8000-00000000000b' returning 1)
select is(count(*)::int, 0, 'a member of A cannot change B''s conversation') from u;
with u as (update public.consents set status = 'opted_out', method = 'member'
  where tenant_id = '22222222-2222-4222-8222-222222222222' returning 1)
select is(count(*)::int, 0, 'a member of A cannot change B''s consents') from u;
with u as (update public.lead_facts set valid_to = now() where tenant_id = '22222222-2222-4222-8222-222222222222' returning 1)
select is(count(*)::int, 0, 'a member of A cannot close B''s facts') from u;
select throws_ok($$insert into public.lead_facts (lead_id, key, value) values ('20000000-0000-4000-8000-000000000001', 'x', '1')$$,
  '23503', null, 'a member of A cannot record a fact about B''s lead');
select throws_ok($$delete from public.lead_facts$$, '42501', null, 'a member cannot delete facts');
select throws_ok($$delete from public.consents$$, '42501', null, 'a member cannot delete consent records');
select throws_ok($$delete from public.messages$$, '42501', null, 'a member cannot delete messages');
select throws_ok($$insert into public.conversation_summaries (conversation_id, summary, covered_until, message_count)
  values ('c0000000-0000-4000-8000-00000000000a', 'x', now(), 1)$$, '42501', null, 'summaries are written by service code only');
select throws_ok($$insert into public.channel_connections (tenant_id, channel, provider, address)
  values ('22222222-2222-4222-8222-222222222222', 'sms', 'twilio', '+441234567890')$$, '42501', null,
  'an owner of A cannot connect a channel for B');
select lives_ok($$insert into public.channel_connections (channel, provider, address) values ('sms', 'outbox', '+491701234567')$$,
  'an owner connects a channel of their tenant');
reset role;

-- Ben, a plain member of A: reads, but neither connects channels nor reads the webhook trail.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*)::int from public.messages), 2, 'a member of A reads A''s messages');
select throws_ok($$insert into public.channel_connections (channel, provider, address) values ('email', 'smtp', 'sales@acme.test')$$,
  '42501', null, 'a plain member cannot connect a channel');
select is((select count(*)::int from public.inbound_webhooks), 0, 'a plain member does not read the webhook trail');
reset role;

-- Bea, owner of B.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select results_eq($$select (select count(*) from public.conversations)::int, (select count(*) from public.messages)::int,
    (select count(*) from public.lead_facts)::int, (select count(*) from public.consents)::int,
    (select count(*) from public.channel_connections)::int$$,
  $$values (1, 1, 1, 1, 0)$$, 'a member of B reads B''s rows and none of A''s');
with d as (delete from public.channel_connections where id = 'cc000000-0000-4000-8000-00000000000a' returning 1)
select is(count(*)::int, 0, 'an owner of B cannot disconnect A''s channel') from d;
reset role;

-- A removed member's token reads nothing.
delete from public.tenant_members
 where tenant_id = '11111111-1111-4111-8111-111111111111' and user_id = 'a0000000-0000-4000-8000-000000000002';
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*)::int from public.messages) + (select count(*)::int from public.conversations), 0,
  'a removed member reads no messages or conversations');
reset role;

-- Service code reads the secrets.
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is((select secrets ->> 'access_token' from private.channel_credentials
           where connection_id = 'cc000000-0000-4000-8000-00000000000a'), 'EAAG-secret', 'service code reads a channel''s secrets');
reset role;
select table_privs_are('private', 'channel_credentials', 'authenticated', '{}'::text[], 'authenticated has no privileges on the secrets');
select table_privs_are('private', 'channel_credentials', 'anon', '{}'::text[], 'anon has no privileges on the secrets');

select * from finish();
rollback;

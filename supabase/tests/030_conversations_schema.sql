-- The conversation schema keeps its promises whoever writes: addresses in normal form and routing to one
-- tenant, rows that can only point at their own tenant's rows, full-text search in the lead's language, the
-- conversation's bookkeeping, facts that are closed and never edited, idempotent webhooks and sends.
-- Seed: Acme (A, locale de) with lead Julia 10…01, Nordlicht (B, locale en) with lead Olivia 20…01.
begin;
select no_plan();

select has_table('public', t, format('table %s exists', t)) from unnest(array['channel_connections',
  'channel_identities', 'conversations', 'messages', 'conversation_summaries', 'lead_facts', 'consents',
  'inbound_webhooks']) t;
select has_table('private', 'channel_credentials', 'channel secrets live in private.channel_credentials');
select is(
  array(select tablename::text from pg_publication_tables
        where pubname = 'supabase_realtime' and tablename in ('messages', 'conversations') order by 1),
  array['conversations', 'messages'],
  'messages and conversations are in the supabase_realtime publication');

-- Leads: time zone, locale, deal value and currency.
select lives_ok($$update public.leads set timezone = 'Europe/Berlin', locale = 'de', deal_value = 12500, currency = 'EUR'
  where id = '10000000-0000-4000-8000-000000000001'$$, 'a lead takes an IANA time zone, a locale and a deal value');
select throws_ok($$update public.leads set timezone = 'Mars/Olympus_Mons' where id = '10000000-0000-4000-8000-000000000001'$$,
  '23514', 'leads.timezone: ''Mars/Olympus_Mons'' is not a known time zone', 'an unknown time zone is refused, named');
select throws_ok($$update public.leads set locale = 'fr' where id = '10000000-0000-4000-8000-000000000001'$$,
  '23514', null, 'a locale other than de or en is refused');
select throws_ok($$update public.leads set currency = 'eur' where id = '10000000-0000-4000-8000-000000000001'$$,
  '23514', null, 'a currency must be an ISO 4217 code in capitals');
select throws_ok($$insert into public.leads (tenant_id, name, deal_value) values ('11111111-1111-4111-8111-111111111111', 'No Currency', 100)$$,
  '23514', null, 'a deal value needs its currency');

-- Channel connections: the receiving address routes to exactly one tenant.
insert into public.channel_connections (id, tenant_id, channel, provider, address) values
  ('cc000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'whatsapp', 'whatsapp_cloud', '+493012345678');
select throws_ok($$insert into public.channel_connections (tenant_id, channel, provider, address)
  values ('22222222-2222-4222-8222-222222222222', 'whatsapp', 'whatsapp_cloud', '+493012345678')$$,
  '23505', null, 'a receiving address on a channel belongs to one tenant only');
select lives_ok($$insert into public.channel_connections (tenant_id, channel, provider, address)
  values ('22222222-2222-4222-8222-222222222222', 'sms', 'twilio', '+493012345678')$$,
  'the same number may receive SMS for another tenant');
select throws_ok($$insert into public.channel_connections (tenant_id, channel, provider, address)
  values ('11111111-1111-4111-8111-111111111111', 'whatsapp', 'twilio', '+493012345679')$$,
  '23514', null, 'a provider that does not serve the channel is refused');
select throws_ok($$insert into public.channel_connections (tenant_id, channel, provider, address)
  values ('11111111-1111-4111-8111-111111111111', 'whatsapp', 'outbox', '+49 30 1234567')$$,
  '23514', null, 'a receiving number not in E.164 is refused');
select throws_ok($$insert into public.channel_connections (tenant_id, channel, provider, address)
  values ('11111111-1111-4111-8111-111111111111', 'telegram', 'outbox', '12345')$$,
  '23514', null, 'a channel outside message_channel is refused');

-- Identities: one lead per tenant, channel and normalised address.
insert into public.channel_identities (tenant_id, lead_id, channel, address) values
  ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'whatsapp', '+491512345678');
select throws_ok($$insert into public.channel_identities (tenant_id, lead_id, channel, address)
  values ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000002', 'whatsapp', '+491512345678')$$,
  '23505', null, 'an address names one lead per tenant and channel');
select lives_ok($$insert into public.channel_identities (tenant_id, lead_id, channel, address)
  values ('22222222-2222-4222-8222-222222222222', '20000000-0000-4000-8000-000000000001', 'whatsapp', '+491512345678')$$,
  'another tenant may know the same address');
select throws_ok($$insert into public.channel_identities (tenant_id, lead_id, channel, address)
  values ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'email', 'Julia@Example.de')$$,
  '23514', null, 'an email address must be stored lower-cased');
select throws_ok($$insert into public.channel_identities (tenant_id, lead_id, channel, address)
  values ('22222222-2222-4222-8222-222222222222', '10000000-0000-4000-8000-000000000001', 'sms', '+491512345678')$$,
  '23503', null, 'an identity cannot point at another tenant''s lead');

-- Conversations and messages reference rows of their own tenant only, even for service code.
insert into public.conversations (id, tenant_id, lead_id, channel) values
  ('c0000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'whatsapp'),
  ('c0000000-0000-4000-8000-00000000000b', '22222222-2222-4222-8222-222222222222', '20000000-0000-4000-8000-000000000001', 'email');
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select throws_ok($$insert into public.conversations (tenant_id, lead_id, channel)
  values ('22222222-2222-4222-8222-222222222222', '10000000-0000-4000-8000-000000000002', 'sms')$$,
  '23503', null, 'service code cannot start a conversation of B with A''s lead');
select throws_ok($$insert into public.messages (tenant_id, conversation_id, direction, body, received_at)
  values ('22222222-2222-4222-8222-222222222222', 'c0000000-0000-4000-8000-00000000000a', 'in', 'hi', now())$$,
  '23503', null, 'service code cannot put a message of B into A''s conversation');
select throws_ok($$insert into public.messages (conversation_id, channel, direction, body)
  values ('c0000000-0000-4000-8000-00000000000a', 'sms', 'in', 'hi')$$,
  '23503', null, 'a message is on its conversation''s channel');
select throws_ok($$insert into public.messages (conversation_id, direction, body)
  values ('c0000000-0000-4000-8000-0000000000ff', 'in', 'hi')$$,
  '23503', 'messages.conversation_id: there is no conversation c0000000-0000-4000-8000-0000000000ff in this tenant',
  'a message for a missing conversation is refused, named');
select lives_ok($$insert into public.messages (id, conversation_id, direction, body, provider_message_id)
  values ('e0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-00000000000a', 'in',
          'Wir brauchen ein Angebot für unsere Lagerhallen in Hamburg', 'wamid.A1')$$,
  'service code records an inbound message naming only its conversation');
reset role;
select results_eq(
  $$select tenant_id::text, lead_id::text, channel::text, status, search_language from public.messages
    where id = 'e0000000-0000-4000-8000-000000000001'$$,
  $$values ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'whatsapp', 'received', 'german')$$,
  'tenant, lead and channel come from the conversation; an inbound message is received, in the lead''s language');
select throws_ok($$insert into public.messages (conversation_id, direction, body, provider_message_id)
  values ('c0000000-0000-4000-8000-00000000000a', 'in', 'again', 'wamid.A1')$$,
  '23505', null, 'a provider message id is recorded once per tenant and channel');
select throws_ok($$insert into public.messages (conversation_id, direction, body, status)
  values ('c0000000-0000-4000-8000-00000000000a', 'in', 'x', 'queued')$$,
  '23514', null, 'an inbound message has no outbound status');
select throws_ok($$insert into public.messages (conversation_id, direction, body)
  values ('c0000000-0000-4000-8000-00000000000a', 'out', 'no sender')$$,
  '23514', null, 'an outbound message names who sends it (sent_by)');
select throws_ok($$insert into public.messages (conversation_id, direction, content_type, sent_by)
  values ('c0000000-0000-4000-8000-00000000000a', 'out', 'template', 'sequence')$$,
  '23514', null, 'a template message names its template');
insert into public.messages (conversation_id, direction, body, sent_by, idempotency_key)
  values ('c0000000-0000-4000-8000-00000000000a', 'out', 'Gerne, anbei unser Angebot', 'sequence', 'step-1');
select throws_ok($$insert into public.messages (conversation_id, direction, body, sent_by, idempotency_key)
  values ('c0000000-0000-4000-8000-00000000000a', 'out', 'Gerne, anbei unser Angebot', 'sequence', 'step-1')$$,
  '23505', null, 'an idempotency key queues one message per tenant');

-- Full-text search in the lead's language: German stemming finds "Angebote" in "Angebot".
select is((select count(*)::int from public.messages
           where search_vector @@ websearch_to_tsquery('german', 'Angebote Lagerhalle')), 1,
  'a German message is found by another form of its words');
update public.leads set locale = 'de' where id = '20000000-0000-4000-8000-000000000001';
insert into public.messages (id, conversation_id, direction, body) values
  ('e0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-00000000000b', 'in', 'Guten Tag');
update public.leads set locale = null where id = '20000000-0000-4000-8000-000000000001';
insert into public.messages (id, conversation_id, direction, body) values
  ('e0000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-00000000000b', 'in', 'We are looking for offers');
select results_eq(
  $$select search_language from public.messages where id in
    ('e0000000-0000-4000-8000-000000000002', 'e0000000-0000-4000-8000-000000000003') order by id$$,
  $$values ('german'), ('english')$$,
  'the language is the lead''s locale, else the tenant''s');
select is((select count(*)::int from public.messages where search_vector @@ websearch_to_tsquery('english', 'offer')), 1,
  'an English message is found by English stemming');
select has_index('public', 'messages', 'messages_search_idx', 'the search vector has a GIN index');
select is((select am.amname::text from pg_class c join pg_am am on am.oid = c.relam where c.relname = 'messages_search_idx'),
  'gin', 'messages_search_idx is a GIN index');

-- The conversation's bookkeeping: unread inbound, latest times, a closed conversation reopens on inbound.
select results_eq(
  $$select unread_count, last_inbound_at is not null, last_outbound_at is not null, status from public.conversations
    where id = 'c0000000-0000-4000-8000-00000000000a'$$,
  $$values (1, true, true, 'open')$$,
  'an inbound message counts as unread and both latest times are kept');
update public.conversations set status = 'closed', unread_count = 0 where id = 'c0000000-0000-4000-8000-00000000000b';
insert into public.messages (conversation_id, direction, body) values
  ('c0000000-0000-4000-8000-00000000000b', 'in', 'Are you still there?');
select results_eq(
  $$select unread_count, status from public.conversations where id = 'c0000000-0000-4000-8000-00000000000b'$$,
  $$values (1, 'open')$$, 'an inbound message reopens a closed conversation');

-- Facts: a new value closes the current one; a fact is never edited.
insert into public.lead_facts (id, tenant_id, lead_id, key, value, confidence, origin, source_message_id, valid_from) values
  ('f0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001',
   'budget_eur', '5000', 0.9, 'extraction', 'e0000000-0000-4000-8000-000000000001', now() - interval '1 day');
insert into public.lead_facts (id, tenant_id, lead_id, key, value, confidence, origin) values
  ('f0000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001',
   'budget_eur', '8000', 1, 'member');
select results_eq(
  $$select id::text, value::text, valid_to is null from public.lead_facts
    where lead_id = '10000000-0000-4000-8000-000000000001' and key = 'budget_eur' order by valid_from$$,
  $$values ('f0000000-0000-4000-8000-000000000001', '5000', false), ('f0000000-0000-4000-8000-000000000002', '8000', true)$$,
  'a new fact closes the previous one, which stays');
select throws_ok($$update public.lead_facts set value = '9000' where id = 'f0000000-0000-4000-8000-000000000002'$$,
  '23514', 'lead_facts: a fact is never edited, only closed (valid_to)', 'a fact''s value is never edited');
select throws_ok($$update public.lead_facts set valid_to = null where id = 'f0000000-0000-4000-8000-000000000001'$$,
  '23514', null, 'a closed fact stays closed');
select throws_ok($$insert into public.lead_facts (tenant_id, lead_id, key, value, confidence)
  values ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'Budget EUR', '1', 1)$$,
  '23514', null, 'a fact key is snake_case');
select throws_ok($$insert into public.lead_facts (tenant_id, lead_id, key, value, confidence)
  values ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000001', 'company_size', '12', 1.5)$$,
  '23514', null, 'confidence is between 0 and 1');
delete from public.messages where id = 'e0000000-0000-4000-8000-000000000001';
select is((select source_message_id from public.lead_facts where id = 'f0000000-0000-4000-8000-000000000001'), null,
  'erasing the source message keeps the fact and forgets the link');

-- Webhook deliveries: one row per provider and external id; a redelivery stores nothing new.
insert into public.inbound_webhooks (tenant_id, provider, connection_id, external_id, raw_body, headers)
values ('11111111-1111-4111-8111-111111111111', 'whatsapp_cloud', 'cc000000-0000-4000-8000-000000000001', 'wamid.X',
        convert_to('{"entry": []}', 'UTF8'), '{"x-hub-signature-256": "sha256=..."}');
insert into public.inbound_webhooks (tenant_id, provider, external_id, raw_body)
values ('11111111-1111-4111-8111-111111111111', 'whatsapp_cloud', 'wamid.X', convert_to('{"entry": [1]}', 'UTF8'))
on conflict (provider, external_id) do nothing;
select is((select array_agg(convert_from(raw_body, 'UTF8') collate "default") from public.inbound_webhooks
            where external_id = 'wamid.X'),
  array['{"entry": []}'], 'a redelivered webhook stores nothing new');
select throws_ok($$insert into public.inbound_webhooks (tenant_id, provider, external_id, raw_body)
  values ('11111111-1111-4111-8111-111111111111', 'outbox', 'x', '\x00')$$,
  '23514', null, 'only providers that post webhooks appear in the trail');

select * from finish();
rollback;

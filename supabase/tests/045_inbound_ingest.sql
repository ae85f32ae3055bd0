-- Ingest of inbound messages and status reports (migrations 20261202120000..120400): a redelivery stores
-- nothing new; an unknown sender becomes a lead (Zero-Input); a known phone or email on another channel links
-- to its lead, recorded and undoable by a member; statuses never move backwards; the connection lookup
-- answers active connections only. Acme = A, Nordlicht = B; Julia Becker (A) has phone +49 151 2345678.
begin;
select no_plan();

insert into public.channel_connections (id, tenant_id, channel, provider, address, external_account_id, status) values
  ('cc000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', 'whatsapp', 'whatsapp_cloud', '+493012345678', '111222333', 'active'),
  ('cc000000-0000-4000-8000-00000000000b', '11111111-1111-4111-8111-111111111111', 'sms', 'twilio', '+493099999999', null, 'active'),
  ('cc000000-0000-4000-8000-00000000000c', '11111111-1111-4111-8111-111111111111', 'email', 'postmark', 'inbox@acme.test', null, 'active'),
  ('cc000000-0000-4000-8000-00000000000d', '22222222-2222-4222-8222-222222222222', 'whatsapp', 'whatsapp_cloud', '+493055555555', '999888777', 'disabled');
insert into private.channel_credentials (connection_id, tenant_id, secrets) values
  ('cc000000-0000-4000-8000-00000000000a', '11111111-1111-4111-8111-111111111111', '{"app_secret": "s", "verify_token": "vt-acme"}');

set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);

-- the lookup
select results_eq($$select tenant_id::text, secrets ->> 'app_secret' from public.find_webhook_connection(
                      p_provider => 'whatsapp_cloud', p_external_account_id => '111222333')$$,
  $$values ('11111111-1111-4111-8111-111111111111', 's')$$, 'a WhatsApp phone_number_id finds its tenant and secret');
select results_eq($$select connection_id::text from public.find_webhook_connection(p_channel => 'sms', p_address => '+493099999999')$$,
  $$values ('cc000000-0000-4000-8000-00000000000b')$$, 'a receiving number finds its connection');
select is_empty($$select 1 from public.find_webhook_connection(p_provider => 'whatsapp_cloud', p_external_account_id => '999888777')$$,
  'a disabled connection receives nothing');
select is_empty($$select 1 from public.find_webhook_connection(p_channel => 'sms', p_address => '+490000000000')$$,
  'an unknown address finds nothing');
select ok(public.webhook_verify_token_known('whatsapp_cloud', 'vt-acme'), 'a connection''s verify token is known');
select ok(not public.webhook_verify_token_known('whatsapp_cloud', 'guess'), 'another verify token is not');
select ok(not public.webhook_verify_token_known('whatsapp_cloud', ''), 'an empty verify token is not');

-- Zero-Input
select is(public.record_inbound_message('cc000000-0000-4000-8000-00000000000a', 'wamid.new1', 'wamid.new1',
            '+4915799999999', 'Neu Kunde', 'Hallo, was kostet das?') ->> 'outcome', 'recorded', 'a new message is recorded');
select results_eq($$select l.name, l.source_channel, l.whatsapp from public.leads l
                    join public.channel_identities i on i.lead_id = l.id where i.address = '+4915799999999'$$,
  $$values ('Neu Kunde'::text, 'whatsapp'::text, '+4915799999999'::text)$$,
  'an unknown sender becomes a lead named by its profile, with the channel as source_channel');
select is(public.record_inbound_message('cc000000-0000-4000-8000-00000000000a', 'wamid.new1', 'wamid.new1',
            '+4915799999999', 'Neu Kunde', 'Hallo, was kostet das?') ->> 'outcome', 'duplicate', 'a redelivery is a duplicate');
select is((select count(*)::int from public.messages where provider_message_id = 'wamid.new1'), 1, 'one message');
select is((select count(*)::int from public.inbound_webhooks where external_id = 'wamid.new1'), 1, 'one delivery');
select is((select count(*)::int from public.events where type = 'message.received'
            and payload ->> 'provider_message_id' = 'wamid.new1'), 1, 'one message.received');
select is((select count(*)::int from public.leads where name = 'Neu Kunde'), 1, 'one lead');
select is((select count(*)::int from public.events e where e.type = 'lead.created'
            and e.payload ->> 'source_channel' = 'whatsapp' and e.payload ->> 'name' = 'Neu Kunde'), 1,
  'the Zero-Input lead published lead.created once');
select is(public.record_inbound_message('cc000000-0000-4000-8000-00000000000a', 'wamid.new2', 'wamid.new2',
            '+4915799999999', null, 'Noch eine Frage') ->> 'lead_id',
          (select lead_id::text from public.channel_identities where address = '+4915799999999'),
  'the next message of the sender goes to the same lead');
select is((select unread_count from public.conversations c join public.channel_identities i on i.lead_id = c.lead_id
            where i.address = '+4915799999999'), 2, 'one conversation, two unread');
select throws_ok($$select public.record_inbound_message('cc000000-0000-4000-8000-00000000000a', 'x1', 'x1', '015799999999')$$,
  '22023', null, 'a sender that is not normalised is refused');

-- the same phone on another channel: linked, recorded
select is(public.record_inbound_message('cc000000-0000-4000-8000-00000000000b', 'SM001', 'SM001',
            '+4915799999999', null, 'per SMS') ->> 'matched_on', 'phone', 'an SMS from a WhatsApp lead''s number links');
select is((select count(distinct lead_id)::int from public.channel_identities where address = '+4915799999999'), 1,
  'both identities belong to one lead');
select is((select count(*)::int from public.leads where name in ('Neu Kunde', '+4915799999999')), 1, 'no second lead');

-- a lead's phone field matches (written with spaces)
select is(public.record_inbound_message('cc000000-0000-4000-8000-00000000000a', 'wamid.julia', 'wamid.julia',
            '+491512345678', 'Julia B.', 'Hi, hier Julia') ->> 'lead_id', '10000000-0000-4000-8000-000000000001',
  'a WhatsApp message from a lead''s phone number goes to that lead');
-- and an email
select is(public.record_inbound_message('cc000000-0000-4000-8000-00000000000c', 'inbox@acme.test:<m1@x>', '<m1@x>',
            'tobias@wagner-bau.de', 'Tobias', 'Angebot bitte', p_provider => 'postmark') ->> 'lead_id',
  '10000000-0000-4000-8000-000000000002', 'an email from a lead''s address goes to that lead');
select is((select count(*)::int from public.identity_links where lead_id in
            ('10000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000002') and linked_by = 'ingest'), 2,
  'both matches are recorded as links');

-- a member of B cannot undo A's link; a member of A can, and the conversation goes with the identity
reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"role":"authenticated","sub":"b0000000-0000-4000-8000-000000000001","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select throws_ok(format('select public.undo_identity_link(%L)', (select id from public.identity_links where lead_id = '10000000-0000-4000-8000-000000000001')),
  'P0002', null, 'a member of another tenant cannot undo a link');
select set_config('request.jwt.claims', '{"role":"authenticated","sub":"a0000000-0000-4000-8000-000000000002","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select isnt(public.undo_identity_link((select id from public.identity_links where lead_id = '10000000-0000-4000-8000-000000000001')),
  '10000000-0000-4000-8000-000000000001'::uuid, 'a member undoes a wrong match');
reset role;
select results_eq($$select l.name, l.source_channel from public.channel_identities i join public.leads l on l.id = i.lead_id
                    where i.address = '+491512345678'$$,
  $$values ('Julia B.'::text, 'whatsapp'::text)$$, 'the identity now has a lead of its own, named by its profile');
select is((select count(*)::int from public.messages m join public.channel_identities i on i.lead_id = m.lead_id
            where i.address = '+491512345678' and m.provider_message_id = 'wamid.julia'), 1,
  'its message moved with the conversation');
select results_eq($$select undone_by_user_id::text, undone_at is not null from public.identity_links
                    where lead_id = '10000000-0000-4000-8000-000000000001'$$,
  $$values ('a0000000-0000-4000-8000-000000000002', true)$$, 'the undo is recorded with who and when');

-- statuses out of order
insert into public.conversations (id, tenant_id, lead_id, channel) values
  ('c0000000-0000-4000-8000-0000000000f1', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005', 'whatsapp');
insert into public.messages (id, conversation_id, direction, body, sent_by, status, provider_message_id) values
  ('e0000000-0000-4000-8000-0000000000f1', 'c0000000-0000-4000-8000-0000000000f1', 'out', 'Angebot', 'user', 'sent', 'wamid.out1');
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(public.record_status_callback('cc000000-0000-4000-8000-00000000000a', 'wamid.out1:read', 'wamid.out1', 'read') ->> 'outcome',
  'applied', 'read applies');
select is(public.record_status_callback('cc000000-0000-4000-8000-00000000000a', 'wamid.out1:delivered', 'wamid.out1', 'delivered') ->> 'outcome',
  'late', 'a delivered after read is late');
select is(public.record_status_callback('cc000000-0000-4000-8000-00000000000a', 'wamid.out1:delivered', 'wamid.out1', 'delivered') ->> 'outcome',
  'duplicate', 'its redelivery is a duplicate');
select results_eq($$select status, delivered_at is not null from public.messages where id = 'e0000000-0000-4000-8000-0000000000f1'$$,
  $$values ('read'::text, true)$$, 'the message stays read and records when it was delivered');
select is(public.record_status_callback('cc000000-0000-4000-8000-00000000000a', 'wamid.none:read', 'wamid.none', 'read') ->> 'outcome',
  'no_message', 'a report for an unknown message is kept and says so');
select throws_ok($$select public.record_status_callback('cc000000-0000-4000-8000-00000000000a', 'q', 'q', 'queued')$$,
  '22023', null, 'a status that is not a provider report is refused');

-- a report echoing our id settles a message whose provider id was lost (left unknown by a crash)
insert into public.messages (id, conversation_id, direction, body, sent_by, status) values
  ('e0000000-0000-4000-8000-0000000000f2', 'c0000000-0000-4000-8000-0000000000f1', 'out', 'Termin', 'user', 'unknown');
select is(public.record_status_callback('cc000000-0000-4000-8000-00000000000a', 'wamid.lost:sent', 'wamid.lost', 'sent',
            p_message_id => 'e0000000-0000-4000-8000-0000000000f2') ->> 'outcome', 'applied',
  'a report naming our message id applies to it');
select results_eq($$select status, provider_message_id from public.messages where id = 'e0000000-0000-4000-8000-0000000000f2'$$,
  $$values ('sent'::text, 'wamid.lost'::text)$$, 'the message is sent and knows its provider id');
select is(public.record_status_callback('cc000000-0000-4000-8000-00000000000a', 'wamid.other:sent', 'wamid.other', 'sent',
            p_message_id => 'e0000000-0000-4000-8000-0000000000f2') ->> 'outcome', 'no_message',
  'a message that has its provider id is not given another');

-- who may call
reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"role":"authenticated","sub":"a0000000-0000-4000-8000-000000000001","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select throws_ok($$select public.record_inbound_message('cc000000-0000-4000-8000-00000000000a', 'f', 'f', '+4915711111111', null, 'forged')$$,
  '42501', null, 'a member cannot forge an inbound message');
select throws_ok($$select * from public.find_webhook_connection(p_channel => 'sms', p_address => '+493099999999')$$,
  '42501', null, 'a member cannot read a connection''s secrets');
reset role;

select * from finish();
rollback;

-- Connecting a channel: owners and admins of the token's tenant, or service code naming the tenant; members
-- and anon never; a provider that does not serve the channel is refused naming both; an address belongs to
-- one tenant; the secrets land where only service_role reads them, and members learn only their key names.
-- Anna owns Acme (A), Ben is a member of A, Bea owns Nordlicht (B), Max is an admin of B.
begin;
select no_plan();

-- anon: no execute at all.
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select public.connect_channel('sms', 'outbox', '+493012345678')$$, '42501', null,
  'anon cannot connect a channel');
select throws_ok($$select * from public.channel_credentials_state()$$, '42501', null,
  'anon cannot read the credentials state');
reset role;

-- Anna, owner of A, connects WhatsApp with its secrets.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select lives_ok($$select set_config('test.wa', public.connect_channel('whatsapp', 'whatsapp_cloud', '+493012345678',
    '1234567890', 'Acme WhatsApp', '{"access_token": "EAAG-very-secret", "app_secret": "s3cr3t", "verify_token": "v"}')::text,
    true)$$, 'an owner connects WhatsApp with its secrets');
select results_eq($$select tenant_id, channel::text, provider::text, external_account_id, display_name, connected_by
    from public.channel_connections where id = current_setting('test.wa')::uuid$$,
  $$values ('11111111-1111-4111-8111-111111111111'::uuid, 'whatsapp', 'whatsapp_cloud', '1234567890', 'Acme WhatsApp',
            'a0000000-0000-4000-8000-000000000001'::uuid)$$,
  'the connection is the token''s tenant''s, connected by the owner');
select throws_ok($$select secrets from private.channel_credentials$$, '42501', null,
  'even the owner cannot read the secrets table');
select results_eq($$select has_credentials, secret_keys from public.channel_credentials_state()
    where connection_id = current_setting('test.wa')::uuid$$,
  $$values (true, array['access_token', 'app_secret', 'verify_token'])$$,
  'the owner learns that there are credentials and their key names');
select is((select count(*)::int from public.channel_credentials_state() s
           where to_jsonb(s)::text like '%EAAG-very-secret%' or to_jsonb(s)::text like '%s3cr3t%'), 0,
  'no secret value is ever in the credentials state');
select throws_ok($$select * from public.channel_credentials_state('22222222-2222-4222-8222-222222222222')$$,
  '42501', null, 'a member cannot ask for another tenant''s credentials state');
select is(public.connect_channel('whatsapp', 'whatsapp_cloud', '+493012345678', '1234567890', 'Acme WA (new name)'),
  current_setting('test.wa')::uuid, 'connecting the same address again updates the same connection');
select is((select display_name from public.channel_connections where id = current_setting('test.wa')::uuid),
  'Acme WA (new name)', 'the reconnect changed the display name');
select throws_ok($$select public.connect_channel('whatsapp', 'twilio', '+493012345679')$$, '22023',
  'connect_channel.p_provider: provider twilio does not serve channel whatsapp (whatsapp is served by outbox, whatsapp_cloud)',
  'a provider that does not serve the channel is refused naming both');
select throws_ok($$select public.connect_channel('fax', 'outbox', '+493012345679')$$, '22023', null,
  'an unknown channel is refused');
select throws_ok($$select public.connect_channel('sms', 'outbox', '030 1234567')$$, '22023', null,
  'an address not in normal form is refused');
select throws_ok($$select public.connect_channel('sms', 'outbox', '+493012345679', null, null, '[1]')$$, '22023',
  'connect_channel.p_secrets: must be a JSON object of key names to values', 'secrets must be an object');
select throws_ok($$select public.connect_channel('sms', 'outbox', '+493012345679', null, null, null,
    '22222222-2222-4222-8222-222222222222')$$, '42501', null,
  'an owner of A cannot connect a channel for B');
reset role;

-- Ben, a member of A: never.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select throws_ok($$select public.connect_channel('sms', 'outbox', '+493012345679')$$, '42501',
  'connect_channel: only owners and admins connect channels (you are member)', 'a member cannot connect a channel');
select results_eq($$select has_credentials from public.channel_credentials_state()$$, $$values (true)$$,
  'a member sees that WhatsApp has credentials');
select throws_ok($$select secrets from private.channel_credentials$$, '42501', null,
  'a member cannot read the secrets');
reset role;

-- Max, admin of B: connects B's SMS; cannot take A's address.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"c0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select lives_ok($$select public.connect_channel('sms', 'outbox', '+447700900001')$$, 'an admin connects a channel');
select throws_ok($$select public.connect_channel('whatsapp', 'whatsapp_cloud', '+493012345678')$$, '23505',
  'connect_channel.p_address: +493012345678 on whatsapp is connected by another tenant',
  'an address connected by another tenant is refused');
select is((select count(*)::int from public.channel_credentials_state()), 1,
  'B''s admin sees only B''s connection in the credentials state');
reset role;

-- service_role: names the tenant.
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select throws_ok($$select public.connect_channel('sms', 'outbox', '+493012345679')$$, '22023',
  'connect_channel.p_tenant_id: required for service code (which tenant?)', 'service code must name the tenant');
select lives_ok($$select public.connect_channel('email', 'smtp', 'sales@acme.test', null, 'Acme Sales',
    '{"host": "smtp.acme.test", "password": "pw"}', '11111111-1111-4111-8111-111111111111')$$,
  'service code connects a channel of the tenant it names');
select is((select k.secrets ->> 'password' from private.channel_credentials k
           join public.channel_connections c on c.id = k.connection_id where c.address = 'sales@acme.test'),
  'pw', 'service code reads the secrets it stored');
select is((select count(*)::int from public.channel_credentials_state()), 3,
  'service code sees every tenant''s connections without p_tenant_id');
select lives_ok($$select public.connect_channel('email', 'smtp', 'sales@acme.test', null, null, null,
    '11111111-1111-4111-8111-111111111111')$$, 'reconnecting without secrets');
select is((select k.secrets ->> 'password' from private.channel_credentials k
           join public.channel_connections c on c.id = k.connection_id where c.address = 'sales@acme.test'),
  'pw', 'keeps the stored secrets');
reset role;

select * from finish();
rollback;

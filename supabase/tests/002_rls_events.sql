-- RLS matrix for public.events and public.event_deliveries: readable by members of their tenant,
-- written only by service_role and the emitting function; anon sees nothing.
begin;
select plan(22);

-- One delivery per tenant to read back.
insert into public.event_deliveries (event_id, handler, tenant_id, status)
select id, 'test.handler', tenant_id, 'succeeded' from public.events where type = 'lead.created';

delete from public.tenant_members
 where tenant_id = '11111111-1111-4111-8111-111111111111' and user_id = 'a0000000-0000-4000-8000-000000000002';

set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select count(*) from public.events$$, '42501', null, 'anon cannot select events');
select throws_ok($$select count(*) from public.event_deliveries$$, '42501', null, 'anon cannot select deliveries');
select throws_ok($$insert into public.events (tenant_id, type) values ('11111111-1111-4111-8111-111111111111', 'lead.created')$$,
  '42501', null, 'anon cannot insert events');
select throws_ok($$select private.emit_event('11111111-1111-4111-8111-111111111111', 'lead.created')$$,
  '42501', null, 'anon cannot call the emitting function');
reset role;

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*) from public.events)::int, 7, 'member of A reads A''s 7 events');
select is((select count(*) from public.event_deliveries)::int, 7, 'member of A reads A''s 7 deliveries');
select throws_ok($$insert into public.events (tenant_id, type) values ('11111111-1111-4111-8111-111111111111', 'lead.created')$$,
  '42501', null, 'member of A cannot insert events directly');
select throws_ok($$update public.events set status = 'processed'$$, '42501', null, 'member of A cannot update events');
select throws_ok($$delete from public.events$$, '42501', null, 'member of A cannot delete events');
select throws_ok($$insert into public.event_deliveries (event_id, handler, tenant_id)
  select id, 'x', tenant_id from public.events limit 1$$, '42501', null, 'member of A cannot insert deliveries');
select throws_ok($$update public.event_deliveries set status = 'failed'$$, '42501', null, 'member of A cannot update deliveries');
select throws_ok($$delete from public.event_deliveries$$, '42501', null, 'member of A cannot delete deliveries');
select throws_ok($$select private.emit_event('11111111-1111-4111-8111-111111111111', 'lead.created')$$,
  '42501', null, 'member of A cannot call the emitting function directly');
-- ... but a member's lead insert publishes through the trigger, in the member's tenant.
insert into public.leads (name) values ('Trigger Test');
select is((select count(*) from public.events where type = 'lead.created')::int, 8,
  'a member''s lead insert emits an event the member can read');
reset role;

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is((select count(*) from public.events)::int, 5, 'member of B reads only B''s 5 events');
select is((select count(*) from public.event_deliveries)::int, 5, 'member of B reads only B''s 5 deliveries');
reset role;

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*) from public.events)::int, 0, 'a removed member reads no events');
select is((select count(*) from public.event_deliveries)::int, 0, 'a removed member reads no deliveries');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is((select count(*) from public.events)::int, 13, 'service_role reads all events');
select lives_ok($$select private.emit_event('22222222-2222-4222-8222-222222222222', 'message.sent', '{"channel":"sms"}')$$,
  'service_role publishes through the emitting function');
select lives_ok($$update public.events set status = 'processed' where type = 'message.sent'$$, 'service_role updates events');
select lives_ok($$delete from public.event_deliveries where handler = 'test.handler'$$, 'service_role deletes deliveries');
reset role;

select * from finish();
rollback;

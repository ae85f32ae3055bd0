-- Lead changes publish exactly one event of the right type and tenant, in the same transaction.
begin;
select plan(18);

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);

create temporary table before_count on commit drop as select count(*) as n from public.events;

insert into public.leads (id, name, source, source_channel)
values ('30000000-0000-4000-8000-000000000001', 'Emil Event', 'facebook_ads', 'facebook');
select is((select count(*) from public.events where ordering_key = '30000000-0000-4000-8000-000000000001')::int, 1,
  'an insert emits exactly one event');
select results_eq($$select type, tenant_id, payload ->> 'name', payload ->> 'source_channel' from public.events
  where ordering_key = '30000000-0000-4000-8000-000000000001'$$,
  $$values ('lead.created'::text, '11111111-1111-4111-8111-111111111111'::uuid, 'Emil Event'::text, 'facebook'::text)$$,
  'lead.created carries the row''s tenant, name and channel');

update public.leads set status = 'contacted' where id = '30000000-0000-4000-8000-000000000001';
select is((select count(*) from public.events where ordering_key = '30000000-0000-4000-8000-000000000001')::int, 2,
  'a status change emits exactly one more event');
select results_eq($$select type, payload ->> 'from', payload ->> 'to' from public.events
  where ordering_key = '30000000-0000-4000-8000-000000000001' and type = 'lead.status_changed'$$,
  $$values ('lead.status_changed'::text, 'new'::text, 'contacted'::text)$$, 'lead.status_changed carries from and to');

update public.leads set company = 'Event GmbH', score = 40 where id = '30000000-0000-4000-8000-000000000001';
select is((select count(*) from public.events where ordering_key = '30000000-0000-4000-8000-000000000001')::int, 3,
  'another update emits exactly one more event');
select is((select payload -> 'changes' from public.events
  where ordering_key = '30000000-0000-4000-8000-000000000001' and type = 'lead.updated'),
  '{"company": {"from": null, "to": "Event GmbH"}, "score": {"from": 0, "to": 40}}'::jsonb,
  'lead.updated carries only the changed fields');

update public.leads set company = 'Event GmbH' where id = '30000000-0000-4000-8000-000000000001';
select is((select count(*) from public.events where ordering_key = '30000000-0000-4000-8000-000000000001')::int, 3,
  'an update that changes nothing emits nothing');

savepoint before_rollback;
insert into public.leads (id, name) values ('30000000-0000-4000-8000-000000000002', 'Rolled Back');
update public.leads set status = 'qualified' where id = '30000000-0000-4000-8000-000000000001';
rollback to savepoint before_rollback;
select is((select count(*) from public.events)::int, (select n::int + 3 from before_count),
  'a rolled-back change emits no event');

select throws_ok($$update public.leads set status = 'negotiation' where id = '30000000-0000-4000-8000-000000000001'$$,
  '23514', 'leads.status cannot move from contacted to negotiation', 'an illegal status jump is refused, naming the statuses');
select throws_ok($$update public.leads set status = 'unknown' where id = '30000000-0000-4000-8000-000000000001'$$,
  '23514', null, 'an unknown status is refused');
select lives_ok($$update public.leads set status = 'lost' where id = '30000000-0000-4000-8000-000000000001'$$,
  'any open stage may be lost');
select lives_ok($$update public.leads set status = 'new' where id = '30000000-0000-4000-8000-000000000001'$$,
  'lost may reopen to new');
select throws_ok($$update public.leads set status = 'proposal' where id = '30000000-0000-4000-8000-000000000001'$$,
  '23514', 'leads.status cannot move from new to proposal', 'stages cannot be skipped');
select lives_ok($$update public.leads set status = 'won' where id = '30000000-0000-4000-8000-000000000001'$$,
  'a deal closes won from any open stage (here: new)');
select throws_ok($$update public.leads set status = 'negotiation' where id = '30000000-0000-4000-8000-000000000001'$$,
  '23514', 'leads.status cannot move from won to negotiation', 'a won deal does not reopen');
select throws_ok($$insert into public.leads (name, email) values ('Dup', 'JULIA.BECKER@example.de')$$,
  '23505', null, 'email is unique per tenant, case-insensitively');
reset role;

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select lives_ok($$insert into public.leads (name, email) values ('Same Mail Other Tenant', 'julia.becker@example.de')$$,
  'the same email may exist in another tenant');
select is((select tenant_id from public.events where payload ->> 'name' = 'Same Mail Other Tenant'),
  '22222222-2222-4222-8222-222222222222'::uuid, 'the event''s tenant is the row''s');
reset role;

select * from finish();
rollback;

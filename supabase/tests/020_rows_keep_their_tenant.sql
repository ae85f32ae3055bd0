-- A row never moves to another tenant (migration 20261201130000): not even service code, which bypasses
-- RLS, can take over another tenant's row with a merging upsert, and every tenant table carries the guard.
begin;
select plan(6);

select is(
  array(select c.relname::text from pg_catalog.pg_class c
         join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and c.relname <> 'tenant_members'
          and not exists (select 1 from pg_catalog.pg_trigger t
                           where t.tgrelid = c.oid and t.tgname = 'a_row_keeps_its_tenant')
        order by 1),
  '{}'::text[],
  'every table with a tenant_id (but tenant_members, keyed by it) has the trigger a_row_keeps_its_tenant');

insert into public.analytics_events (tenant_id, event_id, handler, type, value)
values ('22222222-2222-4222-8222-222222222222', 'e0000000-0000-4000-8000-000000000001', 'h', 't.x', 1);

set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
-- What PostgREST's resolution=merge-duplicates sends: every given column, tenant_id included.
select throws_ok($$insert into public.analytics_events as t (tenant_id, event_id, handler, type, value)
  values ('11111111-1111-4111-8111-111111111111', 'e0000000-0000-4000-8000-000000000001', 'h', 't.x', 99)
  on conflict (event_id, handler) do update set tenant_id = excluded.tenant_id, value = excluded.value$$,
  '42501', 'analytics_events: the row with this key belongs to another tenant (a row never moves to another tenant)',
  'service_role cannot merge into another tenant''s row');
select throws_ok($$update public.leads set tenant_id = '11111111-1111-4111-8111-111111111111'
  where id = '20000000-0000-4000-8000-000000000001'$$,
  '42501', null, 'service_role cannot move a lead to another tenant');
select lives_ok($$insert into public.analytics_events as t (tenant_id, event_id, handler, type, value)
  values ('22222222-2222-4222-8222-222222222222', 'e0000000-0000-4000-8000-000000000001', 'h', 't.x', 2)
  on conflict (event_id, handler) do update set tenant_id = excluded.tenant_id, value = excluded.value$$,
  'service_role merges into the tenant''s own row');
select lives_ok($$update public.leads set notes = 'called back' where id = '20000000-0000-4000-8000-000000000001'$$,
  'updates that keep the tenant are untouched');
reset role;

select results_eq(
  $$select tenant_id::text, value from public.analytics_events where event_id = 'e0000000-0000-4000-8000-000000000001'$$,
  $$values ('22222222-2222-4222-8222-222222222222', 2::double precision)$$,
  'the row stayed with its tenant and took only its own tenant''s merge');

select * from finish();
rollback;

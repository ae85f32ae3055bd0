-- RLS matrix for public.leads: anon, member of A, member of B, removed member of A holding a token,
-- service_role; select, insert, update, delete. Seed: Acme (A) has 7 leads, Nordlicht (B) has 5.
begin;
select plan(25);

-- Ben is removed from Acme; his token still says tenant Acme.
delete from public.tenant_members
 where tenant_id = '11111111-1111-4111-8111-111111111111' and user_id = 'a0000000-0000-4000-8000-000000000002';

-- anon
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select count(*) from public.leads$$, '42501', null, 'anon cannot select leads');
select throws_ok($$insert into public.leads (tenant_id, name) values ('11111111-1111-4111-8111-111111111111', 'x')$$,
  '42501', null, 'anon cannot insert leads');
select throws_ok($$update public.leads set notes = 'x'$$, '42501', null, 'anon cannot update leads');
select throws_ok($$delete from public.leads$$, '42501', null, 'anon cannot delete leads');
reset role;

-- member of A (Anna, owner of Acme)
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*) from public.leads)::int, 7, 'member of A sees exactly A''s 7 leads');
select is((select count(*) from public.leads where tenant_id <> '11111111-1111-4111-8111-111111111111')::int, 0,
  'member of A sees none of B''s leads');
select lives_ok($$insert into public.leads (name, email) values ('Neu Kunde', 'neu@kunde.de')$$,
  'member of A inserts a lead without naming a tenant');
select is((select tenant_id from public.leads where email = 'neu@kunde.de'),
  '11111111-1111-4111-8111-111111111111'::uuid, 'the inserted lead got A''s tenant from the token');
select throws_ok($$insert into public.leads (tenant_id, name) values ('22222222-2222-4222-8222-222222222222', 'Sneaky')$$,
  '42501', null, 'member of A cannot insert into B');
with u as (update public.leads set notes = 'hacked' where id = '20000000-0000-4000-8000-000000000001' returning 1)
select is(count(*)::int, 0, 'member of A cannot update B''s lead') from u;
with u as (update public.leads set notes = 'called' where id = '10000000-0000-4000-8000-000000000001' returning 1)
select is(count(*)::int, 1, 'member of A updates A''s lead') from u;
with d as (delete from public.leads where id = '20000000-0000-4000-8000-000000000002' returning 1)
select is(count(*)::int, 0, 'member of A cannot delete B''s lead') from d;
with d as (delete from public.leads where id = '10000000-0000-4000-8000-000000000007' returning 1)
select is(count(*)::int, 1, 'member of A deletes A''s lead') from d;
reset role;

-- member of B (Bea, owner of Nordlicht)
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is((select count(*) from public.leads)::int, 5, 'member of B sees exactly B''s 5 leads');
with u as (update public.leads set tenant_id = '22222222-2222-4222-8222-222222222222'
  where id = '10000000-0000-4000-8000-000000000002' returning 1)
select is(count(*)::int, 0, 'member of B cannot move A''s lead into B') from u;
with d as (delete from public.leads where id = '10000000-0000-4000-8000-000000000002' returning 1)
select is(count(*)::int, 0, 'member of B cannot delete A''s lead') from d;
select lives_ok($$insert into public.leads (name) values ('Nord Neu')$$, 'member of B inserts into B');
select is((select tenant_id from public.leads where name = 'Nord Neu'),
  '22222222-2222-4222-8222-222222222222'::uuid, 'B''s insert got B''s tenant from the token');
reset role;

-- removed member of A, token still valid
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*) from public.leads)::int, 0, 'a removed member reads nothing');
select throws_ok($$insert into public.leads (tenant_id, name) values ('11111111-1111-4111-8111-111111111111', 'After removal')$$,
  '42501', null, 'a removed member cannot insert');
with u as (update public.leads set notes = 'x' returning 1)
select is(count(*)::int, 0, 'a removed member updates nothing') from u;
with d as (delete from public.leads returning 1)
select is(count(*)::int, 0, 'a removed member deletes nothing') from d;
reset role;

-- service_role bypasses RLS
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is((select count(*) from public.leads)::int, 13,
  'service_role sees every tenant''s leads (7 + 1 new - 1 deleted + 5 + 1 new)');
with u as (update public.leads set notes = 'by service' where id in
  ('10000000-0000-4000-8000-000000000001', '20000000-0000-4000-8000-000000000001') returning 1)
select is(count(*)::int, 2, 'service_role updates leads of any tenant') from u;
select lives_ok($$insert into public.leads (tenant_id, name) values ('22222222-2222-4222-8222-222222222222', 'Via service')$$,
  'service_role inserts with an explicit tenant');
reset role;

select * from finish();
rollback;

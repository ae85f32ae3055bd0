-- RLS matrix for public.tenants and public.tenant_members.
begin;
select plan(21);

delete from public.tenant_members
 where tenant_id = '11111111-1111-4111-8111-111111111111' and user_id = 'a0000000-0000-4000-8000-000000000002';

set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select count(*) from public.tenants$$, '42501', null, 'anon cannot select tenants');
select throws_ok($$select count(*) from public.tenant_members$$, '42501', null, 'anon cannot select memberships');
select throws_ok($$insert into public.tenants (name) values ('x')$$, '42501', null, 'anon cannot create tenants');
reset role;

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select results_eq($$select name from public.tenants$$, $$values ('Acme Sales'::text)$$, 'member of A sees only tenant A');
select is((select count(*) from public.tenant_members)::int, 2, 'member of A sees A''s 2 remaining memberships');
select throws_ok($$insert into public.tenants (name) values ('Own tenant')$$, '42501', null, 'members cannot create tenants');
with u as (update public.tenants set name = 'Acme Sales GmbH' returning 1)
select is(count(*)::int, 1, 'the owner of A renames A, and only A') from u;
select throws_ok($$delete from public.tenants$$, '42501', null, 'members cannot delete tenants');
select lives_ok($$insert into public.tenant_members (tenant_id, user_id, role)
  values ('11111111-1111-4111-8111-111111111111', 'd0000000-0000-4000-8000-000000000001', 'member')$$,
  'the owner of A adds a member to A');
select throws_ok($$insert into public.tenant_members (tenant_id, user_id, role)
  values ('22222222-2222-4222-8222-222222222222', 'a0000000-0000-4000-8000-000000000001', 'owner')$$,
  '42501', null, 'the owner of A cannot add themselves to B');
with d as (delete from public.tenant_members
  where tenant_id = '22222222-2222-4222-8222-222222222222' returning 1)
select is(count(*)::int, 0, 'the owner of A cannot remove B''s members') from d;
reset role;

-- Ben (member, not owner) of A cannot manage memberships: re-add him for this part.
insert into public.tenant_members (tenant_id, user_id, role)
values ('11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000002', 'member');
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select throws_ok($$insert into public.tenant_members (tenant_id, user_id, role)
  values ('11111111-1111-4111-8111-111111111111', 'b0000000-0000-4000-8000-000000000001', 'member')$$,
  '42501', null, 'a plain member cannot add members');
with u as (update public.tenant_members set role = 'owner' returning 1)
select is(count(*)::int, 0, 'a plain member cannot promote anyone') from u;
reset role;
delete from public.tenant_members
 where tenant_id = '11111111-1111-4111-8111-111111111111' and user_id = 'a0000000-0000-4000-8000-000000000002';

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select results_eq($$select name from public.tenants$$, $$values ('Nordlicht Vertrieb'::text)$$, 'member of B sees only tenant B');
with u as (update public.tenants set name = 'Taken over'
  where id = '11111111-1111-4111-8111-111111111111' returning 1)
select is(count(*)::int, 0, 'member of B cannot rename A') from u;
reset role;

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*) from public.tenants)::int, 0, 'a removed member sees no tenant');
select is((select count(*) from public.tenant_members)::int, 0, 'a removed member sees no membership');
reset role;

-- A removed owner (Anna) still holding her token: her former powers are gone with the membership.
-- (Nomad, added above, becomes owner first: a tenant always keeps one, 007_tenant_member_roles.sql.)
update public.tenant_members set role = 'owner'
 where tenant_id = '11111111-1111-4111-8111-111111111111' and user_id = 'd0000000-0000-4000-8000-000000000001';
delete from public.tenant_members
 where tenant_id = '11111111-1111-4111-8111-111111111111' and user_id = 'a0000000-0000-4000-8000-000000000001';
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111","tenant_role":"owner"}', true);
with u as (update public.tenants set name = 'Renamed after removal' returning 1)
select is(count(*)::int, 0, 'a removed owner renames no tenant') from u;
select throws_ok($$insert into public.tenant_members (tenant_id, user_id, role)
  values ('11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000001', 'owner')$$,
  '42501', null, 'a removed owner cannot re-add themselves');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is((select count(*) from public.tenants)::int, 2, 'service_role sees every tenant');
select lives_ok($$insert into public.tenants (name) values ('Third Tenant')$$, 'service_role creates tenants');
reset role;

select * from finish();
rollback;

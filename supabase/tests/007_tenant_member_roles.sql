-- Who may grant, change and revoke which role in a tenant; a tenant always keeps an owner.
-- Cast (Nordlicht): Bea owner, Max admin, Ben and Nomad plain members (added here), Eve joins during the test.
-- Outsider: Anna, owner of Acme.
begin;
select no_plan();

insert into auth.users (id, email) values ('e0000000-0000-4000-8000-000000000001', 'eve@nordlicht.test');
insert into public.tenant_members (tenant_id, user_id, role) values
  ('22222222-2222-4222-8222-222222222222', 'a0000000-0000-4000-8000-000000000002', 'member'),
  ('22222222-2222-4222-8222-222222222222', 'd0000000-0000-4000-8000-000000000001', 'member');

create function pg_temp.role_of(p_user uuid) returns text language sql as $$
  select role from public.tenant_members
  where tenant_id = '22222222-2222-4222-8222-222222222222' and user_id = p_user
$$;

-- An admin (Max) manages plain members only.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"c0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select throws_ok($$insert into public.tenant_members (tenant_id, user_id, role)
  values ('22222222-2222-4222-8222-222222222222', 'e0000000-0000-4000-8000-000000000001', 'owner')$$,
  '42501', 'tenant_members.role: only an owner can grant the owner role', 'an admin cannot add an owner');
select throws_ok($$insert into public.tenant_members (tenant_id, user_id, role)
  values ('22222222-2222-4222-8222-222222222222', 'e0000000-0000-4000-8000-000000000001', 'admin')$$,
  '42501', 'tenant_members.role: only an owner can grant the admin role', 'an admin cannot add an admin');
select lives_ok($$insert into public.tenant_members (tenant_id, user_id, role)
  values ('22222222-2222-4222-8222-222222222222', 'e0000000-0000-4000-8000-000000000001', 'member')$$,
  'an admin adds a plain member');
select throws_ok($$update public.tenant_members set role = 'admin'
  where user_id = 'e0000000-0000-4000-8000-000000000001'$$,
  '42501', 'tenant_members.role: only an owner can grant the admin role', 'an admin cannot promote a member to admin');
select throws_ok($$update public.tenant_members set role = 'owner'
  where user_id = 'e0000000-0000-4000-8000-000000000001'$$,
  '42501', 'tenant_members.role: only an owner can grant the owner role', 'an admin cannot promote a member to owner');
select throws_ok($$update public.tenant_members set role = 'owner'
  where user_id = 'c0000000-0000-4000-8000-000000000001'$$,
  '42501', 'tenant_members.role: nobody can change their own role (another owner does)',
  'an admin cannot make themselves owner');
select throws_ok($$update public.tenant_members set role = 'member'
  where user_id = 'b0000000-0000-4000-8000-000000000001'$$,
  '42501', 'tenant_members.role: only an owner can revoke the owner role', 'an admin cannot demote the owner');
select throws_ok($$delete from public.tenant_members where user_id = 'b0000000-0000-4000-8000-000000000001'$$,
  '42501', 'tenant_members.role: only an owner can revoke the owner role', 'an admin cannot remove the owner');
select throws_ok($$delete from public.tenant_members where user_id = 'c0000000-0000-4000-8000-000000000001'$$,
  '42501', 'tenant_members: nobody can remove their own membership (another owner does)',
  'an admin cannot remove their own membership');
select throws_ok($$update public.tenant_members set user_id = 'e0000000-0000-4000-8000-000000000001'
  where user_id = 'b0000000-0000-4000-8000-000000000001'$$,
  '42501', 'tenant_members: a membership cannot move to another user or tenant (remove it and add a new one)',
  'an admin cannot hand the owner''s membership to someone else');
with d as (delete from public.tenant_members where user_id = 'e0000000-0000-4000-8000-000000000001' returning 1)
select is(count(*)::int, 1, 'an admin removes a plain member') from d;
reset role;
select is(pg_temp.role_of('b0000000-0000-4000-8000-000000000001'), 'owner', 'after all that, Bea is still owner');
select is(pg_temp.role_of('c0000000-0000-4000-8000-000000000001'), 'admin', 'and Max is still admin');

-- The owner (Bea) grants and revokes every role, but not her own.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select lives_ok($$insert into public.tenant_members (tenant_id, user_id, role)
  values ('22222222-2222-4222-8222-222222222222', 'e0000000-0000-4000-8000-000000000001', 'admin')$$,
  'the owner adds an admin');
select lives_ok($$update public.tenant_members set role = 'owner' where user_id = 'e0000000-0000-4000-8000-000000000001'$$,
  'the owner makes an admin owner');
select lives_ok($$update public.tenant_members set role = 'member' where user_id = 'e0000000-0000-4000-8000-000000000001'$$,
  'the owner demotes another owner');
select lives_ok($$update public.tenant_members set role = 'member' where user_id = 'c0000000-0000-4000-8000-000000000001'$$,
  'the owner revokes admin');
select lives_ok($$update public.tenant_members set role = 'admin' where user_id = 'c0000000-0000-4000-8000-000000000001'$$,
  'the owner grants admin');
select throws_ok($$update public.tenant_members set role = 'admin' where user_id = 'b0000000-0000-4000-8000-000000000001'$$,
  '42501', 'tenant_members.role: nobody can change their own role (another owner does)',
  'the owner cannot change her own role');
select throws_ok($$delete from public.tenant_members where user_id = 'b0000000-0000-4000-8000-000000000001'$$,
  '42501', 'tenant_members: nobody can remove their own membership (another owner does)',
  'the owner cannot remove her own membership');
with d as (delete from public.tenant_members where user_id = 'e0000000-0000-4000-8000-000000000001' returning 1)
select is(count(*)::int, 1, 'the owner removes a member') from d;
reset role;
select is(pg_temp.role_of('e0000000-0000-4000-8000-000000000001'), null, 'Eve is gone');
select is(pg_temp.role_of('c0000000-0000-4000-8000-000000000001'), 'admin', 'Max is admin again');

-- A plain member (Ben) manages nobody, himself included.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select throws_ok($$insert into public.tenant_members (tenant_id, user_id, role)
  values ('22222222-2222-4222-8222-222222222222', 'e0000000-0000-4000-8000-000000000001', 'member')$$,
  '42501', null, 'a plain member cannot add members');
with u as (update public.tenant_members set role = 'owner' returning 1)
select is(count(*)::int, 0, 'a plain member cannot promote anyone, himself included') from u;
with d as (delete from public.tenant_members returning 1)
select is(count(*)::int, 0, 'a plain member cannot remove anyone') from d;
reset role;

-- Another tenant's owner (Anna of Acme) touches nothing of Nordlicht's.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select throws_ok($$insert into public.tenant_members (tenant_id, user_id, role)
  values ('22222222-2222-4222-8222-222222222222', 'a0000000-0000-4000-8000-000000000001', 'owner')$$,
  '42501', null, 'another tenant''s owner cannot make herself owner here');
with u as (update public.tenant_members set role = 'member'
  where tenant_id = '22222222-2222-4222-8222-222222222222' returning 1)
select is(count(*)::int, 0, 'another tenant''s owner demotes nobody here') from u;
with d as (delete from public.tenant_members where tenant_id = '22222222-2222-4222-8222-222222222222' returning 1)
select is(count(*)::int, 0, 'another tenant''s owner removes nobody here') from d;
select throws_ok($$update public.tenant_members set tenant_id = '22222222-2222-4222-8222-222222222222'
  where user_id = 'a0000000-0000-4000-8000-000000000002'$$,
  '42501', 'tenant_members: a membership cannot move to another user or tenant (remove it and add a new one)',
  'an owner cannot move her member into another tenant');
reset role;
select is((select count(*)::int from public.tenant_members where tenant_id = '22222222-2222-4222-8222-222222222222'),
  4, 'Nordlicht''s four memberships are untouched');

-- service_role manages roles freely (service code), but a tenant keeps at least one owner, even then.
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select throws_ok($$update public.tenant_members set role = 'member' where user_id = 'b0000000-0000-4000-8000-000000000001'
  and tenant_id = '22222222-2222-4222-8222-222222222222'$$,
  '23514', 'tenant_members: a tenant always keeps at least one owner (make another member owner first)',
  'not even service_role demotes the last owner');
select throws_ok($$delete from public.tenant_members where user_id = 'b0000000-0000-4000-8000-000000000001'
  and tenant_id = '22222222-2222-4222-8222-222222222222'$$,
  '23514', 'tenant_members: a tenant always keeps at least one owner (make another member owner first)',
  'not even service_role removes the last owner');
select throws_ok($$update public.tenant_members set role = 'member'
  where tenant_id = '22222222-2222-4222-8222-222222222222'$$,
  '23514', 'tenant_members: a tenant always keeps at least one owner (make another member owner first)',
  'one statement demoting everybody is refused too');
select lives_ok($$update public.tenant_members set role = 'owner' where user_id = 'c0000000-0000-4000-8000-000000000001'
  and tenant_id = '22222222-2222-4222-8222-222222222222'$$,
  'service_role makes the admin owner');
select lives_ok($$update public.tenant_members set role = 'member' where user_id = 'b0000000-0000-4000-8000-000000000001'
  and tenant_id = '22222222-2222-4222-8222-222222222222'$$,
  'with another owner present, the first may be demoted');
select throws_ok($$delete from public.tenant_members where user_id = 'c0000000-0000-4000-8000-000000000001'
  and tenant_id = '22222222-2222-4222-8222-222222222222'$$,
  '23514', 'tenant_members: a tenant always keeps at least one owner (make another member owner first)',
  'the new sole owner cannot be removed either');
reset role;

-- The database owner is bound too: deleting the last owner's account is refused, ...
select throws_ok($$delete from auth.users where id = 'c0000000-0000-4000-8000-000000000001'$$,
  '23514', 'tenant_members: a tenant always keeps at least one owner (make another member owner first)',
  'deleting the account of a tenant''s last owner is refused');
-- ... a hand-over in one transaction may defer the check to its end, ...
set constraints public.tenant_members_keep_an_owner deferred;
delete from public.tenant_members
 where user_id = 'c0000000-0000-4000-8000-000000000001' and tenant_id = '22222222-2222-4222-8222-222222222222';
update public.tenant_members set role = 'owner'
 where user_id = 'b0000000-0000-4000-8000-000000000001' and tenant_id = '22222222-2222-4222-8222-222222222222';
select lives_ok($$set constraints public.tenant_members_keep_an_owner immediate$$,
  'a deferred hand-over that ends with an owner passes');
-- ... and a tenant that is deleted takes its owners with it.
select lives_ok($$delete from public.tenants where id = '22222222-2222-4222-8222-222222222222'$$,
  'deleting a tenant removes its last owner with it');

select * from finish();
rollback;

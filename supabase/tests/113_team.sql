-- Team: who may invite whom, single-use expiring invitations, create_tenant for users without one.
-- Cast: Acme — Anna owner, Ben member, Max member; Nordlicht — Bea owner, Max admin; Nomad has no tenant.
begin;
select no_plan();

create function pg_temp.act(p_user text, p_tenant text) returns void language sql as $$
  select set_config('request.jwt.claims', json_build_object('sub', p_user, 'role', 'authenticated', 'tenant_id', p_tenant)::text, true)
$$;
create function pg_temp.token_of(p_email text) returns text language sql security definer as $$
  select k.token from private.invitation_tokens k join public.invitations i on i.id = k.invitation_id
  where i.email = p_email
$$;
grant execute on function pg_temp.token_of(text) to authenticated;

insert into auth.users (id, email) values
  ('e0000000-0000-4000-8000-000000000001', 'eve@example.test'),
  ('e0000000-0000-4000-8000-000000000002', 'finn@example.test');

set local role authenticated;

-- An owner invites a member and an admin; the row keeps only the token's hash; invitation.created is published.
select pg_temp.act('b0000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222');
select lives_ok($$select public.invite_member('Eve@Example.test', 'member')$$, 'an owner invites a member');
select lives_ok($$select public.invite_member('admin-to-be@example.test', 'admin')$$, 'an owner invites an admin');
select is((select email from public.invitations where email = 'eve@example.test'), 'eve@example.test',
  'the address is stored lower-case');
select is((select token_hash from public.invitations where email = 'eve@example.test'),
  encode(sha256(convert_to(pg_temp.token_of('eve@example.test'), 'UTF8')), 'hex'), 'only the token''s sha256 is on the row');
reset role;
select is((select count(*)::int from public.events e where e.type = 'invitation.created'
           and e.tenant_id = '22222222-2222-4222-8222-222222222222'), 2, 'each invitation publishes invitation.created');
set local role authenticated;
select pg_temp.act('b0000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222');

-- An admin (Max in Nordlicht) invites members only.
select pg_temp.act('c0000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222');
select throws_ok($$select public.invite_member('x@example.test', 'admin')$$, '42501',
  'invite_member.p_role: only an owner can invite an admin', 'an admin cannot invite an admin through the function');
select throws_ok($$insert into public.invitations (email, role) values ('x@example.test', 'admin')$$, '42501',
  'invitations.role: only an owner can invite an admin', 'nor by inserting the row');
select lives_ok($$select public.invite_member('finn@example.test', 'member')$$, 'an admin invites a member');
select is((select count(*)::int from public.invitations), 3, 'an admin reads the tenant''s invitations');
delete from public.invitations where email = 'admin-to-be@example.test';
reset role;
select is((select count(*)::int from public.invitations where email = 'admin-to-be@example.test'), 1,
  'an admin cannot withdraw an admin''s invitation');
set local role authenticated;

-- A plain member (Ben in Acme) cannot invite or read invitations; another tenant reads nothing.
select pg_temp.act('a0000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111');
select throws_ok($$select public.invite_member('y@example.test', 'member')$$, '42501',
  'invite_member: only owners and admins invite (your role: member)', 'a member cannot invite');
select throws_ok($$insert into public.invitations (email, role) values ('y@example.test', 'member')$$, '42501',
  'invitations: only owners and admins invite (your role: member)', 'nor insert an invitation');
select is((select count(*)::int from public.invitations), 0, 'a member reads no invitations');
select pg_temp.act('a0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111');
select is((select count(*)::int from public.invitations), 0, 'another tenant''s owner reads none of Nordlicht''s');
select throws_ok($$insert into public.invitations (tenant_id, email) values ('22222222-2222-4222-8222-222222222222', 'z@example.test')$$,
  '42501', NULL, 'nobody names another tenant on an invitation');
select throws_ok($$update public.invitations set accepted_at = now()$$, '42501', NULL, 'nobody marks an invitation accepted by hand');

-- Bad input names the field.
select throws_ok($$select public.invite_member('not-an-email', 'member')$$, '22023',
  'invite_member.p_email: not-an-email is not an email address', 'a malformed address is refused');
select throws_ok($$select public.invite_member('a@b.test', 'owner')$$, '22023',
  'invite_member.p_role: must be member or admin (got owner)', 'ownership is not invited');
select throws_ok($$select public.invite_member('a@b.test', 'member', 'javascript:alert(1)')$$, '22023',
  'invite_member.p_link_base: must be an http(s) URL (got javascript:alert(1))', 'the link base is an http(s) URL');
select throws_ok($$select public.invite_member('ben@acme.test', 'member')$$, '23505',
  'invitations.email: ben@acme.test is already a member of this tenant', 'a member is not invited again');

-- Accepting: the invited address only, once, before it expires.
select pg_temp.act('e0000000-0000-4000-8000-000000000002', null);
select throws_ok(format($$select public.accept_invitation(%L)$$, pg_temp.token_of('eve@example.test')), '42501',
  'accept_invitation: this invitation is for eve@example.test, you are signed in as finn@example.test',
  'another user cannot use Eve''s link');
select pg_temp.act('e0000000-0000-4000-8000-000000000001', null);
select throws_ok($$select public.accept_invitation('0000000000000000000000000000000000000000000000000000000000000000')$$,
  '22023', 'accept_invitation.p_token: this invitation link is not valid (withdrawn or replaced by a newer one)',
  'an unknown token is refused');
select throws_ok($$select public.accept_invitation('short')$$, '22023',
  'accept_invitation.p_token: not an invitation token (64 hex characters from the link)', 'a malformed token is refused');
create temp table eve_token on commit drop as select pg_temp.token_of('eve@example.test') as token;
grant select on eve_token to authenticated;
select is((select public.accept_invitation(token) ->> 'role' from eve_token), 'member', 'Eve accepts and joins as member');
reset role;
select is((select role from public.tenant_members where user_id = 'e0000000-0000-4000-8000-000000000001'
           and tenant_id = '22222222-2222-4222-8222-222222222222'), 'member', 'Eve is a member of Nordlicht');
select is((select raw_app_meta_data ->> 'tenant_id' from auth.users where id = 'e0000000-0000-4000-8000-000000000001'),
  '22222222-2222-4222-8222-222222222222', 'the joined tenant becomes her active one (the token hook reads it)');
select is((public.custom_access_token_hook(jsonb_build_object('user_id', 'e0000000-0000-4000-8000-000000000001',
  'claims', jsonb_build_object('app_metadata', (select raw_app_meta_data from auth.users where id = 'e0000000-0000-4000-8000-000000000001'))))
  -> 'claims' ->> 'tenant_id'), '22222222-2222-4222-8222-222222222222', 'a refreshed token carries the tenant');
select is((select count(*)::int from private.invitation_tokens k join public.invitations i on i.id = k.invitation_id
           where i.email = 'eve@example.test'), 0, 'the raw token is gone once used');
set local role authenticated;
select pg_temp.act('e0000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222');
select throws_ok($$select public.accept_invitation(token) from eve_token$$, '22023', NULL, 'a used link is refused');
reset role;
-- an expired one
update public.invitations set created_at = now() - interval '8 days', expires_at = now() - interval '1 day'
 where email = 'finn@example.test';
set local role authenticated;
select pg_temp.act('e0000000-0000-4000-8000-000000000002', null);
select throws_like(format($$select public.accept_invitation(%L)$$, pg_temp.token_of('finn@example.test')),
  'accept_invitation.p_token: this invitation expired on %; ask for a new one', 'an expired link is refused');
reset role;
select is((select count(*)::int from public.tenant_members where user_id = 'e0000000-0000-4000-8000-000000000002'), 0,
  'Finn joined nothing');
set local role authenticated;

-- create_tenant: for a user without one; they become its owner.
select pg_temp.act('d0000000-0000-4000-8000-000000000001', null);
select throws_ok($$select public.create_tenant('  ')$$, '22023',
  'create_tenant.p_name: a name of 1-200 characters is required (got 0)', 'a name is required');
select is((select public.create_tenant('Nomad GmbH') ->> 'role'), 'owner', 'Nomad creates a tenant and owns it');
select throws_ok($$select public.create_tenant('Second')$$, '42501', NULL, 'a user with a tenant does not create another');
select pg_temp.act('a0000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111');
select throws_ok($$select public.create_tenant('Acme 2')$$, '42501', NULL, 'nor does an owner of one');
reset role;
select is((select m.role from public.tenant_members m join public.tenants t on t.id = m.tenant_id
           where t.name = 'Nomad GmbH' and m.user_id = 'd0000000-0000-4000-8000-000000000001'), 'owner',
  'the membership is written');
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$select public.create_tenant('Anon Inc')$$, '42501', NULL, 'anon cannot create a tenant');
select throws_ok($$select public.accept_invitation('x')$$, '42501', NULL, 'anon cannot accept');

select * from finish();
rollback;

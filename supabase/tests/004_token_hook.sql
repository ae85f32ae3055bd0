-- The custom access token hook: the tenant claim production issues.
begin;
select plan(8);

-- pgTAP lives in `extensions`; let the auth role see it for this test only (rolled back).
grant usage on schema extensions to supabase_auth_admin;
set local role supabase_auth_admin;
select is(
  (public.custom_access_token_hook('{"user_id":"a0000000-0000-4000-8000-000000000001","claims":{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated"},"authentication_method":"password"}')
    -> 'claims' ->> 'tenant_id'),
  '11111111-1111-4111-8111-111111111111', 'a member gets their tenant');
select is(
  (public.custom_access_token_hook('{"user_id":"a0000000-0000-4000-8000-000000000001","claims":{"role":"authenticated"},"authentication_method":"password"}')
    -> 'claims' ->> 'tenant_role'),
  'owner', 'and their role in it');
select is(
  (public.custom_access_token_hook('{"user_id":"c0000000-0000-4000-8000-000000000001","claims":{"role":"authenticated","app_metadata":{"tenant_id":"22222222-2222-4222-8222-222222222222"}},"authentication_method":"password"}')
    -> 'claims' ->> 'tenant_id'),
  '22222222-2222-4222-8222-222222222222', 'a multi-tenant user gets the tenant named in app_metadata');
select is(
  (public.custom_access_token_hook('{"user_id":"c0000000-0000-4000-8000-000000000001","claims":{"role":"authenticated"},"authentication_method":"password"}')
    -> 'claims' ->> 'tenant_id'),
  '11111111-1111-4111-8111-111111111111', 'without app_metadata, the oldest membership');
select is(
  (public.custom_access_token_hook('{"user_id":"c0000000-0000-4000-8000-000000000001","claims":{"role":"authenticated","app_metadata":{"tenant_id":"99999999-9999-4999-8999-999999999999"}},"authentication_method":"password"}')
    -> 'claims' ->> 'tenant_id'),
  '11111111-1111-4111-8111-111111111111', 'app_metadata naming a tenant the user is not in falls back to the oldest membership');
select ok(
  not (public.custom_access_token_hook('{"user_id":"d0000000-0000-4000-8000-000000000001","claims":{"role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"},"authentication_method":"password"}')
    -> 'claims' ? 'tenant_id'),
  'no membership, no tenant claim (even a stale one is removed)');
reset role;

set local role authenticated;
select throws_ok($$select public.custom_access_token_hook('{"user_id":"a0000000-0000-4000-8000-000000000001","claims":{}}')$$,
  '42501', null, 'signed-in users cannot call the hook');
reset role;
set local role anon;
select throws_ok($$select public.custom_access_token_hook('{"user_id":"a0000000-0000-4000-8000-000000000001","claims":{}}')$$,
  '42501', null, 'anon cannot call the hook');
reset role;

select * from finish();
rollback;

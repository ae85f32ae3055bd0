-- Whether a connection has credentials, and which keys, without revealing a single value.
--
-- Members may know that WhatsApp is connected with an access token and an app secret (so `salesflow channels
-- list` and a settings page can say "credentials: access_token, app_secret, verify_token"), never the token.
-- A member sees their token's tenant only; service code (service_role, or the operator's own login) sees the
-- tenant it names, or every tenant when p_tenant_id is null.

create or replace function public.channel_credentials_state(p_tenant_id uuid default null)
returns table (connection_id uuid, tenant_id uuid, has_credentials boolean, secret_keys text[],
               credentials_updated_at timestamptz)
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_caller text := coalesce(nullif(current_setting('role', true), 'none'), session_user::text);
  v_tenant uuid;
begin
  if v_caller = 'anon' then
    raise exception 'channel_credentials_state: sign in as a member of the tenant' using errcode = '42501';
  elsif v_caller = 'authenticated' then
    v_tenant := private.tenant_id();
    if v_tenant is null then
      return;
    end if;
    if p_tenant_id is not null and p_tenant_id <> v_tenant then
      raise exception 'channel_credentials_state.p_tenant_id: a member sees the token''s own tenant only'
        using errcode = '42501', column = 'p_tenant_id';
    end if;
  else
    v_tenant := p_tenant_id;
  end if;
  return query
  select c.id, c.tenant_id, k.connection_id is not null and k.secrets <> '{}'::jsonb,
         coalesce((select array_agg(key order by key) from jsonb_object_keys(k.secrets) key), array[]::text[]),
         k.updated_at
  from public.channel_connections c
  left join private.channel_credentials k on k.connection_id = c.id and k.tenant_id = c.tenant_id
  where v_tenant is null or c.tenant_id = v_tenant
  order by c.tenant_id, c.channel, c.created_at;
end
$$;

comment on function public.channel_credentials_state(uuid) is
  'Per connection: whether it has credentials and the names of their keys, never a value. Members: their '
  'token''s tenant; service code: the tenant named, or all.';

revoke all on function public.channel_credentials_state(uuid) from public, anon;
grant execute on function public.channel_credentials_state(uuid) to authenticated, service_role;

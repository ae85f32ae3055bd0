-- Connecting a channel: one call that upserts the connection row and its secrets together.
--
-- Who may: an owner or admin of the token's tenant (the tenant comes from the token; p_tenant_id, if given,
-- must be that tenant), or service code (service_role, or the operator's own database login as used by
-- `salesflow channels connect`) naming p_tenant_id. Members and anon never: the secrets go to
-- private.channel_credentials, which only service_role reads. A provider that does not serve the channel is
-- refused naming both; an address connected by another tenant is refused (an address routes webhooks to one
-- tenant only). Connecting again (same channel and address) updates the connection and, when p_secrets is
-- given, replaces its secrets; p_secrets null keeps the stored ones.
--
-- The caller's role is read from the `role` setting (SET ROLE, as PostgREST does; unchanged inside a
-- security definer function): 'authenticated' is a member, 'none' the session's own login.

create or replace function public.connect_channel(
  p_channel text,
  p_provider text,
  p_address text,
  p_external_account_id text default null,
  p_display_name text default null,
  p_secrets jsonb default null,
  p_tenant_id uuid default null
) returns uuid
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_caller text := coalesce(nullif(current_setting('role', true), 'none'), session_user::text);
  v_tenant uuid;
  v_role text;
  v_id uuid;
  v_other uuid;
  v_serving text;
begin
  if v_caller = 'anon' then
    raise exception 'connect_channel: sign in as an owner or admin of the tenant' using errcode = '42501';
  elsif v_caller = 'authenticated' then
    v_tenant := private.tenant_id();
    v_role := private.tenant_role();
    if v_tenant is null then
      raise exception 'connect_channel: the token names no tenant you are a member of' using errcode = '42501';
    end if;
    if v_role is null or v_role not in ('owner', 'admin') then
      raise exception 'connect_channel: only owners and admins connect channels (you are %)', coalesce(v_role, 'no member')
        using errcode = '42501';
    end if;
    if p_tenant_id is not null and p_tenant_id <> v_tenant then
      raise exception 'connect_channel.p_tenant_id: a member connects channels of the token''s own tenant only'
        using errcode = '42501', column = 'p_tenant_id';
    end if;
  else
    if p_tenant_id is null then
      raise exception 'connect_channel.p_tenant_id: required for service code (which tenant?)'
        using errcode = '22023', column = 'p_tenant_id';
    end if;
    if not exists (select 1 from public.tenants t where t.id = p_tenant_id) then
      raise exception 'connect_channel.p_tenant_id: no tenant with id %', p_tenant_id
        using errcode = '22023', column = 'p_tenant_id';
    end if;
    v_tenant := p_tenant_id;
  end if;

  if p_channel is null or p_channel not in ('whatsapp', 'instagram', 'sms', 'email') then
    raise exception 'connect_channel.p_channel: must be one of whatsapp, instagram, sms, email (got %)',
      coalesce(quote_literal(p_channel), 'null') using errcode = '22023', column = 'p_channel';
  end if;
  if p_provider is null or p_provider not in
      ('whatsapp_cloud', 'instagram_messaging', 'twilio', 'smtp', 'postmark', 'sendgrid', 'outbox') then
    raise exception 'connect_channel.p_provider: must be one of whatsapp_cloud, instagram_messaging, twilio, smtp, '
      'postmark, sendgrid, outbox (got %)', coalesce(quote_literal(p_provider), 'null')
      using errcode = '22023', column = 'p_provider';
  end if;
  if not private.channel_provider_serves(p_channel, p_provider) then
    select string_agg(p, ', ' order by p) into v_serving
    from unnest(array['whatsapp_cloud', 'instagram_messaging', 'twilio', 'smtp', 'postmark', 'sendgrid', 'outbox']) p
    where private.channel_provider_serves(p_channel, p);
    raise exception 'connect_channel.p_provider: provider % does not serve channel % (% is served by %)',
      p_provider, p_channel, p_channel, v_serving using errcode = '22023', column = 'p_provider';
  end if;
  if p_address is null or not private.channel_address_well_formed(p_channel, p_address) then
    raise exception 'connect_channel.p_address: % is not a normalised % address (E.164 for whatsapp and sms, '
      'lower-case email, numeric id for instagram)', coalesce(quote_literal(p_address), 'null'), p_channel
      using errcode = '22023', column = 'p_address';
  end if;
  if p_secrets is not null and jsonb_typeof(p_secrets) <> 'object' then
    raise exception 'connect_channel.p_secrets: must be a JSON object of key names to values'
      using errcode = '22023', column = 'p_secrets';
  end if;

  select c.tenant_id into v_other from public.channel_connections c
  where c.channel = p_channel and c.address = p_address;
  if v_other is not null and v_other <> v_tenant then
    raise exception 'connect_channel.p_address: % on % is connected by another tenant', p_address, p_channel
      using errcode = '23505', column = 'p_address';
  end if;
  if p_external_account_id is not null and exists (
      select 1 from public.channel_connections c
      where c.provider = p_provider and c.external_account_id = p_external_account_id
        and not (c.channel = p_channel and c.address = p_address)) then
    raise exception 'connect_channel.p_external_account_id: % account % is already connected to another address',
      p_provider, p_external_account_id using errcode = '23505', column = 'p_external_account_id';
  end if;

  insert into public.channel_connections as c
    (tenant_id, channel, provider, address, external_account_id, display_name, status, connected_by)
  values (v_tenant, p_channel, p_provider, p_address, p_external_account_id, p_display_name, 'active', auth.uid())
  on conflict (channel, address) do update
    set provider = excluded.provider,
        external_account_id = excluded.external_account_id,
        display_name = coalesce(excluded.display_name, c.display_name),
        status = 'active'
    where c.tenant_id = v_tenant
  returning c.id into v_id;
  if v_id is null then  -- another tenant took the address between the check and the insert
    raise exception 'connect_channel.p_address: % on % is connected by another tenant', p_address, p_channel
      using errcode = '23505', column = 'p_address';
  end if;

  if p_secrets is not null then
    insert into private.channel_credentials as k (connection_id, tenant_id, secrets)
    values (v_id, v_tenant, p_secrets)
    on conflict (connection_id) do update set secrets = excluded.secrets;
  end if;
  return v_id;
end
$$;

comment on function public.connect_channel(text, text, text, text, text, jsonb, uuid) is
  'Connect (or reconnect) a channel: the connection row and its secrets in one call. Owners and admins of the '
  'token''s tenant, or service code naming p_tenant_id. Refuses a provider that does not serve the channel.';

revoke all on function public.connect_channel(text, text, text, text, text, jsonb, uuid) from public, anon;
grant execute on function public.connect_channel(text, text, text, text, text, jsonb, uuid)
  to authenticated, service_role;

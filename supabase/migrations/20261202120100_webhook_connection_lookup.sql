-- How a webhook function finds the tenant a delivery is for, before it can check the signature (the secret
-- is the connection's): by channel and receiving address (a Twilio number, an inbound email address), or by
-- provider and the provider's account id (WhatsApp's phone_number_id, the Instagram account id). Only active
-- connections answer; no row means "unknown receiving address" (the function answers 404, stores nothing).
-- Returns the secrets, so service_role only.

create or replace function public.find_webhook_connection(
  p_channel text default null,
  p_address text default null,
  p_provider text default null,
  p_external_account_id text default null
) returns table (connection_id uuid, tenant_id uuid, channel text, provider text, address text,
                 external_account_id text, secrets jsonb)
language sql stable security definer
set search_path = ''
as $$
  select c.id, c.tenant_id, c.channel::text, c.provider::text, c.address, c.external_account_id,
         coalesce(k.secrets, '{}'::jsonb)
  from public.channel_connections c
  left join private.channel_credentials k on k.connection_id = c.id and k.tenant_id = c.tenant_id
  where c.status = 'active'
    and ((p_channel is not null and p_address is not null and c.channel = p_channel and c.address = p_address)
      or (p_provider is not null and p_external_account_id is not null
          and c.provider = p_provider and c.external_account_id = p_external_account_id))
  limit 1
$$;

comment on function public.find_webhook_connection(text, text, text, text) is
  'The active connection a webhook is for (by channel + address, or provider + external_account_id), with its '
  'tenant and secrets; no row: unknown receiving address. service_role only.';

revoke all on function public.find_webhook_connection(text, text, text, text) from public, anon, authenticated;
grant execute on function public.find_webhook_connection(text, text, text, text) to service_role;

-- Meta's subscription handshake (GET hub.mode=subscribe&hub.verify_token=...&hub.challenge=...) names no
-- number or account, only the verify token the tenant chose when it configured the webhook: the challenge is
-- answered when an active connection of that provider has this verify token.
create or replace function public.webhook_verify_token_known(p_provider text, p_verify_token text)
returns boolean
language sql stable security definer
set search_path = ''
as $$
  select coalesce(length(p_verify_token), 0) > 0 and exists (
    select 1 from public.channel_connections c
    join private.channel_credentials k on k.connection_id = c.id and k.tenant_id = c.tenant_id
    where c.status = 'active' and c.provider = p_provider and k.secrets ->> 'verify_token' = p_verify_token)
$$;

comment on function public.webhook_verify_token_known(text, text) is
  'Whether an active connection of the provider has this webhook verify token (Meta''s GET handshake). service_role only.';

revoke all on function public.webhook_verify_token_known(text, text) from public, anon, authenticated;
grant execute on function public.webhook_verify_token_known(text, text) to service_role;

-- The messaging channels and their providers, defined once (mirrored by salesflow/conversations/vocabulary.py;
-- tests/conversations/test_vocabulary.py keeps the two equal).
--
-- A message travels on one of four channels. They are a subset of leads.source_channel (a lead that writes in
-- first gets its channel as source_channel), kept apart because facebook, linkedin, telegram, web and referral
-- are where a lead came from, not channels SalesFlow sends on. Domains rather than a check per table: every
-- table that names a channel or a provider uses the same type, so adding a channel is one ALTER DOMAIN.

do $$
begin
  if not exists (select 1 from pg_catalog.pg_type t
                 where t.typname = 'message_channel' and t.typnamespace = 'public'::regnamespace) then
    create domain public.message_channel as text
      constraint message_channel_allowed check (value in ('whatsapp', 'instagram', 'sms', 'email'));
  end if;
  if not exists (select 1 from pg_catalog.pg_type t
                 where t.typname = 'channel_provider' and t.typnamespace = 'public'::regnamespace) then
    -- `outbox` records what would be sent (the default without credentials, so everything runs offline).
    create domain public.channel_provider as text
      constraint channel_provider_allowed check (value in
        ('whatsapp_cloud', 'instagram_messaging', 'twilio', 'smtp', 'postmark', 'sendgrid', 'outbox'));
  end if;
end
$$;

comment on domain public.message_channel is
  'A channel SalesFlow sends and receives messages on. Mirrored by salesflow/conversations/vocabulary.py.';
comment on domain public.channel_provider is
  'Who carries a channel''s messages. Mirrored by salesflow/conversations/vocabulary.py.';

-- Which provider serves which channel.
create or replace function private.channel_provider_serves(p_channel text, p_provider text)
returns boolean
language sql immutable
set search_path = ''
as $$
  select (p_channel, p_provider) in (
    ('whatsapp', 'whatsapp_cloud'), ('whatsapp', 'outbox'),
    ('instagram', 'instagram_messaging'), ('instagram', 'outbox'),
    ('sms', 'twilio'), ('sms', 'outbox'),
    ('email', 'smtp'), ('email', 'postmark'), ('email', 'sendgrid'), ('email', 'outbox')
  )
$$;

-- The shape of a normalised address on a channel: E.164 for phone channels (Python normalises with
-- `phonenumbers` before writing; this only refuses what cannot be E.164), a lower-cased email address,
-- Instagram's numeric provider-scoped id. Shape only: whether the number exists is the provider's business.
create or replace function private.channel_address_well_formed(p_channel text, p_address text)
returns boolean
language sql immutable
set search_path = ''
as $$
  select case p_channel
    when 'whatsapp' then p_address ~ '^\+[1-9][0-9]{6,14}$'
    when 'sms' then p_address ~ '^\+[1-9][0-9]{6,14}$'
    when 'email' then p_address = lower(p_address) and length(p_address) <= 254
                      and p_address ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'
    when 'instagram' then p_address ~ '^[0-9]{1,32}$'
    else false
  end
$$;

comment on function private.channel_address_well_formed(text, text) is
  'Shape of a normalised address: whatsapp/sms E.164 (+ and 7-15 digits), email lower-case, instagram a numeric '
  'provider-scoped id. Mirrored by salesflow/conversations/vocabulary.py.';

-- Check constraints run as the writer, so members need EXECUTE; anon needs nothing in private.
revoke all on function private.channel_provider_serves(text, text), private.channel_address_well_formed(text, text)
  from public, anon;
grant execute on function private.channel_provider_serves(text, text), private.channel_address_well_formed(text, text)
  to authenticated, service_role;

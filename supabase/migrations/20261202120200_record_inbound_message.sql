-- Ingest of one inbound message from a provider webhook, in one transaction (service code only: the webhook
-- functions call it over /rest/v1/rpc with the service-role key, after the signature checked out):
--
--   1. the raw delivery goes into inbound_webhooks, `on conflict (provider, external_id) do nothing`: a
--      redelivery (or a thousand concurrent ones) waits on the unique index for the first, then finds it and
--      returns `duplicate` having stored nothing;
--   2. the sender's identity: the exact normalised address on the channel → its lead; else (first contact
--      on this channel) a lead that already has this phone (its whatsapp/sms identity, or its phone or
--      whatsapp field) or email → a new identity linked to it, recorded in identity_links (reversible);
--      else Zero-Input: a new lead with source_channel = the channel, named by the provider's profile name
--      or the address. A first contact takes a transaction lock on (tenant, channel, address), so two
--      different messages of one new sender arriving at once make one lead, not two;
--   3. the conversation (lead, channel), `on conflict do nothing`;
--   4. the message, `on conflict (tenant_id, channel, provider_message_id) do nothing` (the same message in a
--      differently shaped delivery is recognised too); its trigger publishes message.received.
--
-- p_detail: what the provider says about the message besides its body (an email's subject, Message-ID,
-- In-Reply-To and References; WhatsApp's message type), kept in messages.provider_detail (the column the send
-- job uses for what a provider reported with an accept; added here too, idempotently, for inbound messages).
--
-- p_provider: who delivered it when that is not the connection's provider (an address sending through SMTP
-- and receiving through Postmark or SendGrid); it must serve the connection's channel.
--
-- Processing (opt-out, facts, summaries, scores) is the handlers' business, on message.received.
-- p_sender must already be normalised (E.164, lower-case email, the numeric Instagram id); p_raw_body is the
-- delivery's exact bytes, base64-encoded (JSON cannot carry bytes). Returns a JSON object:
--   {"outcome": "recorded" | "duplicate", "webhook_id", "message_id", "conversation_id", "lead_id",
--    "identity_id", "lead_created", "conversation_created", "link_id", "matched_on"}

alter table public.messages add column if not exists provider_detail jsonb;

create or replace function public.record_inbound_message(
  p_connection_id uuid,
  p_external_id text,
  p_provider_message_id text,
  p_sender text,
  p_sender_name text default null,
  p_body text default null,
  p_content_type text default 'text',
  p_media jsonb default null,
  p_received_at timestamptz default null,
  p_raw_body text default '',
  p_headers jsonb default '{}'::jsonb,
  p_detail jsonb default null,
  p_provider text default null
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_tenant_id uuid;
  v_channel text;
  v_provider text;
  v_webhook_id uuid;
  v_identity_id uuid;
  v_lead_id uuid;
  v_conversation_id uuid;
  v_message_id uuid;
  v_link_id uuid;
  v_matched_on text;
  v_lead_created boolean := false;
  v_conversation_created boolean := false;
  v_name text := left(nullif(btrim(coalesce(p_sender_name, '')), ''), 300);
begin
  select c.tenant_id, c.channel::text, c.provider::text into v_tenant_id, v_channel, v_provider
  from public.channel_connections c where c.id = p_connection_id;
  if not found then
    raise exception 'record_inbound_message.p_connection_id: there is no channel connection %', p_connection_id
      using errcode = '23503';
  end if;
  if p_sender is null or not private.channel_address_well_formed(v_channel, p_sender) then
    raise exception 'record_inbound_message.p_sender: % is not a normalised % address',
      coalesce(quote_literal(p_sender), 'null'), v_channel
      using errcode = '22023', hint = 'E.164 for whatsapp/sms, a lower-case email, the numeric Instagram id';
  end if;
  if p_provider is not null then
    if p_provider in ('smtp', 'outbox') or not private.channel_provider_serves(v_channel, p_provider) then
      raise exception 'record_inbound_message.p_provider: % does not deliver % webhooks', quote_literal(p_provider),
        v_channel
        using errcode = '22023';
    end if;
    v_provider := p_provider;
  end if;
  if coalesce(length(p_provider_message_id), 0) = 0 then
    raise exception 'record_inbound_message.p_provider_message_id: a message needs its provider id'
      using errcode = '22023';
  end if;

  insert into public.inbound_webhooks (tenant_id, provider, connection_id, external_id, raw_body, headers)
  values (v_tenant_id, v_provider, p_connection_id, p_external_id, decode(coalesce(p_raw_body, ''), 'base64'),
          coalesce(p_headers, '{}'::jsonb))
  on conflict (provider, external_id) do nothing
  returning id into v_webhook_id;
  if v_webhook_id is null then
    return jsonb_build_object('outcome', 'duplicate');
  end if;

  select i.id, i.lead_id into v_identity_id, v_lead_id
  from public.channel_identities i
  where i.tenant_id = v_tenant_id and i.channel = v_channel and i.address = p_sender;

  if v_identity_id is null then
    -- First contact on this channel: one at a time per sender, then look again (a concurrent first
    -- message may have made the identity meanwhile; read committed sees it after the lock).
    perform pg_catalog.pg_advisory_xact_lock(
      pg_catalog.hashtextextended(v_tenant_id::text || '/' || v_channel || '/' || p_sender, 20261202));
    select i.id, i.lead_id into v_identity_id, v_lead_id
    from public.channel_identities i
    where i.tenant_id = v_tenant_id and i.channel = v_channel and i.address = p_sender;
  end if;

  if v_identity_id is null then
    if v_channel in ('whatsapp', 'sms') then
      select i.lead_id into v_lead_id
      from public.channel_identities i
      where i.tenant_id = v_tenant_id and i.channel in ('whatsapp', 'sms') and i.address = p_sender
      order by i.created_at limit 1;
      if v_lead_id is null then
        select l.id into v_lead_id
        from public.leads l
        where l.tenant_id = v_tenant_id
          and (private.phone_key(l.phone) = p_sender or private.phone_key(l.whatsapp) = p_sender)
        order by l.created_at limit 1;
      end if;
      if v_lead_id is not null then
        v_matched_on := 'phone';
      end if;
    elsif v_channel = 'email' then
      select l.id into v_lead_id
      from public.leads l
      where l.tenant_id = v_tenant_id and lower(l.email) = p_sender
      limit 1;
      if v_lead_id is not null then
        v_matched_on := 'email';
      end if;
    end if;

    if v_lead_id is null then
      -- Zero-Input: the sender becomes a lead, reachable at the address it wrote from.
      insert into public.leads (tenant_id, owner_id, name, source, source_channel, phone, whatsapp, email)
      values (v_tenant_id, null, coalesce(v_name, p_sender), 'inbound_' || v_channel, v_channel,
              case when v_channel = 'sms' then p_sender end,
              case when v_channel = 'whatsapp' then p_sender end,
              case when v_channel = 'email' then p_sender end)
      returning id into v_lead_id;
      v_lead_created := true;
    end if;

    insert into public.channel_identities (tenant_id, lead_id, channel, address, display_name)
    values (v_tenant_id, v_lead_id, v_channel, p_sender, v_name)
    returning id into v_identity_id;

    if v_matched_on is not null then
      insert into public.identity_links (tenant_id, identity_id, lead_id, matched_on, linked_by, linked_by_user_id)
      values (v_tenant_id, v_identity_id, v_lead_id, v_matched_on, 'ingest', null)
      returning id into v_link_id;
    end if;
  end if;

  insert into public.conversations (tenant_id, lead_id, channel)
  values (v_tenant_id, v_lead_id, v_channel)
  on conflict (tenant_id, lead_id, channel) do nothing
  returning id into v_conversation_id;
  if v_conversation_id is null then
    select c.id into v_conversation_id
    from public.conversations c
    where c.tenant_id = v_tenant_id and c.lead_id = v_lead_id and c.channel = v_channel;
  else
    v_conversation_created := true;
    if v_link_id is not null then
      update public.identity_links k set conversation_id = v_conversation_id where k.id = v_link_id;
    end if;
  end if;

  insert into public.messages (tenant_id, conversation_id, lead_id, channel, direction, content_type, body, media,
                               provider_message_id, received_at, provider_detail)
  values (v_tenant_id, v_conversation_id, v_lead_id, v_channel, 'in', coalesce(p_content_type, 'text'), p_body,
          p_media, p_provider_message_id, coalesce(p_received_at, now()),
          case when jsonb_typeof(p_detail) = 'object' then p_detail end)
  on conflict (tenant_id, channel, provider_message_id) do nothing
  returning id into v_message_id;

  if v_message_id is null then
    -- The same message in another delivery (a different external id): the delivery is kept, nothing else.
    update public.inbound_webhooks w
    set outcome = 'ignored', outcome_detail = 'message already recorded', processed_at = now()
    where w.id = v_webhook_id;
    return jsonb_build_object('outcome', 'duplicate', 'webhook_id', v_webhook_id);
  end if;

  update public.inbound_webhooks w
  set outcome = 'processed', outcome_detail = 'message ' || v_message_id::text, processed_at = now()
  where w.id = v_webhook_id;

  return jsonb_build_object(
    'outcome', 'recorded', 'webhook_id', v_webhook_id, 'message_id', v_message_id,
    'conversation_id', v_conversation_id, 'lead_id', v_lead_id, 'identity_id', v_identity_id,
    'lead_created', v_lead_created, 'conversation_created', v_conversation_created,
    'link_id', v_link_id, 'matched_on', v_matched_on);
end
$$;

comment on function public.record_inbound_message(uuid, text, text, text, text, text, text, jsonb, timestamptz,
                                                  text, jsonb, jsonb, text) is
  'Ingest one inbound message (service_role): raw delivery, identity (exact, linked by phone/email, or Zero-Input), '
  'conversation and message in one transaction, idempotent by (provider, external id) and provider message id.';

revoke all on function public.record_inbound_message(uuid, text, text, text, text, text, text, jsonb, timestamptz,
                                                     text, jsonb, jsonb, text) from public, anon, authenticated;
grant execute on function public.record_inbound_message(uuid, text, text, text, text, text, text, jsonb, timestamptz,
                                                        text, jsonb, jsonb, text) to service_role;

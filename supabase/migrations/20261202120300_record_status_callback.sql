-- Ingest of one provider status report (a WhatsApp/Instagram `statuses` entry, a Twilio status callback), in
-- one transaction (service code only, after the signature checked out): the raw delivery goes into
-- inbound_webhooks idempotently (`on conflict (provider, external_id) do nothing`; the functions use
-- "<provider message id>:<status>" as the external id, so each report is stored once however often it is
-- redelivered), then public.apply_message_status() moves the message forward, never backwards (a `delivered`
-- arriving after `read` leaves it read).
--
-- p_status  sent | delivered | read | failed, or null for a report with nothing to apply (Twilio's queued,
--           accepted, ...): stored, outcome `ignored`.
-- Returns {"outcome": "applied" | "late" | "no_message" | "ignored" | "duplicate", "webhook_id", "message_id",
--          "status"}: `late` = stored, the message already further along; `no_message` = no message of this
-- tenant and channel has the provider id (yet): stored with outcome `ignored` and the reason.
--
-- A status report settles a message whose provider id was lost: WhatsApp echoes the
-- `biz_opaque_callback_data` the send job puts on every request (our message id) in its status webhooks, so
-- a message left `sending` or `unknown` by a crash between the provider's accept and our record (effect-once
-- sending, docs/channels.md) learns its provider id from the first report and moves to what the provider
-- says. Only an outbound message of the connection's own tenant and channel without a provider id qualifies;
-- the id travels inside the signed body, so it is the provider's word, not a caller's.
--
-- record_status_callback takes p_message_id (uuid, default null) for that.

create or replace function public.record_status_callback(
  p_connection_id uuid,
  p_external_id text,
  p_provider_message_id text,
  p_status text,
  p_at timestamptz default null,
  p_error_code text default null,
  p_error_message text default null,
  p_raw_body text default '',
  p_headers jsonb default '{}'::jsonb,
  p_message_id uuid default null
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_tenant_id uuid;
  v_channel text;
  v_provider text;
  v_webhook_id uuid;
  v_message_id uuid;
  v_status text;
  v_applied boolean;
begin
  select c.tenant_id, c.channel::text, c.provider::text into v_tenant_id, v_channel, v_provider
  from public.channel_connections c where c.id = p_connection_id;
  if not found then
    raise exception 'record_status_callback.p_connection_id: there is no channel connection %', p_connection_id
      using errcode = '23503';
  end if;
  if p_status is not null and p_status not in ('sent', 'delivered', 'read', 'failed') then
    raise exception 'record_status_callback.p_status: must be sent, delivered, read, failed or null (got %)',
      quote_literal(p_status)
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

  if p_status is null then
    update public.inbound_webhooks w
    set outcome = 'ignored', outcome_detail = 'nothing to apply', processed_at = now()
    where w.id = v_webhook_id;
    return jsonb_build_object('outcome', 'ignored', 'webhook_id', v_webhook_id);
  end if;

  select s.message_id, s.status, s.applied into v_message_id, v_status, v_applied
  from public.apply_message_status(v_tenant_id, v_channel, p_provider_message_id, p_status, p_at,
                                   p_error_code, p_error_message) s;

  if v_message_id is null and p_message_id is not null then
    -- Our own id, echoed by the provider (WhatsApp's biz_opaque_callback_data): an outbound message of this
    -- tenant and channel whose provider id was never recorded (a crash inside the provider call left it
    -- `sending` or `unknown`) learns it now, and the report applies.
    update public.messages m set provider_message_id = p_provider_message_id
    where m.id = p_message_id and m.tenant_id = v_tenant_id and m.channel = v_channel and m.direction = 'out'
      and m.provider_message_id is null;
    if found then
      select s.message_id, s.status, s.applied into v_message_id, v_status, v_applied
      from public.apply_message_status(v_tenant_id, v_channel, p_provider_message_id, p_status, p_at,
                                       p_error_code, p_error_message) s;
    end if;
  end if;

  if v_message_id is null then
    update public.inbound_webhooks w
    set outcome = 'ignored', outcome_detail = 'no message has provider id ' || p_provider_message_id,
        processed_at = now()
    where w.id = v_webhook_id;
    return jsonb_build_object('outcome', 'no_message', 'webhook_id', v_webhook_id);
  end if;

  update public.inbound_webhooks w
  set outcome = 'processed', processed_at = now(),
      outcome_detail = format('message %s: %s reported, now %s', v_message_id, p_status, v_status)
  where w.id = v_webhook_id;
  return jsonb_build_object('outcome', case when v_applied then 'applied' else 'late' end,
                            'webhook_id', v_webhook_id, 'message_id', v_message_id, 'status', v_status);
end
$$;

comment on function public.record_status_callback(uuid, text, text, text, timestamptz, text, text, text, jsonb, uuid) is
  'Ingest one provider status report (service_role): stored once by external id, applied forward-only through '
  'apply_message_status.';

revoke all on function public.record_status_callback(uuid, text, text, text, timestamptz, text, text, text, jsonb, uuid)
  from public, anon, authenticated;
grant execute on function public.record_status_callback(uuid, text, text, text, timestamptz, text, text, text, jsonb, uuid)
  to service_role;

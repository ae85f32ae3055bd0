-- Recording an opt-out for service code: the inbound keyword handler (STOP, ABMELDEN, ...) and the email
-- one-click unsubscribe function (functions/email-unsubscribe) both call it. The lead's consent for the channel
-- becomes opted_out, which publishes lead.opted_out and fails the lead's queued messages on that channel
-- (20261201151100, 20261201151200). Idempotent: a lead already opted out of the channel keeps the consent
-- record it has (how and when it first opted out), nothing changes and nothing is published again.
-- Returns {"consent_id": uuid, "changed": bool}.

create or replace function public.record_opt_out(
  p_tenant_id uuid, p_lead_id uuid, p_channel text, p_method text, p_evidence text default null,
  p_source_message_id uuid default null
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_id uuid;
begin
  if p_method is null or p_method not in ('inbound_keyword', 'email_unsubscribe', 'provider') then
    raise exception 'record_opt_out.p_method: % is not an opt-out service code records; allowed: inbound_keyword, email_unsubscribe, provider',
      coalesce(quote_literal(p_method), 'null')
      using errcode = '22023';
  end if;
  insert into public.consents as c (tenant_id, lead_id, channel, status, method, evidence, source_message_id)
  values (p_tenant_id, p_lead_id, p_channel::public.message_channel, 'opted_out', p_method, left(p_evidence, 2000),
          p_source_message_id)
  on conflict (tenant_id, lead_id, channel) do update
    set status = 'opted_out', method = excluded.method, evidence = excluded.evidence,
        source_message_id = excluded.source_message_id, changed_at = now()
    where c.status <> 'opted_out'
  returning c.id into v_id;
  if v_id is not null then
    return jsonb_build_object('consent_id', v_id, 'changed', true);
  end if;
  select c.id into v_id from public.consents c
  where c.tenant_id = p_tenant_id and c.lead_id = p_lead_id and c.channel = p_channel::public.message_channel;
  return jsonb_build_object('consent_id', v_id, 'changed', false);
end
$$;

revoke all on function public.record_opt_out(uuid, uuid, text, text, text, uuid) from public, anon, authenticated;
grant execute on function public.record_opt_out(uuid, uuid, text, text, text, uuid) to service_role;

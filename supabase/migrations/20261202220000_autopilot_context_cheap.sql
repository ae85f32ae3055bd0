-- autopilot_context without its two slow parts. The time zone was checked against pg_timezone_names, which
-- reads the whole time zone database on every call (~30 ms): now an Area/Location name (nearly every zone a
-- lead has) is checked by converting to it, and only other names take the slow look-up, so the answer is the
-- same as before (an abbreviation like 'PST' or a POSIX string like 'UTC+3' is still UTC: zoneinfo knows
-- neither). And "has the lead had an outbound message" walked all the lead's messages when it had none; a
-- partial index answers it at once.

create index if not exists messages_lead_outbound_idx on public.messages (lead_id, tenant_id)
  where direction = 'out';

create or replace function private.autopilot_zone(p_zone text) returns text
language plpgsql stable
set search_path = ''
as $$
declare
  v_probe timestamp;
begin
  if p_zone is null or p_zone = 'UTC' then
    return 'UTC';
  end if;
  if p_zone !~ '^[A-Za-z][A-Za-z_-]*(/[A-Za-z0-9_+-]+)+$' then
    return case when exists (select 1 from pg_catalog.pg_timezone_names z where z.name = p_zone)
                then p_zone else 'UTC' end;
  end if;
  v_probe := pg_catalog.timezone(p_zone, pg_catalog.now());
  return case when v_probe is null then 'UTC' else p_zone end;
exception when invalid_parameter_value then
  return 'UTC';
end
$$;

revoke all on function private.autopilot_zone(text) from public, anon, authenticated;
grant execute on function private.autopilot_zone(text) to service_role;

create or replace function public.autopilot_context(p_tenant_id uuid, p_message_id uuid) returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_message public.messages;
  v_lead public.leads;
  v_zone text;
  v_locale text;
begin
  select m.* into v_message from public.messages m where m.id = p_message_id and m.tenant_id = p_tenant_id;
  if not found then
    return null;
  end if;
  select l.* into v_lead from public.leads l where l.id = v_message.lead_id and l.tenant_id = p_tenant_id;
  select coalesce(v_lead.timezone, t.settings ->> 'timezone', 'UTC'), coalesce(v_lead.locale, t.locale)
  into v_zone, v_locale
  from public.tenants t where t.id = p_tenant_id;
  v_zone := private.autopilot_zone(v_zone);
  return jsonb_build_object(
    'message', jsonb_build_object('id', v_message.id, 'direction', v_message.direction, 'body', v_message.body,
                                  'channel', v_message.channel, 'conversation_id', v_message.conversation_id,
                                  'lead_id', v_message.lead_id, 'created_at', v_message.created_at),
    'lead', jsonb_build_object('id', v_lead.id, 'name', v_lead.name, 'timezone', v_zone, 'locale', v_locale),
    'settings', coalesce((
      select jsonb_agg(to_jsonb(s) - 'tenant_id' - 'updated_by' - 'updated_at' - 'id')
      from public.autopilot_settings s
      where s.tenant_id = p_tenant_id
        and ((s.channel is null and s.lead_id is null) or s.channel = v_message.channel or s.lead_id = v_lead.id)
    ), '[]'::jsonb),
    'first_contact', not exists (
      select 1 from public.messages m
      where m.tenant_id = p_tenant_id and m.lead_id = v_lead.id and m.direction = 'out'),
    'opted_out', exists (
      select 1 from public.consents c
      where c.tenant_id = p_tenant_id and c.lead_id = v_lead.id and c.channel = v_message.channel
        and c.status = 'opted_out'),
    'lead_auto_sent_24h', (
      select count(*) from public.autopilot_actions a
      where a.tenant_id = p_tenant_id and a.lead_id = v_lead.id and a.status = 'sent' and a.verdict is null
        and a.executed_at > now() - interval '24 hours'),
    'tenant_auto_sent_24h', (
      select count(*) from public.autopilot_actions a
      where a.tenant_id = p_tenant_id and a.status = 'sent' and a.verdict is null
        and a.executed_at > now() - interval '24 hours'),
    'now', now()
  );
end
$$;

revoke all on function public.autopilot_context(uuid, uuid) from public, anon, authenticated;
grant execute on function public.autopilot_context(uuid, uuid) to service_role;

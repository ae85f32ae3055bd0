-- The autopilot's SQL: a member's verdict on a draft (autopilot_decide), the rule that an autopilot message is
-- only queued for a live action (a draft past expires_at never sends, whoever inserts the message), and the
-- autopilot.action_executed event when an action's message is queued.

-- Levenshtein distance (characters), for the feedback on an edited draft. Two rows of the table, O(n*m).
create or replace function private.edit_distance(p_a text, p_b text) returns integer
language plpgsql immutable
set search_path = ''
as $$
declare
  v_a text[] := regexp_split_to_array(coalesce(p_a, ''), '');
  v_b text[] := regexp_split_to_array(coalesce(p_b, ''), '');
  v_n integer := coalesce(length(p_a), 0);
  v_m integer := coalesce(length(p_b), 0);
  v_prev integer[];
  v_cur integer[];
begin
  if v_n = 0 then return v_m; end if;
  if v_m = 0 then return v_n; end if;
  v_prev := array(select generate_series(0, v_m));
  for i in 1..v_n loop
    v_cur := array[i];
    for j in 1..v_m loop
      v_cur := v_cur || least(v_prev[j + 1] + 1, v_cur[j] + 1,
                              v_prev[j] + case when v_a[i] = v_b[j] then 0 else 1 end);
    end loop;
    v_prev := v_cur;
  end loop;
  return v_prev[v_m + 1];
end
$$;
revoke all on function private.edit_distance(text, text) from public, anon, authenticated;
grant execute on function private.edit_distance(text, text) to service_role;

-- An autopilot message (sent_by autopilot) names its action in its idempotency key (autopilot:<action id>);
-- the action must be of the same tenant, live (drafted in auto mode, or approved / edited by a member) and
-- not past expires_at. This is the send path's check: nothing else queues an autopilot message.
create or replace function private.autopilot_message_needs_a_live_action() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_action public.autopilot_actions;
  v_id uuid;
begin
  if new.sent_by is distinct from 'autopilot' then
    return new;
  end if;
  begin
    v_id := substring(new.idempotency_key from '^autopilot:(.*)$')::uuid;
  exception when invalid_text_representation then
    v_id := null;
  end;
  if v_id is null then
    raise exception 'messages.idempotency_key: an autopilot message names its action (autopilot:<action id>)'
      using errcode = '23514';
  end if;
  select a.* into v_action from public.autopilot_actions a where a.id = v_id and a.tenant_id = new.tenant_id;
  if not found then
    raise exception 'messages.idempotency_key: no autopilot action % in this tenant', v_id using errcode = '23514';
  end if;
  if v_action.status not in ('drafted', 'approved', 'edited') then
    raise exception 'messages.idempotency_key: autopilot action % is %, nothing of it is sent', v_id, v_action.status
      using errcode = '23514';
  end if;
  if v_action.expires_at < now() then
    raise exception 'messages.idempotency_key: autopilot action % expired at %; an expired draft never sends',
      v_id, v_action.expires_at
      using errcode = '23514';
  end if;
  return new;
end
$$;
revoke all on function private.autopilot_message_needs_a_live_action() from public, anon, authenticated;

-- Named to run after messages_fill_in (the tenant and lead from the conversation) and messages_respect_opt_outs
-- (an opted-out lead's refusal names the consent): before-triggers fire in name order.
drop trigger if exists messages_sent_by_autopilot_need_a_live_action on public.messages;
create trigger messages_sent_by_autopilot_need_a_live_action before insert on public.messages
  for each row when (new.sent_by = 'autopilot') execute function private.autopilot_message_needs_a_live_action();

-- autopilot.action_executed when an action's message is queued (auto mode, or a member's approval / edit).
create or replace function private.autopilot_actions_publish() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.emit_event(new.tenant_id, 'autopilot.action_executed',
    jsonb_build_object('action_id', new.id, 'lead_id', new.lead_id, 'action', new.action, 'channel', new.channel,
                       'cost_usd', new.cost_usd, 'latency_ms', new.latency_ms, 'scenario', new.scenario,
                       'prompt_version', new.prompt_version, 'mode', new.mode, 'verdict', new.verdict,
                       'message_id', new.message_id),
    new.lead_id::text, 'db');
  return null;
end
$$;
revoke all on function private.autopilot_actions_publish() from public, anon, authenticated;

drop trigger if exists autopilot_actions_publish on public.autopilot_actions;
create trigger autopilot_actions_publish after update of status on public.autopilot_actions
  for each row when (new.status = 'sent' and old.status is distinct from 'sent')
  execute function private.autopilot_actions_publish();

-- A member's verdict on a draft waiting for approval: approved sends the draft, edited sends p_text (the edit
-- distance is recorded), rejected sends nothing. Members decide drafts of the token's tenant; service code
-- (the CLI) names p_tenant_id. A draft past expires_at is marked expired and never sends. The message is
-- queued for the send job (sent_by autopilot, idempotency key autopilot:<action id>). Returns the action.
create or replace function public.autopilot_decide(
  p_action_id uuid,
  p_verdict text,
  p_text text default null,
  p_tenant_id uuid default null
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_caller text := coalesce(nullif(current_setting('role', true), 'none'), session_user::text);
  v_tenant uuid;
  v_action public.autopilot_actions;
  v_text text;
  v_message uuid;
begin
  if v_caller = 'anon' then
    raise exception 'autopilot_decide: sign in as a member of the tenant' using errcode = '42501';
  elsif v_caller = 'authenticated' then
    v_tenant := private.tenant_id();
    if v_tenant is null then
      raise exception 'autopilot_decide: the token names no tenant you are a member of' using errcode = '42501';
    end if;
    if p_tenant_id is not null and p_tenant_id <> v_tenant then
      raise exception 'autopilot_decide.p_tenant_id: a member decides drafts of the token''s own tenant only'
        using errcode = '42501';
    end if;
  else
    if p_tenant_id is null then
      raise exception 'autopilot_decide.p_tenant_id: required for service code (which tenant?)' using errcode = '22023';
    end if;
    v_tenant := p_tenant_id;
  end if;
  if p_verdict is null or p_verdict not in ('approved', 'edited', 'rejected') then
    raise exception 'autopilot_decide.p_verdict: % is not a verdict; allowed: approved, edited, rejected',
      coalesce(quote_literal(p_verdict), 'null')
      using errcode = '22023';
  end if;
  if p_verdict = 'edited' and coalesce(length(btrim(p_text)), 0) not between 1 and 4000 then
    raise exception 'autopilot_decide.p_text: an edit needs the text to send (1-4000 characters)' using errcode = '22023';
  end if;
  if p_verdict <> 'edited' and p_text is not null then
    raise exception 'autopilot_decide.p_text: only an edit takes a text' using errcode = '22023';
  end if;

  select a.* into v_action from public.autopilot_actions a
  where a.id = p_action_id and a.tenant_id = v_tenant
  for update;
  if not found then
    -- Another tenant's draft reads as missing.
    raise exception 'autopilot_decide.p_action_id: there is no autopilot draft % in your tenant', p_action_id
      using errcode = 'PT404';  -- PostgREST answers it as HTTP 404
  end if;
  if v_action.status <> 'queued_for_approval' then
    raise exception 'autopilot_decide.p_action_id: draft % is % (only a draft waiting for approval is decided)',
      p_action_id, v_action.status
      using errcode = '23514';
  end if;
  if v_action.expires_at < now() then
    update public.autopilot_actions a set status = 'expired' where a.id = v_action.id returning a.* into v_action;
    return to_jsonb(v_action);
  end if;

  v_text := case p_verdict when 'edited' then btrim(p_text) else v_action.draft end;
  update public.autopilot_actions a
  set status = p_verdict, verdict = p_verdict, final_text = case when p_verdict = 'rejected' then null else v_text end,
      reviewed_by = auth.uid(), reviewed_at = now(),
      edit_distance = case when p_verdict = 'edited' then private.edit_distance(v_action.draft, v_text) end
  where a.id = v_action.id
  returning a.* into v_action;
  if p_verdict = 'rejected' then
    return to_jsonb(v_action);
  end if;

  insert into public.messages (tenant_id, conversation_id, lead_id, channel, direction, status, content_type, body,
                               sent_by, sent_by_user_id, idempotency_key)
  values (v_tenant, v_action.conversation_id, v_action.lead_id, v_action.channel, 'out', 'queued', 'text', v_text,
          'autopilot', auth.uid(), 'autopilot:' || v_action.id::text)
  returning id into v_message;
  update public.autopilot_actions a
  set status = 'sent', message_id = v_message, executed_at = now()
  where a.id = v_action.id
  returning a.* into v_action;
  return to_jsonb(v_action);
end
$$;

revoke all on function public.autopilot_decide(uuid, text, text, uuid) from public, anon;
grant execute on function public.autopilot_decide(uuid, text, text, uuid) to authenticated, service_role;

-- The catalogue row says what the autopilot publishes (salesflow/events/types.py and docs/events.md agree).
update public.event_types set description =
  'Autopilot acted for a lead (its message is queued). Payload: action_id, lead_id, action, channel, cost_usd, '
  'latency_ms, scenario, prompt_version, mode, verdict, message_id.'
where name = 'autopilot.action_executed';

-- autopilot_context is cheap: the lead's time zone is checked with private.is_time_zone (an indexed copy of
-- the zone names, not pg_timezone_names, which reads the whole time zone database, ~30 ms), and "has the
-- lead had an outbound message" is answered by a partial index.
create index if not exists messages_lead_outbound_idx on public.messages (lead_id, tenant_id)
  where direction = 'out';

create or replace function private.autopilot_zone(p_zone text) returns text
language sql stable
set search_path = ''
as $$
  select case when p_zone is not null and private.is_time_zone(p_zone) then p_zone else 'UTC' end
$$;

revoke all on function private.autopilot_zone(text) from public, anon, authenticated;
grant execute on function private.autopilot_zone(text) to service_role;

-- What the autopilot handler needs to decide about one inbound message, in one call (service code only): the
-- message, its lead (time zone: the lead's, else the tenant's settings ->> 'timezone', else UTC; locale), the
-- settings rows that apply (tenant, channel, lead), whether this is the first contact (nothing was ever sent
-- to the lead), whether the lead opted out of the channel, and the automatic sends of the last 24 hours (the
-- lead's and the tenant's) for the caps.
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

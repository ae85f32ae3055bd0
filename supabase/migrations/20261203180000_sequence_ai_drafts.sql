-- AI-personalised sequence steps respect the autopilot (issue 11, point 3 "and for AI-personalised steps").
--
-- An `ai_message` step asks the followup_message scenario for its text; the handler (salesflow/sequences/
-- steps.py) then resolves the autopilot settings of the lead on the step's channel and judges the draft with
-- the autopilot's guards (salesflow/autopilot/guards.py). Mode off (the default): the step sends as before.
-- Mode auto with no guard tripped: it sends as before. Otherwise (assist, one_click, a guard, low confidence,
-- the autopilot's caps, the kill switch) the step does not send: sequence_execute_steps records an
-- autopilot_actions draft (scenario followup_message, queued_for_approval, expiring like any draft), the run
-- `drafted` with its autopilot_action_id, and pauses the enrollment (pause_reason `approval`). When the draft
-- is decided, private.sequence_draft_decided (a trigger on autopilot_actions) records the run: approved or
-- edited → `sent` with the message autopilot_decide queued, publishing sequence.step_executed; rejected or
-- expired → `skipped` with the reason. Either way the enrollment resumes (its sequence.step_due now), and the
-- handler plans the next step inside the window.
--
-- Also: the daily caps are checked before the AI is asked (sequence_ai_step_context answers the cap with the
-- autopilot's inputs in one read), so a capped ai_message step spends no AI call. A draft waiting for approval
-- takes its send slot of the day it was drafted (the caps count `drafted` runs).

alter table public.sequence_step_runs drop constraint if exists sequence_step_runs_status_allowed;
alter table public.sequence_step_runs add constraint sequence_step_runs_status_allowed
  check (status in ('claimed', 'sent', 'skipped', 'task_open', 'task_done', 'drafted'));
alter table public.sequence_step_runs add column if not exists autopilot_action_id uuid
  references public.autopilot_actions (id) on delete set null;
create index if not exists sequence_step_runs_autopilot_action_idx on public.sequence_step_runs (autopilot_action_id)
  where autopilot_action_id is not null;
drop index if exists public.sequence_step_runs_caps_idx;
create index if not exists sequence_step_runs_caps_idx on public.sequence_step_runs (tenant_id, claimed_at, channel)
  where status in ('claimed', 'sent', 'drafted');

create or replace function private.sequence_execute_step(p_tenant_id uuid, p jsonb) returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  v_e public.sequence_enrollments;
  v_step public.sequence_steps;
  v_run public.sequence_step_runs;
  v_lead_status text;
  v_at timestamptz := coalesce((p ->> 'at')::timestamptz, now());
  v_status text := p ->> 'status';
  v_reason text := p ->> 'skip_reason';
  v_seen uuid[] := coalesce(array(select jsonb_array_elements_text(coalesce(p -> 'seen_inbound', '[]'))::uuid),
                            '{}');
  v_count bigint;
  v_cap text;
  v_owner uuid;
  v_conversation uuid;
  v_message uuid;
  v_key text;
  v_next jsonb := coalesce(p -> 'next', '{}'::jsonb);
  v_outcome text;
  v_action uuid;
begin
  if v_status is null or v_status not in ('sent', 'skipped', 'task_open', 'drafted') then
    raise exception 'sequence_execute_steps.p_steps: status % is not allowed; allowed: sent, skipped, task_open, drafted',
      coalesce(quote_literal(v_status), 'null') using errcode = '22023';
  end if;
  select e.* into v_e from public.sequence_enrollments e
  where e.id = (p ->> 'enrollment_id')::uuid and e.tenant_id = p_tenant_id
  for update;
  if v_e.id is null then
    return jsonb_build_object('i', p -> 'i', 'outcome', 'gone');
  end if;
  if v_e.schedule_version <> (p ->> 'version')::integer or v_e.state <> 'active' then
    return jsonb_build_object('i', p -> 'i', 'outcome', 'stale', 'version', v_e.schedule_version);
  end if;
  select st.* into v_step from public.sequence_steps st
  where st.id = (p ->> 'step_id')::uuid and st.tenant_id = p_tenant_id and st.sequence_id = v_e.sequence_id
    and st.position = v_e.current_step;
  select l.status into v_lead_status from public.leads l where l.id = v_e.lead_id and l.tenant_id = p_tenant_id;
  -- The stop rules, again, under the enrollment's lock: what changed since the handler read its context is
  -- the handler's to judge (an auto-reply does not stop; a reply does).
  if v_step.id is null or v_lead_status is null or v_lead_status in ('won', 'lost')
     or exists (select 1 from public.consents c
                where c.lead_id = v_e.lead_id and c.tenant_id = p_tenant_id and c.status = 'opted_out')
     or exists (select 1 from public.messages m
                where m.lead_id = v_e.lead_id and m.tenant_id = p_tenant_id and m.direction = 'in'
                  and m.received_at > v_e.step_since and m.id <> all (v_seen)) then
    return jsonb_build_object('i', p -> 'i', 'outcome', 'recheck');
  end if;
  select r.* into v_run from public.sequence_step_runs r
  where r.enrollment_id = v_e.id and r.tenant_id = p_tenant_id and r.step_id = v_step.id;
  if v_run.id is not null and v_run.status <> 'claimed' then
    return jsonb_build_object('i', p -> 'i', 'outcome', 'recheck');  -- the run is done: the handler moves on
  end if;

  if v_status in ('sent', 'drafted') and v_run.id is null then
    if (p ->> 'cap_tenant') is not null then
      select count(*) into v_count from public.sequence_step_runs r
      where r.tenant_id = p_tenant_id and r.status in ('claimed', 'sent', 'drafted')
        and r.claimed_at >= (p ->> 'day_start')::timestamptz and r.claimed_at < (p ->> 'day_end')::timestamptz;
      if v_count >= (p ->> 'cap_tenant')::integer then
        v_cap := 'tenant';
      end if;
    end if;
    if v_cap is null and (p ->> 'cap_sender') is not null then
      select count(*) into v_count from public.sequence_step_runs r
      where r.tenant_id = p_tenant_id and r.status in ('claimed', 'sent', 'drafted') and r.channel = v_step.channel
        and r.claimed_at >= (p ->> 'day_start')::timestamptz and r.claimed_at < (p ->> 'day_end')::timestamptz;
      if v_count >= (p ->> 'cap_sender')::integer then
        v_cap := 'sender';
      end if;
    end if;
    if v_cap is not null then
      update public.sequence_enrollments e
         set next_due_at = (p ->> 'capped_due_at')::timestamptz, schedule_version = e.schedule_version + 1,
             updated_at = now()
       where e.id = v_e.id
      returning e.* into v_e;
      perform private.emit_event(p_tenant_id, 'sequence.step_due',
        jsonb_build_object('enrollment_id', v_e.id, 'lead_id', v_e.lead_id, 'sequence_id', v_e.sequence_id,
                           'step', v_e.current_step, 'version', v_e.schedule_version),
        'sequence:' || v_e.id::text, 'db',
        now() + make_interval(secs => greatest(coalesce((p ->> 'capped_run_after_seconds')::float8, 0), 0)),
        null, null, 10);
      return jsonb_build_object('i', p -> 'i', 'outcome', 'capped', 'cap', v_cap, 'count', v_count,
                                'version', v_e.schedule_version);
    end if;
    if coalesce((p ->> 'cap_only')::boolean, false) then
      -- The handler saw the cap reached and did not ask the AI; under the lock it is not: decide again.
      return jsonb_build_object('i', p -> 'i', 'outcome', 'recheck');
    end if;
  end if;

  if v_status in ('sent', 'drafted') then
    -- The send path's rows (salesflow/conversations/sending.py does the same over the data port): the identity,
    -- the conversation, the message queued under the step's idempotency key.
    v_key := 'seq:' || v_e.id::text || ':' || v_step.position::text;
    if v_run.id is not null and v_status = 'sent' then  -- an older handler's claimed run: its message may be queued already
      select m.id, m.lead_id into v_message, v_owner from public.messages m
      where m.tenant_id = p_tenant_id and m.idempotency_key = v_key;
    end if;
    if v_message is not null and v_owner <> v_e.lead_id then
      v_status := 'skipped';
      v_reason := format('idempotency_key: %L already queued message %s to another lead or channel', v_key, v_message);
      v_message := null;
    elsif v_message is null then
      if coalesce(btrim(p ->> 'address'), '') = '' or coalesce(btrim(p ->> 'body'), '') = '' then
        raise exception 'sequence_execute_steps.p_steps: a sent step needs address and body' using errcode = '22023';
      end if;
      v_owner := null;
      if not coalesce((p ->> 'identity_known')::boolean, false) then
        insert into public.channel_identities (tenant_id, lead_id, channel, address)
        values (p_tenant_id, v_e.lead_id, v_step.channel, p ->> 'address')
        on conflict (tenant_id, channel, address) do nothing
        returning lead_id into v_owner;
      end if;
      if v_owner is null then
        select ci.lead_id into v_owner from public.channel_identities ci
        where ci.tenant_id = p_tenant_id and ci.channel = v_step.channel and ci.address = p ->> 'address';
      end if;
      if v_owner is distinct from v_e.lead_id then
        v_status := 'skipped';
        v_reason := format('lead_id: the lead''s address %s on %s belongs to lead %s (link the identity first)',
                           p ->> 'address', v_step.channel, v_owner);
      else
        select c.id into v_conversation from public.conversations c
        where c.tenant_id = p_tenant_id and c.lead_id = v_e.lead_id and c.channel = v_step.channel;
        if v_conversation is null then
          insert into public.conversations (tenant_id, lead_id, channel)
          values (p_tenant_id, v_e.lead_id, v_step.channel)
          on conflict (tenant_id, lead_id, channel) do nothing
          returning id into v_conversation;
          if v_conversation is null then
            select c.id into v_conversation from public.conversations c
            where c.tenant_id = p_tenant_id and c.lead_id = v_e.lead_id and c.channel = v_step.channel;
          end if;
        end if;
        if v_status = 'drafted' then
          -- Not sent: a draft in the autopilot's approval queue; its approval sends it (autopilot_decide), and
          -- private.sequence_draft_decided records the run and plans on.
          insert into public.autopilot_actions (tenant_id, lead_id, conversation_id, channel, mode, scenario,
                                                prompt_version, draft, confidence, reasons, guards, cost_usd,
                                                latency_ms, status, expires_at)
          values (p_tenant_id, v_e.lead_id, v_conversation, v_step.channel,
                  coalesce(p ->> 'autopilot_mode', 'assist'), 'followup_message',
                  (p ->> 'prompt_version')::integer, p ->> 'body', (p ->> 'confidence')::numeric,
                  coalesce(array(select jsonb_array_elements_text(coalesce(p -> 'reasons', '[]'))), '{}'),
                  coalesce(array(select jsonb_array_elements_text(coalesce(p -> 'guards', '[]'))), '{}'),
                  coalesce((p ->> 'cost_usd')::numeric, 0), (p ->> 'latency_ms')::integer, 'queued_for_approval',
                  (p ->> 'expires_at')::timestamptz)
          returning id into v_action;
        else
        insert into public.messages (tenant_id, conversation_id, lead_id, channel, direction, status, content_type,
                                     body, sent_by, idempotency_key)
        values (p_tenant_id, v_conversation, v_e.lead_id, v_step.channel, 'out', 'queued', 'text', p ->> 'body',
                'sequence', v_key)
        on conflict (tenant_id, idempotency_key) do nothing
        returning id into v_message;
        if v_message is null then  -- queued under the key before (by a crashed older handler)
          select m.id, m.lead_id into v_message, v_owner from public.messages m
          where m.tenant_id = p_tenant_id and m.idempotency_key = v_key;
          if v_owner <> v_e.lead_id then
            v_status := 'skipped';
            v_reason := format('idempotency_key: %L already queued message %s to another lead or channel', v_key,
                               v_message);
            v_message := null;
          end if;
        end if;
        end if;
      end if;
    end if;
    if v_status = 'skipped' then
      v_reason := left(v_reason, 300);
    end if;
  end if;

  if v_run.id is null then
    insert into public.sequence_step_runs (tenant_id, enrollment_id, step_id, sequence_id, lead_id, position, kind,
                                           channel, status, skip_reason, body, ai_personalised, message_id,
                                           claimed_at, executed_at, autopilot_action_id)
    values (p_tenant_id, v_e.id, v_step.id, v_e.sequence_id, v_e.lead_id, v_step.position, v_step.kind,
            v_step.channel, v_status, case when v_status = 'skipped' then coalesce(v_reason, 'skipped') end,
            case when v_status in ('sent', 'drafted') then p ->> 'body' end,
            coalesce((p ->> 'ai_personalised')::boolean, false), v_message, v_at,
            case when v_status not in ('task_open', 'drafted') then v_at end, v_action)
    returning * into v_run;
  else
    update public.sequence_step_runs r
       set status = v_status, skip_reason = case when v_status = 'skipped' then coalesce(v_reason, 'skipped') end,
           body = coalesce(r.body, case when v_status = 'sent' then p ->> 'body' end),
           message_id = v_message, executed_at = case when v_status not in ('task_open', 'drafted') then v_at end,
           autopilot_action_id = coalesce(v_action, r.autopilot_action_id)
     where r.id = v_run.id
    returning * into v_run;
  end if;
  if v_status = 'sent' then
    perform private.emit_event(p_tenant_id, 'sequence.step_executed',
      jsonb_build_object('enrollment_id', v_run.enrollment_id, 'lead_id', v_run.lead_id,
                         'sequence_id', v_run.sequence_id, 'step', v_run.position, 'channel', v_run.channel,
                         'ai_personalized', v_run.ai_personalised, 'message_id', v_run.message_id,
                         'run_id', v_run.id),
      v_run.lead_id::text, 'db', now(), null, null, 5);
  end if;

  -- The schedule: a task pauses the enrollment until it is done; else the next step is due, or none is left.
  if v_status = 'drafted' then
    update public.sequence_enrollments e
       set state = 'paused', pause_reason = 'approval', paused_at = now(), schedule_version = e.schedule_version + 1,
           updated_at = now()
     where e.id = v_e.id
    returning e.* into v_e;
    v_outcome := 'drafted';
  elsif v_status = 'task_open' then
    update public.sequence_enrollments e
       set state = 'paused', pause_reason = 'task', paused_at = now(), schedule_version = e.schedule_version + 1,
           updated_at = now()
     where e.id = v_e.id
    returning e.* into v_e;
    v_outcome := 'task_opened';
  elsif coalesce(v_next ->> 'state', 'completed') = 'completed' then
    update public.sequence_enrollments e
       set state = 'completed', completed_at = now(), schedule_version = e.schedule_version + 1, updated_at = now()
     where e.id = v_e.id
    returning e.* into v_e;
    v_outcome := v_status;
  else
    if (v_next ->> 'position') is null or (v_next ->> 'due_at') is null then
      raise exception 'sequence_execute_steps.p_steps: next needs position and due_at' using errcode = '22023';
    end if;
    update public.sequence_enrollments e
       set current_step = (v_next ->> 'position')::integer, next_due_at = (v_next ->> 'due_at')::timestamptz,
           step_since = v_at, schedule_version = e.schedule_version + 1, updated_at = now()
     where e.id = v_e.id
    returning e.* into v_e;
    perform private.emit_event(p_tenant_id, 'sequence.step_due',
      jsonb_build_object('enrollment_id', v_e.id, 'lead_id', v_e.lead_id, 'sequence_id', v_e.sequence_id,
                         'step', v_e.current_step, 'version', v_e.schedule_version),
      'sequence:' || v_e.id::text, 'db',
      now() + make_interval(secs => greatest(coalesce((v_next ->> 'run_after_seconds')::float8, 0), 0)),
      null, null, 10);
    v_outcome := v_status;
  end if;
  return jsonb_build_object('i', p -> 'i', 'outcome', v_outcome, 'run_id', v_run.id, 'message_id', v_run.message_id,
                            'version', v_e.schedule_version, 'state', v_e.state, 'reason', v_run.skip_reason,
                            'action_id', v_run.autopilot_action_id);
end
$$;
revoke all on function private.sequence_execute_step(uuid, jsonb) from public, anon, authenticated;
grant execute on function private.sequence_execute_step(uuid, jsonb) to service_role;

-- The batch takes the caps' lock for drafted steps too (they take a send slot).
create or replace function public.sequence_execute_steps(p_tenant_id uuid, p_steps jsonb)
returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  v_item jsonb;
  v_results jsonb := '[]'::jsonb;
  v_result jsonb;
begin
  if p_tenant_id is null then
    raise exception 'sequence_execute_steps.p_tenant_id: required (which tenant?)' using errcode = '22023';
  end if;
  if p_steps is null or jsonb_typeof(p_steps) <> 'array' or jsonb_array_length(p_steps) > 200 then
    raise exception 'sequence_execute_steps.p_steps: a JSON array of at most 200 steps' using errcode = '22023';
  end if;
  -- The caps' lock first (before any enrollment's), so two batches never wait for each other in a circle.
  if exists (select 1 from jsonb_array_elements(p_steps) s(v)
             where s.v ->> 'status' in ('sent', 'drafted') and (s.v ->> 'cap_tenant' is not null or s.v ->> 'cap_sender' is not null)) then
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('sequence caps ' || p_tenant_id::text, 0));
  end if;
  for v_item in
    select s.v || jsonb_build_object('i', coalesce(s.v -> 'i', to_jsonb(s.n - 1)))
    from jsonb_array_elements(p_steps) with ordinality s(v, n)
    order by s.v ->> 'enrollment_id', s.n
  loop
    begin
      v_result := private.sequence_execute_step(p_tenant_id, v_item);
    exception when others then
      v_result := jsonb_build_object('i', v_item -> 'i', 'outcome', 'error', 'sqlstate', sqlstate, 'error', sqlerrm);
    end;
    v_results := v_results || jsonb_build_array(v_result);
  end loop;
  return coalesce((select jsonb_agg(r.v order by (r.v ->> 'i')::integer) from jsonb_array_elements(v_results) r(v)),
                  '[]'::jsonb);
end
$$;
revoke all on function public.sequence_execute_steps(uuid, jsonb) from public, anon, authenticated;
grant execute on function public.sequence_execute_steps(uuid, jsonb) to service_role;

-- What an ai_message step needs before it asks the AI (service code only): the daily cap reached (`tenant`,
-- `sender` or null; counted as sequence_execute_steps counts, which checks again under the caps' lock), the
-- autopilot settings rows that apply to the lead on the channel, whether nothing was ever sent to the lead
-- (first contact), the automatic autopilot sends of the last 24 hours (lead and tenant), and the lead's zone.
create or replace function public.sequence_ai_step_context(
  p_tenant_id uuid, p_lead_id uuid, p_channel public.message_channel, p_day_start timestamptz default null,
  p_day_end timestamptz default null, p_cap_tenant integer default null, p_cap_sender integer default null
) returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object(
    'capped', case
      when p_cap_tenant is not null and (select count(*) from public.sequence_step_runs r
             where r.tenant_id = p_tenant_id and r.status in ('claimed', 'sent', 'drafted')
               and r.claimed_at >= p_day_start and r.claimed_at < p_day_end) >= p_cap_tenant then 'tenant'
      when p_cap_sender is not null and (select count(*) from public.sequence_step_runs r
             where r.tenant_id = p_tenant_id and r.status in ('claimed', 'sent', 'drafted') and r.channel = p_channel
               and r.claimed_at >= p_day_start and r.claimed_at < p_day_end) >= p_cap_sender then 'sender'
    end,
    'settings', coalesce((
      select jsonb_agg(to_jsonb(s) - 'tenant_id' - 'updated_by' - 'updated_at' - 'id')
      from public.autopilot_settings s
      where s.tenant_id = p_tenant_id
        and ((s.channel is null and s.lead_id is null) or s.channel = p_channel or s.lead_id = p_lead_id)), '[]'::jsonb),
    'first_contact', not exists (select 1 from public.messages m
                                 where m.tenant_id = p_tenant_id and m.lead_id = p_lead_id and m.direction = 'out'),
    'lead_auto_sent_24h', (select count(*) from public.autopilot_actions a
                           where a.tenant_id = p_tenant_id and a.lead_id = p_lead_id and a.status = 'sent'
                             and a.verdict is null and a.executed_at > now() - interval '24 hours'),
    'tenant_auto_sent_24h', (select count(*) from public.autopilot_actions a
                             where a.tenant_id = p_tenant_id and a.status = 'sent' and a.verdict is null
                               and a.executed_at > now() - interval '24 hours'),
    'timezone', (select private.autopilot_zone(coalesce(l.timezone, t.settings ->> 'timezone', 'UTC'))
                 from public.leads l join public.tenants t on t.id = l.tenant_id
                 where l.id = p_lead_id and l.tenant_id = p_tenant_id))
$$;
revoke all on function public.sequence_ai_step_context(uuid, uuid, public.message_channel, timestamptz, timestamptz,
                                                       integer, integer) from public, anon, authenticated;
grant execute on function public.sequence_ai_step_context(uuid, uuid, public.message_channel, timestamptz, timestamptz,
                                                          integer, integer) to service_role;

-- A sequence step's draft decided: the run records it and the enrollment resumes (see the top).
create or replace function private.sequence_draft_decided() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_run public.sequence_step_runs;
  v_e public.sequence_enrollments;
begin
  select r.* into v_run from public.sequence_step_runs r
  where r.autopilot_action_id = new.id and r.tenant_id = new.tenant_id and r.status = 'drafted'
  for update;
  if v_run.id is null then
    return null;
  end if;
  if new.status = 'sent' then
    update public.sequence_step_runs r
       set status = 'sent', message_id = new.message_id, body = coalesce(new.final_text, r.body), executed_at = now()
     where r.id = v_run.id
    returning r.* into v_run;
    perform private.emit_event(new.tenant_id, 'sequence.step_executed',
      jsonb_build_object('enrollment_id', v_run.enrollment_id, 'lead_id', v_run.lead_id,
                         'sequence_id', v_run.sequence_id, 'step', v_run.position, 'channel', v_run.channel,
                         'ai_personalized', v_run.ai_personalised, 'message_id', v_run.message_id,
                         'run_id', v_run.id, 'autopilot_action_id', new.id),
      v_run.lead_id::text, 'db', now(), null, null, 5);
  else
    update public.sequence_step_runs r
       set status = 'skipped', skip_reason = 'autopilot draft ' || new.status, executed_at = now()
     where r.id = v_run.id;
  end if;
  update public.sequence_enrollments e
     set state = 'active', pause_reason = null, paused_at = null, schedule_version = e.schedule_version + 1,
         updated_at = now()
   where e.id = v_run.enrollment_id and e.tenant_id = new.tenant_id and e.state = 'paused'
     and e.pause_reason = 'approval' and e.current_step = v_run.position
  returning e.* into v_e;
  if v_e.id is not null then
    perform private.emit_event(new.tenant_id, 'sequence.step_due',
      jsonb_build_object('enrollment_id', v_e.id, 'lead_id', v_e.lead_id, 'sequence_id', v_e.sequence_id,
                         'step', v_e.current_step, 'version', v_e.schedule_version),
      'sequence:' || v_e.id::text, 'db', now(), null, null, 10);
  end if;
  return null;
end
$$;
revoke all on function private.sequence_draft_decided() from public, anon, authenticated;

drop trigger if exists sequence_draft_decided on public.autopilot_actions;
create trigger sequence_draft_decided after update of status on public.autopilot_actions
  for each row when (new.status in ('sent', 'rejected', 'expired') and old.status is distinct from new.status)
  execute function private.sequence_draft_decided();

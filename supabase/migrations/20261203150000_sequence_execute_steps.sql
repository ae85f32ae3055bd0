-- A due step is one transaction: sequence_execute_steps.
--
-- The step handler used to make ~10 calls per step, each its own transaction, four of them publishing an event
-- (conversation.created, message.queued, sequence.step_executed, the next sequence.step_due). A transaction that
-- publishes sends a NOTIFY, and Postgres serialises notifying commits (they take one lock on the database,
-- held through the WAL flush), so a listener ran ~60-100 steps a second whatever its concurrency
-- (`./scripts/bench sequences --profile`: Lock:object waits on the four commits).
--
-- Now the handler reads its context (sequence_step_context: one read-only statement, which now also answers
-- the lead's newest address on the step's channel), decides in Python what only Python knows (the window, the
-- holidays and DST on the lead's clock, the auto-reply patterns, the template, the address normal form, the
-- send path's validation), and hands the outcome to sequence_execute_steps, which in ONE transaction:
--   * locks the enrollment and checks it is still the schedule the handler decided on (schedule_version and
--     state), and re-checks the stop rules: the lead won or lost, an opt-out, an inbound message the handler
--     did not judge (p.seen_inbound) — any of them answers `recheck`, and the handler decides again;
--   * takes the send slot under the daily caps (one advisory lock per tenant, taken before any enrollment
--     lock, so listeners side by side never pass a cap together and never deadlock over it); over a cap the
--     step moves to p.capped_due_at (the handler's next allowed moment after the local day);
--   * queues the message on the send path's rows: the identity (the owner checked), the conversation (one per
--     lead and channel), the message `queued` with idempotency key `seq:<enrollment>:<position>` (its trigger
--     publishes message.queued: the send job sends it, effect-once as before); a claimed run left by an older
--     handler is completed with the message that key already queued;
--   * records the step run (sent / skipped with the reason / task_open), publishes sequence.step_executed for a
--     sent one, and schedules the next step (its sequence.step_due after p.next.run_after_seconds), completes
--     the enrollment, or pauses it for a task.
-- A crash before the commit leaves nothing; the redelivered event finds the same version and does it again. A
-- crash after the commit leaves a newer version; the redelivered event is stale. So a step queues at most one
-- message, whatever is retried or killed.
--
-- It takes a batch: the handlers a listener runs side by side hand their steps to one call (salesflow/sequences/
-- steps.py, a group commit), each step in its own subtransaction (one step's error is that step's answer, the
-- others commit), in enrollment order (locks in one order, no deadlock between two batches). One commit, one
-- NOTIFY, one WAL flush for the batch.

-- The step handler's reads of a lead's messages (sequence_step_context, sequence_execute_steps): an inbound
-- message since a moment, any outbound message read since a moment. With only messages_lead_idx the planner
-- ANDed it with the tenant's part of messages_idempotency_key (every message of the tenant: a cost that grew
-- with each step sent, measured by ./scripts/bench sequences); these partial indexes answer each read from the
-- lead's own few rows.
create index if not exists messages_lead_inbound_received_idx on public.messages (lead_id, tenant_id, received_at)
  where direction = 'in';
create index if not exists messages_lead_read_idx on public.messages (lead_id, tenant_id, created_at)
  where read_at is not null;

-- The context also names the lead's newest identity on the step's channel and the lead's own WhatsApp and
-- Instagram fields (the handler normalises an address from them when there is no identity yet).
create or replace function public.sequence_step_context(p_tenant_id uuid, p_enrollment_id uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object(
    'enrollment', to_jsonb(e),
    'sequence', to_jsonb(s),
    'step', to_jsonb(cur),
    'next_step', (select to_jsonb(st) from public.sequence_steps st
                   where st.sequence_id = e.sequence_id and st.tenant_id = e.tenant_id and st.position > e.current_step
                   order by st.position limit 1),
    'lead', (select jsonb_build_object('id', l.id, 'name', l.name, 'email', l.email, 'phone', l.phone,
                                       'whatsapp', l.whatsapp, 'instagram', l.instagram,
                                       'company', l.company, 'status', l.status, 'timezone', l.timezone,
                                       'locale', coalesce(l.locale, t.locale))
             from public.leads l join public.tenants t on t.id = l.tenant_id
             where l.id = e.lead_id and l.tenant_id = e.tenant_id),
    'identity', (select ci.address from public.channel_identities ci
                  where ci.lead_id = e.lead_id and ci.tenant_id = e.tenant_id and ci.channel = cur.channel
                  order by ci.created_at desc limit 1),
    'opted_out', exists (select 1 from public.consents c
                          where c.lead_id = e.lead_id and c.tenant_id = e.tenant_id and c.status = 'opted_out'),
    'inbound_since', coalesce((select jsonb_agg(jsonb_build_object('id', m.id, 'body', m.body,
                                                                   'provider_detail', m.provider_detail,
                                                                   'received_at', m.received_at))
                               from (select m2.id, m2.body, m2.provider_detail, m2.received_at
                                     from public.messages m2
                                     where m2.lead_id = e.lead_id and m2.tenant_id = e.tenant_id
                                       and m2.direction = 'in' and m2.received_at > e.step_since
                                     order by m2.received_at desc limit 20) m), '[]'::jsonb),
    'replied', exists (select 1 from public.messages m
                        where m.lead_id = e.lead_id and m.tenant_id = e.tenant_id and m.direction = 'in'
                          and m.received_at >= e.enrolled_at),
    'engaged', exists (select 1 from public.messages m
                        where m.lead_id = e.lead_id and m.tenant_id = e.tenant_id and m.direction = 'in'
                          and m.created_at >= e.enrolled_at)
               or exists (select 1 from public.messages m
                           where m.lead_id = e.lead_id and m.tenant_id = e.tenant_id and m.read_at is not null
                             and m.created_at >= e.enrolled_at),
    'run', (select to_jsonb(r) from public.sequence_step_runs r
             where r.enrollment_id = e.id and r.tenant_id = e.tenant_id and r.step_id = cur.id))
  from public.sequence_enrollments e
  join public.sequences s on s.id = e.sequence_id and s.tenant_id = e.tenant_id
  left join public.sequence_steps cur
    on cur.sequence_id = e.sequence_id and cur.tenant_id = e.tenant_id and cur.position = e.current_step
  where e.id = p_enrollment_id and e.tenant_id = p_tenant_id
$$;
revoke all on function public.sequence_step_context(uuid, uuid) from public, anon, authenticated;
grant execute on function public.sequence_step_context(uuid, uuid) to service_role;

-- One step of a batch (see above). p: {i, enrollment_id, version, step_id, at, status sent | skipped | task_open,
-- skip_reason, body, address, identity_known (the address is the lead's identity already), ai_personalised,
-- seen_inbound [ids], day_start, day_end, cap_tenant, cap_sender,
-- capped_due_at, capped_run_after_seconds, next {state active | completed, position, due_at, run_after_seconds}}.
-- Answers {i, outcome: sent | skipped | task_opened | capped | stale | recheck | gone, run_id, message_id,
-- version, reason}.
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
begin
  if v_status is null or v_status not in ('sent', 'skipped', 'task_open') then
    raise exception 'sequence_execute_steps.p_steps: status % is not allowed; allowed: sent, skipped, task_open',
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

  if v_status = 'sent' and v_run.id is null then
    if (p ->> 'cap_tenant') is not null then
      select count(*) into v_count from public.sequence_step_runs r
      where r.tenant_id = p_tenant_id and r.status in ('claimed', 'sent')
        and r.claimed_at >= (p ->> 'day_start')::timestamptz and r.claimed_at < (p ->> 'day_end')::timestamptz;
      if v_count >= (p ->> 'cap_tenant')::integer then
        v_cap := 'tenant';
      end if;
    end if;
    if v_cap is null and (p ->> 'cap_sender') is not null then
      select count(*) into v_count from public.sequence_step_runs r
      where r.tenant_id = p_tenant_id and r.status in ('claimed', 'sent') and r.channel = v_step.channel
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
  end if;

  if v_status = 'sent' then
    -- The send path's rows (salesflow/conversations/sending.py does the same over the data port): the identity,
    -- the conversation, the message queued under the step's idempotency key.
    v_key := 'seq:' || v_e.id::text || ':' || v_step.position::text;
    if v_run.id is not null then  -- an older handler's claimed run: its message may be queued already
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
    if v_status = 'skipped' then
      v_reason := left(v_reason, 300);
    end if;
  end if;

  if v_run.id is null then
    insert into public.sequence_step_runs (tenant_id, enrollment_id, step_id, sequence_id, lead_id, position, kind,
                                           channel, status, skip_reason, body, ai_personalised, message_id,
                                           claimed_at, executed_at)
    values (p_tenant_id, v_e.id, v_step.id, v_e.sequence_id, v_e.lead_id, v_step.position, v_step.kind,
            v_step.channel, v_status, case when v_status = 'skipped' then coalesce(v_reason, 'skipped') end,
            case when v_status = 'sent' then p ->> 'body' end,
            coalesce((p ->> 'ai_personalised')::boolean, false), v_message, v_at,
            case when v_status <> 'task_open' then v_at end)
    returning * into v_run;
  else
    update public.sequence_step_runs r
       set status = v_status, skip_reason = case when v_status = 'skipped' then coalesce(v_reason, 'skipped') end,
           body = coalesce(r.body, case when v_status = 'sent' then p ->> 'body' end),
           message_id = v_message, executed_at = case when v_status <> 'task_open' then v_at end
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
  if v_status = 'task_open' then
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
                            'version', v_e.schedule_version, 'state', v_e.state, 'reason', v_run.skip_reason);
end
$$;
revoke all on function private.sequence_execute_step(uuid, jsonb) from public, anon, authenticated;
grant execute on function private.sequence_execute_step(uuid, jsonb) to service_role;

-- sequence_execute_steps (service code): a batch of due steps of one tenant, one transaction. p_steps: a JSON
-- array of the objects private.sequence_execute_step takes (at most 200); answers a JSON array of the outcomes
-- in the same order. A step that raises answers {"i", "outcome": "error", "sqlstate", "error"} and changes
-- nothing (its subtransaction is rolled back); the others commit.
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
             where s.v ->> 'status' = 'sent' and (s.v ->> 'cap_tenant' is not null or s.v ->> 'cap_sender' is not null)) then
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

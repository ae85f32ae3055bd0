-- The sequence engine's SQL: enrolling (set-based: 100,000 leads in one call), pausing / resuming / stopping,
-- completing a task step, previewing the next sends, and the service functions the step handler
-- (salesflow/handlers/sequences.py) calls so that each of its changes is one transaction with its event.
--
-- Every sequence.step_due carries the enrollment's schedule_version; whatever changes the schedule raises the
-- version, so an event published before a pause, a stop or a re-plan is recognised as stale and does nothing.
-- Its ordering key is `sequence:<enrollment id>`: one enrollment's steps run one at a time, and a slow send of
-- one lead never holds back another's.

-- Which tenant a call acts for: a member's token's tenant (p_tenant_id must be absent or the same), or, for
-- service code (service_role, the operator's login), the tenant it names.
create or replace function private.sequence_caller_tenant(p_tenant_id uuid, p_function text) returns uuid
language plpgsql stable
set search_path = ''
as $$
declare
  v_caller text := coalesce(nullif(current_setting('role', true), 'none'), session_user::text);
  v_tenant uuid;
begin
  if v_caller = 'anon' then
    raise exception '%: sign in as a member of the tenant', p_function using errcode = '42501';
  elsif v_caller = 'authenticated' then
    v_tenant := private.tenant_id();
    if v_tenant is null then
      raise exception '%: the token names no tenant you are a member of', p_function using errcode = '42501';
    end if;
    if p_tenant_id is not null and p_tenant_id <> v_tenant then
      raise exception '%.p_tenant_id: a member acts for the token''s own tenant only', p_function
        using errcode = '42501', column = 'p_tenant_id';
    end if;
    return v_tenant;
  end if;
  if p_tenant_id is null then
    raise exception '%.p_tenant_id: required for service code (which tenant?)', p_function
      using errcode = '22023', column = 'p_tenant_id';
  end if;
  return p_tenant_id;
end
$$;
revoke all on function private.sequence_caller_tenant(uuid, text) from public, anon, authenticated;

-- enroll_leads: enrol many leads in one statement. Leads of another tenant or unknown ids, won or lost leads,
-- leads who opted out of any channel and leads already in the sequence (active or paused) are skipped and
-- counted by reason. Each new enrollment gets its first sequence.step_due, due after the first step's delay
-- (business days count as calendar days here, a lower bound: the step handler plans the exact moment in the
-- lead's time zone when it runs, inside the window and off holidays).
-- Returns {"enrolled": n, "skipped": {"unknown_lead": n, "closed_lead": n, "opted_out": n, "already_enrolled": n}}.
-- It works in slices of 10,000 ids, two set-based statements each (the enrollments, then their first step_due
-- events from the ids the insert returned): one statement over 100,000 ids took minutes once the tables had
-- statistics (measured), slices take seconds. A lead named twice in different slices counts as already enrolled.
-- A sequence or enrollment the caller's tenant does not have is bad input (SQLSTATE 22023, HTTP 400 naming the
-- argument), here and in complete_sequence_task.
create or replace function public.enroll_leads(p_sequence_id uuid, p_lead_ids uuid[], p_tenant_id uuid default null)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_tenant uuid := private.sequence_caller_tenant(p_tenant_id, 'enroll_leads');
  v_status text;
  v_position integer;
  v_delay interval;
  v_enrolled bigint;
  v_ids uuid[];
  v_leads uuid[];
  v_slice_eligible bigint;
  v_slice_skipped jsonb;
  v_eligible bigint;
  v_skipped jsonb;
begin
  select s.status into v_status from public.sequences s where s.id = p_sequence_id and s.tenant_id = v_tenant;
  if not found then
    raise exception 'enroll_leads.p_sequence_id: there is no sequence % in your tenant', p_sequence_id
      using errcode = '22023', column = 'p_sequence_id';
  end if;
  if v_status <> 'active' then
    raise exception 'enroll_leads.p_sequence_id: sequence % is %; leads are enrolled in active sequences only',
      p_sequence_id, v_status using errcode = '22023', column = 'p_sequence_id';
  end if;
  select st.position, make_interval(days => st.delay_business_days) + make_interval(secs => st.delay_hours * 3600)
    into v_position, v_delay
  from public.sequence_steps st
  where st.sequence_id = p_sequence_id and st.tenant_id = v_tenant
  order by st.position limit 1;
  if not found then
    raise exception 'enroll_leads.p_sequence_id: sequence % has no steps yet', p_sequence_id
      using errcode = '22023', column = 'p_sequence_id';
  end if;
  if p_lead_ids is null or cardinality(p_lead_ids) > 1000000 then
    raise exception 'enroll_leads.p_lead_ids: give between 0 and 1000000 lead ids'
      using errcode = '22023', column = 'p_lead_ids';
  end if;

  v_enrolled := 0;
  v_eligible := 0;
  v_skipped := '{}'::jsonb;
  -- Slices of 10,000 ids: each slice is two set-based statements; one statement over 100,000 ids grew far
  -- worse than linearly (minutes instead of seconds once the tables had statistics).
  for v_from in 1 .. coalesce(cardinality(p_lead_ids), 0) by 10000 loop
    with candidates as materialized (
      select w.lead_id,
             case
               when l.id is null then 'unknown_lead'
               when l.status in ('won', 'lost') then 'closed_lead'
               when exists (select 1 from public.consents c
                             where c.lead_id = l.id and c.tenant_id = v_tenant and c.status = 'opted_out') then 'opted_out'
               when exists (select 1 from public.sequence_enrollments x
                             where x.tenant_id = v_tenant and x.sequence_id = p_sequence_id and x.lead_id = l.id
                               and x.state in ('active', 'paused')) then 'already_enrolled'
             end as reason
      from (select distinct u.lead_id from unnest(p_lead_ids[v_from:v_from + 9999]) as u(lead_id) where u.lead_id is not null) w
      left join public.leads l on l.id = w.lead_id and l.tenant_id = v_tenant
    ), enrolled as (
      insert into public.sequence_enrollments (tenant_id, sequence_id, lead_id, current_step, next_due_at, step_since,
                                               schedule_version)
      select v_tenant, p_sequence_id, c.lead_id, v_position, now() + v_delay, now(), 1
      from candidates c where c.reason is null
      on conflict (tenant_id, sequence_id, lead_id) where state in ('active', 'paused') do nothing
      returning id, lead_id
    )
    -- One scan of the inserted rows, so the two arrays pair each enrollment with its lead.
    select a.ids, a.leads,
           (select count(*) from candidates c where c.reason is null),
           (select coalesce(jsonb_object_agg(r.reason, r.n), '{}'::jsonb)
              from (select c.reason, count(*) as n from candidates c where c.reason is not null group by c.reason) r)
      into v_ids, v_leads, v_slice_eligible, v_slice_skipped
    from (select array_agg(e.id) as ids, array_agg(e.lead_id) as leads from enrolled e) a;
    v_enrolled := v_enrolled + coalesce(cardinality(v_ids), 0);
    v_eligible := v_eligible + v_slice_eligible;
    select coalesce(jsonb_object_agg(k, coalesce((v_skipped ->> k)::bigint, 0) + coalesce((v_slice_skipped ->> k)::bigint, 0)), '{}'::jsonb)
      into v_skipped from (select jsonb_object_keys(v_skipped || v_slice_skipped) as k) keys;

    insert into public.events (tenant_id, type, payload, ordering_key, source, run_after, max_attempts)
    select v_tenant, 'sequence.step_due',
           jsonb_build_object('enrollment_id', u.id, 'lead_id', u.lead_id, 'sequence_id', p_sequence_id,
                              'step', v_position, 'version', 1),
           'sequence:' || u.id::text, 'db', now() + v_delay, 10
    from unnest(v_ids, v_leads) as u(id, lead_id);
  end loop;
  -- A lead enrolled by a concurrent call between the classification and the insert counts as already enrolled.
  if v_eligible > v_enrolled then
    v_skipped := v_skipped || jsonb_build_object('already_enrolled',
      coalesce((v_skipped ->> 'already_enrolled')::bigint, 0) + v_eligible - v_enrolled);
  end if;
  return jsonb_build_object('enrolled', v_enrolled, 'skipped', v_skipped);
end
$$;
revoke all on function public.enroll_leads(uuid, uuid[], uuid) from public, anon;
grant execute on function public.enroll_leads(uuid, uuid[], uuid) to authenticated, service_role;

-- set_enrollment_state: pause, resume or stop enrollments, named by id or all open ones of a lead
-- (p_lead_id). pause: active → paused (reason p_reason, default member); resume: paused (not waiting for a
-- task) → active, its step due again at once (the handler plans it into the window); stop: active or paused →
-- stopped (reason p_reason, default member). p_on_reply limits the change to sequences with that on_reply
-- setting (the reply handler pauses where it says pause and stops where it says stop). Returns how many changed.
create or replace function public.set_enrollment_state(
  p_action text,
  p_enrollment_ids uuid[] default null,
  p_lead_id uuid default null,
  p_reason text default null,
  p_tenant_id uuid default null,
  p_on_reply text default null
) returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_tenant uuid := private.sequence_caller_tenant(p_tenant_id, 'set_enrollment_state');
  v_reason text := coalesce(nullif(btrim(p_reason), ''), 'member');
  v_changed integer;
begin
  if p_action is null or p_action not in ('pause', 'resume', 'stop') then
    raise exception 'set_enrollment_state.p_action: % is not an action; allowed: pause, resume, stop',
      coalesce(quote_literal(p_action), 'null') using errcode = '22023', column = 'p_action';
  end if;
  if (p_enrollment_ids is null) = (p_lead_id is null) then
    raise exception 'set_enrollment_state.p_enrollment_ids: give enrollment ids or a lead id (one of them)'
      using errcode = '22023', column = 'p_enrollment_ids';
  end if;
  if length(v_reason) > 100 then
    raise exception 'set_enrollment_state.p_reason: at most 100 characters' using errcode = '22023';
  end if;
  if p_action = 'pause' then
    update public.sequence_enrollments e
       set state = 'paused', pause_reason = v_reason, paused_at = now(), schedule_version = e.schedule_version + 1,
           updated_at = now()
     where e.tenant_id = v_tenant and e.state = 'active'
       and (e.id = any(p_enrollment_ids) or e.lead_id = p_lead_id)
       and (p_on_reply is null or exists (select 1 from public.sequences s where s.id = e.sequence_id
                                           and s.tenant_id = e.tenant_id and s.on_reply = p_on_reply));
    get diagnostics v_changed = row_count;
  elsif p_action = 'stop' then
    update public.sequence_enrollments e
       set state = 'stopped', stop_reason = v_reason, pause_reason = null, stopped_at = now(),
           schedule_version = e.schedule_version + 1, updated_at = now()
     where e.tenant_id = v_tenant and e.state in ('active', 'paused')
       and (e.id = any(p_enrollment_ids) or e.lead_id = p_lead_id)
       and (p_on_reply is null or exists (select 1 from public.sequences s where s.id = e.sequence_id
                                           and s.tenant_id = e.tenant_id and s.on_reply = p_on_reply));
    get diagnostics v_changed = row_count;
  else
    with resumed as (
      update public.sequence_enrollments e
         set state = 'active', pause_reason = null, paused_at = null, schedule_version = e.schedule_version + 1,
             next_due_at = greatest(now(), e.next_due_at), updated_at = now()
       where e.tenant_id = v_tenant and e.state = 'paused' and e.pause_reason <> 'task'
         and (e.id = any(p_enrollment_ids) or e.lead_id = p_lead_id)
       and (p_on_reply is null or exists (select 1 from public.sequences s where s.id = e.sequence_id
                                           and s.tenant_id = e.tenant_id and s.on_reply = p_on_reply))
      returning e.id, e.lead_id, e.sequence_id, e.current_step, e.schedule_version, e.next_due_at
    ), published as (
      insert into public.events (tenant_id, type, payload, ordering_key, source, run_after, max_attempts)
      select v_tenant, 'sequence.step_due',
             jsonb_build_object('enrollment_id', r.id, 'lead_id', r.lead_id, 'sequence_id', r.sequence_id,
                                'step', r.current_step, 'version', r.schedule_version),
             'sequence:' || r.id::text, 'db', r.next_due_at, 10
      from resumed r
      returning 1
    )
    select count(*)::integer into v_changed from published;
  end if;
  return v_changed;
end
$$;
revoke all on function public.set_enrollment_state(text, uuid[], uuid, text, uuid, text) from public, anon;
grant execute on function public.set_enrollment_state(text, uuid[], uuid, text, uuid, text) to authenticated, service_role;

-- complete_sequence_task: a member did the task step the enrollment waits for. The run becomes task_done and the
-- enrollment active again; the step handler then schedules the next step.
create or replace function public.complete_sequence_task(p_enrollment_id uuid, p_tenant_id uuid default null)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_tenant uuid := private.sequence_caller_tenant(p_tenant_id, 'complete_sequence_task');
  v_enrollment public.sequence_enrollments;
  v_run_id uuid;
begin
  select e.* into v_enrollment from public.sequence_enrollments e
  where e.id = p_enrollment_id and e.tenant_id = v_tenant for update;
  if not found then
    raise exception 'complete_sequence_task.p_enrollment_id: there is no enrollment % in your tenant', p_enrollment_id
      using errcode = '22023', column = 'p_enrollment_id';
  end if;
  update public.sequence_step_runs r
     set status = 'task_done', completed_by = auth.uid(), executed_at = now()
   where r.enrollment_id = p_enrollment_id and r.tenant_id = v_tenant and r.position = v_enrollment.current_step
     and r.status = 'task_open'
  returning r.id into v_run_id;
  if v_run_id is null or v_enrollment.state <> 'paused' or v_enrollment.pause_reason <> 'task' then
    raise exception 'complete_sequence_task.p_enrollment_id: enrollment % is not waiting for a task (it is %)',
      p_enrollment_id, v_enrollment.state using errcode = '23514', column = 'p_enrollment_id';
  end if;
  update public.sequence_enrollments e
     set state = 'active', pause_reason = null, paused_at = null, schedule_version = e.schedule_version + 1,
         next_due_at = now(), updated_at = now()
   where e.id = p_enrollment_id and e.tenant_id = v_tenant;
  perform private.emit_event(v_tenant, 'sequence.step_due',
    jsonb_build_object('enrollment_id', v_enrollment.id, 'lead_id', v_enrollment.lead_id,
                       'sequence_id', v_enrollment.sequence_id, 'step', v_enrollment.current_step,
                       'version', v_enrollment.schedule_version + 1),
    'sequence:' || v_enrollment.id::text, 'db', now(), null, null, 10);
  return jsonb_build_object('enrollment_id', v_enrollment.id, 'run_id', v_run_id, 'state', 'active');
end
$$;
revoke all on function public.complete_sequence_task(uuid, uuid) from public, anon;
grant execute on function public.complete_sequence_task(uuid, uuid) to authenticated, service_role;

-- preview_sequence_sends: the next planned step of each active enrollment of a sequence, soonest first, with the
-- moment in UTC and on the lead's clock. Runs as the caller (RLS: a member sees their own tenant's only).
create or replace function public.preview_sequence_sends(p_sequence_id uuid, p_limit integer default 50)
returns table (enrollment_id uuid, lead_id uuid, lead_name text, step integer, kind text, channel text,
               due_at timestamptz, time_zone text, local_due_at timestamp)
language sql stable
set search_path = ''
as $$
  select e.id, e.lead_id, l.name, e.current_step, st.kind, st.channel::text, e.next_due_at,
         coalesce(l.timezone, s.timezone), e.next_due_at at time zone coalesce(l.timezone, s.timezone)
  from public.sequence_enrollments e
  join public.sequences s on s.id = e.sequence_id and s.tenant_id = e.tenant_id
  join public.leads l on l.id = e.lead_id and l.tenant_id = e.tenant_id
  left join public.sequence_steps st
    on st.sequence_id = e.sequence_id and st.tenant_id = e.tenant_id and st.position = e.current_step
  where e.sequence_id = p_sequence_id and e.state = 'active'
  order by e.next_due_at nulls last, e.id
  limit least(greatest(coalesce(p_limit, 50), 1), 1000)
$$;
revoke all on function public.preview_sequence_sends(uuid, integer) from public, anon;
grant execute on function public.preview_sequence_sends(uuid, integer) to authenticated, service_role;

-- sequence_step_context (service code): everything the step handler decides on, in one round trip: the
-- enrollment, its sequence, the current and the next step, the lead, whether it opted out of anything, the
-- inbound messages since the step was scheduled (newest 20; the handler tells auto-replies apart), whether the
-- lead wrote (replied) or wrote or read a message (engaged) since enrolling, and the current step's run.
create or replace function public.sequence_step_context(p_tenant_id uuid, p_enrollment_id uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object(
    'enrollment', to_jsonb(e),
    'sequence', to_jsonb(s),
    'step', (select to_jsonb(st) from public.sequence_steps st
              where st.sequence_id = e.sequence_id and st.tenant_id = e.tenant_id and st.position = e.current_step),
    'next_step', (select to_jsonb(st) from public.sequence_steps st
                   where st.sequence_id = e.sequence_id and st.tenant_id = e.tenant_id and st.position > e.current_step
                   order by st.position limit 1),
    'lead', (select jsonb_build_object('id', l.id, 'name', l.name, 'email', l.email, 'phone', l.phone,
                                       'company', l.company, 'status', l.status, 'timezone', l.timezone,
                                       'locale', coalesce(l.locale, t.locale))
             from public.leads l join public.tenants t on t.id = l.tenant_id
             where l.id = e.lead_id and l.tenant_id = e.tenant_id),
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
                        where m.lead_id = e.lead_id and m.tenant_id = e.tenant_id and m.created_at >= e.enrolled_at
                          and (m.direction = 'in' or m.read_at is not null)),
    'run', (select to_jsonb(r) from public.sequence_step_runs r
             join public.sequence_steps st on st.id = r.step_id and st.tenant_id = r.tenant_id
             where r.enrollment_id = e.id and r.tenant_id = e.tenant_id and st.position = e.current_step
               and st.sequence_id = e.sequence_id))
  from public.sequence_enrollments e
  join public.sequences s on s.id = e.sequence_id and s.tenant_id = e.tenant_id
  where e.id = p_enrollment_id and e.tenant_id = p_tenant_id
$$;
revoke all on function public.sequence_step_context(uuid, uuid) from public, anon, authenticated;
grant execute on function public.sequence_step_context(uuid, uuid) to service_role;

-- sequence_claim_step (service code): take the run of a step, once per enrollment and step. A message step takes
-- a send slot of the day [p_day_start, p_day_end) under the caps (one advisory lock per tenant, so listeners
-- running side by side never pass a cap together); over a cap nothing is written and the outcome says which cap.
-- p_status claimed | skipped (p_skip_reason) | task_open. Returns {"outcome": claimed | exists | capped,
-- "cap": tenant | sender, "run": {...}}.
create or replace function public.sequence_claim_step(
  p_tenant_id uuid,
  p_enrollment_id uuid,
  p_step_id uuid,
  p_at timestamptz,
  p_status text default 'claimed',
  p_skip_reason text default null,
  p_day_start timestamptz default null,
  p_day_end timestamptz default null,
  p_cap_tenant integer default null,
  p_cap_sender integer default null,
  p_body text default null,
  p_ai_personalised boolean default false
) returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  v_enrollment public.sequence_enrollments;
  v_step public.sequence_steps;
  v_run public.sequence_step_runs;
  v_count bigint;
begin
  if p_status is null or p_status not in ('claimed', 'skipped', 'task_open') then
    raise exception 'sequence_claim_step.p_status: % is not allowed; allowed: claimed, skipped, task_open',
      coalesce(quote_literal(p_status), 'null') using errcode = '22023';
  end if;
  select e.* into v_enrollment from public.sequence_enrollments e
  where e.id = p_enrollment_id and e.tenant_id = p_tenant_id;
  select st.* into v_step from public.sequence_steps st where st.id = p_step_id and st.tenant_id = p_tenant_id;
  if v_enrollment.id is null or v_step.id is null then
    raise exception 'sequence_claim_step: no enrollment % with step % in tenant %', p_enrollment_id, p_step_id,
      p_tenant_id using errcode = 'P0002';
  end if;
  select r.* into v_run from public.sequence_step_runs r
  where r.enrollment_id = p_enrollment_id and r.tenant_id = p_tenant_id and r.step_id = p_step_id;
  if v_run.id is not null then
    return jsonb_build_object('outcome', 'exists', 'run', to_jsonb(v_run));
  end if;
  if p_status = 'claimed' and (p_cap_tenant is not null or p_cap_sender is not null) then
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('sequence caps ' || p_tenant_id::text, 0));
    if p_cap_tenant is not null then
      select count(*) into v_count from public.sequence_step_runs r
      where r.tenant_id = p_tenant_id and r.status in ('claimed', 'sent')
        and r.claimed_at >= p_day_start and r.claimed_at < p_day_end;
      if v_count >= p_cap_tenant then
        return jsonb_build_object('outcome', 'capped', 'cap', 'tenant', 'count', v_count);
      end if;
    end if;
    if p_cap_sender is not null then
      select count(*) into v_count from public.sequence_step_runs r
      where r.tenant_id = p_tenant_id and r.status in ('claimed', 'sent') and r.channel = v_step.channel
        and r.claimed_at >= p_day_start and r.claimed_at < p_day_end;
      if v_count >= p_cap_sender then
        return jsonb_build_object('outcome', 'capped', 'cap', 'sender', 'count', v_count);
      end if;
    end if;
  end if;
  insert into public.sequence_step_runs (tenant_id, enrollment_id, step_id, sequence_id, lead_id, position, kind,
                                         channel, status, skip_reason, body, ai_personalised, claimed_at, executed_at)
  values (p_tenant_id, p_enrollment_id, p_step_id, v_enrollment.sequence_id, v_enrollment.lead_id, v_step.position,
          v_step.kind, v_step.channel, p_status, case when p_status = 'skipped' then coalesce(p_skip_reason, 'skipped') end,
          p_body, coalesce(p_ai_personalised, false), coalesce(p_at, now()),
          case when p_status = 'skipped' then coalesce(p_at, now()) end)
  on conflict (enrollment_id, tenant_id, step_id) do nothing
  returning * into v_run;
  if v_run.id is null then
    select r.* into v_run from public.sequence_step_runs r
    where r.enrollment_id = p_enrollment_id and r.tenant_id = p_tenant_id and r.step_id = p_step_id;
    return jsonb_build_object('outcome', 'exists', 'run', to_jsonb(v_run));
  end if;
  return jsonb_build_object('outcome', 'claimed', 'run', to_jsonb(v_run));
end
$$;
revoke all on function public.sequence_claim_step(uuid, uuid, uuid, timestamptz, text, text, timestamptz, timestamptz,
  integer, integer, text, boolean) from public, anon, authenticated;
grant execute on function public.sequence_claim_step(uuid, uuid, uuid, timestamptz, text, text, timestamptz,
  timestamptz, integer, integer, text, boolean) to service_role;

-- sequence_finish_step (service code): a claimed run's message was queued: the run becomes sent with the message,
-- and sequence.step_executed is published in the same transaction (once: a run already sent is returned as is).
create or replace function public.sequence_finish_step(p_tenant_id uuid, p_run_id uuid, p_message_id uuid,
                                                       p_at timestamptz default null)
returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  v_run public.sequence_step_runs;
begin
  update public.sequence_step_runs r
     set status = 'sent', message_id = p_message_id, executed_at = coalesce(p_at, now())
   where r.id = p_run_id and r.tenant_id = p_tenant_id and r.status = 'claimed'
  returning * into v_run;
  if v_run.id is null then
    select r.* into v_run from public.sequence_step_runs r where r.id = p_run_id and r.tenant_id = p_tenant_id;
    return to_jsonb(v_run);
  end if;
  perform private.emit_event(p_tenant_id, 'sequence.step_executed',
    jsonb_build_object('enrollment_id', v_run.enrollment_id, 'lead_id', v_run.lead_id,
                       'sequence_id', v_run.sequence_id, 'step', v_run.position, 'channel', v_run.channel,
                       'ai_personalized', v_run.ai_personalised, 'message_id', v_run.message_id,
                       'run_id', v_run.id),
    v_run.lead_id::text, 'db', now(), null, null, 5);
  return to_jsonb(v_run);
end
$$;
revoke all on function public.sequence_finish_step(uuid, uuid, uuid, timestamptz) from public, anon, authenticated;
grant execute on function public.sequence_finish_step(uuid, uuid, uuid, timestamptz) to service_role;

-- sequence_schedule_step (service code): move an enrollment on, if its schedule is still p_expected_version.
-- p_state active: step p_position is due at p_due_at (its sequence.step_due runs after p_run_after_seconds);
-- completed: no step is left; paused / stopped: with p_reason (a task waits, a reply paused or stopped it).
-- Returns the new schedule version, or null when the schedule changed meanwhile (nothing is written).
create or replace function public.sequence_schedule_step(
  p_tenant_id uuid,
  p_enrollment_id uuid,
  p_expected_version integer,
  p_state text,
  p_position integer default null,
  p_due_at timestamptz default null,
  p_run_after_seconds double precision default 0,
  p_step_since timestamptz default null,
  p_reason text default null
) returns integer
language plpgsql volatile
set search_path = ''
as $$
declare
  v_enrollment public.sequence_enrollments;
begin
  if p_state is null or p_state not in ('active', 'completed', 'paused', 'stopped') then
    raise exception 'sequence_schedule_step.p_state: % is not allowed', coalesce(quote_literal(p_state), 'null')
      using errcode = '22023';
  end if;
  if p_state = 'active' and (p_position is null or p_due_at is null) then
    raise exception 'sequence_schedule_step: an active schedule needs p_position and p_due_at' using errcode = '22023';
  end if;
  update public.sequence_enrollments e
     set state = p_state,
         current_step = coalesce(p_position, e.current_step),
         next_due_at = case when p_state = 'active' then p_due_at else e.next_due_at end,
         step_since = coalesce(p_step_since, e.step_since),
         pause_reason = case when p_state = 'paused' then coalesce(p_reason, 'member') end,
         paused_at = case when p_state = 'paused' then now() end,
         stop_reason = case when p_state = 'stopped' then coalesce(p_reason, 'stopped') end,
         stopped_at = case when p_state = 'stopped' then now() else e.stopped_at end,
         completed_at = case when p_state = 'completed' then now() else e.completed_at end,
         schedule_version = e.schedule_version + 1,
         updated_at = now()
   where e.id = p_enrollment_id and e.tenant_id = p_tenant_id and e.schedule_version = p_expected_version
     and e.state in ('active', 'paused')
  returning e.* into v_enrollment;
  if v_enrollment.id is null then
    return null;
  end if;
  if p_state = 'active' then
    perform private.emit_event(p_tenant_id, 'sequence.step_due',
      jsonb_build_object('enrollment_id', v_enrollment.id, 'lead_id', v_enrollment.lead_id,
                         'sequence_id', v_enrollment.sequence_id, 'step', v_enrollment.current_step,
                         'version', v_enrollment.schedule_version),
      'sequence:' || v_enrollment.id::text, 'db',
      now() + make_interval(secs => greatest(coalesce(p_run_after_seconds, 0), 0)), null, null, 10);
  end if;
  return v_enrollment.schedule_version;
end
$$;
revoke all on function public.sequence_schedule_step(uuid, uuid, integer, text, integer, timestamptz,
  double precision, timestamptz, text) from public, anon, authenticated;
grant execute on function public.sequence_schedule_step(uuid, uuid, integer, text, integer, timestamptz,
  double precision, timestamptz, text) to service_role;

-- A sequence's status applies itself, whoever changes it (a member over PostgREST, the CLI): resuming a paused
-- sequence schedules its active enrollments' steps again (their events were ignored while it was paused);
-- archiving stops every open enrollment.
create or replace function private.sequences_apply_status() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.status = 'active' and old.status = 'paused' then
    with resumed as (
      update public.sequence_enrollments e
         set schedule_version = e.schedule_version + 1, next_due_at = greatest(now(), e.next_due_at),
             updated_at = now()
       where e.sequence_id = new.id and e.tenant_id = new.tenant_id and e.state = 'active'
      returning e.id, e.lead_id, e.current_step, e.schedule_version, e.next_due_at
    )
    insert into public.events (tenant_id, type, payload, ordering_key, source, run_after, max_attempts)
    select new.tenant_id, 'sequence.step_due',
           jsonb_build_object('enrollment_id', r.id, 'lead_id', r.lead_id, 'sequence_id', new.id,
                              'step', r.current_step, 'version', r.schedule_version),
           'sequence:' || r.id::text, 'db', r.next_due_at, 10
    from resumed r;
  elsif new.status = 'archived' then
    update public.sequence_enrollments e
       set state = 'stopped', stop_reason = 'sequence_archived', pause_reason = null, stopped_at = now(),
           schedule_version = e.schedule_version + 1, updated_at = now()
     where e.sequence_id = new.id and e.tenant_id = new.tenant_id and e.state in ('active', 'paused');
  end if;
  return null;
end
$$;
revoke all on function private.sequences_apply_status() from public, anon, authenticated;

drop trigger if exists sequences_apply_status on public.sequences;
create trigger sequences_apply_status after update of status on public.sequences
  for each row when (old.status is distinct from new.status) execute function private.sequences_apply_status();

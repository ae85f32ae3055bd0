-- A sequence or enrollment the caller's tenant does not have is bad input (SQLSTATE 22023, HTTP 400 naming the
-- argument), not P0002, which PostgREST answers with a 500. Same functions as in 20261202180300 otherwise.

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
    from (select distinct u.lead_id from unnest(p_lead_ids) as u(lead_id) where u.lead_id is not null) w
    left join public.leads l on l.id = w.lead_id and l.tenant_id = v_tenant
  ), enrolled as (
    insert into public.sequence_enrollments (tenant_id, sequence_id, lead_id, current_step, next_due_at, step_since,
                                             schedule_version)
    select v_tenant, p_sequence_id, c.lead_id, v_position, now() + v_delay, now(), 1
    from candidates c where c.reason is null
    on conflict (tenant_id, sequence_id, lead_id) where state in ('active', 'paused') do nothing
    returning id, lead_id, next_due_at
  ), published as (
    insert into public.events (tenant_id, type, payload, ordering_key, source, run_after, max_attempts)
    select v_tenant, 'sequence.step_due',
           jsonb_build_object('enrollment_id', e.id, 'lead_id', e.lead_id, 'sequence_id', p_sequence_id,
                              'step', v_position, 'version', 1),
           'sequence:' || e.id::text, 'db', e.next_due_at, 10
    from enrolled e
    returning 1
  )
  select (select count(*) from published),
         (select count(*) from candidates c where c.reason is null),
         (select coalesce(jsonb_object_agg(r.reason, r.n), '{}'::jsonb)
            from (select c.reason, count(*) as n from candidates c where c.reason is not null group by c.reason) r)
    into v_enrolled, v_eligible, v_skipped;
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

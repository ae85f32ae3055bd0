-- enroll_leads in slices of 10,000 ids, each two set-based statements: the enrollments, then their first
-- step_due events from the ids the insert returned. One statement over all 100,000 ids took minutes once the
-- tables had statistics (measured; the cause was not pinned down), slices of 10,000 take seconds in total.
-- Same behaviour otherwise; a lead named twice in different slices counts as already enrolled.

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

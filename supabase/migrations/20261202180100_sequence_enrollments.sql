-- Enrollments: a lead going through a sequence, and the runs of its steps.
--
-- sequence_enrollments
--   state          active | paused (pause_reason: member, reply, task) | completed | stopped (stop_reason:
--                  member, replied, opted_out, won, lost, sequence_archived, ...). One enrollment per lead and
--                  sequence that is active or paused (partial unique index); a finished one may be followed by
--                  a new enrollment.
--   current_step   the position of the step due next; next_due_at when it is planned (the engine's run_after
--                  of its sequence.step_due event); step_since when that step was scheduled (an inbound message
--                  after it stops the step).
--   schedule_version  raised whenever the schedule changes (pause, resume, stop, a step planned): a
--                  sequence.step_due event carries the version it was published for, and an older one is ignored.
-- sequence_step_runs: one per enrollment and step (unique), so a redelivered step_due event runs nothing twice.
--   status         claimed (a send slot is taken; the message is being queued) → sent (message_id) | skipped
--                  (skip_reason) | task_open → task_done. claimed_at is the scheduler's moment (caps count it).

create table if not exists public.sequence_enrollments (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  sequence_id uuid not null,
  lead_id uuid not null,
  state text not null default 'active',
  pause_reason text,
  stop_reason text,
  current_step integer not null default 1,
  next_due_at timestamptz,
  step_since timestamptz not null default now(),
  schedule_version integer not null default 1,
  enrolled_by uuid default auth.uid(),
  enrolled_at timestamptz not null default now(),
  paused_at timestamptz,
  completed_at timestamptz,
  stopped_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint sequence_enrollments_sequence_fk foreign key (sequence_id, tenant_id)
    references public.sequences (id, tenant_id) on delete cascade,
  constraint sequence_enrollments_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint sequence_enrollments_state_allowed check (state in ('active', 'paused', 'completed', 'stopped')),
  constraint sequence_enrollments_paused_has_reason check ((state = 'paused') = (pause_reason is not null)),
  constraint sequence_enrollments_stopped_has_reason check ((state = 'stopped') = (stop_reason is not null)),
  constraint sequence_enrollments_reason_length
    check (length(coalesce(pause_reason, '')) <= 100 and length(coalesce(stop_reason, '')) <= 100)
);

create unique index if not exists sequence_enrollments_id_tenant_key on public.sequence_enrollments (id, tenant_id);
create unique index if not exists sequence_enrollments_one_open_key
  on public.sequence_enrollments (tenant_id, sequence_id, lead_id) where state in ('active', 'paused');
create index if not exists sequence_enrollments_sequence_idx
  on public.sequence_enrollments (sequence_id, tenant_id, next_due_at);
create index if not exists sequence_enrollments_lead_idx on public.sequence_enrollments (lead_id, tenant_id)
  where state in ('active', 'paused');
create index if not exists sequence_enrollments_lead_all_idx on public.sequence_enrollments (lead_id, tenant_id);

drop trigger if exists a_row_keeps_its_tenant on public.sequence_enrollments;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.sequence_enrollments
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

create table if not exists public.sequence_step_runs (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  enrollment_id uuid not null,
  step_id uuid not null,
  sequence_id uuid not null,
  lead_id uuid not null,
  position integer not null,
  kind text not null,
  channel public.message_channel,
  status text not null,
  skip_reason text,
  body text,
  ai_personalised boolean not null default false,
  message_id uuid,
  completed_by uuid,
  claimed_at timestamptz not null default now(),
  executed_at timestamptz,
  created_at timestamptz not null default now(),
  constraint sequence_step_runs_enrollment_fk foreign key (enrollment_id, tenant_id)
    references public.sequence_enrollments (id, tenant_id) on delete cascade,
  constraint sequence_step_runs_step_fk foreign key (step_id, tenant_id)
    references public.sequence_steps (id, tenant_id) on delete cascade,
  constraint sequence_step_runs_message_fk foreign key (message_id, tenant_id)
    references public.messages (id, tenant_id) on delete set null (message_id),
  constraint sequence_step_runs_status_allowed
    check (status in ('claimed', 'sent', 'skipped', 'task_open', 'task_done')),
  constraint sequence_step_runs_skipped_has_reason check ((status = 'skipped') = (skip_reason is not null)),
  constraint sequence_step_runs_body_length check (body is null or length(body) <= 100000)
);

create unique index if not exists sequence_step_runs_enrollment_step_key
  on public.sequence_step_runs (enrollment_id, tenant_id, step_id);
create index if not exists sequence_step_runs_step_idx on public.sequence_step_runs (step_id, tenant_id);
create index if not exists sequence_step_runs_message_idx on public.sequence_step_runs (message_id, tenant_id)
  where message_id is not null;
-- Daily caps count a tenant's (and a channel's) send slots of a day.
create index if not exists sequence_step_runs_caps_idx on public.sequence_step_runs (tenant_id, claimed_at, channel)
  where status in ('claimed', 'sent');

drop trigger if exists a_row_keeps_its_tenant on public.sequence_step_runs;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.sequence_step_runs
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.sequence_enrollments enable row level security;
alter table public.sequence_step_runs enable row level security;

drop policy if exists "members read their tenant's enrollments" on public.sequence_enrollments;
create policy "members read their tenant's enrollments" on public.sequence_enrollments
  for select to authenticated using (tenant_id = (select private.tenant_id()));
drop policy if exists "members read their tenant's step runs" on public.sequence_step_runs;
create policy "members read their tenant's step runs" on public.sequence_step_runs
  for select to authenticated using (tenant_id = (select private.tenant_id()));

-- Members change enrollments through the RPCs only (enroll_leads, set_enrollment_state, complete_sequence_task):
-- the state, the schedule version and the due event change together.
revoke all on table public.sequence_enrollments, public.sequence_step_runs from anon, authenticated;
grant select on table public.sequence_enrollments, public.sequence_step_runs to authenticated;
grant all on table public.sequence_enrollments, public.sequence_step_runs to service_role;

-- Review tasks: a field the lead_extraction scenario read from an inbound message that no person has
-- confirmed yet. A task is made when the confidence is below the tenant's threshold
-- (tenants.extraction_confidence_threshold), when the value differs from what the lead already has (a
-- member's value is never overwritten silently), or when the email or phone belongs to another lead of the
-- tenant (matched_lead_id: possibly the same person on another channel; nothing is merged automatically).
--
-- status   pending → accepted (the proposed value is applied) | edited (the member's value is applied) |
--          discarded (nothing is applied). reviewed_by / reviewed_at say who decided and when.
-- Members read their tenant's tasks and decide them with public.review_lead_task (below), which applies the
-- value to the lead and records it as a fact in one transaction; tasks are written by service code only.
-- One task per message and field (unique), so a redelivered message.received makes no second task.

create table if not exists public.lead_review_tasks (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_id uuid not null,
  field text not null,
  proposed_value text not null,
  confidence numeric(4, 3) not null,
  current_value text,
  reason text not null,
  matched_lead_id uuid,
  source_message_id uuid,
  status text not null default 'pending',
  final_value text,
  reviewed_by uuid references auth.users (id) on delete set null,
  reviewed_at timestamptz,
  created_at timestamptz not null default now(),
  constraint lead_review_tasks_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint lead_review_tasks_matched_lead_fk foreign key (matched_lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete set null (matched_lead_id),
  constraint lead_review_tasks_source_message_fk foreign key (source_message_id, tenant_id)
    references public.messages (id, tenant_id) on delete set null (source_message_id),
  constraint lead_review_tasks_field_allowed check (field in ('name', 'email', 'phone', 'company')),
  constraint lead_review_tasks_reason_allowed
    check (reason in ('low_confidence', 'conflicts_with_lead', 'matches_other_lead')),
  constraint lead_review_tasks_status_allowed check (status in ('pending', 'accepted', 'edited', 'discarded')),
  constraint lead_review_tasks_confidence_range check (confidence between 0 and 1),
  constraint lead_review_tasks_value_length
    check (length(proposed_value) between 1 and 300 and (final_value is null or length(final_value) <= 300)),
  constraint lead_review_tasks_reviewed check ((status = 'pending') = (reviewed_at is null))
);

create unique index if not exists lead_review_tasks_message_field_key
  on public.lead_review_tasks (tenant_id, source_message_id, field);
create index if not exists lead_review_tasks_lead_idx on public.lead_review_tasks (lead_id, tenant_id);
create index if not exists lead_review_tasks_matched_lead_idx on public.lead_review_tasks (matched_lead_id, tenant_id)
  where matched_lead_id is not null;
create index if not exists lead_review_tasks_source_message_idx on public.lead_review_tasks (source_message_id, tenant_id)
  where source_message_id is not null;
create index if not exists lead_review_tasks_reviewed_by_idx on public.lead_review_tasks (reviewed_by)
  where reviewed_by is not null;
-- The review queue: a tenant's pending tasks, oldest first.
create index if not exists lead_review_tasks_pending_idx on public.lead_review_tasks (tenant_id, created_at)
  where status = 'pending';

drop trigger if exists a_row_keeps_its_tenant on public.lead_review_tasks;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.lead_review_tasks
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.lead_review_tasks enable row level security;

drop policy if exists "members read their tenant's lead review tasks" on public.lead_review_tasks;
create policy "members read their tenant's lead review tasks" on public.lead_review_tasks
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

-- Members decide tasks through review_lead_task only: the verdict, the lead's field and the fact change together.
revoke all on table public.lead_review_tasks from anon, authenticated;
grant select on table public.lead_review_tasks to authenticated;
grant all on table public.lead_review_tasks to service_role;

-- A member's verdict on a pending task of their tenant (the token's): accepted applies the proposed value to
-- the lead, edited applies p_value, discarded applies nothing. An applied value is recorded as a fact of origin
-- `member` (a person confirmed it), with the task's source message; the lead's previous fact for the field is
-- closed by the facts trigger. Returns the decided task.
create or replace function public.review_lead_task(p_task_id uuid, p_verdict text, p_value text default null)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_tenant uuid := private.tenant_id();
  v_task public.lead_review_tasks;
  v_value text;
begin
  if v_tenant is null then
    raise exception 'review_lead_task: only a signed-in member of a tenant reviews its tasks'
      using errcode = '42501';
  end if;
  if p_verdict is null or p_verdict not in ('accepted', 'edited', 'discarded') then
    raise exception 'review_lead_task.p_verdict: % is not a verdict; allowed: accepted, edited, discarded',
      coalesce(quote_literal(p_verdict), 'null')
      using errcode = '22023';
  end if;
  if p_verdict = 'edited' and coalesce(length(btrim(p_value)), 0) not between 1 and 300 then
    raise exception 'review_lead_task.p_value: an edited verdict needs the value to apply (1-300 characters)'
      using errcode = '22023';
  end if;
  if p_verdict <> 'edited' and p_value is not null then
    raise exception 'review_lead_task.p_value: only an edited verdict takes a value (% applies %)', p_verdict,
      case p_verdict when 'accepted' then 'the proposed value' else 'nothing' end
      using errcode = '22023';
  end if;

  select t.* into v_task from public.lead_review_tasks t
  where t.id = p_task_id and t.tenant_id = v_tenant
  for update;
  if not found then
    -- Another tenant's task reads as missing: its existence is none of the caller's business.
    raise exception 'review_lead_task.p_task_id: there is no review task % in your tenant', p_task_id
      using errcode = 'P0002';
  end if;
  if v_task.status <> 'pending' then
    raise exception 'review_lead_task.p_task_id: task % was already % at %', p_task_id, v_task.status,
      v_task.reviewed_at
      using errcode = '23514', hint = 'a review task is decided once';
  end if;

  if p_verdict <> 'discarded' then
    v_value := case p_verdict when 'accepted' then v_task.proposed_value else btrim(p_value) end;
    begin
      update public.leads l
      set name = case v_task.field when 'name' then v_value else l.name end,
          email = case v_task.field when 'email' then v_value else l.email end,
          phone = case v_task.field when 'phone' then v_value else l.phone end,
          company = case v_task.field when 'company' then v_value else l.company end
      where l.id = v_task.lead_id and l.tenant_id = v_tenant;
    exception when unique_violation then
      raise exception 'review_lead_task.p_value: another lead of your tenant already has the % %', v_task.field,
        quote_literal(v_value)
        using errcode = '23505', hint = 'discard the task, or edit it to a value of this lead''s own';
    end;
    insert into public.lead_facts (tenant_id, lead_id, key, value, confidence, origin, source_message_id)
    values (v_tenant, v_task.lead_id, v_task.field, to_jsonb(v_value), 1, 'member', v_task.source_message_id);
  end if;

  update public.lead_review_tasks t
  set status = p_verdict, final_value = v_value, reviewed_by = auth.uid(), reviewed_at = now()
  where t.id = v_task.id
  returning t.* into v_task;
  return to_jsonb(v_task);
end
$$;

revoke all on function public.review_lead_task(uuid, text, text) from public, anon;
grant execute on function public.review_lead_task(uuid, text, text) to authenticated, service_role;

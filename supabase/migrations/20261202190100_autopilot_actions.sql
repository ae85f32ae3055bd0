-- Autopilot actions: what the autopilot did about one inbound message (the trigger message; one action per
-- message, so a redelivered message.received drafts nothing new), and what became of it.
--
-- scenario, prompt_version   the AI scenario and prompt version that wrote the draft (feedback per version:
--                            the status, edit_distance and reviewer of the rows with that version)
-- draft                      the AI's text; final_text what was sent (the draft, or a member's edit)
-- confidence, reasons        the autopilot's confidence (0-1) and why it acted as it did
-- guards                     the guards that tripped (first_contact, sensitive_topic, objection,
--                            negative_sentiment, ai_failure, low_confidence, lead_cap, tenant_cap,
--                            quiet_hours, mode): any of them means a person decides
-- cost_usd, latency_ms       what the AI call cost and how long drafting took
-- status  drafted (auto mode, being sent) | queued_for_approval → approved | edited | rejected | expired;
--         approved, edited or drafted → sent (the message is queued for the send job: message_id);
--         failed (the AI failed; nothing is sent)
-- expires_at                 a draft not decided by then never sends (checked by autopilot_decide and by a
--                            trigger on messages: an autopilot message is only queued for a live action)
-- verdict                    a member's decision (approved | edited | rejected), kept after the action is sent
-- reviewed_by, reviewed_at   the member who decided; edit_distance the Levenshtein distance of an edit.
-- Members read their tenant's actions and decide them through public.autopilot_decide only.

create table if not exists public.autopilot_actions (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_id uuid not null,
  conversation_id uuid not null,
  trigger_message_id uuid,
  channel public.message_channel not null,
  mode text not null,
  action text not null default 'reply',
  scenario text not null,
  prompt_version integer,
  draft text,
  final_text text,
  confidence numeric(4, 3),
  reasons text[] not null default '{}'::text[],
  guards text[] not null default '{}'::text[],
  cost_usd numeric(12, 6) not null default 0,
  latency_ms integer,
  status text not null,
  error text,
  expires_at timestamptz not null,
  verdict text,
  reviewed_by uuid references auth.users (id) on delete set null,
  reviewed_at timestamptz,
  edit_distance integer,
  message_id uuid,
  executed_at timestamptz,
  created_at timestamptz not null default now(),
  constraint autopilot_actions_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint autopilot_actions_conversation_fk foreign key (conversation_id, tenant_id)
    references public.conversations (id, tenant_id) on delete cascade,
  constraint autopilot_actions_trigger_message_fk foreign key (trigger_message_id, tenant_id)
    references public.messages (id, tenant_id) on delete set null (trigger_message_id),
  constraint autopilot_actions_message_fk foreign key (message_id, tenant_id)
    references public.messages (id, tenant_id) on delete set null (message_id),
  constraint autopilot_actions_mode_allowed check (mode in ('assist', 'one_click', 'auto')),
  constraint autopilot_actions_action_allowed check (action in ('reply', 'next_best_action')),
  constraint autopilot_actions_status_allowed check (status in (
    'drafted', 'queued_for_approval', 'approved', 'edited', 'rejected', 'sent', 'expired', 'failed')),
  constraint autopilot_actions_verdict_allowed check (verdict is null or verdict in ('approved', 'edited', 'rejected')),
  constraint autopilot_actions_confidence_range check (confidence is null or confidence between 0 and 1),
  constraint autopilot_actions_draft_length check (draft is null or length(draft) between 1 and 4000),
  constraint autopilot_actions_final_length check (final_text is null or length(final_text) between 1 and 4000),
  constraint autopilot_actions_failed_has_error check ((status = 'failed') = (error is not null)),
  constraint autopilot_actions_sent_has_message check ((status = 'sent') = (message_id is not null))
);

create unique index if not exists autopilot_actions_trigger_message_key
  on public.autopilot_actions (tenant_id, trigger_message_id);
create index if not exists autopilot_actions_lead_idx on public.autopilot_actions (lead_id, tenant_id, created_at);
create index if not exists autopilot_actions_conversation_idx on public.autopilot_actions (conversation_id, tenant_id);
create index if not exists autopilot_actions_trigger_message_idx
  on public.autopilot_actions (trigger_message_id, tenant_id) where trigger_message_id is not null;
create index if not exists autopilot_actions_message_idx on public.autopilot_actions (message_id, tenant_id)
  where message_id is not null;
create index if not exists autopilot_actions_reviewed_by_idx on public.autopilot_actions (reviewed_by)
  where reviewed_by is not null;
-- The approval queue (oldest first) and the caps (automatic sends in the last 24 hours).
create index if not exists autopilot_actions_queue_idx on public.autopilot_actions (tenant_id, created_at)
  where status = 'queued_for_approval';
create index if not exists autopilot_actions_auto_sent_idx on public.autopilot_actions (tenant_id, executed_at)
  where status = 'sent' and verdict is null;

drop trigger if exists a_row_keeps_its_tenant on public.autopilot_actions;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.autopilot_actions
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.autopilot_actions enable row level security;

drop policy if exists "members read their tenant's autopilot actions" on public.autopilot_actions;
create policy "members read their tenant's autopilot actions" on public.autopilot_actions
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

revoke all on table public.autopilot_actions from anon, authenticated;
grant select on table public.autopilot_actions to authenticated;
grant all on table public.autopilot_actions to service_role;

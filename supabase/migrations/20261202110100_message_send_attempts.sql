-- What the send job did with a message, attempt by attempt, so a crash inside the provider call is never
-- answered by a blind second send (effect-once sending, docs/channels.md).
--
-- An attempt row is written (outcome null: "in the provider's hands") and committed before the provider is
-- called, together with the message's move to `sending`. Its outcome is recorded when the call returns:
--   accepted    the provider took it (the message is `sent` with the provider's id)
--   refused     the provider answered that it did not take it now (429, 503): a later attempt may send it
--   rejected    the provider (or the job's own check) refused it for good: the message `failed`
--   not_found   after a crash, the provider's look-up says it never took it: a later attempt may send it
--   unanswered  after a crash or a timeout, nobody can tell: the message is `unknown`, for a person
-- An attempt still without an outcome when a job runs again is in doubt: it is reconciled, never re-sent.
--
-- messages.provider_detail: what the provider reported with its accept (SMS segments, the outbox adapter's
-- rendered request), for people and analytics.
--
-- In `private`: only service code reads or writes attempts; members see the outcome on the message
-- (status, error_code, error_message).

alter table public.messages add column if not exists provider_detail jsonb;
do $$
begin
  if not exists (select 1 from pg_catalog.pg_constraint
                 where conrelid = 'public.messages'::regclass and conname = 'messages_provider_detail_object') then
    alter table public.messages add constraint messages_provider_detail_object
      check (provider_detail is null or jsonb_typeof(provider_detail) = 'object');
  end if;
end
$$;

create table if not exists private.message_send_attempts (
  message_id uuid not null,
  tenant_id uuid not null,
  attempt integer not null,
  event_id uuid,
  started_at timestamptz not null default now(),
  outcome text,
  error_code text,
  error_message text,
  finished_at timestamptz,
  constraint message_send_attempts_pkey primary key (message_id, attempt),
  constraint message_send_attempts_message_fk foreign key (message_id, tenant_id)
    references public.messages (id, tenant_id) on delete cascade,
  constraint message_send_attempts_attempt_positive check (attempt >= 1),
  constraint message_send_attempts_outcome_allowed
    check (outcome in ('accepted', 'refused', 'rejected', 'not_found', 'unanswered')),
  constraint message_send_attempts_finished_with_outcome check ((outcome is null) = (finished_at is null)),
  constraint message_send_attempts_error_length
    check (length(error_code) <= 200 and length(error_message) <= 2000)
);
create index if not exists message_send_attempts_message_tenant_idx
  on private.message_send_attempts (message_id, tenant_id);
-- The stalled-send sweep looks for attempts still open.
create index if not exists message_send_attempts_open_idx
  on private.message_send_attempts (started_at) where outcome is null;

drop trigger if exists a_row_keeps_its_tenant on private.message_send_attempts;
create trigger a_row_keeps_its_tenant before update of tenant_id on private.message_send_attempts
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

-- Defence in depth, as for private.channel_credentials: no grant to members, and RLS without a policy.
alter table private.message_send_attempts enable row level security;
revoke all on table private.message_send_attempts from public, anon, authenticated;
grant select, insert, update, delete on table private.message_send_attempts to service_role;

comment on table private.message_send_attempts is
  'The send job''s attempts per outbound message (outcome null while in the provider''s hands). service_role only.';

-- Identity stitching at ingest, recorded and reversible.
--
-- An inbound message from an address without an identity on its channel is matched against the tenant's
-- other knowledge of that person before a new lead is made (Zero-Input): the same phone number on the other
-- phone channel (whatsapp <-> sms), or a lead whose phone / whatsapp / email field holds it. Such a match
-- attaches a new identity to an existing lead; a wrong match (two people sharing a family phone) must be
-- undoable, so every match is one row here: which identity was linked to which lead, on what it matched,
-- by whom (ingest, extraction, a member), and, once undone, when, by whom and where the identity went.
-- Rows carry no address (the identity has it), so erasing a lead's personal data needs nothing here.
--
-- conversation_id  the conversation the link started (it holds only this identity's messages, so an undo
--                  takes it along); null when the lead already had one on that channel.
-- previous_lead_id the lead the identity belonged to before (a later re-link); null when linked at ingest.
--
-- Also: channel_identities.display_name (the provider's profile name, for the inbox and for naming the lead
-- an undo creates), (id, tenant_id) unique on identities for the composite key, and private.phone_key(), the
-- E.164 form of a lead's free-form phone field, indexed, so matching a number is an index lookup.

alter table public.channel_identities add column if not exists display_name text;
alter table public.channel_identities drop constraint if exists channel_identities_display_name_length;
alter table public.channel_identities add constraint channel_identities_display_name_length
  check (display_name is null or length(display_name) <= 300);
create unique index if not exists channel_identities_id_tenant_key on public.channel_identities (id, tenant_id);

-- A lead's phone as written by a person ("+49 151 2345678", "0049-151-2345678") in E.164, or null when it
-- is not in international form (a national number needs a region that a lead row does not carry).
create or replace function private.phone_key(p_phone text)
returns text
language sql immutable
set search_path = ''
as $$
  select case
    when d ~ '^\+[1-9][0-9]{6,14}$' then d
    when d ~ '^00[1-9][0-9]{6,14}$' then '+' || substr(d, 3)
  end
  from (select regexp_replace(p_phone, '[^0-9+]', '', 'g') as d) x
$$;
comment on function private.phone_key(text) is
  'E.164 form of a free-form international phone number (+ or 00 prefix, separators dropped); null otherwise.';
revoke all on function private.phone_key(text) from public, anon;
grant execute on function private.phone_key(text) to authenticated, service_role;

create index if not exists leads_phone_key_idx on public.leads (tenant_id, private.phone_key(phone))
  where phone is not null;
create index if not exists leads_whatsapp_key_idx on public.leads (tenant_id, private.phone_key(whatsapp))
  where whatsapp is not null;

create table if not exists public.identity_links (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  identity_id uuid not null,
  lead_id uuid not null,
  previous_lead_id uuid,
  conversation_id uuid,
  matched_on text not null,
  linked_by text not null,
  linked_by_user_id uuid default auth.uid() references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  undone_at timestamptz,
  undone_by_user_id uuid references auth.users (id) on delete set null,
  undone_to_lead_id uuid,
  constraint identity_links_identity_fk foreign key (identity_id, tenant_id)
    references public.channel_identities (id, tenant_id) on delete cascade,
  constraint identity_links_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint identity_links_previous_lead_fk foreign key (previous_lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete set null (previous_lead_id),
  constraint identity_links_undone_to_lead_fk foreign key (undone_to_lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete set null (undone_to_lead_id),
  constraint identity_links_conversation_fk foreign key (conversation_id, tenant_id)
    references public.conversations (id, tenant_id) on delete set null (conversation_id),
  constraint identity_links_matched_on_allowed check (matched_on in ('phone', 'email', 'extraction', 'member')),
  constraint identity_links_linked_by_allowed check (linked_by in ('ingest', 'extraction', 'member')),
  constraint identity_links_undone_together check ((undone_at is null) = (undone_to_lead_id is null))
);

create index if not exists identity_links_tenant_idx on public.identity_links (tenant_id, created_at desc);
create index if not exists identity_links_identity_idx on public.identity_links (identity_id, tenant_id);
create index if not exists identity_links_lead_idx on public.identity_links (lead_id, tenant_id);
create index if not exists identity_links_previous_lead_idx on public.identity_links (previous_lead_id, tenant_id)
  where previous_lead_id is not null;
create index if not exists identity_links_undone_to_lead_idx on public.identity_links (undone_to_lead_id, tenant_id)
  where undone_to_lead_id is not null;
create index if not exists identity_links_conversation_idx on public.identity_links (conversation_id, tenant_id)
  where conversation_id is not null;
create index if not exists identity_links_linked_by_user_idx on public.identity_links (linked_by_user_id)
  where linked_by_user_id is not null;
create index if not exists identity_links_undone_by_user_idx on public.identity_links (undone_by_user_id)
  where undone_by_user_id is not null;

drop trigger if exists a_row_keeps_its_tenant on public.identity_links;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.identity_links
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.identity_links enable row level security;

-- Members read their tenant's links; links are written by ingest and undone through
-- public.undo_identity_link() (which records who undid it), never edited by hand.
drop policy if exists "members read their tenant's identity links" on public.identity_links;
create policy "members read their tenant's identity links" on public.identity_links
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

revoke all on table public.identity_links from anon, authenticated;
grant select on table public.identity_links to authenticated;
grant all on table public.identity_links to service_role;

comment on table public.identity_links is
  'Each time an identity was attached to an existing lead because its phone or email matched: recorded, and '
  'reversible with public.undo_identity_link().';

-- How likely an open deal at each pipeline status is to close won, per tenant: the weights of the weighted
-- pipeline (public.analytics_metrics, docs/analytics.md "Sales metrics"). Every tenant starts with the defaults
-- below (seeded for the tenants there are and, by trigger, for each new one); owners and admins edit them,
-- members read them. A status without a row weighs its default.

create table if not exists public.analytics_stage_probabilities (
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  status text not null,
  probability numeric(5, 4) not null,
  updated_at timestamptz not null default now(),
  constraint analytics_stage_probabilities_pkey primary key (tenant_id, status),
  constraint analytics_stage_probabilities_status_allowed
    check (status in ('new', 'contacted', 'qualified', 'proposal', 'negotiation')),
  constraint analytics_stage_probabilities_probability_range check (probability between 0 and 1)
);

-- The defaults (also the weight of a status whose row was deleted).
create or replace function private.analytics_default_stage_probability(p_status text) returns numeric
language sql immutable
set search_path = ''
as $$
  select case p_status
    when 'new' then 0.05 when 'contacted' then 0.10 when 'qualified' then 0.25 when 'proposal' then 0.50
    when 'negotiation' then 0.75
  end::numeric
$$;

create or replace function private.analytics_seed_stage_probabilities() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into public.analytics_stage_probabilities (tenant_id, status, probability)
  select new.id, s, private.analytics_default_stage_probability(s)
  from unnest(array['new', 'contacted', 'qualified', 'proposal', 'negotiation']) s
  on conflict do nothing;
  return null;
end
$$;

drop trigger if exists analytics_seed_stage_probabilities on public.tenants;
create trigger analytics_seed_stage_probabilities after insert on public.tenants
  for each row execute function private.analytics_seed_stage_probabilities();

insert into public.analytics_stage_probabilities (tenant_id, status, probability)
select t.id, s, private.analytics_default_stage_probability(s)
from public.tenants t, unnest(array['new', 'contacted', 'qualified', 'proposal', 'negotiation']) s
on conflict do nothing;

create or replace function private.analytics_stage_probability_touched() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

drop trigger if exists analytics_stage_probability_touched on public.analytics_stage_probabilities;
create trigger analytics_stage_probability_touched before update on public.analytics_stage_probabilities
  for each row execute function private.analytics_stage_probability_touched();

drop trigger if exists a_row_keeps_its_tenant on public.analytics_stage_probabilities;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.analytics_stage_probabilities
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.analytics_stage_probabilities enable row level security;

drop policy if exists "members read their tenant's stage probabilities" on public.analytics_stage_probabilities;
create policy "members read their tenant's stage probabilities" on public.analytics_stage_probabilities
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "owners and admins add stage probabilities" on public.analytics_stage_probabilities;
create policy "owners and admins add stage probabilities" on public.analytics_stage_probabilities
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins change stage probabilities" on public.analytics_stage_probabilities;
create policy "owners and admins change stage probabilities" on public.analytics_stage_probabilities
  for update to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'))
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins remove stage probabilities" on public.analytics_stage_probabilities;
create policy "owners and admins remove stage probabilities" on public.analytics_stage_probabilities
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

revoke all on table public.analytics_stage_probabilities from anon, authenticated;
grant select, insert, update, delete on table public.analytics_stage_probabilities to authenticated;
grant all on table public.analytics_stage_probabilities to service_role;

revoke all on function private.analytics_seed_stage_probabilities(), private.analytics_stage_probability_touched()
  from public, anon, authenticated;
revoke all on function private.analytics_default_stage_probability(text) from public, anon;
grant execute on function private.analytics_default_stage_probability(text) to authenticated, service_role;

comment on table public.analytics_stage_probabilities is
  'Per tenant: the chance an open deal at a status closes won (weighted pipeline). Owners and admins edit it.';

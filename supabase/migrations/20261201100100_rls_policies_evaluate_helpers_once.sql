-- RLS policies call the tenant helpers once per statement, not once per row.
--
-- `tenant_id = private.tenant_id()` runs the helper (a security-definer lookup of the membership) for every
-- row the policy looks at. Written `tenant_id = (select private.tenant_id())`, the planner evaluates it once as
-- an initPlan and compares each row with the result, which can also use an index on tenant_id (the reasoning
-- of the Supabase linter's `auth_rls_initplan`). Same names, same meaning; only the evaluation changes.
--
-- And one permissive policy per role and action (Supabase's advisor, `multiple_permissive_policies`): the
-- FOR ALL policies on ai_budgets and ai_prompt_labels sat next to a SELECT policy, so every member's read
-- evaluated both. They become one policy for each of insert, update and delete.

-- tenants
drop policy if exists "members read their tenant" on public.tenants;
create policy "members read their tenant" on public.tenants
  for select to authenticated
  using (id = (select private.tenant_id()));

drop policy if exists "owners and admins rename their tenant" on public.tenants;
create policy "owners and admins rename their tenant" on public.tenants
  for update to authenticated
  using (id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'))
  with check (id = (select private.tenant_id()));

-- tenant_members (who may grant which role is checked by a trigger, 20261201100200_tenant_member_roles.sql)
drop policy if exists "members read their tenant's memberships" on public.tenant_members;
create policy "members read their tenant's memberships" on public.tenant_members
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "owners and admins add members to their tenant" on public.tenant_members;
create policy "owners and admins add members to their tenant" on public.tenant_members
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins change members of their tenant" on public.tenant_members;
create policy "owners and admins change members of their tenant" on public.tenant_members
  for update to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'))
  with check (tenant_id = (select private.tenant_id()));

drop policy if exists "owners and admins remove members of their tenant" on public.tenant_members;
create policy "owners and admins remove members of their tenant" on public.tenant_members
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

-- events, event_deliveries
drop policy if exists "members read their tenant's events" on public.events;
create policy "members read their tenant's events" on public.events
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "members read their tenant's deliveries" on public.event_deliveries;
create policy "members read their tenant's deliveries" on public.event_deliveries
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

-- leads
drop policy if exists "members read their tenant's leads" on public.leads;
create policy "members read their tenant's leads" on public.leads
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "members add leads to their tenant" on public.leads;
create policy "members add leads to their tenant" on public.leads
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()));

drop policy if exists "members change their tenant's leads" on public.leads;
create policy "members change their tenant's leads" on public.leads
  for update to authenticated
  using (tenant_id = (select private.tenant_id()))
  with check (tenant_id = (select private.tenant_id()));

drop policy if exists "members delete their tenant's leads" on public.leads;
create policy "members delete their tenant's leads" on public.leads
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()));

-- analytics_events
drop policy if exists "members read their tenant's analytics events" on public.analytics_events;
create policy "members read their tenant's analytics events" on public.analytics_events
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

-- ai_prompts
drop policy if exists "members read global prompts and their tenant's own" on public.ai_prompts;
create policy "members read global prompts and their tenant's own" on public.ai_prompts
  for select to authenticated
  using (tenant_id is null or tenant_id = (select private.tenant_id()));

drop policy if exists "owners and admins add their tenant's prompt versions" on public.ai_prompts;
create policy "owners and admins add their tenant's prompt versions" on public.ai_prompts
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

-- ai_prompt_labels: one policy per action (was FOR ALL next to the SELECT policy)
drop policy if exists "members read labels of global prompts and their tenant's own" on public.ai_prompt_labels;
create policy "members read labels of global prompts and their tenant's own" on public.ai_prompt_labels
  for select to authenticated
  using (tenant_id is null or tenant_id = (select private.tenant_id()));

drop policy if exists "owners and admins move their tenant's prompt labels" on public.ai_prompt_labels;
drop policy if exists "owners and admins set their tenant's prompt labels" on public.ai_prompt_labels;
create policy "owners and admins set their tenant's prompt labels" on public.ai_prompt_labels
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

create policy "owners and admins move their tenant's prompt labels" on public.ai_prompt_labels
  for update to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'))
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins remove their tenant's prompt labels" on public.ai_prompt_labels;
create policy "owners and admins remove their tenant's prompt labels" on public.ai_prompt_labels
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

-- ai_usage, ai_budget_periods, ai_budget_reservations
drop policy if exists "members read their tenant's AI usage" on public.ai_usage;
create policy "members read their tenant's AI usage" on public.ai_usage
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "members read their tenant's AI spending" on public.ai_budget_periods;
create policy "members read their tenant's AI spending" on public.ai_budget_periods
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "members read their tenant's AI reservations" on public.ai_budget_reservations;
create policy "members read their tenant's AI reservations" on public.ai_budget_reservations
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

-- ai_budgets: one policy per action (was FOR ALL next to the SELECT policy)
drop policy if exists "members read their tenant's AI budgets" on public.ai_budgets;
create policy "members read their tenant's AI budgets" on public.ai_budgets
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "owners and admins set their tenant's AI budgets" on public.ai_budgets;
create policy "owners and admins set their tenant's AI budgets" on public.ai_budgets
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins change their tenant's AI budgets" on public.ai_budgets;
create policy "owners and admins change their tenant's AI budgets" on public.ai_budgets
  for update to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'))
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins remove their tenant's AI budgets" on public.ai_budgets;
create policy "owners and admins remove their tenant's AI budgets" on public.ai_budgets
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

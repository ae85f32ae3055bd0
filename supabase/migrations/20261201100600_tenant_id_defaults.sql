-- Every tenant table defaults tenant_id to the caller's tenant (DESIGN.md principle 4, as the README says).
--
-- Only leads and analytics_events had the default; on the others a member writing through PostgREST had to
-- send the tenant id themselves (RLS then checked it). With the default the browser never names a tenant,
-- which is the point: the tenant comes from the token. Service code (no tenant claim) gets NULL from
-- private.tenant_id(), so it must still name the tenant, and does. Nullable tenant_id columns (global prompts
-- and labels) default to the caller's tenant too: a tenant admin's new row is their tenant's, never global.
-- supabase/tests/008_policy_shape.sql checks every public table with a tenant_id column.

alter table public.tenant_members alter column tenant_id set default private.tenant_id();
alter table public.events alter column tenant_id set default private.tenant_id();
alter table public.event_deliveries alter column tenant_id set default private.tenant_id();
alter table public.ai_prompts alter column tenant_id set default private.tenant_id();
alter table public.ai_prompt_labels alter column tenant_id set default private.tenant_id();
alter table public.ai_usage alter column tenant_id set default private.tenant_id();
alter table public.ai_budgets alter column tenant_id set default private.tenant_id();
alter table public.ai_budget_periods alter column tenant_id set default private.tenant_id();
alter table public.ai_budget_reservations alter column tenant_id set default private.tenant_id();

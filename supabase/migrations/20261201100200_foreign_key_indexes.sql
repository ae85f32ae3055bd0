-- Every foreign key has an index on its referencing columns (Supabase's advisor, `unindexed_foreign_keys`).
-- Without one, deleting a user (leads.owner_id ... on delete set null) or a tenant (ai_prompt_labels ... on
-- delete cascade) scans the whole referencing table once per deleted row, holding its locks meanwhile; and
-- "my leads" (owner_id = auth.uid()) is the sales rep's everyday filter.
create index if not exists leads_owner_idx on public.leads (owner_id);
create index if not exists ai_prompt_labels_tenant_idx on public.ai_prompt_labels (tenant_id);

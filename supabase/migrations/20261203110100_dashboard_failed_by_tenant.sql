-- The Events view's failed count and failed list per tenant: a partial index of failed events by tenant.
-- events_failed_at_idx has every tenant's failed events in one line, so a tenant's count read the heap row
-- of each (3,000 pages with 3,003 failed events of 1,000,000: three quarters of the summary's reads) and its
-- list skipped other tenants' rows. This one holds only failed events: the engine touches it when an event
-- fails (rare) and not on claims or finishes of the others (a partial index gets no entry for a row outside
-- its predicate), so the drain does not pay for it.
create index if not exists events_failed_tenant_idx on public.events (tenant_id, failed_at desc)
  where status = 'failed';

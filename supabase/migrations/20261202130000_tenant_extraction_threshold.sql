-- How sure the lead_extraction scenario must be before a field it read from an inbound message is applied to
-- the lead without a person looking at it (issue 10, Zero-Input). At or above the threshold a field is applied
-- (to an empty field only) and recorded as a fact; below it a review task waits for a member
-- (20261202130100_lead_review_tasks.sql). Per tenant, 0.8 unless an owner or admin changes it (the tenants
-- update policy already limits updates to them).

alter table public.tenants add column if not exists extraction_confidence_threshold numeric(3, 2) not null default 0.8;

alter table public.tenants drop constraint if exists tenants_extraction_confidence_threshold_range;
alter table public.tenants add constraint tenants_extraction_confidence_threshold_range
  check (extraction_confidence_threshold between 0 and 1);

comment on column public.tenants.extraction_confidence_threshold is
  'Extracted lead fields at or above this confidence are applied; below it they wait as lead_review_tasks.';

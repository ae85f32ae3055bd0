-- What the API roles may do, beyond what row-level security decides.
--
-- Supabase's default privileges (and the local bootstrap, which copies them) grant ALL on every new table in
-- `public` to anon, authenticated and service_role. Three of those bypass or sidestep RLS:
--   TRUNCATE   empties a table without looking at a single policy (a member could wipe every tenant's leads);
--   REFERENCES lets a role point a foreign key at a table, probing which keys exist;
--   TRIGGER    lets a role attach triggers.
-- A browser user needs none of them, and anon needs nothing at all: every table is for signed-in members.
-- The privilege matrix in supabase/tests/006_privileges.sql states the result table by table.

-- Existing tables and sequences.
revoke all on all tables in schema public from anon;
revoke truncate, references, trigger on all tables in schema public from authenticated;
-- Members never insert into a table with a sequence (events.seq is service-only); setval() through UPDATE on a
-- sequence would let them reorder the outbox.
revoke all on all sequences in schema public from anon, authenticated;
revoke execute on all functions in schema public from anon;

-- New tables start without them. ALTER DEFAULT PRIVILEGES without FOR ROLE applies to the role running the
-- migrations, which is the role that creates the tables (postgres on Supabase and locally).
alter default privileges in schema public revoke all on tables from anon;
alter default privileges in schema public revoke truncate, references, trigger on tables from authenticated;
alter default privileges in schema public revoke all on sequences from anon;
alter default privileges in schema public revoke update on sequences from authenticated;
alter default privileges in schema public revoke execute on functions from anon;

-- The `private` helpers are for policies, triggers and service code. Functions get EXECUTE for PUBLIC when
-- they are created, so anon could call the security-definer helpers (tenant_id(), tenant_role(), the
-- publishing trigger): take EXECUTE from PUBLIC and anon on all of them and grant it back where a role needs it.
revoke execute on all functions in schema private from public, anon;
-- Policies (evaluated as the caller) and the leads trigger (security invoker) call these as members.
grant execute on function private.jwt_claims(), private.tenant_id(), private.tenant_role()
  to authenticated, service_role;
grant execute on function private.lead_status_transition_allowed(text, text) to authenticated, service_role;
-- anon evaluates no policy and writes no table, so it needs nothing in `private`.
revoke usage on schema private from anon;

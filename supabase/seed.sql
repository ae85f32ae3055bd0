-- Demo data: two tenants, users with the known dev password `salesflow-dev`, a dozen leads.
-- Fixed ids so tests, docs and the demo can name them. Idempotent: re-seeding changes nothing.
-- The hash is bcrypt ($2a$, cost 10), the format Supabase Auth stores.

insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data)
values
  ('a0000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'anna@acme.test',
   '$2a$10$SmZNNFpmiS7Db.V4ftpOSuY0wQeGn6WHy0Bz/e5KqithPEiFT6TTW', now(),
   '{"provider": "email", "providers": ["email"]}', '{"full_name": "Anna Acme"}'),
  ('a0000000-0000-4000-8000-000000000002', 'authenticated', 'authenticated', 'ben@acme.test',
   '$2a$10$SmZNNFpmiS7Db.V4ftpOSuY0wQeGn6WHy0Bz/e5KqithPEiFT6TTW', now(),
   '{"provider": "email", "providers": ["email"]}', '{"full_name": "Ben Acme"}'),
  ('b0000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'bea@nordlicht.test',
   '$2a$10$SmZNNFpmiS7Db.V4ftpOSuY0wQeGn6WHy0Bz/e5KqithPEiFT6TTW', now(),
   '{"provider": "email", "providers": ["email"]}', '{"full_name": "Bea Nordlicht"}'),
  ('c0000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'max@consult.test',
   '$2a$10$SmZNNFpmiS7Db.V4ftpOSuY0wQeGn6WHy0Bz/e5KqithPEiFT6TTW', now(),
   '{"provider": "email", "providers": ["email"], "tenant_id": "22222222-2222-4222-8222-222222222222"}',
   '{"full_name": "Max Consult"}'),
  ('d0000000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'nomad@nowhere.test',
   '$2a$10$SmZNNFpmiS7Db.V4ftpOSuY0wQeGn6WHy0Bz/e5KqithPEiFT6TTW', now(),
   '{"provider": "email", "providers": ["email"]}', '{"full_name": "No Membership"}')
on conflict (id) do nothing;

insert into public.tenants (id, name, slug, locale) values
  ('11111111-1111-4111-8111-111111111111', 'Acme Sales', 'acme-sales', 'de'),
  ('22222222-2222-4222-8222-222222222222', 'Nordlicht Vertrieb', 'nordlicht', 'en')
on conflict (id) do nothing;

insert into public.tenant_members (tenant_id, user_id, role, created_at) values
  ('11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000001', 'owner', '2026-01-01'),
  ('11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000002', 'member', '2026-01-02'),
  ('22222222-2222-4222-8222-222222222222', 'b0000000-0000-4000-8000-000000000001', 'owner', '2026-01-01'),
  -- Max belongs to both; his app_metadata picks Nordlicht although Acme is his older membership.
  ('11111111-1111-4111-8111-111111111111', 'c0000000-0000-4000-8000-000000000001', 'member', '2026-01-03'),
  ('22222222-2222-4222-8222-222222222222', 'c0000000-0000-4000-8000-000000000001', 'admin', '2026-02-01')
on conflict do nothing;

insert into public.leads (id, tenant_id, owner_id, name, email, phone, company, source, source_channel, status, score, temperature, tags)
values
  ('10000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000001',
   'Julia Becker', 'julia.becker@example.de', '+49 151 2345678', 'Becker Logistik', 'facebook_ads', 'facebook', 'new', 35, 'warm', '{demo}'),
  ('10000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000001',
   'Tobias Wagner', 'tobias@wagner-bau.de', '+49 170 9876543', 'Wagner Bau', 'website_form', 'web', 'contacted', 55, 'warm', '{demo}'),
  ('10000000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000002',
   'Lena Fischer', 'lena.fischer@example.at', '+43 660 1234567', 'Fischer Consulting', 'instagram_dm', 'instagram', 'qualified', 72, 'hot', '{demo}'),
  ('10000000-0000-4000-8000-000000000004', '11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000002',
   'Stefan Huber', 'stefan.huber@example.ch', null, 'Huber AG', 'referral', 'referral', 'proposal', 80, 'hot', '{demo}'),
  ('10000000-0000-4000-8000-000000000005', '11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000001',
   'Mia Schulz', null, '+49 160 5554433', null, 'whatsapp_click', 'whatsapp', 'new', 20, 'cold', '{demo}'),
  ('10000000-0000-4000-8000-000000000006', '11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000001',
   'Felix Braun', 'felix.braun@example.de', null, 'Braun Medien', 'linkedin_ads', 'linkedin', 'negotiation', 88, 'hot', '{demo}'),
  ('10000000-0000-4000-8000-000000000007', '11111111-1111-4111-8111-111111111111', 'a0000000-0000-4000-8000-000000000002',
   'Sophie Keller', 'sophie@keller-shop.de', null, 'Keller Shop', 'cold_email', 'email', 'lost', 10, 'cold', '{demo}'),
  ('20000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'b0000000-0000-4000-8000-000000000001',
   'Olivia Carter', 'olivia@carter.example', '+44 7700 900123', 'Carter Ltd', 'google_ads', 'web', 'new', 40, 'warm', '{demo}'),
  ('20000000-0000-4000-8000-000000000002', '22222222-2222-4222-8222-222222222222', 'b0000000-0000-4000-8000-000000000001',
   'Noah Jensen', 'noah.jensen@example.dk', null, 'Jensen ApS', 'trade_fair', 'referral', 'contacted', 50, 'warm', '{demo}'),
  ('20000000-0000-4000-8000-000000000003', '22222222-2222-4222-8222-222222222222', 'b0000000-0000-4000-8000-000000000001',
   'Emma Novak', 'emma.novak@example.cz', '+420 601 123456', 'Novak s.r.o.', 'instagram_dm', 'instagram', 'qualified', 65, 'hot', '{demo}'),
  ('20000000-0000-4000-8000-000000000004', '22222222-2222-4222-8222-222222222222', 'c0000000-0000-4000-8000-000000000001',
   'Liam Dubois', 'liam@dubois.example', null, 'Dubois SA', 'telegram_group', 'telegram', 'new', 15, 'cold', '{demo}'),
  ('20000000-0000-4000-8000-000000000005', '22222222-2222-4222-8222-222222222222', 'c0000000-0000-4000-8000-000000000001',
   'Ava Rossi', 'ava.rossi@example.it', '+39 347 1234567', 'Rossi SRL', 'sms_campaign', 'sms', 'won', 95, 'hot', '{demo}')
on conflict (id) do nothing;

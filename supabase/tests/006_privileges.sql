-- The privilege matrix: what anon, authenticated and service_role may do on every table and function in
-- `public`. RLS decides which rows; these grants decide which statements. TRUNCATE, REFERENCES and TRIGGER
-- go to service_role only (TRUNCATE ignores RLS), anon has nothing, and functions run for service_role
-- unless a block says otherwise.
--
-- Adding a table or a function to `public`? Add its name to tables_are / functions_are below and one block
-- for it (copy a neighbour). A new object without an entry fails this file, and so do grants that differ.
begin;
select no_plan();

-- Every table and function in public is listed here; one missing makes these fail.
select tables_are('public', array[
  'tenants',
  'tenant_members',
  'event_types',
  'events',
  'event_deliveries',
  'leads',
  'analytics_events',
  'ai_prompts',
  'ai_prompt_labels',
  'ai_model_prices',
  'ai_models',
  'ai_usage',
  'ai_budgets',
  'ai_budget_periods',
  'ai_budget_reservations',
  'channel_connections',
  'channel_identities',
  'conversations',
  'messages',
  'conversation_summaries',
  'lead_facts',
  'consents',
  'identity_links',
  'inbound_webhooks',
  'lead_review_tasks',
  'analytics_touchpoints',
  'analytics_stage_entries',
  'analytics_meetings',
  'analytics_deal_outcomes',
  'analytics_lead_journeys',
  'analytics_daily_rollups',
  'analytics_stage_probabilities',
  'sequences',
  'sequence_steps',
  'sequence_enrollments',
  'sequence_step_runs',
  'autopilot_settings',
  'autopilot_actions',
  'alert_rules',
  'notification_targets',
  'alerts',
  'alert_notifications',
  'invitations'
], 'every table in public has a block in the privilege matrix');
select functions_are('public', array[
  'ai_lead_context',
  'ai_publish_prompt',
  'ai_reserve_budget',
  'ai_resolve_prompt',
  'ai_set_prompt_label',
  'ai_settle_budget',
  'ai_spend',
  'ai_track_usage',
  'apply_lead_extraction',
  'apply_message_status',
  'begin_sending',
  'channel_credentials_state',
  'claim_events',
  'connect_channel',
  'conversation_summary_tail',
  'forget_lead',
  'import_chat_history',
  'lead_memory',
  'custom_access_token_hook',
  'event_backlog',
  'event_status_report',
  'extend_lease',
  'find_webhook_connection',
  'finish_events',
  'hold_events',
  'inbound_message_context',
  'message_for_sending',
  'next_event_due',
  'prune_events',
  'publish_event',
  'record_inbound_message',
  'record_status_callback',
  'record_deliveries',
  'record_opt_out',
  'record_send_outcome',
  'recover_expired_leases',
  'release_events',
  'replay_event',
  'replay_events',
  'undo_identity_link',
  'webhook_verify_token_known',
  'review_lead_task',
  'requeue_stalled_sends',
  'settle_events',
  'analytics_record',
  'record_meeting',
  'analytics_funnel',
  'analytics_touch_credits',
  'analytics_attribution',
  'analytics_touch_paths',
  'analytics_rebuild',
  'analytics_metrics',
  'enroll_leads',
  'set_enrollment_state',
  'complete_sequence_task',
  'preview_sequence_sends',
  'sequence_step_context',
  'sequence_claim_step',
  'sequence_finish_step',
  'sequence_schedule_step',
  'sequence_execute_steps',
  'sequence_ai_step_context',
  'autopilot_decide',
  'dashboard_event_summary',
  'dashboard_replay_event',
  'autopilot_context',
  'inbox',
  'lead_best_contact_hours',
  'inbox_apply_signal',
  'listener_heartbeat',
  'evaluate_alerts',
  'claim_alert_notifications',
  'finish_alert_notifications',
  'note_webhook_signature_failure',
  'notification_target_secret',
  'create_tenant',
  'invite_member',
  'accept_invitation',
  'team_members',
  'invitation_for_sending',
  'record_invitation_email'
], 'every function in public has a block in the privilege matrix');

-- Tables: anon nothing; authenticated what RLS policies exist for; service_role everything.

-- public.tenants
select table_privs_are('public', 'tenants', 'anon', '{}'::text[], 'anon has no privileges on tenants');
select table_privs_are('public', 'tenants', 'authenticated', array['SELECT', 'UPDATE'],
  'authenticated may select, update on tenants');
select table_privs_are('public', 'tenants', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on tenants');

-- public.tenant_members
select table_privs_are('public', 'tenant_members', 'anon', '{}'::text[], 'anon has no privileges on tenant_members');
select table_privs_are('public', 'tenant_members', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on tenant_members');
select table_privs_are('public', 'tenant_members', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on tenant_members');

-- public.event_types
select table_privs_are('public', 'event_types', 'anon', '{}'::text[], 'anon has no privileges on event_types');
select table_privs_are('public', 'event_types', 'authenticated', array['SELECT'],
  'authenticated may select on event_types');
select table_privs_are('public', 'event_types', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on event_types');

-- public.events
select table_privs_are('public', 'events', 'anon', '{}'::text[], 'anon has no privileges on events');
select table_privs_are('public', 'events', 'authenticated', array['SELECT'],
  'authenticated may select on events');
select table_privs_are('public', 'events', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on events');

-- public.event_deliveries
select table_privs_are('public', 'event_deliveries', 'anon', '{}'::text[], 'anon has no privileges on event_deliveries');
select table_privs_are('public', 'event_deliveries', 'authenticated', array['SELECT'],
  'authenticated may select on event_deliveries');
select table_privs_are('public', 'event_deliveries', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on event_deliveries');

-- public.leads
select table_privs_are('public', 'leads', 'anon', '{}'::text[], 'anon has no privileges on leads');
select table_privs_are('public', 'leads', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on leads');
select table_privs_are('public', 'leads', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on leads');

-- public.analytics_events
select table_privs_are('public', 'analytics_events', 'anon', '{}'::text[], 'anon has no privileges on analytics_events');
select table_privs_are('public', 'analytics_events', 'authenticated', array['SELECT'],
  'authenticated may select on analytics_events');
select table_privs_are('public', 'analytics_events', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on analytics_events');

-- public.ai_prompts
select table_privs_are('public', 'ai_prompts', 'anon', '{}'::text[], 'anon has no privileges on ai_prompts');
select table_privs_are('public', 'ai_prompts', 'authenticated', array['SELECT', 'INSERT'],
  'authenticated may select, insert on ai_prompts');
select table_privs_are('public', 'ai_prompts', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on ai_prompts');

-- public.ai_prompt_labels
select table_privs_are('public', 'ai_prompt_labels', 'anon', '{}'::text[], 'anon has no privileges on ai_prompt_labels');
select table_privs_are('public', 'ai_prompt_labels', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on ai_prompt_labels');
select table_privs_are('public', 'ai_prompt_labels', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on ai_prompt_labels');

-- public.ai_model_prices
select table_privs_are('public', 'ai_model_prices', 'anon', '{}'::text[], 'anon has no privileges on ai_model_prices');
select table_privs_are('public', 'ai_model_prices', 'authenticated', array['SELECT'],
  'authenticated may select on ai_model_prices');
select table_privs_are('public', 'ai_model_prices', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on ai_model_prices');

-- public.ai_models (the operator's allow-list: members read it, only the operator writes it)
select table_privs_are('public', 'ai_models', 'anon', '{}'::text[], 'anon has no privileges on ai_models');
select table_privs_are('public', 'ai_models', 'authenticated', array['SELECT'],
  'authenticated may select on ai_models');
select table_privs_are('public', 'ai_models', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on ai_models');

-- public.ai_usage
select table_privs_are('public', 'ai_usage', 'anon', '{}'::text[], 'anon has no privileges on ai_usage');
select table_privs_are('public', 'ai_usage', 'authenticated', array['SELECT'],
  'authenticated may select on ai_usage');
select table_privs_are('public', 'ai_usage', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on ai_usage');

-- public.ai_budgets
select table_privs_are('public', 'ai_budgets', 'anon', '{}'::text[], 'anon has no privileges on ai_budgets');
select table_privs_are('public', 'ai_budgets', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on ai_budgets');
select table_privs_are('public', 'ai_budgets', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on ai_budgets');

-- public.ai_budget_periods
select table_privs_are('public', 'ai_budget_periods', 'anon', '{}'::text[], 'anon has no privileges on ai_budget_periods');
select table_privs_are('public', 'ai_budget_periods', 'authenticated', array['SELECT'],
  'authenticated may select on ai_budget_periods');
select table_privs_are('public', 'ai_budget_periods', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on ai_budget_periods');

-- public.ai_budget_reservations
select table_privs_are('public', 'ai_budget_reservations', 'anon', '{}'::text[], 'anon has no privileges on ai_budget_reservations');
select table_privs_are('public', 'ai_budget_reservations', 'authenticated', array['SELECT'],
  'authenticated may select on ai_budget_reservations');
select table_privs_are('public', 'ai_budget_reservations', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on ai_budget_reservations');

-- public.channel_connections (owners and admins connect; secrets live in private.channel_credentials)
select table_privs_are('public', 'channel_connections', 'anon', '{}'::text[], 'anon has no privileges on channel_connections');
select table_privs_are('public', 'channel_connections', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on channel_connections');
select table_privs_are('public', 'channel_connections', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on channel_connections');

-- public.channel_identities
select table_privs_are('public', 'channel_identities', 'anon', '{}'::text[], 'anon has no privileges on channel_identities');
select table_privs_are('public', 'channel_identities', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on channel_identities');
select table_privs_are('public', 'channel_identities', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on channel_identities');

-- public.conversations (no delete: history)
select table_privs_are('public', 'conversations', 'anon', '{}'::text[], 'anon has no privileges on conversations');
select table_privs_are('public', 'conversations', 'authenticated', array['SELECT', 'INSERT', 'UPDATE'],
  'authenticated may select, insert, update on conversations');
select table_privs_are('public', 'conversations', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on conversations');

-- public.messages (members queue outbound messages; statuses are service code's)
select table_privs_are('public', 'messages', 'anon', '{}'::text[], 'anon has no privileges on messages');
select table_privs_are('public', 'messages', 'authenticated', array['SELECT', 'INSERT'],
  'authenticated may select, insert on messages');
select table_privs_are('public', 'messages', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on messages');

-- public.conversation_summaries (written by service code)
select table_privs_are('public', 'conversation_summaries', 'anon', '{}'::text[], 'anon has no privileges on conversation_summaries');
select table_privs_are('public', 'conversation_summaries', 'authenticated', array['SELECT'],
  'authenticated may select on conversation_summaries');
select table_privs_are('public', 'conversation_summaries', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on conversation_summaries');

-- public.lead_facts (facts are closed, never deleted by members)
select table_privs_are('public', 'lead_facts', 'anon', '{}'::text[], 'anon has no privileges on lead_facts');
select table_privs_are('public', 'lead_facts', 'authenticated', array['SELECT', 'INSERT', 'UPDATE'],
  'authenticated may select, insert, update on lead_facts');
select table_privs_are('public', 'lead_facts', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on lead_facts');

-- public.consents (no delete: evidence)
select table_privs_are('public', 'consents', 'anon', '{}'::text[], 'anon has no privileges on consents');
select table_privs_are('public', 'consents', 'authenticated', array['SELECT', 'INSERT', 'UPDATE'],
  'authenticated may select, insert, update on consents');
select table_privs_are('public', 'consents', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on consents');

-- public.inbound_webhooks (the audit trail, written by service code)
select table_privs_are('public', 'inbound_webhooks', 'anon', '{}'::text[], 'anon has no privileges on inbound_webhooks');
select table_privs_are('public', 'inbound_webhooks', 'authenticated', array['SELECT'],
  'authenticated may select on inbound_webhooks');
select table_privs_are('public', 'inbound_webhooks', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on inbound_webhooks');

-- public.identity_links (written by ingest; undone through undo_identity_link)
select table_privs_are('public', 'identity_links', 'anon', '{}'::text[], 'anon has no privileges on identity_links');
select table_privs_are('public', 'identity_links', 'authenticated', array['SELECT'],
  'authenticated may select on identity_links');
select table_privs_are('public', 'identity_links', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on identity_links');

-- public.sequences
select table_privs_are('public', 'sequences', 'anon', '{}'::text[], 'anon has no privileges on sequences');
select table_privs_are('public', 'sequences', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on sequences');
select table_privs_are('public', 'sequences', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on sequences');

-- public.sequence_steps
select table_privs_are('public', 'sequence_steps', 'anon', '{}'::text[], 'anon has no privileges on sequence_steps');
select table_privs_are('public', 'sequence_steps', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on sequence_steps');
select table_privs_are('public', 'sequence_steps', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on sequence_steps');

-- public.sequence_enrollments
select table_privs_are('public', 'sequence_enrollments', 'anon', '{}'::text[], 'anon has no privileges on sequence_enrollments');
select table_privs_are('public', 'sequence_enrollments', 'authenticated', array['SELECT'],
  'authenticated may select (changes go through the enrollment RPCs) on sequence_enrollments');
select table_privs_are('public', 'sequence_enrollments', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on sequence_enrollments');

-- public.sequence_step_runs
select table_privs_are('public', 'sequence_step_runs', 'anon', '{}'::text[], 'anon has no privileges on sequence_step_runs');
select table_privs_are('public', 'sequence_step_runs', 'authenticated', array['SELECT'],
  'authenticated may select (written by the step handler) on sequence_step_runs');
select table_privs_are('public', 'sequence_step_runs', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on sequence_step_runs');

-- public.lead_review_tasks (written by service code; members decide them through review_lead_task)
select table_privs_are('public', 'lead_review_tasks', 'anon', '{}'::text[], 'anon has no privileges on lead_review_tasks');
select table_privs_are('public', 'lead_review_tasks', 'authenticated', array['SELECT'],
  'authenticated may select on lead_review_tasks');
select table_privs_are('public', 'lead_review_tasks', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on lead_review_tasks');

-- public.autopilot_settings (members read; owners and admins write, by policy)
select table_privs_are('public', 'autopilot_settings', 'anon', '{}'::text[], 'anon has no privileges on autopilot_settings');
select table_privs_are('public', 'autopilot_settings', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on autopilot_settings');
select table_privs_are('public', 'autopilot_settings', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on autopilot_settings');

-- public.autopilot_actions (written by service code; members decide drafts through autopilot_decide)
select table_privs_are('public', 'autopilot_actions', 'anon', '{}'::text[], 'anon has no privileges on autopilot_actions');
select table_privs_are('public', 'autopilot_actions', 'authenticated', array['SELECT'],
  'authenticated may select on autopilot_actions');
select table_privs_are('public', 'autopilot_actions', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on autopilot_actions');

-- public.alert_rules, public.notification_targets (members read rules; owners and admins manage both, by policy)
select table_privs_are('public', 'alert_rules', 'anon', '{}'::text[], 'anon has no privileges on alert_rules');
select table_privs_are('public', 'alert_rules', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on alert_rules');
select table_privs_are('public', 'alert_rules', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on alert_rules');
select table_privs_are('public', 'notification_targets', 'anon', '{}'::text[], 'anon has no privileges on notification_targets');
select table_privs_are('public', 'notification_targets', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on notification_targets');
select table_privs_are('public', 'notification_targets', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on notification_targets');

-- public.alerts, public.alert_notifications (written by the evaluator; members read)
select table_privs_are('public', 'alerts', 'anon', '{}'::text[], 'anon has no privileges on alerts');
select table_privs_are('public', 'alerts', 'authenticated', array['SELECT'], 'authenticated may select on alerts');
select table_privs_are('public', 'alerts', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on alerts');
select table_privs_are('public', 'alert_notifications', 'anon', '{}'::text[], 'anon has no privileges on alert_notifications');
select table_privs_are('public', 'alert_notifications', 'authenticated', array['SELECT'],
  'authenticated may select on alert_notifications');
select table_privs_are('public', 'alert_notifications', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on alert_notifications');

-- The alert evaluator's and sender's API: service code only; a target's secret: owners and admins by the check inside.
select function_privs_are('public', 'listener_heartbeat', array['text', 'boolean'], 'anon', '{}'::text[], 'anon cannot execute listener_heartbeat');
select function_privs_are('public', 'listener_heartbeat', array['text', 'boolean'], 'authenticated', '{}'::text[],
  'authenticated cannot execute listener_heartbeat');
select function_privs_are('public', 'listener_heartbeat', array['text', 'boolean'], 'service_role', array['EXECUTE'],
  'service_role executes listener_heartbeat');
select function_privs_are('public', 'evaluate_alerts', array['text', 'double precision'], 'anon', '{}'::text[], 'anon cannot execute evaluate_alerts');
select function_privs_are('public', 'evaluate_alerts', array['text', 'double precision'], 'authenticated', '{}'::text[],
  'authenticated cannot execute evaluate_alerts');
select function_privs_are('public', 'evaluate_alerts', array['text', 'double precision'], 'service_role', array['EXECUTE'],
  'service_role executes evaluate_alerts');
select function_privs_are('public', 'claim_alert_notifications', array['text', 'integer', 'double precision'], 'anon', '{}'::text[],
  'anon cannot execute claim_alert_notifications');
select function_privs_are('public', 'claim_alert_notifications', array['text', 'integer', 'double precision'], 'authenticated', '{}'::text[],
  'authenticated cannot execute claim_alert_notifications');
select function_privs_are('public', 'claim_alert_notifications', array['text', 'integer', 'double precision'], 'service_role', array['EXECUTE'],
  'service_role executes claim_alert_notifications');
select function_privs_are('public', 'finish_alert_notifications', array['text', 'jsonb'], 'anon', '{}'::text[],
  'anon cannot execute finish_alert_notifications');
select function_privs_are('public', 'finish_alert_notifications', array['text', 'jsonb'], 'authenticated', '{}'::text[],
  'authenticated cannot execute finish_alert_notifications');
select function_privs_are('public', 'finish_alert_notifications', array['text', 'jsonb'], 'service_role', array['EXECUTE'],
  'service_role executes finish_alert_notifications');
-- public.note_webhook_signature_failure(uuid) (counts a refused webhook signature: service code only)
select function_privs_are('public', 'note_webhook_signature_failure', array['uuid'], 'anon', '{}'::text[],
  'anon cannot execute note_webhook_signature_failure');
select function_privs_are('public', 'note_webhook_signature_failure', array['uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute note_webhook_signature_failure');
select function_privs_are('public', 'note_webhook_signature_failure', array['uuid'], 'service_role', array['EXECUTE'],
  'service_role executes note_webhook_signature_failure');
select function_privs_are('public', 'notification_target_secret', array['uuid'], 'anon', '{}'::text[],
  'anon cannot execute notification_target_secret');
select function_privs_are('public', 'notification_target_secret', array['uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes notification_target_secret (owners and admins get an answer)');
select function_privs_are('public', 'notification_target_secret', array['uuid'], 'service_role', array['EXECUTE'],
  'service_role executes notification_target_secret');

-- public.autopilot_queue, public.autopilot_prompt_feedback (views, security_invoker: members under RLS)
select table_privs_are('public', 'autopilot_queue', 'anon', '{}'::text[], 'anon has no privileges on autopilot_queue');
select table_privs_are('public', 'autopilot_queue', 'authenticated', array['SELECT'],
  'authenticated may select on autopilot_queue');
select table_privs_are('public', 'autopilot_prompt_feedback', 'anon', '{}'::text[], 'anon has no privileges on autopilot_prompt_feedback');
select table_privs_are('public', 'autopilot_prompt_feedback', 'authenticated', array['SELECT'],
  'authenticated may select on autopilot_prompt_feedback');

-- Functions: the event engine's and the AI orchestrator's API are for service code only.

-- public.ai_lead_context(uuid, uuid)
select function_privs_are('public', 'ai_lead_context', array['uuid', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute ai_lead_context');
select function_privs_are('public', 'ai_lead_context', array['uuid', 'uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute ai_lead_context');
select function_privs_are('public', 'ai_lead_context', array['uuid', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes ai_lead_context');

-- public.ai_publish_prompt(text, text, jsonb, jsonb, uuid, jsonb, text)
select function_privs_are('public', 'ai_publish_prompt', array['text', 'text', 'jsonb', 'jsonb', 'uuid', 'jsonb', 'text'], 'anon', '{}'::text[], 'anon cannot execute ai_publish_prompt');
select function_privs_are('public', 'ai_publish_prompt', array['text', 'text', 'jsonb', 'jsonb', 'uuid', 'jsonb', 'text'], 'authenticated', '{}'::text[],
  'authenticated cannot execute ai_publish_prompt');
select function_privs_are('public', 'ai_publish_prompt', array['text', 'text', 'jsonb', 'jsonb', 'uuid', 'jsonb', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes ai_publish_prompt');

-- public.ai_reserve_budget(uuid, text, text, jsonb, integer, integer)
select function_privs_are('public', 'ai_reserve_budget', array['uuid', 'text', 'text', 'jsonb', 'integer', 'integer'], 'anon', '{}'::text[], 'anon cannot execute ai_reserve_budget');
select function_privs_are('public', 'ai_reserve_budget', array['uuid', 'text', 'text', 'jsonb', 'integer', 'integer'], 'authenticated', '{}'::text[],
  'authenticated cannot execute ai_reserve_budget');
select function_privs_are('public', 'ai_reserve_budget', array['uuid', 'text', 'text', 'jsonb', 'integer', 'integer'], 'service_role', array['EXECUTE'],
  'service_role executes ai_reserve_budget');

-- public.ai_resolve_prompt(text, uuid, text, text)
select function_privs_are('public', 'ai_resolve_prompt', array['text', 'uuid', 'text', 'text'], 'anon', '{}'::text[], 'anon cannot execute ai_resolve_prompt');
select function_privs_are('public', 'ai_resolve_prompt', array['text', 'uuid', 'text', 'text'], 'authenticated', '{}'::text[],
  'authenticated cannot execute ai_resolve_prompt');
select function_privs_are('public', 'ai_resolve_prompt', array['text', 'uuid', 'text', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes ai_resolve_prompt');

-- public.ai_set_prompt_label(text, text, integer, text, uuid)
select function_privs_are('public', 'ai_set_prompt_label', array['text', 'text', 'integer', 'text', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute ai_set_prompt_label');
select function_privs_are('public', 'ai_set_prompt_label', array['text', 'text', 'integer', 'text', 'uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute ai_set_prompt_label');
select function_privs_are('public', 'ai_set_prompt_label', array['text', 'text', 'integer', 'text', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes ai_set_prompt_label');

-- public.ai_settle_budget(uuid)
select function_privs_are('public', 'ai_settle_budget', array['uuid'], 'anon', '{}'::text[], 'anon cannot execute ai_settle_budget');
select function_privs_are('public', 'ai_settle_budget', array['uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute ai_settle_budget');
select function_privs_are('public', 'ai_settle_budget', array['uuid'], 'service_role', array['EXECUTE'],
  'service_role executes ai_settle_budget');

-- public.ai_track_usage(jsonb)
select function_privs_are('public', 'ai_track_usage', array['jsonb'], 'anon', '{}'::text[], 'anon cannot execute ai_track_usage');
select function_privs_are('public', 'ai_track_usage', array['jsonb'], 'authenticated', '{}'::text[],
  'authenticated cannot execute ai_track_usage');
select function_privs_are('public', 'ai_track_usage', array['jsonb'], 'service_role', array['EXECUTE'],
  'service_role executes ai_track_usage');

-- public.ai_spend(date, uuid) (20261203120000_dashboard_ai_spend.sql; security invoker: members under RLS)
select function_privs_are('public', 'ai_spend', array['date', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute ai_spend');
select function_privs_are('public', 'ai_spend', array['date', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes ai_spend (RLS decides what it reads)');
select function_privs_are('public', 'ai_spend', array['date', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes ai_spend');

-- public.apply_message_status(uuid, text, text, text, timestamp with time zone, text, text)
select function_privs_are('public', 'apply_message_status', array['uuid', 'text', 'text', 'text', 'timestamp with time zone', 'text', 'text'], 'anon', '{}'::text[], 'anon cannot execute apply_message_status');
select function_privs_are('public', 'apply_message_status', array['uuid', 'text', 'text', 'text', 'timestamp with time zone', 'text', 'text'], 'authenticated', '{}'::text[],
  'authenticated cannot execute apply_message_status');
select function_privs_are('public', 'apply_message_status', array['uuid', 'text', 'text', 'text', 'timestamp with time zone', 'text', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes apply_message_status');

-- public.find_webhook_connection(text, text, text, text) (returns secrets: service code only)
select function_privs_are('public', 'find_webhook_connection', array['text', 'text', 'text', 'text'], 'anon', '{}'::text[], 'anon cannot execute find_webhook_connection');
select function_privs_are('public', 'find_webhook_connection', array['text', 'text', 'text', 'text'], 'authenticated', '{}'::text[],
  'authenticated cannot execute find_webhook_connection');
select function_privs_are('public', 'find_webhook_connection', array['text', 'text', 'text', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes find_webhook_connection');

-- public.webhook_verify_token_known(text, text)
select function_privs_are('public', 'webhook_verify_token_known', array['text', 'text'], 'anon', '{}'::text[], 'anon cannot execute webhook_verify_token_known');
select function_privs_are('public', 'webhook_verify_token_known', array['text', 'text'], 'authenticated', '{}'::text[],
  'authenticated cannot execute webhook_verify_token_known');
select function_privs_are('public', 'webhook_verify_token_known', array['text', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes webhook_verify_token_known');

-- public.record_inbound_message(uuid, text, text, text, text, text, text, jsonb, timestamptz, text, jsonb, jsonb, text)
select function_privs_are('public', 'record_inbound_message', array['uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'timestamp with time zone', 'text', 'jsonb', 'jsonb', 'text'], 'anon', '{}'::text[], 'anon cannot execute record_inbound_message');
select function_privs_are('public', 'record_inbound_message', array['uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'timestamp with time zone', 'text', 'jsonb', 'jsonb', 'text'], 'authenticated', '{}'::text[],
  'authenticated cannot execute record_inbound_message');
select function_privs_are('public', 'record_inbound_message', array['uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'timestamp with time zone', 'text', 'jsonb', 'jsonb', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes record_inbound_message');

-- public.record_status_callback(uuid, text, text, text, timestamptz, text, text, text, jsonb, uuid)
select function_privs_are('public', 'record_status_callback', array['uuid', 'text', 'text', 'text', 'timestamp with time zone', 'text', 'text', 'text', 'jsonb', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute record_status_callback');
select function_privs_are('public', 'record_status_callback', array['uuid', 'text', 'text', 'text', 'timestamp with time zone', 'text', 'text', 'text', 'jsonb', 'uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute record_status_callback');
select function_privs_are('public', 'record_status_callback', array['uuid', 'text', 'text', 'text', 'timestamp with time zone', 'text', 'text', 'text', 'jsonb', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes record_status_callback');

-- public.connect_channel(text, text, text, text, text, jsonb, uuid) (owners/admins or service code; the function checks)
select function_privs_are('public', 'connect_channel', array['text', 'text', 'text', 'text', 'text', 'jsonb', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute connect_channel');
select function_privs_are('public', 'connect_channel', array['text', 'text', 'text', 'text', 'text', 'jsonb', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes connect_channel');
select function_privs_are('public', 'connect_channel', array['text', 'text', 'text', 'text', 'text', 'jsonb', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes connect_channel');

-- public.channel_credentials_state(uuid) (key names only, never values; members see their own tenant)
select function_privs_are('public', 'channel_credentials_state', array['uuid'], 'anon', '{}'::text[], 'anon cannot execute channel_credentials_state');
select function_privs_are('public', 'channel_credentials_state', array['uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes channel_credentials_state');
select function_privs_are('public', 'channel_credentials_state', array['uuid'], 'service_role', array['EXECUTE'],
  'service_role executes channel_credentials_state');

-- public.undo_identity_link(uuid) (members undo a wrong match of their own tenant; the function checks it)
select function_privs_are('public', 'undo_identity_link', array['uuid'], 'anon', '{}'::text[], 'anon cannot execute undo_identity_link');
select function_privs_are('public', 'undo_identity_link', array['uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes undo_identity_link');
select function_privs_are('public', 'undo_identity_link', array['uuid'], 'service_role', array['EXECUTE'],
  'service_role executes undo_identity_link');

-- Inbound processing (20261202130200_lead_extraction_apply.sql, 20261202130300_record_opt_out.sql): service code only.
-- public.apply_lead_extraction(uuid, uuid, jsonb)
select function_privs_are('public', 'apply_lead_extraction', array['uuid', 'uuid', 'jsonb'], 'anon', '{}'::text[], 'anon cannot execute apply_lead_extraction');
select function_privs_are('public', 'apply_lead_extraction', array['uuid', 'uuid', 'jsonb'], 'authenticated', '{}'::text[],
  'authenticated cannot execute apply_lead_extraction');
select function_privs_are('public', 'apply_lead_extraction', array['uuid', 'uuid', 'jsonb'], 'service_role', array['EXECUTE'],
  'service_role executes apply_lead_extraction');
-- public.inbound_message_context(uuid, uuid, integer)
select function_privs_are('public', 'inbound_message_context', array['uuid', 'uuid', 'integer'], 'anon', '{}'::text[], 'anon cannot execute inbound_message_context');
select function_privs_are('public', 'inbound_message_context', array['uuid', 'uuid', 'integer'], 'authenticated', '{}'::text[],
  'authenticated cannot execute inbound_message_context');
select function_privs_are('public', 'inbound_message_context', array['uuid', 'uuid', 'integer'], 'service_role', array['EXECUTE'],
  'service_role executes inbound_message_context');
-- public.record_opt_out(uuid, uuid, text, text, text, uuid)
select function_privs_are('public', 'record_opt_out', array['uuid', 'uuid', 'text', 'text', 'text', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute record_opt_out');
select function_privs_are('public', 'record_opt_out', array['uuid', 'uuid', 'text', 'text', 'text', 'uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute record_opt_out (the unsubscribe function writes it with the service key)');
select function_privs_are('public', 'record_opt_out', array['uuid', 'uuid', 'text', 'text', 'text', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes record_opt_out');
-- public.autopilot_decide(uuid, text, text, uuid): members decide their tenant's drafts
select function_privs_are('public', 'autopilot_decide', array['uuid', 'text', 'text', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute autopilot_decide');
select function_privs_are('public', 'autopilot_decide', array['uuid', 'text', 'text', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes autopilot_decide (scoped by the token''s tenant)');
select function_privs_are('public', 'autopilot_decide', array['uuid', 'text', 'text', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes autopilot_decide');

-- public.autopilot_context(uuid, uuid): the autopilot handler's view of one message (service code only)
select function_privs_are('public', 'autopilot_context', array['uuid', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute autopilot_context');
select function_privs_are('public', 'autopilot_context', array['uuid', 'uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute autopilot_context');
select function_privs_are('public', 'autopilot_context', array['uuid', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes autopilot_context');

-- public.review_lead_task(uuid, text, text): members decide their tenant's review tasks
select function_privs_are('public', 'review_lead_task', array['uuid', 'text', 'text'], 'anon', '{}'::text[], 'anon cannot execute review_lead_task');
select function_privs_are('public', 'review_lead_task', array['uuid', 'text', 'text'], 'authenticated', array['EXECUTE'],
  'authenticated executes review_lead_task (scoped by the token''s tenant)');
select function_privs_are('public', 'review_lead_task', array['uuid', 'text', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes review_lead_task');

-- The inbox (20261202200100_inbox_priority.sql, 20261202200200_inbox_apply_signal.sql).
-- public.inbox(boolean, integer, integer, uuid, uuid) (security invoker: members under RLS)
select function_privs_are('public', 'inbox', array['boolean', 'integer', 'integer', 'uuid', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute inbox');
select function_privs_are('public', 'inbox', array['boolean', 'integer', 'integer', 'uuid', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes inbox (RLS decides what it reads)');
select function_privs_are('public', 'inbox', array['boolean', 'integer', 'integer', 'uuid', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes inbox');
-- public.lead_best_contact_hours(uuid, integer) (security invoker: members under RLS)
select function_privs_are('public', 'lead_best_contact_hours', array['uuid', 'integer'], 'anon', '{}'::text[], 'anon cannot execute lead_best_contact_hours');
select function_privs_are('public', 'lead_best_contact_hours', array['uuid', 'integer'], 'authenticated', array['EXECUTE'],
  'authenticated executes lead_best_contact_hours (RLS decides what it reads)');
select function_privs_are('public', 'lead_best_contact_hours', array['uuid', 'integer'], 'service_role', array['EXECUTE'],
  'service_role executes lead_best_contact_hours');
-- public.inbox_apply_signal(uuid, uuid, text, text, integer): the inbox handler (service code) only
select function_privs_are('public', 'inbox_apply_signal', array['uuid', 'uuid', 'text', 'text', 'integer'], 'anon', '{}'::text[], 'anon cannot execute inbox_apply_signal');
select function_privs_are('public', 'inbox_apply_signal', array['uuid', 'uuid', 'text', 'text', 'integer'], 'authenticated', '{}'::text[],
  'authenticated cannot execute inbox_apply_signal');
select function_privs_are('public', 'inbox_apply_signal', array['uuid', 'uuid', 'text', 'text', 'integer'], 'service_role', array['EXECUTE'],
  'service_role executes inbox_apply_signal');

-- The sequence functions (20261202180300_sequence_functions.sql).
-- public.enroll_leads: members (their token's tenant) and service code
select function_privs_are('public', 'enroll_leads', array['uuid', 'uuid[]', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute enroll_leads');
select function_privs_are('public', 'enroll_leads', array['uuid', 'uuid[]', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes enroll_leads (scoped by the token''s tenant)');
select function_privs_are('public', 'enroll_leads', array['uuid', 'uuid[]', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes enroll_leads');
-- public.set_enrollment_state: members (their token's tenant) and service code
select function_privs_are('public', 'set_enrollment_state', array['text', 'uuid[]', 'uuid', 'text', 'uuid', 'text'], 'anon', '{}'::text[], 'anon cannot execute set_enrollment_state');
select function_privs_are('public', 'set_enrollment_state', array['text', 'uuid[]', 'uuid', 'text', 'uuid', 'text'], 'authenticated', array['EXECUTE'],
  'authenticated executes set_enrollment_state (scoped by the token''s tenant)');
select function_privs_are('public', 'set_enrollment_state', array['text', 'uuid[]', 'uuid', 'text', 'uuid', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes set_enrollment_state');
-- public.complete_sequence_task: members (their token's tenant) and service code
select function_privs_are('public', 'complete_sequence_task', array['uuid', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute complete_sequence_task');
select function_privs_are('public', 'complete_sequence_task', array['uuid', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes complete_sequence_task (scoped by the token''s tenant)');
select function_privs_are('public', 'complete_sequence_task', array['uuid', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes complete_sequence_task');
-- public.preview_sequence_sends: members (their token's tenant) and service code
select function_privs_are('public', 'preview_sequence_sends', array['uuid', 'integer'], 'anon', '{}'::text[], 'anon cannot execute preview_sequence_sends');
select function_privs_are('public', 'preview_sequence_sends', array['uuid', 'integer'], 'authenticated', array['EXECUTE'],
  'authenticated executes preview_sequence_sends (scoped by the token''s tenant)');
select function_privs_are('public', 'preview_sequence_sends', array['uuid', 'integer'], 'service_role', array['EXECUTE'],
  'service_role executes preview_sequence_sends');
-- public.sequence_step_context: service code only (the sequence step handler)
select function_privs_are('public', 'sequence_step_context', array['uuid', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute sequence_step_context');
select function_privs_are('public', 'sequence_step_context', array['uuid', 'uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute sequence_step_context (the step handler''s)');
select function_privs_are('public', 'sequence_step_context', array['uuid', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes sequence_step_context');
-- public.sequence_claim_step: service code only (the sequence step handler)
select function_privs_are('public', 'sequence_claim_step', array['uuid', 'uuid', 'uuid', 'timestamp with time zone', 'text', 'text', 'timestamp with time zone', 'timestamp with time zone', 'integer', 'integer', 'text', 'boolean'], 'anon', '{}'::text[], 'anon cannot execute sequence_claim_step');
select function_privs_are('public', 'sequence_claim_step', array['uuid', 'uuid', 'uuid', 'timestamp with time zone', 'text', 'text', 'timestamp with time zone', 'timestamp with time zone', 'integer', 'integer', 'text', 'boolean'], 'authenticated', '{}'::text[],
  'authenticated cannot execute sequence_claim_step (the step handler''s)');
select function_privs_are('public', 'sequence_claim_step', array['uuid', 'uuid', 'uuid', 'timestamp with time zone', 'text', 'text', 'timestamp with time zone', 'timestamp with time zone', 'integer', 'integer', 'text', 'boolean'], 'service_role', array['EXECUTE'],
  'service_role executes sequence_claim_step');
-- public.sequence_finish_step: service code only (the sequence step handler)
select function_privs_are('public', 'sequence_finish_step', array['uuid', 'uuid', 'uuid', 'timestamp with time zone'], 'anon', '{}'::text[], 'anon cannot execute sequence_finish_step');
select function_privs_are('public', 'sequence_finish_step', array['uuid', 'uuid', 'uuid', 'timestamp with time zone'], 'authenticated', '{}'::text[],
  'authenticated cannot execute sequence_finish_step (the step handler''s)');
select function_privs_are('public', 'sequence_finish_step', array['uuid', 'uuid', 'uuid', 'timestamp with time zone'], 'service_role', array['EXECUTE'],
  'service_role executes sequence_finish_step');
-- public.sequence_schedule_step: service code only (the sequence step handler)
select function_privs_are('public', 'sequence_schedule_step', array['uuid', 'uuid', 'integer', 'text', 'integer', 'timestamp with time zone', 'double precision', 'timestamp with time zone', 'text'], 'anon', '{}'::text[], 'anon cannot execute sequence_schedule_step');
select function_privs_are('public', 'sequence_schedule_step', array['uuid', 'uuid', 'integer', 'text', 'integer', 'timestamp with time zone', 'double precision', 'timestamp with time zone', 'text'], 'authenticated', '{}'::text[],
  'authenticated cannot execute sequence_schedule_step (the step handler''s)');
select function_privs_are('public', 'sequence_schedule_step', array['uuid', 'uuid', 'integer', 'text', 'integer', 'timestamp with time zone', 'double precision', 'timestamp with time zone', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes sequence_schedule_step');
-- public.sequence_execute_steps: service code only (the sequence step handler: a batch of due steps, one transaction)
select function_privs_are('public', 'sequence_execute_steps', array['uuid', 'jsonb'], 'anon', '{}'::text[], 'anon cannot execute sequence_execute_steps');
select function_privs_are('public', 'sequence_execute_steps', array['uuid', 'jsonb'], 'authenticated', '{}'::text[],
  'authenticated cannot execute sequence_execute_steps (the step handler''s)');
select function_privs_are('public', 'sequence_execute_steps', array['uuid', 'jsonb'], 'service_role', array['EXECUTE'],
  'service_role executes sequence_execute_steps');

-- public.sequence_ai_step_context: service code only (an ai_message step's caps and autopilot inputs)
select function_privs_are('public', 'sequence_ai_step_context', array['uuid', 'uuid', 'message_channel', 'timestamp with time zone', 'timestamp with time zone', 'integer', 'integer'], 'anon', '{}'::text[],
  'anon cannot execute sequence_ai_step_context');
select function_privs_are('public', 'sequence_ai_step_context', array['uuid', 'uuid', 'message_channel', 'timestamp with time zone', 'timestamp with time zone', 'integer', 'integer'], 'authenticated', '{}'::text[],
  'authenticated cannot execute sequence_ai_step_context (the step handler''s)');
select function_privs_are('public', 'sequence_ai_step_context', array['uuid', 'uuid', 'message_channel', 'timestamp with time zone', 'timestamp with time zone', 'integer', 'integer'], 'service_role', array['EXECUTE'],
  'service_role executes sequence_ai_step_context');

-- The send job's functions (20261202110200_send_job_functions.sql): service code only.
-- public.begin_sending(uuid, uuid, uuid)
select function_privs_are('public', 'begin_sending', array['uuid', 'uuid', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute begin_sending');
select function_privs_are('public', 'begin_sending', array['uuid', 'uuid', 'uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute begin_sending');
select function_privs_are('public', 'begin_sending', array['uuid', 'uuid', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes begin_sending');
-- public.message_for_sending(uuid, uuid)
select function_privs_are('public', 'message_for_sending', array['uuid', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute message_for_sending');
select function_privs_are('public', 'message_for_sending', array['uuid', 'uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute message_for_sending (it returns channel secrets)');
select function_privs_are('public', 'message_for_sending', array['uuid', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes message_for_sending');
-- public.record_send_outcome(uuid, uuid, integer, text, text, jsonb, text, text, timestamp with time zone)
select function_privs_are('public', 'record_send_outcome', array['uuid', 'uuid', 'integer', 'text', 'text', 'jsonb', 'text', 'text', 'timestamp with time zone'], 'anon', '{}'::text[], 'anon cannot execute record_send_outcome');
select function_privs_are('public', 'record_send_outcome', array['uuid', 'uuid', 'integer', 'text', 'text', 'jsonb', 'text', 'text', 'timestamp with time zone'], 'authenticated', '{}'::text[],
  'authenticated cannot execute record_send_outcome');
select function_privs_are('public', 'record_send_outcome', array['uuid', 'uuid', 'integer', 'text', 'text', 'jsonb', 'text', 'text', 'timestamp with time zone'], 'service_role', array['EXECUTE'],
  'service_role executes record_send_outcome');
-- public.requeue_stalled_sends(double precision)
select function_privs_are('public', 'requeue_stalled_sends', array['double precision'], 'anon', '{}'::text[], 'anon cannot execute requeue_stalled_sends');
select function_privs_are('public', 'requeue_stalled_sends', array['double precision'], 'authenticated', '{}'::text[],
  'authenticated cannot execute requeue_stalled_sends');
select function_privs_are('public', 'requeue_stalled_sends', array['double precision'], 'service_role', array['EXECUTE'],
  'service_role executes requeue_stalled_sends');

-- public.conversation_summary_tail(uuid, uuid, integer) (service code: the summary handler)
select function_privs_are('public', 'conversation_summary_tail', array['uuid', 'uuid', 'integer'], 'anon', '{}'::text[], 'anon cannot execute conversation_summary_tail');
select function_privs_are('public', 'conversation_summary_tail', array['uuid', 'uuid', 'integer'], 'authenticated', '{}'::text[],
  'authenticated cannot execute conversation_summary_tail');
select function_privs_are('public', 'conversation_summary_tail', array['uuid', 'uuid', 'integer'], 'service_role', array['EXECUTE'],
  'service_role executes conversation_summary_tail');

-- public.forget_lead(uuid, uuid) (service code and operators: salesflow leads forget)
select function_privs_are('public', 'forget_lead', array['uuid', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute forget_lead');
select function_privs_are('public', 'forget_lead', array['uuid', 'uuid'], 'authenticated', '{}'::text[],
  'authenticated cannot execute forget_lead');
select function_privs_are('public', 'forget_lead', array['uuid', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes forget_lead');

-- public.import_chat_history(uuid, text, text, text, jsonb) (service code and operators: salesflow leads import-chat)
select function_privs_are('public', 'import_chat_history', array['uuid', 'text', 'text', 'text', 'jsonb'], 'anon', '{}'::text[], 'anon cannot execute import_chat_history');
select function_privs_are('public', 'import_chat_history', array['uuid', 'text', 'text', 'text', 'jsonb'], 'authenticated', '{}'::text[],
  'authenticated cannot execute import_chat_history');
select function_privs_are('public', 'import_chat_history', array['uuid', 'text', 'text', 'text', 'jsonb'], 'service_role', array['EXECUTE'],
  'service_role executes import_chat_history');

-- public.lead_memory(uuid, uuid, text, integer, integer, integer) (security invoker: members under RLS)
select function_privs_are('public', 'lead_memory', array['uuid', 'uuid', 'text', 'integer', 'integer', 'integer'], 'anon', '{}'::text[], 'anon cannot execute lead_memory');
select function_privs_are('public', 'lead_memory', array['uuid', 'uuid', 'text', 'integer', 'integer', 'integer'], 'authenticated', array['EXECUTE'],
  'authenticated executes lead_memory (RLS decides what it reads)');
select function_privs_are('public', 'lead_memory', array['uuid', 'uuid', 'text', 'integer', 'integer', 'integer'], 'service_role', array['EXECUTE'],
  'service_role executes lead_memory');

-- public.claim_events(text, integer, double precision)
select function_privs_are('public', 'claim_events', array['text', 'integer', 'double precision'], 'anon', '{}'::text[], 'anon cannot execute claim_events');
select function_privs_are('public', 'claim_events', array['text', 'integer', 'double precision'], 'authenticated', '{}'::text[],
  'authenticated cannot execute claim_events');
select function_privs_are('public', 'claim_events', array['text', 'integer', 'double precision'], 'service_role', array['EXECUTE'],
  'service_role executes claim_events');

-- public.custom_access_token_hook(jsonb)
select function_privs_are('public', 'custom_access_token_hook', array['jsonb'], 'anon', '{}'::text[], 'anon cannot execute custom_access_token_hook');
select function_privs_are('public', 'custom_access_token_hook', array['jsonb'], 'authenticated', '{}'::text[],
  'authenticated cannot execute custom_access_token_hook');
select function_privs_are('public', 'custom_access_token_hook', array['jsonb'], 'service_role', array['EXECUTE'],
  'service_role executes custom_access_token_hook');
select function_privs_are('public', 'custom_access_token_hook', array['jsonb'], 'supabase_auth_admin', array['EXECUTE'],
  'Supabase Auth executes the token hook');

-- public.event_backlog()
select function_privs_are('public', 'event_backlog', '{}'::name[], 'anon', '{}'::text[], 'anon cannot execute event_backlog');
select function_privs_are('public', 'event_backlog', '{}'::name[], 'authenticated', '{}'::text[],
  'authenticated cannot execute event_backlog');
select function_privs_are('public', 'event_backlog', '{}'::name[], 'service_role', array['EXECUTE'],
  'service_role executes event_backlog');

-- public.event_status_report()
select function_privs_are('public', 'event_status_report', '{}'::name[], 'anon', '{}'::text[], 'anon cannot execute event_status_report');
select function_privs_are('public', 'event_status_report', '{}'::name[], 'authenticated', '{}'::text[],
  'authenticated cannot execute event_status_report');
select function_privs_are('public', 'event_status_report', '{}'::name[], 'service_role', array['EXECUTE'],
  'service_role executes event_status_report');

-- public.extend_lease(text, uuid[], double precision)
select function_privs_are('public', 'extend_lease', array['text', 'uuid[]', 'double precision'], 'anon', '{}'::text[], 'anon cannot execute extend_lease');
select function_privs_are('public', 'extend_lease', array['text', 'uuid[]', 'double precision'], 'authenticated', '{}'::text[],
  'authenticated cannot execute extend_lease');
select function_privs_are('public', 'extend_lease', array['text', 'uuid[]', 'double precision'], 'service_role', array['EXECUTE'],
  'service_role executes extend_lease');

-- public.finish_events(text, jsonb, double precision)
select function_privs_are('public', 'finish_events', array['text', 'jsonb', 'double precision'], 'anon', '{}'::text[], 'anon cannot execute finish_events');
select function_privs_are('public', 'finish_events', array['text', 'jsonb', 'double precision'], 'authenticated', '{}'::text[],
  'authenticated cannot execute finish_events');
select function_privs_are('public', 'finish_events', array['text', 'jsonb', 'double precision'], 'service_role', array['EXECUTE'],
  'service_role executes finish_events');

-- public.hold_events(text, integer, double precision)
select function_privs_are('public', 'hold_events', array['text', 'integer', 'double precision'], 'anon', '{}'::text[], 'anon cannot execute hold_events');
select function_privs_are('public', 'hold_events', array['text', 'integer', 'double precision'], 'authenticated', '{}'::text[],
  'authenticated cannot execute hold_events');
select function_privs_are('public', 'hold_events', array['text', 'integer', 'double precision'], 'service_role', array['EXECUTE'],
  'service_role executes hold_events');

-- public.next_event_due()
select function_privs_are('public', 'next_event_due', '{}'::name[], 'anon', '{}'::text[], 'anon cannot execute next_event_due');
select function_privs_are('public', 'next_event_due', '{}'::name[], 'authenticated', '{}'::text[],
  'authenticated cannot execute next_event_due');
select function_privs_are('public', 'next_event_due', '{}'::name[], 'service_role', array['EXECUTE'],
  'service_role executes next_event_due');

-- public.prune_events(double precision, integer, boolean)
select function_privs_are('public', 'prune_events', array['double precision', 'integer', 'boolean'], 'anon', '{}'::text[], 'anon cannot execute prune_events');
select function_privs_are('public', 'prune_events', array['double precision', 'integer', 'boolean'], 'authenticated', '{}'::text[],
  'authenticated cannot execute prune_events');
select function_privs_are('public', 'prune_events', array['double precision', 'integer', 'boolean'], 'service_role', array['EXECUTE'],
  'service_role executes prune_events');

-- public.publish_event(uuid, text, jsonb, text, double precision, uuid, uuid, text, integer)
select function_privs_are('public', 'publish_event', array['uuid', 'text', 'jsonb', 'text', 'double precision', 'uuid', 'uuid', 'text', 'integer'], 'anon', '{}'::text[], 'anon cannot execute publish_event');
select function_privs_are('public', 'publish_event', array['uuid', 'text', 'jsonb', 'text', 'double precision', 'uuid', 'uuid', 'text', 'integer'], 'authenticated', '{}'::text[],
  'authenticated cannot execute publish_event');
select function_privs_are('public', 'publish_event', array['uuid', 'text', 'jsonb', 'text', 'double precision', 'uuid', 'uuid', 'text', 'integer'], 'service_role', array['EXECUTE'],
  'service_role executes publish_event');

-- public.record_deliveries(text, uuid, jsonb)
select function_privs_are('public', 'record_deliveries', array['text', 'uuid', 'jsonb'], 'anon', '{}'::text[], 'anon cannot execute record_deliveries');
select function_privs_are('public', 'record_deliveries', array['text', 'uuid', 'jsonb'], 'authenticated', '{}'::text[],
  'authenticated cannot execute record_deliveries');
select function_privs_are('public', 'record_deliveries', array['text', 'uuid', 'jsonb'], 'service_role', array['EXECUTE'],
  'service_role executes record_deliveries');

-- public.recover_expired_leases()
select function_privs_are('public', 'recover_expired_leases', '{}'::name[], 'anon', '{}'::text[], 'anon cannot execute recover_expired_leases');
select function_privs_are('public', 'recover_expired_leases', '{}'::name[], 'authenticated', '{}'::text[],
  'authenticated cannot execute recover_expired_leases');
select function_privs_are('public', 'recover_expired_leases', '{}'::name[], 'service_role', array['EXECUTE'],
  'service_role executes recover_expired_leases');

-- public.release_events(text, uuid[])
select function_privs_are('public', 'release_events', array['text', 'uuid[]'], 'anon', '{}'::text[], 'anon cannot execute release_events');
select function_privs_are('public', 'release_events', array['text', 'uuid[]'], 'authenticated', '{}'::text[],
  'authenticated cannot execute release_events');
select function_privs_are('public', 'release_events', array['text', 'uuid[]'], 'service_role', array['EXECUTE'],
  'service_role executes release_events');

-- public.replay_event(uuid, boolean)
select function_privs_are('public', 'replay_event', array['uuid', 'boolean'], 'anon', '{}'::text[], 'anon cannot execute replay_event');
select function_privs_are('public', 'replay_event', array['uuid', 'boolean'], 'authenticated', '{}'::text[],
  'authenticated cannot execute replay_event');
select function_privs_are('public', 'replay_event', array['uuid', 'boolean'], 'service_role', array['EXECUTE'],
  'service_role executes replay_event');

-- public.replay_events(text, text, timestamp with time zone, boolean)
select function_privs_are('public', 'replay_events', array['text', 'text', 'timestamp with time zone', 'boolean'], 'anon', '{}'::text[], 'anon cannot execute replay_events');
select function_privs_are('public', 'replay_events', array['text', 'text', 'timestamp with time zone', 'boolean'], 'authenticated', '{}'::text[],
  'authenticated cannot execute replay_events');
select function_privs_are('public', 'replay_events', array['text', 'text', 'timestamp with time zone', 'boolean'], 'service_role', array['EXECUTE'],
  'service_role executes replay_events');

-- public.settle_events(text, bigint, jsonb, uuid[], double precision, double precision)
select function_privs_are('public', 'settle_events', array['text', 'bigint', 'jsonb', 'uuid[]', 'double precision', 'double precision'], 'anon', '{}'::text[], 'anon cannot execute settle_events');
select function_privs_are('public', 'settle_events', array['text', 'bigint', 'jsonb', 'uuid[]', 'double precision', 'double precision'], 'authenticated', '{}'::text[],
  'authenticated cannot execute settle_events');
select function_privs_are('public', 'settle_events', array['text', 'bigint', 'jsonb', 'uuid[]', 'double precision', 'double precision'], 'service_role', array['EXECUTE'],
  'service_role executes settle_events');

-- Analytics (20261202170000..170700): members read facts, journeys and rollups; only service code writes them.
-- public.analytics_touchpoints
select table_privs_are('public', 'analytics_touchpoints', 'anon', '{}'::text[], 'anon has no privileges on analytics_touchpoints');
select table_privs_are('public', 'analytics_touchpoints', 'authenticated', array['SELECT'],
  'authenticated may select on analytics_touchpoints');
select table_privs_are('public', 'analytics_touchpoints', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on analytics_touchpoints');
-- public.analytics_stage_entries
select table_privs_are('public', 'analytics_stage_entries', 'anon', '{}'::text[], 'anon has no privileges on analytics_stage_entries');
select table_privs_are('public', 'analytics_stage_entries', 'authenticated', array['SELECT'],
  'authenticated may select on analytics_stage_entries');
select table_privs_are('public', 'analytics_stage_entries', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on analytics_stage_entries');
-- public.analytics_meetings
select table_privs_are('public', 'analytics_meetings', 'anon', '{}'::text[], 'anon has no privileges on analytics_meetings');
select table_privs_are('public', 'analytics_meetings', 'authenticated', array['SELECT'],
  'authenticated may select on analytics_meetings');
select table_privs_are('public', 'analytics_meetings', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on analytics_meetings');
-- public.analytics_deal_outcomes
select table_privs_are('public', 'analytics_deal_outcomes', 'anon', '{}'::text[], 'anon has no privileges on analytics_deal_outcomes');
select table_privs_are('public', 'analytics_deal_outcomes', 'authenticated', array['SELECT'],
  'authenticated may select on analytics_deal_outcomes');
select table_privs_are('public', 'analytics_deal_outcomes', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on analytics_deal_outcomes');
-- public.analytics_lead_journeys
select table_privs_are('public', 'analytics_lead_journeys', 'anon', '{}'::text[], 'anon has no privileges on analytics_lead_journeys');
select table_privs_are('public', 'analytics_lead_journeys', 'authenticated', array['SELECT'],
  'authenticated may select on analytics_lead_journeys');
select table_privs_are('public', 'analytics_lead_journeys', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on analytics_lead_journeys');
-- public.analytics_daily_rollups
select table_privs_are('public', 'analytics_daily_rollups', 'anon', '{}'::text[], 'anon has no privileges on analytics_daily_rollups');
select table_privs_are('public', 'analytics_daily_rollups', 'authenticated', array['SELECT'],
  'authenticated may select on analytics_daily_rollups');
select table_privs_are('public', 'analytics_daily_rollups', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on analytics_daily_rollups');
-- public.analytics_stage_probabilities (members read; owners and admins edit, by policy)
select table_privs_are('public', 'analytics_stage_probabilities', 'anon', '{}'::text[], 'anon has no privileges on analytics_stage_probabilities');
select table_privs_are('public', 'analytics_stage_probabilities', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'authenticated may select, insert, update, delete on analytics_stage_probabilities');
select table_privs_are('public', 'analytics_stage_probabilities', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on analytics_stage_probabilities');
-- public.analytics_record(uuid, jsonb, jsonb, jsonb, jsonb) (writes facts: service code only)
select function_privs_are('public', 'analytics_record', array['uuid', 'jsonb', 'jsonb', 'jsonb', 'jsonb'], 'anon', '{}'::text[], 'anon cannot execute analytics_record');
select function_privs_are('public', 'analytics_record', array['uuid', 'jsonb', 'jsonb', 'jsonb', 'jsonb'], 'authenticated', '{}'::text[],
  'authenticated cannot execute analytics_record');
select function_privs_are('public', 'analytics_record', array['uuid', 'jsonb', 'jsonb', 'jsonb', 'jsonb'], 'service_role', array['EXECUTE'],
  'service_role executes analytics_record');
-- public.record_meeting(uuid, timestamp with time zone, boolean, uuid, timestamp with time zone) (members record meetings of their tenant)
select function_privs_are('public', 'record_meeting', array['uuid', 'timestamp with time zone', 'boolean', 'uuid', 'timestamp with time zone'], 'anon', '{}'::text[], 'anon cannot execute record_meeting');
select function_privs_are('public', 'record_meeting', array['uuid', 'timestamp with time zone', 'boolean', 'uuid', 'timestamp with time zone'], 'authenticated', array['EXECUTE'],
  'authenticated executes record_meeting');
select function_privs_are('public', 'record_meeting', array['uuid', 'timestamp with time zone', 'boolean', 'uuid', 'timestamp with time zone'], 'service_role', array['EXECUTE'],
  'service_role executes record_meeting');
-- public.analytics_funnel(date, date, text, integer, uuid) (a report: security invoker, RLS applies)
select function_privs_are('public', 'analytics_funnel', array['date', 'date', 'text', 'integer', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute analytics_funnel');
select function_privs_are('public', 'analytics_funnel', array['date', 'date', 'text', 'integer', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes analytics_funnel');
select function_privs_are('public', 'analytics_funnel', array['date', 'date', 'text', 'integer', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes analytics_funnel');
-- public.analytics_touch_credits(text, date, date, text, uuid) (a report: security invoker, RLS applies)
select function_privs_are('public', 'analytics_touch_credits', array['text', 'date', 'date', 'text', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute analytics_touch_credits');
select function_privs_are('public', 'analytics_touch_credits', array['text', 'date', 'date', 'text', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes analytics_touch_credits');
select function_privs_are('public', 'analytics_touch_credits', array['text', 'date', 'date', 'text', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes analytics_touch_credits');
-- public.analytics_attribution(text, text, date, date, text, uuid) (a report: security invoker, RLS applies)
select function_privs_are('public', 'analytics_attribution', array['text', 'text', 'date', 'date', 'text', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute analytics_attribution');
select function_privs_are('public', 'analytics_attribution', array['text', 'text', 'date', 'date', 'text', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes analytics_attribution');
select function_privs_are('public', 'analytics_attribution', array['text', 'text', 'date', 'date', 'text', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes analytics_attribution');
-- public.analytics_touch_paths(text, date, date, text, uuid) (a report: security invoker, RLS applies)
select function_privs_are('public', 'analytics_touch_paths', array['text', 'date', 'date', 'text', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute analytics_touch_paths');
select function_privs_are('public', 'analytics_touch_paths', array['text', 'date', 'date', 'text', 'uuid'], 'authenticated', array['EXECUTE'],
  'authenticated executes analytics_touch_paths');
select function_privs_are('public', 'analytics_touch_paths', array['text', 'date', 'date', 'text', 'uuid'], 'service_role', array['EXECUTE'],
  'service_role executes analytics_touch_paths');
-- public.analytics_metrics(date, date, text, uuid, text) (a report: security invoker, RLS applies)
select function_privs_are('public', 'analytics_metrics', array['date', 'date', 'text', 'uuid', 'text'], 'anon', '{}'::text[], 'anon cannot execute analytics_metrics');
select function_privs_are('public', 'analytics_metrics', array['date', 'date', 'text', 'uuid', 'text'], 'authenticated', array['EXECUTE'],
  'authenticated executes analytics_metrics');
select function_privs_are('public', 'analytics_metrics', array['date', 'date', 'text', 'uuid', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes analytics_metrics');
-- public.analytics_rebuild(uuid, date, date) (the backfill: service code only)
select function_privs_are('public', 'analytics_rebuild', array['uuid', 'date', 'date'], 'anon', '{}'::text[], 'anon cannot execute analytics_rebuild');
select function_privs_are('public', 'analytics_rebuild', array['uuid', 'date', 'date'], 'authenticated', '{}'::text[],
  'authenticated cannot execute analytics_rebuild');
select function_privs_are('public', 'analytics_rebuild', array['uuid', 'date', 'date'], 'service_role', array['EXECUTE'],
  'service_role executes analytics_rebuild');

-- The same promise for every table at once, in case a table is listed above but its block was forgotten.
select is(
  (select array_agg(c.relname::text || ' ' || r.rolname || ' ' || p.privilege_type order by 1)
   from pg_class c
   cross join lateral aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) p
   join pg_roles r on r.oid = p.grantee
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
     and (r.rolname = 'anon'
          or (r.rolname = 'authenticated' and p.privilege_type in ('TRUNCATE', 'REFERENCES', 'TRIGGER')))),
  null, 'no table in public grants anon anything, nor authenticated TRUNCATE, REFERENCES or TRIGGER');

-- Sequences: only service code inserts into tables with one; setval() would let a member reorder the outbox.
select is(
  (select array_agg(c.relname::text || ' ' || r.rolname || ' ' || p.privilege_type order by 1)
   from pg_class c
   cross join lateral aclexplode(coalesce(c.relacl, acldefault('S', c.relowner))) p
   join pg_roles r on r.oid = p.grantee
   where c.relnamespace = 'public'::regnamespace and c.relkind = 'S' and r.rolname in ('anon', 'authenticated')),
  null, 'anon and authenticated have no privileges on any sequence in public');

-- The private helpers: anon executes none of them (they are security definer or only for triggers).
select is(
  (select array_agg(p.oid::regprocedure::text order by 1) from pg_proc p
   where p.pronamespace = 'private'::regnamespace and has_function_privilege('anon', p.oid, 'execute')),
  null, 'anon executes no function in private');
select function_privs_are('private', 'tenant_id', '{}'::name[], 'authenticated', array['EXECUTE'],
  'policies call private.tenant_id() as the member');
select function_privs_are('private', 'tenant_role', '{}'::name[], 'authenticated', array['EXECUTE'],
  'policies call private.tenant_role() as the member');

-- public.dashboard_event_summary(timestamptz, text) (the Events view's counts: security invoker, RLS applies)
select function_privs_are('public', 'dashboard_event_summary', array['timestamp with time zone', 'text'], 'anon', '{}'::text[], 'anon cannot execute dashboard_event_summary');
select function_privs_are('public', 'dashboard_event_summary', array['timestamp with time zone', 'text'], 'authenticated', array['EXECUTE'],
  'authenticated executes dashboard_event_summary');
select function_privs_are('public', 'dashboard_event_summary', array['timestamp with time zone', 'text'], 'service_role', array['EXECUTE'],
  'service_role executes dashboard_event_summary');
-- public.dashboard_replay_event(uuid, boolean) (security definer: owners and admins of the event's tenant, checked inside)
select function_privs_are('public', 'dashboard_replay_event', array['uuid', 'boolean'], 'anon', '{}'::text[], 'anon cannot execute dashboard_replay_event');
select function_privs_are('public', 'dashboard_replay_event', array['uuid', 'boolean'], 'authenticated', array['EXECUTE'],
  'authenticated executes dashboard_replay_event');
select function_privs_are('public', 'dashboard_replay_event', array['uuid', 'boolean'], 'service_role', array['EXECUTE'],
  'service_role executes dashboard_replay_event');

-- public.invitations (owners and admins read, invite and withdraw, by policy; inserted columns limited)
select table_privs_are('public', 'invitations', 'anon', '{}'::text[], 'anon has no privileges on invitations');
select table_privs_are('public', 'invitations', 'authenticated', array['SELECT', 'DELETE'],
  'authenticated may select, delete on invitations (insert: some columns, below)');
select column_privs_are('public', 'invitations', 'email', 'authenticated', array['SELECT', 'INSERT'],
  'authenticated may give an invitation''s email');
select column_privs_are('public', 'invitations', 'token_hash', 'authenticated', array['SELECT'],
  'authenticated cannot choose an invitation''s token');
select column_privs_are('public', 'invitations', 'tenant_id', 'authenticated', array['SELECT'],
  'authenticated cannot name an invitation''s tenant (it is the token''s)');
select table_privs_are('public', 'invitations', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'service_role has every privilege on invitations');

-- Team functions: signed-in users create a tenant, invite (rules inside and by RLS), accept, list members.
select function_privs_are('public', 'create_tenant', array['text'], 'anon', '{}'::text[], 'anon cannot execute create_tenant');
select function_privs_are('public', 'create_tenant', array['text'], 'authenticated', array['EXECUTE'], 'authenticated executes create_tenant');
select function_privs_are('public', 'create_tenant', array['text'], 'service_role', array['EXECUTE'], 'service_role executes create_tenant');
select function_privs_are('public', 'invite_member', array['text', 'text', 'text'], 'anon', '{}'::text[], 'anon cannot execute invite_member');
select function_privs_are('public', 'invite_member', array['text', 'text', 'text'], 'authenticated', array['EXECUTE'], 'authenticated executes invite_member');
select function_privs_are('public', 'invite_member', array['text', 'text', 'text'], 'service_role', array['EXECUTE'], 'service_role executes invite_member');
select function_privs_are('public', 'accept_invitation', array['text'], 'anon', '{}'::text[], 'anon cannot execute accept_invitation');
select function_privs_are('public', 'accept_invitation', array['text'], 'authenticated', array['EXECUTE'], 'authenticated executes accept_invitation');
select function_privs_are('public', 'accept_invitation', array['text'], 'service_role', array['EXECUTE'], 'service_role executes accept_invitation');
select function_privs_are('public', 'team_members', '{}'::text[], 'anon', '{}'::text[], 'anon cannot execute team_members');
select function_privs_are('public', 'team_members', '{}'::text[], 'authenticated', array['EXECUTE'], 'authenticated executes team_members');
select function_privs_are('public', 'team_members', '{}'::text[], 'service_role', array['EXECUTE'], 'service_role executes team_members');
-- The invitation email handler's API: service code only.
select function_privs_are('public', 'invitation_for_sending', array['uuid', 'uuid'], 'anon', '{}'::text[], 'anon cannot execute invitation_for_sending');
select function_privs_are('public', 'invitation_for_sending', array['uuid', 'uuid'], 'authenticated', '{}'::text[], 'authenticated cannot execute invitation_for_sending');
select function_privs_are('public', 'invitation_for_sending', array['uuid', 'uuid'], 'service_role', array['EXECUTE'], 'service_role executes invitation_for_sending');
select function_privs_are('public', 'record_invitation_email', array['uuid', 'uuid', 'text', 'text', 'jsonb', 'text'], 'anon', '{}'::text[], 'anon cannot execute record_invitation_email');
select function_privs_are('public', 'record_invitation_email', array['uuid', 'uuid', 'text', 'text', 'jsonb', 'text'], 'authenticated', '{}'::text[], 'authenticated cannot execute record_invitation_email');
select function_privs_are('public', 'record_invitation_email', array['uuid', 'uuid', 'text', 'text', 'jsonb', 'text'], 'service_role', array['EXECUTE'], 'service_role executes record_invitation_email');

-- A table created later starts the same way (default privileges), so forgetting a revoke is not a hole.
create table public.zz_privileges_probe (id integer primary key);
select table_privs_are('public', 'zz_privileges_probe', 'anon', '{}'::text[], 'a new table grants anon nothing');
select table_privs_are('public', 'zz_privileges_probe', 'authenticated', array['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  'a new table grants authenticated no TRUNCATE, REFERENCES or TRIGGER');
select table_privs_are('public', 'zz_privileges_probe', 'service_role', array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  'a new table grants service_role everything');
create sequence public.zz_privileges_probe_seq;
select sequence_privs_are('public', 'zz_privileges_probe_seq', 'anon', '{}'::text[], 'a new sequence grants anon nothing');
select sequence_privs_are('public', 'zz_privileges_probe_seq', 'authenticated', array['SELECT', 'USAGE'],
  'a new sequence grants authenticated no UPDATE (setval)');

select * from finish();
rollback;

"""Alerting: rules per tenant evaluated by the listener's maintenance loop into `alerts`, sent to targets.

- `rules`: the vocabulary (metrics, severities, target kinds) mirrored from SQL, and the rule input model;
- `settings`: how often to evaluate, how to retry, the SMTP server (environment);
- `evaluator`: `AlertMonitor`, the maintenance task: one `evaluate_alerts` call per round (the SQL takes the
  advisory lock, so one listener evaluates at a time), then the due notifications are sent outside it;
- `notifiers`: webhook (Slack-compatible JSON signed the Standard Webhooks way), email (SMTP), dashboard.

The SQL is in supabase/migrations/20261203100000_alerting_tables.sql and *_alerting_functions.sql.
"""

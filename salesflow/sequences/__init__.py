"""Follow-up sequences: steps on delays, sent inside a window on the lead's clock, stopped by replies.

`schedule` is the time math (windows in the lead's time zone, business days, holidays, DST, caps' days,
snoozes), `rendering` fills `{{placeholders}}`, `autoreply` tells an out-of-office answer from a reply,
`models` validates a sequence definition (the CLI's YAML, the same rules as the SQL checks), `steps` runs one
due step through the channel layer, and `store` is the data access (TenantData RPCs of
supabase/migrations/20261202180300_sequence_functions.sql).
"""

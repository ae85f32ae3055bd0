"""Conversations: messages on every channel, their leads' identities, facts, consents and summaries.

The schema lives in `supabase/migrations/202612011500*`; `vocabulary` mirrors its channel list and rules.
"""

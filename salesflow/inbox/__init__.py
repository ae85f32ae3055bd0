"""The DM inbox (IDPS): one list over every channel's conversations, by priority, with what needs a person.

SQL keeps the status and computes the priority (supabase/migrations/20261202200000..200200, docs/inbox.md);
this package reads the lead's words (`signals`), replies from the inbox (`reply`) and names the vocabulary.
"""

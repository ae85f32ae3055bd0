"""SalesFlow AI: a Supabase-native backend for sales automation."""

__version__ = "0.1.0"

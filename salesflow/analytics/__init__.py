"""Analytics: the funnel and attribution reports computed by the database (supabase/migrations/*analytics*),
their vocabulary (`stages`), and the data-driven attribution model (`attribution.markov`) computed over the
touch paths the database returns. docs/analytics.md has the definitions.

This package knows no transport and no local stack: callers hand it rows.
"""

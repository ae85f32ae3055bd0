"""The `salesflow` command."""

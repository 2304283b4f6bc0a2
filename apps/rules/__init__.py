"""The one expression language for rules, filters, realtime and push targeting (API.md)."""

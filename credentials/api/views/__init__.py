"""Credentials API views: `nats.py` (account, roles, users, exports, imports) and `nebula.py` (CAs, networks, hosts)."""

"""Credentials API routes, one module per half: `nats.py` (`nats-api`) and `nebula.py` (`nebula-api`)."""

"""Credentials API serializers, one module per half: `nats.py` and `nebula.py`."""

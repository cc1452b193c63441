"""Query filters of the credentials API, one module per half: `nats.py` and `nebula.py`."""

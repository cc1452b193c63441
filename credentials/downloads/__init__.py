"""The audited ways a secret leaves the control plane, one module per half: `.creds` (`nats.py`) and Nebula
configs (`nebula.py`)."""

"""Live Prometheus metrics of a run (exporter.py) and the Pushgateway push (pushgateway.py)."""

"""Clinical steps for the monitoring features (see conftest.py for the shared ones)."""

"""Clinical steps for the drugs features (see conftest.py for the shared ones)."""

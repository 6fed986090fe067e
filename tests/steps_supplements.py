"""Clinical steps for the supplements features (see conftest.py for the shared ones)."""

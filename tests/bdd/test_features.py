"""Runs every scenario in features/ (step definitions in conftest.py)."""

from pytest_bdd import scenarios

scenarios("../../features")

"""Helpers that start real servers and real service processes for the tests."""

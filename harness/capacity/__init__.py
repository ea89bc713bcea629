"""Capacity search: the highest rate a setting sustains under a latency objective."""

"""Hookline's reproducible benchmark (issue 6): ``make bench``; see bench/run.py."""

"""Ingest: bring the site's access logs and events into the portal.

This package holds the pure layers (reading sources, parsing lines, cookies, search terms,
user agents); linking and storing build on them.
"""

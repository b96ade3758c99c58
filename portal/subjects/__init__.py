"""Subjects and what the site holds about them: the identity graph, the cookie catalog, the personal-data
registry, log browsing, consent, "This browser" and retention."""

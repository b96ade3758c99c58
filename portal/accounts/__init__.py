"""Accounts: registration, passwords, sessions, sign-in, throttling, the second factor, re-auth."""

"""The back-office: what support staff see and work on."""

"""Back-office pages (staff only, second factor required)."""

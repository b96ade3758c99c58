"""Self-service and public pages: account, My data, This browser, consent, export, receipts."""

"""What every area shares: settings, the store's engines, the unit of work, time, errors, crypto, mail."""

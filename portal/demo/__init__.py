"""Demo mode: the demo accounts and data, and the simulated video site."""

"""Use-cases: small async functions that combine the pure core with the adapters."""

"""Operating the gateway: the versioned configuration store, the gateway file, metrics."""

"""The reverse publishing proxy: configuration loader, edge TLS, revocation cache, delegation
seam and the asyncio server (scenarios S2 and S4)."""

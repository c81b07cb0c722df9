"""Exchange server-to-server OAuth: token model, validator with Exchange diagnostics, token
minting for tests, Auth Certificate rollover and monitor decisions. Pure logic: no sockets,
no files; clocks are passed in."""

"""The proxy's decisions as sans-IO layers: events in, commands out (mitmproxy's proxy/layers, h11).

Only the runtime servers do I/O; they feed each layer what happened and carry out the
commands it returns, so every decision can be tested without sockets (a playbook of
events → expected commands, ``tests/core/proxy``).
"""

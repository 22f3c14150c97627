"""Simulated connected systems: stand-ins for a case system, a directory and a CAF system.

Test peers for the demo and the end-to-end tests, not part of the product. Each is an HTTP app
that stores what it receives, honours ``Idempotency-Key`` as a real partner API would, can be
told to fail for a while, and (the CAF system) can send its own messages to the hub.
"""

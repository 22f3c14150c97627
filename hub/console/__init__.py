"""The operations console: server-rendered pages for the people who run the hub.

Owns login, roles, sessions and CSRF for its own pages, and the pages themselves (dashboard,
message trace, dead letters, child view, consent, mappings, audit). It reads the store and calls
the hub's own operations (courier replay, the consent register, the mapping engine); it never
sends a message itself, and it shows personal data only masked unless a role entitled to it asks,
which is audited.
"""

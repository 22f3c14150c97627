"""Consent and the sharing policy: may this event go to that destination, on what basis, which fields?

Default deny. Every answer names its reason; every permit names its legal basis and the exact
fields that may leave, after minimisation to the destination's allowed data categories.

- ``vocabulary``: purposes, who consents, legal gateways, scopes;
- ``subjects``: keyed hashes of a child's strong identifiers, the only way the register and the
  audit log name a child;
- ``register``: consents and gateway decisions, their validation, withdrawal and storage;
- ``policy``: the pure decision over a child's register state;
- ``minimise`` and ``profiles``: which fields of which categories each kind of system may get;
- ``sharing``: the decision in the message path, stored and audited, and re-run at delivery;
- ``explain``: why a decision was made, and a child's disclosure report.
"""

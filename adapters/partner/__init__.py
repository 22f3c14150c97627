"""The partner agency adapter (health, education, police, housing, voluntary sector ...).

Partners have no common wire format yet: the hub sends them the minimised canonical data the
sharing decision permitted, as JSON, until a mapping spec for a partner's format replaces it.
Health partners speak FHIR R4 (profile ``health-fhir``): their referrals and the hub's
acknowledgements are mapping specs, and every FHIR document is validated by ``fhir``.
"""

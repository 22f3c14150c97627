"""Consent and the sharing policy: may this event go to that destination, on what basis, which fields?

Default deny. Every answer names its reason; every permit names its legal basis and the exact
fields that may leave, after minimisation to the destination's allowed data categories.
"""

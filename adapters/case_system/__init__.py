"""The case system adapter (a local authority's ICS): one mapping profile per supplier format.

The hub opens contacts/referrals on the case system, with CAF content as draft evidence; the case
system tells the hub when a social worker is allocated, what was decided on a referral and when a
case closes. Each supplier's messages are described by its own schema here and its own mapping
specs (``mappings/base/specs/case_system/<supplier>/``), with its codes in code lists.
"""

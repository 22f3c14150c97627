"""The directory adapter (a ContactPoint-style child index): renders the updates it may receive.

The directory is one-way: the hub sends it identity, carers and involvements, never case data,
and nothing it says updates a case record.
"""

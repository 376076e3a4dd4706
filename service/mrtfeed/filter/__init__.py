"""Filters: the expression language, bgpscanner flags, and AS-path loop classes."""

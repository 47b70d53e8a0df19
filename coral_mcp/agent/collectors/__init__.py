"""Collectors: each reads one outside source and returns a typed snapshot."""

"""Names shared by the key material and the lean agent (no crypto imports here)."""

#: The name every colony certificate carries (agents pin the key, not a DNS name).
COLONY_TLS_NAME = "coral-colony"

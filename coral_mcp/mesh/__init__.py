"""The encrypted control mesh: identities, join tokens, tunnels, discovery records."""

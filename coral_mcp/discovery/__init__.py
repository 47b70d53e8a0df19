"""The discovery service: relays colonies' signed records; holds no secrets."""

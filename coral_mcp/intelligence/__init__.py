"""The intelligence layer: runs analysis over the store (engine, facade, replay, evaluation)."""

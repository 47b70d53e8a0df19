"""The gRPC edge: protobuf codec, the agent's stream client, the colony's servicer."""

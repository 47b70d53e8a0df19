"""Generated protobuf code for coral.v1 (scripts/gen_proto.py): imported by rpc/ only."""

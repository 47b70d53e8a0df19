"""What an agent sends its colony as sequenced data: one of three batches."""

from __future__ import annotations

from coral_mcp.models.events import EventBatch
from coral_mcp.models.metrics import SummaryWindow
from coral_mcp.models.topology import ServiceBatch

#: A sequenced agent message's body. Each kind splits itself in `halves()`; the codec
#: (`rpc/codec.py`) maps the union to and from protobuf in one place each way.
DataBody = SummaryWindow | ServiceBatch | EventBatch

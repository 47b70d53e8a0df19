"""The agent's small persistent state: its id and a floor for its sequence numbers.

Kept in `agent.json` under the data dir, written atomically (temp file + rename) when
it changes: at creation, and when the colony says it has committed past the floor. An
agent restarted on the same data dir is the same agent and never reuses a sequence
number the colony has already committed: the numbers given to messages are recorded
with the messages in the ring store's backlog (`RingStore.last_seq`), so this file is
not rewritten for every message.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from coral_mcp.errors import DataDirError
from coral_mcp.rpc.codec import MAX_SEQ

logger = logging.getLogger(__name__)

STATE_FILE = "agent.json"


@dataclass(slots=True)
class AgentIdentity:
    path: Path
    agent_id: str
    next_seq: int

    @classmethod
    def load_or_create(cls, data_dir: Path, hostname: str) -> AgentIdentity:
        path = data_dir / STATE_FILE
        try:
            raw = json.loads(path.read_text())
            identity = cls(path, str(raw["agent_id"]), int(raw["next_seq"]))
            if not 1 <= identity.next_seq <= MAX_SEQ:
                # An older agent adopted an impossible number from its colony. Start
                # again at 1: the colony's acknowledgement at registration moves us on
                # past whatever it has committed.
                logger.warning(
                    "agent state %s had sequence %d, out of range: reset to 1",
                    path,
                    identity.next_seq,
                )
                identity.next_seq = 1
                identity.save()
        except FileNotFoundError:
            host = hostname.split(".", maxsplit=1)[0]
            short = "".join(c for c in host if c.isalnum() or c in "-_")
            agent_id = f"{short or 'host'}-{os.urandom(4).hex()}"
            identity = cls(path, agent_id, 1)
            identity.save()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataDirError(
                f"cannot read the agent state {path}: {exc}",
                hint="fix or remove the file (removing it makes this a new agent)",
            ) from None
        return identity

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(json.dumps({"agent_id": self.agent_id, "next_seq": self.next_seq}))
            os.replace(tmp, self.path)
        except OSError as exc:
            raise DataDirError(f"cannot write the agent state {self.path}: {exc}") from None

    def advance(self, next_seq: int) -> None:
        if self.next_seq < next_seq <= MAX_SEQ:
            self.next_seq = next_seq
            self.save()

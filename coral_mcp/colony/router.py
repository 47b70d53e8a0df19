"""Routes detail queries from the colony to one agent's stream and waits for the reply.

Each query gets an id and a deadline; the reply resolves the waiting future. An agent
without an open stream gets a clear "offline since" error at once; one that does not
answer in time gets a timeout error. Nothing hangs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import replace

from coral_mcp.errors import QueryError
from coral_mcp.models import DetailQuery, QueryReply

logger = logging.getLogger(__name__)

#: Largest reply document accepted from an agent, characters.
MAX_REPLY_CHARS = 1_000_000


class QueryRouter:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[str, asyncio.Future[QueryReply]]] = {}

    async def ask(
        self,
        agent_id: str,
        send: Callable[[DetailQuery], None],
        query: DetailQuery,
        timeout_s: float,
    ) -> QueryReply:
        query_id = next(self._ids)
        deadline_ms = int((self._clock() + timeout_s) * 1000)
        future: asyncio.Future[QueryReply] = asyncio.get_running_loop().create_future()
        self._waiting[query_id] = (agent_id, future)
        try:
            send(replace(query, query_id=query_id, deadline_ms=deadline_ms))
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise QueryError(
                f"agent {agent_id} did not answer the {query.kind.value} query within"
                f" {timeout_s:g} s",
                hint="the agent may be overloaded or its link slow; try again or narrow the range",
            ) from None
        finally:
            self._waiting.pop(query_id, None)

    def resolve(self, agent_id: str, reply: QueryReply) -> None:
        waiting = self._waiting.get(reply.query_id)
        if waiting is None or waiting[0] != agent_id:
            logger.debug("agent %s answered unknown or expired query %d", agent_id, reply.query_id)
            return
        _, future = waiting
        if len(reply.json) > MAX_REPLY_CHARS:
            reply = QueryReply(reply.query_id, error=f"reply larger than {MAX_REPLY_CHARS} chars")
        if not future.done():
            future.set_result(reply)

    def fail_agent(self, agent_id: str) -> None:
        """The agent's stream closed: its open queries fail now instead of timing out."""
        for waiting_agent, future in list(self._waiting.values()):
            if waiting_agent == agent_id and not future.done():
                future.set_exception(
                    QueryError(
                        f"agent {agent_id} disconnected before answering",
                        hint="try again once it reconnects",
                    )
                )

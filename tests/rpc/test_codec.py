import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coral_mcp.errors import ProtocolError
from coral_mcp.models import (
    Endpoint,
    MetricSummary,
    Peer,
    ServiceBatch,
    ServiceState,
    SummaryWindow,
)
from coral_mcp.proto import coral_pb2 as pb
from coral_mcp.rpc import codec

# Printable names (control and format characters are refused at the edge).
names = st.text(
    alphabet=st.characters(
        min_codepoint=33, max_codepoint=0x2FFF, blacklist_categories=("Cc", "Cf")
    ),
    min_size=1,
    max_size=40,
)
finite = st.floats(allow_nan=False, allow_infinity=False)
endpoints = st.builds(
    Endpoint, st.ip_addresses().map(str), st.integers(min_value=1, max_value=65535)
)
summaries = st.builds(
    MetricSummary,
    service=names,
    metric=names,
    min=finite,
    max=finite,
    avg=finite,
    last=finite,
    p95=finite,
    count=st.integers(min_value=0, max_value=2**31 - 1),
)
windows = st.builds(
    SummaryWindow,
    start_ms=st.integers(min_value=0, max_value=2**41),
    end_ms=st.just(codec.MAX_TS_MS),
    summaries=st.lists(summaries, max_size=5).map(tuple),
)
states = st.builds(
    ServiceState,
    name=names,
    spec=st.sampled_from(["pid:1", "port:80", "name:x", "auto"]),
    pids=st.lists(st.integers(min_value=1, max_value=2**31 - 1), max_size=4).map(tuple),
    listen=st.lists(endpoints, max_size=3).map(tuple),
    peers=st.lists(
        st.builds(Peer, endpoints, st.integers(min_value=0, max_value=10_000)), max_size=3
    ).map(tuple),
)


@given(windows)
def test_summary_window_survives_the_wire(window: SummaryWindow) -> None:
    wire = codec.summary_window_to_pb(window).SerializeToString()
    assert codec.summary_window_from_pb(pb.SummaryBatch.FromString(wire)) == window


@given(
    st.builds(
        ServiceBatch,
        st.integers(min_value=0, max_value=codec.MAX_TS_MS),
        st.lists(states, max_size=4).map(tuple),
    )
)
def test_service_batch_survives_the_wire(batch: ServiceBatch) -> None:
    wire = codec.service_batch_to_pb(batch).SerializeToString()
    assert codec.service_batch_from_pb(pb.ServiceBatch.FromString(wire)) == batch


@given(
    st.lists(
        st.builds(
            ServiceBatch,
            st.integers(min_value=0, max_value=codec.MAX_TS_MS),
            st.lists(states, max_size=3).map(tuple),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_service_batches_decode_alike_when_the_agents_last_one_is_remembered(
    batches: list[ServiceBatch],
) -> None:
    seen = codec.ServicesSeen()
    for batch in [*batches, *batches, *reversed(batches)]:  # repeated, and changed
        msg = pb.ServiceBatch.FromString(codec.service_batch_to_pb(batch).SerializeToString())
        assert codec.service_batch_from_pb(msg, seen) == batch


def test_a_refused_service_batch_is_refused_again_when_repeated() -> None:
    def batch(observed_ms: int, ip: str) -> pb.ServiceBatch:
        listen = [pb.Endpoint(ip=ip, port=80)]
        state = pb.ServiceState(service=pb.Service(name="api", listen=listen))
        return pb.ServiceBatch(observed_ms=observed_ms, services=[state])

    seen = codec.ServicesSeen()
    good = codec.service_batch_from_pb(batch(1, "10.0.0.1"), seen)
    for observed_ms in (2, 3):
        with pytest.raises(ProtocolError, match="not an IP address"):
            codec.service_batch_from_pb(batch(observed_ms, "10.0.0.999"), seen)
    assert codec.service_batch_from_pb(batch(4, "10.0.0.1"), seen) == replace(good, observed_ms=4)
    with pytest.raises(ProtocolError, match="not a time"):  # the time is checked every time
        codec.service_batch_from_pb(batch(codec.MAX_TS_MS + 1, "10.0.0.1"), seen)


def test_decoding_refuses_a_non_finite_value() -> None:
    msg = pb.SummaryBatch(
        window_start_ms=0,
        window_end_ms=1,
        summaries=[pb.MetricSummary(service="api", metric="cpu", max=math.nan)],
    )
    with pytest.raises(ProtocolError, match="max is not a finite number"):
        codec.summary_window_from_pb(msg)


def test_decoding_refuses_a_window_that_ends_before_it_starts() -> None:
    with pytest.raises(ProtocolError, match="ends before it starts"):
        codec.summary_window_from_pb(pb.SummaryBatch(window_start_ms=10, window_end_ms=5))


def test_decoding_refuses_an_empty_service_name_and_a_bad_port() -> None:
    with pytest.raises(ProtocolError, match="service name"):
        codec.service_from_pb(pb.Service(name=""))
    with pytest.raises(ProtocolError, match="not an IP address and port"):
        codec.service_from_pb(pb.Service(name="a", listen=[pb.Endpoint(ip="1.2.3.4", port=0)]))


def test_unknown_fields_from_a_newer_agent_are_tolerated() -> None:
    newer = pb.MetricSummary(service="api", metric="cpu", count=3).SerializeToString()
    # field 99, varint 1: something a future version might add
    decoded = pb.MetricSummary.FromString(newer + b"\x98\x06\x01")
    assert decoded.service == "api" and decoded.count == 3


def test_decoding_refuses_numbers_the_store_cannot_hold() -> None:
    with pytest.raises(ProtocolError, match="pid 4294967295 is out of range"):
        codec.service_from_pb(pb.Service(name="a", pids=[2**32 - 1]))
    huge = pb.SummaryBatch(
        window_end_ms=1, summaries=[pb.MetricSummary(service="a", metric="m", count=2**31)]
    )
    with pytest.raises(ProtocolError, match="count 2147483648 is out of range"):
        codec.summary_window_from_pb(huge)


def test_an_older_agents_component_health_series_arrives_under_todays_name() -> None:
    msg = pb.SummaryBatch(
        window_start_ms=0,
        window_end_ms=1,
        summaries=[
            pb.MetricSummary(service="api", metric="health_component_up:db", last=1, count=1),
            pb.MetricSummary(service="api", metric="component_health:cache", last=0, count=1),
        ],
    )
    decoded = codec.summary_window_from_pb(msg)
    assert [s.metric for s in decoded.summaries] == [
        "component_health:db",
        "component_health:cache",
    ]

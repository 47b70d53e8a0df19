import pytest

from coral_mcp.errors import ServiceSpecError
from coral_mcp.models import SpecKind, parse_service_spec


def test_service_spec_parses_each_kind() -> None:
    assert parse_service_spec("db=pid:42").pid == 42
    port = parse_service_spec("api=port:8080")
    assert (port.name, port.kind, port.port) == ("api", SpecKind.PORT, 8080)
    name = parse_service_spec("web=name:nginx: worker")
    assert name.kind is SpecKind.NAME and name.pattern.search("nginx: worker process")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("api", "not NAME=SPEC"),
        ("=port:80", "not NAME=SPEC"),
        ("api=", "not NAME=SPEC"),
        ("api=socket:80", "unknown kind 'socket'"),
        ("api=port:", "needs a value"),
        ("api=port:http", "port must be 1-65535"),
        ("api=port:70000", "port must be 1-65535"),
        ("api=pid:-3", "pid must be a positive integer"),
        ("api=name:(", "not a valid regex"),
        ("a b=pid:1", "service name"),
    ],
)
def test_service_spec_rejects_malformed_input_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(ServiceSpecError, match=None) as info:
        parse_service_spec(text)
    assert says in str(info.value)

"""The service map and charts drawn as SVG."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from coral_mcp.dashboard.svg import Edge, Mark, Node, chart, service_map


def _x_of(svg: str, service: str) -> int:
    found = re.search(rf'data-service="{service}".*?<rect x="(\d+)"', svg)
    assert found
    return int(found.group(1))


def test_the_map_puts_callers_left_of_what_they_call_and_labels_edges() -> None:
    nodes = [Node(n, "ok", "up") for n in ("db", "api", "web")]
    edges = [Edge("web", "api", 4), Edge("api", "db", 7)]
    drawn = service_map(nodes, edges)
    ET.fromstring(drawn)  # well-formed
    assert _x_of(drawn, "web") < _x_of(drawn, "api") < _x_of(drawn, "db")
    assert re.search(r'data-edge="web->api">.*?<text[^>]*>4</text>', drawn)


def test_the_map_survives_a_cycle_and_escapes_names() -> None:
    nodes = [Node("a<b", "anomaly", "x"), Node("c", "ok", "y")]
    drawn = service_map(nodes, [Edge("a<b", "c", 1), Edge("c", "a<b", 2)])
    ET.fromstring(drawn)
    assert "a&lt;b" in drawn and "a<b" not in drawn


def test_a_long_name_is_cut_to_fit_its_node_and_whole_in_its_tooltip() -> None:
    long = "coral_mcp.demo.shop&inventory"
    drawn = service_map([Node(long, "ok", "up"), Node("db", "ok", "up")], [])
    node = ET.fromstring(drawn).find(".//{*}g[@data-service='coral_mcp.demo.shop&inventory']")
    assert node is not None
    label = node.find("{*}text")
    assert label is not None and label.text == "coral_mcp.demo.…"
    title = node.find("{*}title")
    assert title is not None and (title.text or "").startswith(long + ":")
    assert ">db</text>" in drawn  # a short name stays whole


def test_an_empty_map_says_how_to_get_services() -> None:
    assert "start an agent" in service_map([], [])


def test_a_chart_marks_the_anomaly_and_shades_the_normal_band() -> None:
    points = [(float(t), 1.0 if t < 50 else 5.0) for t in range(0, 100, 10)]
    drawn = chart("error_rate", points, 0, 100, (0.5, 1.5), [Mark(50, "level_shift", 5.0)])
    root = ET.fromstring(drawn)
    ns = {"": ""}
    assert root.find(".//rect[@class='band']", ns) is not None
    assert len(root.findall(".//g[@class='anomaly']", ns)) == 1
    outside = chart("error_rate", points, 0, 100, None, [Mark(500, "later", 1.0)])
    assert 'class="anomaly"' not in outside

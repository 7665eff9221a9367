"""Reads a service's /metrics over HTTP, as Prometheus would."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(url: str, name: str, **labels: str) -> float:
    """The sample's value, or 0 when the series has not been created yet."""
    return scrape(url).get((name, frozenset(labels.items())), 0.0)

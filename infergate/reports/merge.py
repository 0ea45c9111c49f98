"""``python -m infergate merge``: many runners' results files into one file and report; the same case
twice for one class and lane (overlapping shards) is refused."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..core.errors import DataFileError
from .results_json import benchmark_origin, results_doc

MERGED_CLASS = "merged"


def merge_docs(docs: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """One results document from several; ``docs`` is (source name, document) pairs."""
    seen: dict[tuple[str, str, str], str] = {}
    benchmarks = []
    sources = []
    for source, doc in docs:
        info = doc.get("machine_info") or {}
        sources.append({"source": source, "machine_class": info.get("machine_class"),
                        "lane": info.get("lane")})
        for bench in doc["benchmarks"]:
            machine_class, lane = benchmark_origin(doc, bench)
            key = (machine_class, lane, bench.get("fullname") or bench["name"])
            if key in seen:
                raise DataFileError(
                    f"{bench['name']!r} on {machine_class} / {lane} is in both {seen[key]} and {source}: "
                    "two shards measured the same case; merge one of them"
                )
            seen[key] = source
            merged = dict(bench)
            merged["extra_info"] = {**(bench.get("extra_info") or {}),
                                    "machine_class": machine_class, "lane": lane}
            benchmarks.append(merged)
    info = {"machine_class": MERGED_CLASS, "lane": MERGED_CLASS, "sources": sources}
    return results_doc(info, benchmarks)

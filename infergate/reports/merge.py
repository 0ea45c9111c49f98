"""``python -m infergate merge``: many runners' results files into one file and report; the same case
twice for one class and lane (overlapping shards) is refused, and so are files of different
results versions or estimators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..core.errors import DataFileError
from .results_json import benchmark_origin, case_key, results_doc

MERGED_CLASS = "merged"
# What each source's machine_info says of how it was measured, kept per source: dropping it lost
# the test-only slowdown hook (a merged hooked run read as a real regression) and the provenance.
SOURCE_KEYS = ("environment", "provenance", "infergate")


def merge_docs(docs: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """One results document from several; ``docs`` is (source name, document) pairs."""
    seen: dict[tuple[str, str, str], str] = {}
    benchmarks = []
    sources = []
    for source, doc in docs:
        sources += _sources(source, doc)
        for bench in doc["benchmarks"]:
            machine_class, lane = benchmark_origin(doc, bench)
            key = (machine_class, lane, case_key(bench))
            if key in seen:
                raise DataFileError(
                    f"{key[2]!r} on {machine_class} / {lane} is in both {seen[key]} and {source}: "
                    "two shards measured the same case; merge one of them"
                )
            seen[key] = source
            merged = dict(bench)
            merged["extra_info"] = {**(bench.get("extra_info") or {}),
                                    "machine_class": machine_class, "lane": lane}
            benchmarks.append(merged)
    _check_comparable(sources)
    info = {"machine_class": MERGED_CLASS, "lane": MERGED_CLASS, "sources": sources}
    return results_doc(info, benchmarks)


def _sources(source: str, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    info = doc.get("machine_info") or {}
    if isinstance(info.get("sources"), list):  # a merged file: its own sources, as they were
        return [dict(s) for s in info["sources"]]
    return [{"source": source, "machine_class": info.get("machine_class"), "lane": info.get("lane"),
             **{k: info[k] for k in SOURCE_KEYS if k in info}}]


def _check_comparable(sources: Sequence[Mapping[str, Any]]) -> None:
    """Refuse sources measured by different --ig-json results versions or estimators: their speedups
    would sit in one table as if comparable. Sources without the block (a gate's from.json/to.json)
    carry neither and are not compared."""
    first: dict[tuple[Any, Any], str] = {}
    for s in sources:
        ig = s.get("infergate")
        if isinstance(ig, Mapping):
            first.setdefault((ig.get("results_version"), ig.get("estimator")), s["source"])
    if len(first) > 1:
        (a, a_src), (b, b_src) = list(first.items())[:2]
        raise DataFileError(f"{a_src} (results version {a[0]!r}, estimator {a[1]!r}) and {b_src} (results version "
                            f"{b[0]!r}, estimator {b[1]!r}) were measured differently: not one report's speedups")

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infergate.core.errors import DataFileError
from infergate.measuring import baselines
from infergate.measuring.baseline_records import BaselineFile, CaseBaseline, InvalidBaseline, RunRecord

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

MACHINE = "amd-epyc-9b14__avx2__2c2t"
LANE = "torch-2.8.0__ipex-2.8.0__tf-4.57.6"


def case_json(speedup: float = 1.4, **overrides: Any) -> dict[str, Any]:
    """A version 1 case (one run, flat): most file tests write version 1 files, which must still
    load, and an update rewrites them as version 2."""
    data: dict[str, Any] = {
        "speedup": speedup,
        "ci": [speedup * 0.97, speedup * 1.03] if isinstance(speedup, (int, float)) else [1.3, 1.5],
        "confidence": 0.99,
        "rounds": 200,
        "median_ms": {"eager": 14.0, "compile": 10.0},
        "recorded": "2025-11-25T12:00:00+00:00",
        "environment": {"python": "3.11.7", "allocator": "glibc", "torch_threads": 2, "env": {}},
    }
    data.update(overrides)
    return data


def case(speedup: float = 1.4, **overrides: Any) -> CaseBaseline:
    return CaseBaseline.from_json(case_json(speedup, **overrides), version=1)


RUN_FIELDS = ("speedup", "ci", "rounds", "median_ms", "recorded")


def case_json_v2(speedups: tuple[float, ...] = (1.4, 1.42, 1.39), **overrides: Any) -> dict[str, Any]:
    v1 = case_json()
    data: dict[str, Any] = {
        "runs": [{**{k: v1[k] for k in RUN_FIELDS}, "speedup": s, "ci": [s * 0.97, s * 1.03]} for s in speedups],
        "confidence": 0.99,
        "environment": v1["environment"],
    }
    data.update(overrides)
    return data


def file_json(cases: Any = None, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": "infergate-baselines",
        "version": 1,
        "history": ["1: first format"],
        "machine_class": MACHINE,
        "lane": LANE,
        "cases": {"bert-fp32-compile": case_json()} if cases is None else cases,
    }
    data.update(overrides)
    return data


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "baselines" / MACHINE / f"{LANE}.json"


# -- reading good files ------------------------------------------------------------------------


def test_update_then_load_round_trips(path: Path) -> None:
    fusions = {"aten::linear+aten::gelu": 12}
    new = {"bert-fp32-compile": case(1.4), "bert-bf16-jit": case(1.2, floor=0.08, fusions=fusions)}
    baselines.update(path, new, MACHINE, LANE)
    loaded = baselines.load(path)
    assert loaded.machine_class == MACHINE and loaded.lane == LANE and loaded.version == 4
    assert dict(loaded.cases) == new
    assert loaded.cases["bert-bf16-jit"].floor == 0.08
    assert loaded.cases["bert-bf16-jit"].fusions == fusions
    assert loaded.cases["bert-fp32-compile"].fusions is None
    only_run = loaded.cases["bert-fp32-compile"].runs[0]
    assert (only_run.speedup, *only_run.ci) == pytest.approx((1.4, 1.4 * 0.97, 1.4 * 1.03))


def test_a_version_1_file_loads_as_one_run_per_case_and_is_rewritten_in_the_current_version(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(file_json({"old": case_json(1.3, floor=0.1)})))
    old = baselines.load(path).cases["old"]
    assert old.speedups == (1.3,) and old.floor == 0.1 and old.span == (1.3, 1.3)
    assert old.estimator == "ratio-of-medians"  # what versions 1 and 2 recorded
    baselines.update(path, {"new": CaseBaseline.from_json(case_json_v2(), version=2)}, MACHINE, LANE)
    data = json.loads(path.read_text())
    assert data["version"] == baselines.VERSION == 4 and [h[:2] for h in data["history"]] == ["1:", "2:", "3:", "4:"]
    assert data["cases"]["old"]["runs"][0]["speedup"] == 1.3 and "speedup" not in data["cases"]["old"]
    # An old case keeps saying how its speedups were taken, so the gate will not compare them.
    assert data["cases"]["old"]["estimator"] == "ratio-of-medians"
    new = baselines.load(path).cases["new"]
    assert new.speedups == (1.4, 1.42, 1.39)
    assert new.speedup == pytest.approx((1.4 * 1.42 * 1.39) ** (1 / 3))
    assert new.span == (1.39, 1.42)


# (format version, name) -> (case, a part of the one message)
BAD_CASES: dict[tuple[int, str], tuple[dict[str, Any], str]] = {
    (2, "runs-empty"): (case_json_v2(runs=[]), "runs must be a non-empty list"),
    (2, "runs-object"): (case_json_v2(runs={"a": 1}), "runs must be a non-empty list"),
    (2, "runs-too-many"): (case_json_v2(speedups=(1.4,) * 61), "more than the 60 kept"),
    (2, "run-missing-field"): (case_json_v2(runs=[{"speedup": 1.4}]), "runs[0] is missing ci, median_ms"),
    (2, "run-bad-speedup"): (case_json_v2(speedups=(1.4, -1.0)), "runs[1] speedup must be a finite number > 0"),
    (2, "run-extra-field"): (case_json_v2(runs=[{**case_json_v2()["runs"][0], "x": 1}]), "runs[0] has unknown"),
    (2, "v1-field-in-v2"): (case_json(), "is missing runs"),
    (2, "estimator-in-v2"): (case_json_v2(estimator="median-of-round-ratios"), "unknown field(s) 'estimator'"),
    (3, "estimator-missing"): (case_json_v2(), "is missing estimator"),
    (3, "estimator-unknown"): (case_json_v2(estimator="mean"), "estimator must be one of median-of-round-ratios, "
                                                               "ratio-of-medians, got str 'mean'"),
    (3, "estimator-number"): (case_json_v2(estimator=1), "estimator must be one of"),
}


@pytest.mark.parametrize("key", sorted(BAD_CASES), ids=lambda key: f"v{key[0]}-{key[1]}")
def test_bad_case_is_one_data_file_error(path: Path, key: tuple[int, str]) -> None:
    raw, expected = BAD_CASES[key]
    path.parent.mkdir(parents=True)
    content = _dump(file_json({"c": raw}, version=key[0]))
    path.write_bytes(content)
    with pytest.raises(DataFileError) as err:
        baselines.load(path)
    assert expected in str(err.value), str(err.value)
    assert path.read_bytes() == content


def test_a_version_2_case_reads_as_ratio_of_medians_and_a_new_record_as_todays_estimator(path: Path) -> None:
    from infergate.measuring.stats import ESTIMATOR

    path.parent.mkdir(parents=True)
    path.write_bytes(_dump(file_json({"old": case_json_v2()}, version=2)))
    assert baselines.load(path).cases["old"].estimator == "ratio-of-medians"
    assert CaseBaseline(runs=case(1.4).runs, confidence=0.99).estimator == ESTIMATOR == "median-of-round-ratios"


def test_written_file_is_review_friendly(path: Path) -> None:
    baselines.update(path, {"b": case(), "a": case()}, MACHINE, LANE)
    text = path.read_text()
    data = json.loads(text)
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert data["schema"] == "infergate-baselines" and data["version"] == 4
    assert data["history"][0].startswith("1: first format") and data["history"][1].startswith("2: ")
    assert data["history"][2].startswith("3: ")
    assert "floor" not in data["cases"]["a"] and "fusions" not in data["cases"]["a"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")) == [path.name]


def test_missing_file(path: Path) -> None:
    assert baselines.load_or_none(path) is None
    with pytest.raises(DataFileError, match="does not exist"):
        baselines.load(path)


def test_integers_are_accepted_as_numbers(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(file_json({"c": case_json(2, ci=[1, 3], median_ms={"eager": 4, "jit": 2})})))
    assert baselines.load(path).cases["c"].speedup == 2.0 and baselines.load(path).cases["c"].runs[0].rounds == 200


# -- bad files ---------------------------------------------------------------------------------


def _dump(data: Any) -> bytes:
    return json.dumps(data).encode()


def _with_case(**overrides: Any) -> bytes:
    return _dump(file_json({"c": case_json(**overrides)}))


def _without_case_field(name: str) -> bytes:
    data = file_json()
    del data["cases"]["bert-fp32-compile"][name]
    return _dump(data)


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "is empty"),
    "whitespace": (b"  \n", "is empty"),
    "truncated": (_dump(file_json())[:-40], "not valid JSON"),
    "garbage": (b"\x00\xff\xfe binary", "not UTF-8"),
    "merge-conflict": (b'<<<<<<< HEAD\n{"schema": 1}\n=======\n', "not valid JSON"),
    "top-level-list": (b"[1, 2]", "must hold a JSON object, found list"),
    "top-level-null": (b"null", "found NoneType"),
    "no-schema": (_dump({"version": 1}), "no 'schema' field"),
    "wrong-schema": (_dump(file_json(schema="asv-results")), "has schema str 'asv-results'"),
    "future-version": (
        _dump(file_json(version=7)),
        "has version 7; this infergate reads versions 1, 2, 3, 4 — upgrade infergate",
    ),
    "version-zero": (_dump(file_json(version=0)), "has version 0"),
    "version-string": (_dump(file_json(version="1")), "expected an integer"),
    "version-bool": (_dump(file_json(version=True)), "expected an integer"),
    "missing-cases": (_dump({k: v for k, v in file_json().items() if k != "cases"}), "is missing cases"),
    "unknown-top-field": (_dump(file_json(extra=1)), "unknown field(s) 'extra'"),
    "history-not-list": (_dump(file_json(history="1: x")), "history must be a list of strings"),
    "empty-lane": (_dump(file_json(lane="")), "lane must be a non-empty string"),
    "cases-list": (_dump(file_json(cases=[])), "cases must be an object"),
    "case-not-object": (_dump(file_json({"c": 1.4})), "case 'c' must be an object"),
    "speedup-string": (_with_case(speedup="1.4"), "case 'c' speedup must be a number, got str '1.4'"),
    "speedup-bool": (_with_case(speedup=True), "speedup must be a number"),
    "speedup-negative": (_with_case(speedup=-1.0), "speedup must be a finite number > 0"),
    "speedup-zero": (_with_case(speedup=0), "speedup must be a finite number > 0"),
    "speedup-nan": (_with_case(speedup=float("nan")), "contains NaN"),
    "speedup-infinity": (_with_case(speedup=float("inf")), "contains Infinity"),
    "speedup-overflow": (_with_case(speedup=1.0).replace(b'"speedup": 1.0', b'"speedup": 1e999'), "finite"),
    "ci-single": (_with_case(ci=[1.0]), "ci must be a pair"),
    "ci-strings": (_with_case(ci=["a", "b"]), "ci[0] must be a number"),
    "ci-reversed": (_with_case(ci=[1.5, 1.3]), "low <= high"),
    "ci-object": (_with_case(ci={"lo": 1, "hi": 2}), "ci must be a pair"),
    "confidence-one": (_with_case(confidence=1), "confidence must be in (0, 1)"),
    "rounds-float": (_with_case(rounds=200.0), "rounds must be an integer"),
    "rounds-zero": (_with_case(rounds=0), "rounds must be an integer >= 1"),
    "median-no-eager": (_with_case(median_ms={"jit": 1.0}), "must include 'eager'"),
    "median-bad-value": (_with_case(median_ms={"eager": "14"}), "median_ms['eager'] must be a number"),
    "floor-too-big": (_with_case(floor=1.5), "floor must be in [0, 1)"),
    "fusions-bad-count": (_with_case(fusions={"p": -1}), "fusions['p'] must be a count"),
    "fusions-list": (_with_case(fusions=["p"]), "fusions must be an object"),
    "recorded-not-iso": (_with_case(recorded="yesterday"), "recorded must be an ISO timestamp"),
    "recorded-number": (_with_case(recorded=20251125), "recorded must be an ISO timestamp string"),
    "environment-list": (_with_case(environment=[]), "environment must be an object"),
    "missing-field": (_without_case_field("rounds"), "is missing rounds"),
    "typo-field": (_with_case(flor=0.1), "unknown field(s) 'flor'"),
    "duplicate-case": (
        b'{"schema": "infergate-baselines", "version": 1, "cases": {"c": 1, "c": 2}}',
        "has the key 'c' twice",
    ),
    "huge-integer": (b'{"version": ' + b"9" * 5000 + b"}", "could not be parsed"),
    "deep-nesting": (b"[" * 100_000, "could not be parsed"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_one_data_file_error_and_left_untouched(path: Path, name: str) -> None:
    content, expected = BAD_FILES[name]
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(DataFileError) as err:
        baselines.load(path)
    message = str(err.value)
    assert str(path) in message and expected in message, message
    assert "\n" not in message
    # update() must refuse the same file rather than overwrite it.
    with pytest.raises(DataFileError):
        baselines.update(path, {"new": case()}, MACHINE, LANE)
    assert path.read_bytes() == content


def test_future_version_message_is_exact(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(_dump(file_json(version=7)))
    with pytest.raises(DataFileError) as err:
        baselines.load(path)
    assert str(err.value) == (
        f"baselines file {path} has version 7; this infergate reads versions 1, 2, 3, 4 — "
        "upgrade infergate or move the file aside"
    )


def test_unreadable_path_is_a_data_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="could not be read"):
        baselines.load(tmp_path)  # a directory


def test_update_refuses_a_file_of_another_machine_class(path: Path) -> None:
    baselines.update(path, {"a": case()}, MACHINE, LANE)
    before = path.read_bytes()
    with pytest.raises(DataFileError, match="refusing to mix"):
        baselines.update(path, {"b": case()}, "other__avx512__8c16t", LANE)
    assert path.read_bytes() == before


# -- constructing cases ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"speedup": "1.4"},
        {"speedup": float("nan")},
        {"ci": (1.0, 2.0, 3.0)},
        {"rounds": -3},
        {"median_ms": {}},
    ],
)
def test_run_record_validates_on_construction(overrides: dict[str, Any]) -> None:
    fields = {**{k: case_json()[k] for k in RUN_FIELDS}, **overrides}
    with pytest.raises(InvalidBaseline):
        RunRecord(**fields)


def test_case_baseline_is_frozen_and_normalised() -> None:
    run = RunRecord(**{k: case_json(2, ci=[1, 3])[k] for k in RUN_FIELDS})
    c = CaseBaseline(runs=[run], confidence=0.99)
    assert run.ci == (1.0, 3.0) and isinstance(c.speedup, float) and c.runs == (run,)
    with pytest.raises(AttributeError):
        c.confidence = 0.5  # type: ignore[misc]
    with pytest.raises(TypeError):
        run.median_ms["eager"] = 1.0  # type: ignore[index]
    with pytest.raises(InvalidBaseline, match="runs must be a non-empty list"):
        CaseBaseline(runs=[], confidence=0.99)


def test_dumps_never_writes_nan() -> None:
    bad = BaselineFile(MACHINE, LANE, {"c": case(environment={"x": float("nan")})})
    with pytest.raises(ValueError, match="non-finite"):
        baselines.dumps(bad)


def test_update_rejects_non_case_values(path: Path) -> None:
    with pytest.raises(TypeError):
        baselines.update(path, {"c": case_json()}, MACHINE, LANE)  # type: ignore[dict-item]
    assert not path.exists()


# -- merging and concurrency -------------------------------------------------------------------


def test_merge_keeps_other_cases_and_replaces_updated(path: Path) -> None:
    baselines.update(path, {"a": case(1.1), "b": case(1.2)}, MACHINE, LANE)
    baselines.update(path, {"b": case(1.5), "c": case(1.3)}, MACHINE, LANE, replace=True)
    cases = baselines.load(path).cases
    assert {k: v.speedup for k, v in cases.items()} == {"a": 1.1, "b": 1.5, "c": 1.3}


def _add_cases(path: str, worker: int, barrier: Any) -> None:
    barrier.wait()  # start together so the updates really interleave
    for i in range(20):
        baselines.update(path, {f"w{worker}-case{i:02d}": case(1.0 + i / 100)}, MACHINE, LANE)


def test_concurrent_updaters_lose_no_entry(path: Path) -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork to run the updaters without re-importing the test module")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_add_cases, args=(str(path), w, barrier)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
    assert [p.exitcode for p in workers] == [0, 0]
    cases = baselines.load(path).cases
    assert sorted(cases) == sorted(f"w{w}-case{i:02d}" for w in range(2) for i in range(20))


# -- fuzzing -----------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load_must_succeed_or_raise_data_file_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / "fuzz.json"
        target.write_bytes(content)
        try:
            loaded = baselines.load(target)
        except DataFileError as exc:
            assert str(target) in str(exc)
        else:
            # Whatever loads must also be writable again: no NaN, nothing json cannot dump.
            json.loads(baselines.dumps(loaded))
        assert target.read_bytes() == content


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(content: bytes) -> None:
    _load_must_succeed_or_raise_data_file_error(content)


@FUZZ
@given(JSON)
def test_fuzz_random_json(value: Any) -> None:
    _load_must_succeed_or_raise_data_file_error(json.dumps(value).encode())


_TOP_FIELDS = sorted(file_json())
_CASE_FIELDS = sorted(case_json()) + ["floor", "fusions"]


@FUZZ
@given(
    where=st.sampled_from(["top", "case", "nested"]),
    top_field=st.sampled_from(_TOP_FIELDS),
    case_field=st.sampled_from(_CASE_FIELDS),
    value=JSON,
)
def test_fuzz_one_field_of_a_valid_file(where: str, top_field: str, case_field: str, value: Any) -> None:
    # Random JSON rarely gets past the schema check; replacing one field of a valid file
    # exercises every per-field validator.
    data = file_json()
    if where == "top":
        data[top_field] = value
    elif where == "case":
        data["cases"]["bert-fp32-compile"][case_field] = value
    else:
        target = data["cases"]["bert-fp32-compile"]
        target["median_ms" if case_field < "m" else "environment"] = {"eager": value}
    _load_must_succeed_or_raise_data_file_error(json.dumps(copy.deepcopy(data)).encode())


def test_the_fuzzed_valid_file_loads_so_one_field_fuzzing_starts_from_a_file_that_passes(tmp_path: Path) -> None:
    # The helper accepts a DataFileError, so it cannot say whether the starting file loads: if
    # file_json() were ever refused, every one-field fuzz test would only be testing refusals.
    target = tmp_path / "valid.json"
    target.write_bytes(_dump(file_json()))
    loaded = baselines.load(target)
    assert "bert-fp32-compile" in loaded.cases
    json.loads(baselines.dumps(loaded))


def test_no_stray_temp_files_after_many_updates(path: Path) -> None:
    for i in range(5):
        baselines.update(path, {f"c{i}": case()}, MACHINE, LANE)
    leftovers = [n for n in os.listdir(path.parent) if n.endswith(".tmp")]
    assert leftovers == []


@FUZZ
@given(field_name=st.sampled_from([*RUN_FIELDS, "runs", "confidence", "x"]), value=JSON)
def test_fuzz_one_field_of_a_version_2_case(field_name: str, value: Any) -> None:
    data = file_json({"c": case_json_v2()}, version=2)
    target = data["cases"]["c"] if field_name in ("runs", "confidence", "x") else data["cases"]["c"]["runs"][1]
    target[field_name] = value
    _load_must_succeed_or_raise_data_file_error(json.dumps(data).encode())

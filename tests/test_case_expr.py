"""The upgrade gate's own ``-k`` matcher (building/case_expr.py) selects exactly what pytest's does."""

from __future__ import annotations

import pytest
from _pytest.mark.expression import Expression

from infergate.building.case_expr import case_matcher
from infergate.building.cases import get_profile, perf_cases
from infergate.core.errors import UsageError

pytestmark = pytest.mark.lane_independent
pytest_plugins = ["pytester"]

IDS = sorted({c.id for p in ("smoke", "default", "nightly") for c in perf_cases(get_profile(p))})
EXPRESSIONS = [
    "jit", "JIT", "jit_ipex", "not jit", "jit and not ipex", "compile or jit_ipex", "bf16 and compile",
    "(bert or roberta) and not (sdpa or bf16)", "not not eager", "minilm-seqcls", "b1s128", "qa and b1s128 or tokcls",
    "bert-qa-small-eager_attn-jit-fp32", "   ", "\t", "jit(x=1)", "jit(x='a b', y=-2, z=None)", "x/y", "a.b:c+d[e]",
]
BAD = ["compile and (", "and jit", "jit or", "(jit", "jit)", "jit jit", "a # b", "jit(1=2)", "jit(x=y)",
       "jit(x=1", "jit(class=1)", "'jit", "jit(x='a\\b')"]


def substring_of(case_id: str):
    return lambda name, /, **_: name.lower() in case_id.lower()


def pytest_selects(expr: str) -> list[str]:
    if not expr.lstrip():  # as pytest's deselect_by_keyword: an empty -k after lstrip deselects nothing
        return IDS
    compiled = Expression.compile(expr)
    return [i for i in IDS if compiled.evaluate(substring_of(i))]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_the_same_cases_as_pytest(expr: str) -> None:
    match = case_matcher(expr)
    assert [i for i in IDS if match(i)] == pytest_selects(expr)


@pytest.mark.parametrize("expr", BAD)
def test_an_expression_pytest_refuses_is_one_usage_error(expr: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - pytest's own error type is private
        Expression.compile(expr)
    with pytest.raises(UsageError, match="invalid case expression"):
        case_matcher(expr)


def test_no_expression_selects_every_case() -> None:
    assert all(case_matcher(None)(i) and case_matcher("")(i) for i in IDS)


def test_a_blank_expression_selects_every_case_as_pytest_k_does(pytester: pytest.Pytester) -> None:
    # pytest's real -k path, not Expression.compile: the reference above must follow it.
    pytester.makepyfile(test_ids="""
import pytest

@pytest.mark.parametrize("case", ["bert-qa-jit", "roberta-seqcls-eager"])
def test_case(case):
    pass
""")
    for expr in ("   ", "\t"):
        pytester.runpytest_inprocess("-p", "no:cacheprovider", "-k", expr).assert_outcomes(passed=2)
        assert all(case_matcher(expr)(i) for i in IDS)

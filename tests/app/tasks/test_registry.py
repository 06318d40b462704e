"""Task declarations: parameters typed and bounded, validated before reaching a worker."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import Settings
from app.errors import InvalidParams, UnknownTask
from app.tasks import registry as global_registry
from app.tasks.builtin import noop, primes, spin
from app.tasks.registry import REQUIRED, Param, Registry, Task, lookup


def bind_one(*params: Param, settings: Settings | None = None) -> Task:
    """A fresh registry holding one task ``t`` with ``params``, bound to ``settings``."""
    reg = Registry()

    @reg.task(*params, name="t")
    def t(**kwargs: Any) -> None:
        """Test task."""

    return reg.bind(settings or Settings())["t"]


@pytest.fixture
def settings() -> Settings:
    return Settings(spin_min=0, spin_max=100, spin_limit=100, primes_limit=1000)


@pytest.fixture
def builtin(settings: Settings) -> dict[str, Task]:
    return global_registry.bind(settings)


# Query text: only the plain ASCII spellings.


def test_text_integer_is_coerced() -> None:
    spec = bind_one(Param("n", int))
    assert spec.validate({"n": "-5"}, from_text=True) == {"n": -5}


@pytest.mark.parametrize(
    "raw", ["5.0", "1e3", "five", "", "0x10", " 5 ", "+5", "1_000", "\u0663", "\uff15", "5\n"]
)
def test_text_that_is_not_a_plain_integer_is_rejected(raw: str) -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams, match="must be an integer"):
        spec.validate({"n": raw}, from_text=True)


def test_text_float_is_coerced() -> None:
    spec = bind_one(Param("x", float))
    assert spec.validate({"x": "2.5"}, from_text=True) == {"x": 2.5}


def test_text_integer_beyond_18_digits_is_out_of_range() -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams, match="out of range"):
        spec.validate({"n": "1" * 19}, from_text=True)


def test_json_integer_beyond_18_digits_is_out_of_range() -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams, match="out of range"):
        spec.validate({"n": 10**18}, from_text=False)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "NaN", "Infinity", " 1", "1.", ".5", "+1"])
def test_text_that_is_not_a_json_number_is_rejected(raw: str) -> None:
    spec = bind_one(Param("x", float))
    with pytest.raises(InvalidParams, match="must be a number"):
        spec.validate({"x": raw}, from_text=True)


def test_text_number_too_large_for_a_float_is_out_of_range() -> None:
    spec = bind_one(Param("x", float))
    with pytest.raises(InvalidParams, match="out of range"):
        spec.validate({"x": "1e999"}, from_text=True)


@pytest.mark.parametrize("raw", ["0", "1", "YES", "True", "no"])
def test_text_boolean_is_only_true_or_false(raw: str) -> None:
    spec = bind_one(Param("b", bool))
    with pytest.raises(InvalidParams, match="true or false"):
        spec.validate({"b": raw}, from_text=True)


def test_parameter_in_both_query_and_body_is_rejected() -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams, match="both"):
        spec.validate_sources(text={"n": "1"}, json={"n": 1})


def test_parameters_may_come_from_query_and_body_together() -> None:
    spec = bind_one(Param("n", int), Param("m", int))
    assert spec.validate_sources(text={"n": "1"}, json={"m": 2}) == {"n": 1, "m": 2}


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False)])
def test_text_boolean_words_are_coerced(raw: str, expected: bool) -> None:
    spec = bind_one(Param("b", bool))
    assert spec.validate({"b": raw}, from_text=True) == {"b": expected}


def test_text_unknown_boolean_word_is_rejected() -> None:
    spec = bind_one(Param("b", bool))
    with pytest.raises(InvalidParams, match="true or false"):
        spec.validate({"b": "maybe"}, from_text=True)


# JSON: already typed, so strict.


def test_json_integer_is_accepted() -> None:
    spec = bind_one(Param("n", int))
    assert spec.validate({"n": 5}, from_text=False) == {"n": 5}


def test_json_string_is_not_an_integer() -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams, match="must be of type integer"):
        spec.validate({"n": "5"}, from_text=False)


@pytest.mark.parametrize("raw", [True, False])
def test_json_bool_is_not_an_integer(raw: bool) -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams, match="must be of type integer"):
        spec.validate({"n": raw}, from_text=False)


def test_json_float_is_not_an_integer() -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams):
        spec.validate({"n": 5.0}, from_text=False)


def test_json_huge_integer_is_rejected() -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams):
        spec.validate({"n": 10**18}, from_text=False)


def test_json_integer_is_accepted_as_float() -> None:
    spec = bind_one(Param("x", float))
    value = spec.validate({"x": 3}, from_text=False)["x"]
    assert (value, type(value)) == (3.0, float)


def test_json_bool_is_not_a_float() -> None:
    spec = bind_one(Param("x", float))
    with pytest.raises(InvalidParams):
        spec.validate({"x": True}, from_text=False)


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf")])
def test_json_non_finite_float_is_rejected(raw: float) -> None:
    spec = bind_one(Param("x", float))
    with pytest.raises(InvalidParams, match="finite"):
        spec.validate({"x": raw}, from_text=False)


def test_json_integer_is_not_a_bool() -> None:
    spec = bind_one(Param("b", bool))
    with pytest.raises(InvalidParams, match="must be of type boolean"):
        spec.validate({"b": 1}, from_text=False)


def test_json_list_is_not_a_string() -> None:
    spec = bind_one(Param("s", str))
    with pytest.raises(InvalidParams, match="must be of type string"):
        spec.validate({"s": ["a"]}, from_text=False)


# Bounds, presence, lengths.


def test_value_below_minimum_is_rejected() -> None:
    spec = bind_one(Param("n", int, minimum=0))
    with pytest.raises(InvalidParams, match="n is out of range: must be between 0 and"):
        spec.validate({"n": -1}, from_text=False)


def test_value_above_maximum_is_rejected() -> None:
    spec = bind_one(Param("n", int, maximum=10))
    with pytest.raises(InvalidParams, match=r"out of range: must be between .* and 10, got 11"):
        spec.validate({"n": "11"}, from_text=True)


def test_bounds_are_inclusive() -> None:
    spec = bind_one(Param("n", int, minimum=0, maximum=10))
    assert spec.validate({"n": 10}, from_text=False) == {"n": 10}


def test_maximum_is_read_from_settings(settings: Settings) -> None:
    spec = bind_one(Param("n", int, maximum=lambda s: s.spin_limit), settings=settings)
    assert spec.by_name["n"].maximum == settings.spin_limit


def test_bind_returns_the_same_kind_of_param_with_a_number_bound(settings: Settings) -> None:
    declared = Param("n", int, maximum=lambda s: s.spin_limit)
    bound = declared.bind(settings)
    assert type(bound) is Param and bound.maximum == 100 and bound.name == "n"


def test_a_param_whose_bound_reads_a_setting_must_be_bound_before_use() -> None:
    with pytest.raises(TypeError, match="not bound"):
        Param("n", int, maximum=lambda s: s.spin_limit).parse(5, from_text=False)


def test_spin_above_spin_limit_is_rejected(builtin: dict[str, Task]) -> None:
    with pytest.raises(InvalidParams, match="out of range: must be between 0 and 100"):
        builtin["spin"].validate({"n": 101}, from_text=False)


def test_spin_at_spin_limit_is_accepted(builtin: dict[str, Task]) -> None:
    assert builtin["spin"].validate({"n": "100"}, from_text=True) == {"n": 100}


def test_primes_above_primes_limit_is_rejected(builtin: dict[str, Task]) -> None:
    with pytest.raises(InvalidParams):
        builtin["primes"].validate({"limit": 1001}, from_text=False)


def test_unknown_parameter_is_rejected() -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams, match="unknown parameter 'm'"):
        spec.validate({"n": 1, "m": 2}, from_text=False)


def test_missing_required_parameter_is_rejected() -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams, match="missing parameter 'n'"):
        spec.validate({}, from_text=False)


def test_absent_optional_parameter_gets_its_default() -> None:
    spec = bind_one(Param("n", int, default=7))
    assert spec.validate({}, from_text=False) == {"n": 7}


@pytest.mark.parametrize("from_text", [True, False])
def test_string_longer_than_max_length_is_rejected(from_text: bool) -> None:
    spec = bind_one(Param("s", str, max_length=5))
    with pytest.raises(InvalidParams, match="longer than 5"):
        spec.validate({"s": "abcdef"}, from_text=from_text)


def test_string_at_max_length_is_accepted() -> None:
    spec = bind_one(Param("s", str, max_length=5))
    assert spec.validate({"s": "abcde"}, from_text=False) == {"s": "abcde"}


def test_invalid_params_is_a_422() -> None:
    spec = bind_one(Param("n", int))
    with pytest.raises(InvalidParams) as caught:
        spec.validate({"n": "x"}, from_text=True)
    assert caught.value.status == 422


# Describe.


def test_describe_lists_types_and_resolved_bounds(settings: Settings) -> None:
    spec = bind_one(
        Param("n", int, minimum=0, maximum=lambda s: s.spin_limit, doc="size"),
        Param("s", str, default="x", max_length=9),
        settings=settings,
    )
    assert spec.describe() == {
        "name": "t",
        "doc": "Test task.",
        "params": [
            {"name": "n", "type": "integer", "required": True, "minimum": 0, "maximum": 100,
             "doc": "size"},
            {"name": "s", "type": "string", "required": False, "default": "x", "maxLength": 9},
        ],
    }  # fmt: skip


def test_param_without_default_is_required() -> None:
    assert Param("n").required is True
    assert Param("n", default=REQUIRED).required is True
    assert Param("n", default=None).required is False


# The decorator and the registry.


def test_decorator_registers_the_function_under_its_name() -> None:
    reg = Registry()

    @reg.task(Param("n", int))
    def double(n: int) -> int:
        return 2 * n

    assert "double" in reg
    assert [t.fn for t in reg] == [double]
    assert double(4) == 8


def test_decorator_name_overrides_the_function_name() -> None:
    reg = Registry()

    @reg.task(name="renamed")
    def original() -> None: ...

    assert "renamed" in reg
    assert "original" not in reg


def test_fresh_registry_does_not_see_global_tasks() -> None:
    assert "spin" not in Registry()
    assert "spin" in global_registry


def test_task_doc_is_the_first_docstring_line() -> None:
    reg = Registry()

    @reg.task()
    def documented() -> None:
        """First line.

        More text.
        """

    assert [t.doc for t in reg] == ["First line."]


@pytest.mark.parametrize("bad", ["Upper", "has-dash", "9lives", "", "x" * 65])
def test_invalid_task_name_is_refused(bad: str) -> None:
    reg = Registry()
    with pytest.raises(ValueError, match="task name"):
        reg.task(name=bad)(lambda: None)


def test_two_functions_with_one_name_are_refused() -> None:
    reg = Registry()

    @reg.task(name="same")
    def first() -> None: ...

    with pytest.raises(ValueError, match="registered twice"):

        @reg.task(name="same")
        def second() -> None: ...


def test_registering_the_same_function_again_is_harmless() -> None:
    reg = Registry()

    def fn() -> None: ...

    reg.task()(fn)
    reg.task()(fn)
    assert [t.name for t in reg] == ["fn"]


def test_lookup_of_unknown_task_raises_unknown_task() -> None:
    with pytest.raises(UnknownTask, match="unknown task 'nope'"):
        lookup({}, "nope")


def test_lookup_truncates_a_long_unknown_name() -> None:
    with pytest.raises(UnknownTask) as caught:
        lookup({}, "a" * 1000)
    assert len(caught.value.detail) < 200


# The built-in tasks.


@pytest.mark.parametrize("n", [0, 1, 7, 300])
def test_spin_returns_n_squared(n: int) -> None:
    assert spin(n) == n * n


@pytest.mark.parametrize(("limit", "count"), [(0, 0), (2, 0), (3, 1), (10, 4), (100, 25)])
def test_primes_counts_primes_below_limit(limit: int, count: int) -> None:
    assert primes(limit) == count


def test_primes_below_ten_thousand_is_1229() -> None:
    assert primes(10_000) == 1229


def test_noop_returns_none() -> None:
    assert noop() is None


def test_builtin_tasks_are_registered(builtin: dict[str, Task]) -> None:
    assert {"spin", "primes", "noop"} <= set(builtin)


def test_spin_cost_grows_with_n_squared(builtin: dict[str, Task]) -> None:
    cost = builtin["spin"].cost
    assert cost is not None
    assert cost({"n": 10}) == 100.0

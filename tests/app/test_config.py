"""Settings: parsed from the environment and flags, validated once, frozen."""

from __future__ import annotations

import dataclasses

import pytest

from app.config import SETTINGS, ConfigError, Settings, settings_table


def load(**env: str) -> Settings:
    return Settings.load({f"CRUNCH_{k.upper()}": v for k, v in env.items()})


def test_empty_environment_gives_the_documented_defaults() -> None:
    loaded = load(workers="1", pod_name="local")
    assert loaded == Settings(workers=1, pod_name="local")


def test_environment_value_is_parsed_to_its_type() -> None:
    settings = load(port="9000", task_timeout="2.5", access_log="off")
    assert (settings.port, settings.task_timeout, settings.access_log) == (9000, 2.5, False)


def test_cli_override_wins_over_environment() -> None:
    settings = Settings.load({"CRUNCH_PORT": "9000"}, {"port": "9100"})
    assert settings.port == 9100


def test_none_override_falls_back_to_environment() -> None:
    settings = Settings.load({"CRUNCH_PORT": "9000"}, {"port": None})
    assert settings.port == 9000


def test_bad_integer_names_the_environment_variable() -> None:
    with pytest.raises(ConfigError, match=r"^CRUNCH_PORT: expected an integer, got 'eighty'$"):
        load(port="eighty")


def test_bad_flag_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--queue-limit: "):
        Settings.load({}, {"queue_limit": "-1"})


def test_integer_out_of_range_is_rejected() -> None:
    with pytest.raises(ConfigError, match="between 1 and 65535"):
        load(port="70000")


def test_nan_float_is_rejected() -> None:
    with pytest.raises(ConfigError, match="CRUNCH_TASK_TIMEOUT"):
        load(task_timeout="nan")


def test_float_below_minimum_is_rejected() -> None:
    with pytest.raises(ConfigError, match="CRUNCH_TASK_TIMEOUT"):
        load(task_timeout="0")


@pytest.mark.parametrize("raw", ["1", "true", "YES", " on "])
def test_truthy_words_parse_as_true(raw: str) -> None:
    assert load(access_log=raw).access_log is True


def test_unknown_boolean_word_is_rejected() -> None:
    with pytest.raises(ConfigError, match="CRUNCH_ACCESS_LOG: expected true or false"):
        load(access_log="maybe")


def test_log_format_outside_choices_is_rejected() -> None:
    with pytest.raises(ConfigError, match="expected one of json, text"):
        load(log_format="xml")


def test_choice_is_case_insensitive() -> None:
    assert load(log_format="TEXT").log_format == "text"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("all", ("hello", "world")),
        ("none", ()),
        ("", ()),
        ("world", ("world",)),
        ("hello, hello ,world", ("hello", "world")),
    ],
)
def test_services_parse_to_a_deduplicated_tuple(raw: str, expected: tuple[str, ...]) -> None:
    assert load(services=raw).services == expected


def test_unknown_service_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown service 'moon'"):
        load(services="hello,moon")


def test_task_modules_split_on_commas() -> None:
    assert load(task_modules="a.b, c_d ,").task_modules == ("a.b", "c_d")


def test_task_module_with_invalid_characters_is_rejected() -> None:
    with pytest.raises(ConfigError, match="CRUNCH_TASK_MODULES"):
        load(task_modules="os;rm")


def test_bad_host_is_rejected() -> None:
    with pytest.raises(ConfigError, match="not a host"):
        load(host="local host")


def test_blank_pod_name_becomes_local() -> None:
    assert load(pod_name="  ").pod_name == "local"


def test_spin_min_above_spin_max_is_rejected() -> None:
    with pytest.raises(ConfigError, match="CRUNCH_SPIN_MIN"):
        load(spin_min="3000", spin_max="2000")


def test_spin_max_above_spin_limit_is_rejected() -> None:
    with pytest.raises(ConfigError, match="CRUNCH_SPIN_LIMIT"):
        load(spin_limit="1000")


def test_replace_checks_cross_field_rules() -> None:
    with pytest.raises(ConfigError):
        Settings().replace(spin_limit=10)


def test_replace_returns_a_new_settings() -> None:
    base = Settings()
    changed = base.replace(queue_limit=3)
    assert (base.queue_limit, changed.queue_limit) == (64, 3)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]


def test_every_setting_is_a_settings_field() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert {s.name for s in SETTINGS} == fields


def test_error_messages_are_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load(services="a\nb")
    assert "\n" not in str(caught.value)


def test_settings_table_lists_every_environment_name() -> None:
    names = [row[0] for row in settings_table()]
    assert names == [f"CRUNCH_{s.name.upper()}" for s in SETTINGS]


def test_dataclass_defaults_agree_with_the_settings_table() -> None:
    # Settings() (used by code and tests) and SETTINGS (used by env, CLI and docs)
    # come from one declaration; workers and pod_name depend on the machine by design.
    from app.config import SETTINGS, Settings

    plain = Settings()
    for setting in SETTINGS:
        if setting.name in ("workers", "pod_name"):
            continue
        assert getattr(plain, setting.name) == setting.parse(setting.default()), setting.name


def test_batch_limit_auto_is_what_an_idle_pod_admits() -> None:
    settings = load(workers="3", queue_limit="10")
    assert settings.batch_limit == 0
    assert settings.max_batch == 13


def test_batch_limit_within_reach_is_kept() -> None:
    assert load(workers="2", queue_limit="10", batch_limit="12").max_batch == 12


def test_batch_limit_out_of_reach_is_rejected() -> None:
    with pytest.raises(ConfigError, match="could never be admitted"):
        load(workers="2", queue_limit="10", batch_limit="13")

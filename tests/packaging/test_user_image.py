"""A user's image and modules run under the same chart and kustomize tree (tasks.modules)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from tests.packaging.kube import by_kind, docs, env_of, helm_fails, helm_template, kustomize

EXAMPLE = ("--set", "image.repository=crunch-thumbnails", "--set", "tasks.modules={a.tasks,b}")


def test_tasks_modules_reach_every_pod_as_crunch_task_modules() -> None:
    for name, dep in by_kind(docs(helm_template(*EXAMPLE)), "Deployment").items():
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert env_of(container)["CRUNCH_TASK_MODULES"] == "a.tasks,b", name
        assert container["image"] == "crunch-thumbnails:0.1.0", name


def test_without_modules_no_variable_is_rendered() -> None:
    for dep in by_kind(docs(helm_template()), "Deployment").values():
        assert "CRUNCH_TASK_MODULES" not in env_of(dep["spec"]["template"]["spec"]["containers"][0])


@pytest.mark.parametrize("bad", ["{a-b}", "{.x}", "{x..y}"])
def test_a_module_name_python_cannot_import_is_refused(bad: str) -> None:
    assert "tasks" in helm_fails("--set", f"tasks.modules={bad}")


def test_the_example_overlay_runs_the_example_image_with_its_module() -> None:
    for name, dep in by_kind(docs(kustomize("overlays/example")), "Deployment").items():
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "crunch-thumbnails:0.1.0", name
        assert env_of(container)["CRUNCH_TASK_MODULES"] == "thumbnails.tasks", name


@pytest.mark.parametrize("mode", ["prometheus-adapter", "keda", "cpu"])
def test_the_examples_values_file_works_in_every_autoscaling_mode(mode: str) -> None:
    values = str(ROOT / "examples" / "thumbnails" / "values.yaml")
    items = docs(helm_template("-f", values, "--set", f"autoscaling.mode={mode}"))
    for name, dep in by_kind(items, "Deployment").items():
        container = dep["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "crunch-thumbnails:0.1.0", name
        assert env_of(container)["CRUNCH_TASK_MODULES"] == "thumbnails.tasks", name
    scaler = "ScaledObject" if mode == "keda" else "HorizontalPodAutoscaler"
    assert by_kind(items, scaler)


def test_the_example_image_builds_on_this_crunch_version() -> None:
    version = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    dockerfile = (ROOT / "examples" / "thumbnails" / "Dockerfile").read_text()
    assert version is not None
    assert f"ARG CRUNCH_IMAGE=crunch:{version.group(1)}" in dockerfile
    assert "FROM ${CRUNCH_IMAGE}" in dockerfile

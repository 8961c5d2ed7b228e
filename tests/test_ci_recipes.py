"""The CI recipes in examples/ci/: valid for GitHub and GitLab (their own schemas, bundled by
check-jsonschema, offline), tokens from secrets, JUnit published, and their commands run in
order against two mock Canvases (production and staging) with the target template that
``mock --write-target --placeholders`` writes."""

from __future__ import annotations

import importlib.resources
import json
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from canvas_ai_harness.cli import cli, main
from canvas_ai_harness.config import PLACEHOLDER_VARIABLES, load_target
from canvas_ai_harness.errors import ConfigError
from canvas_ai_harness.mock import MockConfig, MockServer
from canvas_ai_harness.mock.world import ADMIN_TOKEN, OTHER_STUDENT_TOKEN, OUTSIDER_TOKEN, STUDENT_TOKEN, TEACHER_TOKEN

RECIPES = Path(__file__).resolve().parents[1] / "examples" / "ci"
GITHUB = ("github-upgrade-gate.yml", "github-nightly-contract.yml")
GITLAB = "gitlab-ci.yml"
TOKENS = {
    "CANVAS_STUDENT_TOKEN": STUDENT_TOKEN,
    "CANVAS_OTHER_STUDENT_TOKEN": OTHER_STUDENT_TOKEN,
    "CANVAS_TEACHER_TOKEN": TEACHER_TOKEN,
    "CANVAS_OUTSIDER_TOKEN": OUTSIDER_TOKEN,
    "CANVAS_ADMIN_TOKEN": ADMIN_TOKEN,
}


def _load(name: str) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load((RECIPES / name).read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key "on" as a boolean; GitHub reads it as "on"
        data["on"] = data.pop(True)
    return data


def _validator(schema_name: str) -> Any:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / schema_name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _errors(validator: Any, data: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(data)]


# -- the recipes are valid ----------------------------------------------------------------------
@pytest.mark.parametrize("name", GITHUB)
def test_github_workflow_matches_githubs_workflow_schema(name: str) -> None:
    validator = _validator("github-workflows.json")
    workflow = _load(name)

    assert _errors(validator, workflow) == []
    job = next(iter(workflow["jobs"].values()))
    job["runs_on"] = job.pop("runs-on")  # a typo GitHub would refuse: the schema must see it
    assert _errors(validator, workflow)


def test_gitlab_job_matches_gitlabs_ci_schema_and_shape() -> None:
    validator = _validator("gitlab-ci.json")
    pipeline = _load(GITLAB)

    assert _errors(validator, pipeline) == []
    assert pipeline["stages"] == ["before", "after"]
    gate = pipeline["upgrade-gate"]
    assert gate["needs"] == ["snapshot-production"]
    assert gate["artifacts"]["reports"]["junit"] == "reports/contract-junit.xml"
    assert gate["artifacts"]["when"] == "always"
    assert pipeline["snapshot-production"]["artifacts"]["paths"] == ["canvas-snapshot.json"]
    assert pipeline["nightly-contract"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    gate["artifacts"]["reports"]["junit"] = 5
    assert _errors(validator, pipeline)


@pytest.mark.parametrize("name", GITHUB)
def test_github_recipes_take_tokens_from_secrets_and_publish_junit(name: str) -> None:
    workflow = _load(name)
    for job in workflow["jobs"].values():
        env = job["env"]
        for variable in PLACEHOLDER_VARIABLES.values():
            if variable in env:
                source = "secrets" if variable.endswith("_TOKEN") else "vars"
                assert env[variable] == f"${{{{ {source}.{variable} }}}}", variable
        assert env["CANVAS_AI_TARGET"] == "ci/canvas-target.toml"
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "--junit-xml reports/contract-junit.xml" in runs
    published = [s for s in steps if str(s.get("uses", "")).startswith("mikepenz/action-junit-report")]
    assert [s["with"]["report_paths"] for s in published] == ["reports/contract-junit.xml"]
    assert published[0]["if"] == "${{ !cancelled() }}"  # published when the contract step failed too


# -- the recipes run ----------------------------------------------------------------------------
def _commands(name: str) -> list[tuple[str, str]]:
    """(environment, command) of each ``canvas-ai-harness`` line, in the order CI runs them."""
    data = _load(name)
    found: list[tuple[str, str]] = []
    if name in GITHUB:
        jobs = [(job["environment"], [s.get("run", "") for s in job["steps"]]) for job in data["jobs"].values()]
    else:
        order = {stage: i for i, stage in enumerate(data["stages"])}
        gate = [(k, v) for k, v in data.items() if isinstance(v, dict) and "script" in v and k != "nightly-contract"]
        gate.sort(key=lambda item: order[item[1]["stage"]])
        jobs = [(job["environment"]["name"], job["script"]) for _, job in gate]
    for environment, scripts in jobs:
        for script in scripts:
            for line in script.replace("\\\n", " ").splitlines():
                command = line.split(" || ")[0].strip()
                if command.startswith("canvas-ai-harness "):
                    found.append((environment, command))
    return found


@pytest.fixture(params=[None, "outsider-gets-404"], ids=["staging-faithful", "staging-broken"])
def two_canvases(request: pytest.FixtureRequest) -> Iterator[tuple[dict[str, MockServer], bool]]:
    """Production, and staging after the upgrade: faithful, or with a planted fault (True)."""
    faults = frozenset({request.param} if request.param else ())
    servers = {
        "canvas-production": MockServer(MockConfig(seed=1)).start(),
        "canvas-staging": MockServer(MockConfig(seed=2, faults=faults)).start(),
    }
    yield servers, bool(faults)
    for server in servers.values():
        server.stop()


def _needs_snapshot_and_diff(commands: list[tuple[str, str]]) -> None:
    missing = sorted({c.split()[1] for _, c in commands} - set(cli.commands))
    if missing:
        pytest.skip(f"canvas-ai-harness {' and '.join(missing)} not on this branch yet (issue 11, another engineer)")


@pytest.mark.parametrize("name", [*GITHUB, GITLAB])
def test_recipe_commands_run_in_order_against_two_mocks(
    name: str,
    two_canvases: tuple[dict[str, MockServer], bool],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands = _commands(name)
    assert commands, "no canvas-ai-harness command found"
    _needs_snapshot_and_diff(commands)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ci").mkdir()
    assert main(["mock", "--write-target", "ci/canvas-target.toml", "--placeholders"]) == 0
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("CANVAS_AI_TARGET", "ci/canvas-target.toml")
    monkeypatch.setenv("CANVAS_AI_MAX_EXAMPLES", "2")  # a short run: the commands are under test, not Canvas
    servers, broken = two_canvases
    exits, expected = [], []
    for environment, command in commands:
        expected.append(1 if broken and environment == "canvas-staging" else 0)  # the gate stops the rollout
        server = servers[environment]
        target = server.target()
        for name_, value in {
            "CANVAS_BASE_URL": server.url,
            "CANVAS_COURSE_ID": target.course_id,
            "CANVAS_EXPERIENCE_ID": target.ai_experience_id,
            **TOKENS,
        }.items():
            monkeypatch.setenv(name_, value)
        assert load_target("ci/canvas-target.toml").base_url == server.url
        exits.append(main(shlex.split(command)[1:]))
    out = capsys.readouterr()

    assert exits == expected, (commands, exits, out.err[-2000:])
    junit = ET.parse(tmp_path / "reports" / "contract-junit.xml").getroot()
    failed = [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]
    assert junit.tag == "testsuites" and failed == (["outsider-403"] if broken else [])
    if any(" diff " in f" {c} " for _, c in commands):
        assert (tmp_path / "canvas-snapshot.json").is_file()
        assert any((tmp_path / "reports" / "diff").iterdir())
        if name in GITHUB:
            assert summary.read_text(encoding="utf-8").strip()  # diff's Markdown on the job's page
    written = [out.out.encode(), out.err.encode(), *(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())]
    for token in TOKENS.values():
        assert not [data for data in written if token.encode() in data], token


def test_placeholder_template_holds_no_mock_token_or_id_and_loads_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "target.toml"
    assert main(["mock", "--write-target", str(path), "--placeholders"]) == 0
    text = path.read_text(encoding="utf-8")

    for token in TOKENS.values():
        assert token not in text
    assert 'student = "${CANVAS_STUDENT_TOKEN}"' in text
    env = {"CANVAS_BASE_URL": "https://canvas.example.edu", "CANVAS_COURSE_ID": "5", "CANVAS_EXPERIENCE_ID": "9"}
    target = load_target(path, env={**env, **TOKENS})
    assert (target.base_url, target.course_id, target.ai_experience_id) == ("https://canvas.example.edu", "5", "9")
    assert target.token_vars["teacher"] == "CANVAS_TEACHER_TOKEN"
    assert target.tokens.admin is None  # commented out: optional
    with pytest.raises(ConfigError, match=r"\$\{CANVAS_STUDENT_TOKEN\} \(tokens.student\)"):
        load_target(path, env=env)


def test_placeholders_without_a_path_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mock", "--placeholders"]) == 2
    assert "--write-target PATH" in capsys.readouterr().err

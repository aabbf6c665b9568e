"""`aoai-fallbacks check` against the emulator over loopback.

Three resources: 01 is right, 02 has a wrong key, 03 names a deployment that
does not exist. Each must get its own verdict and its own fix, naming the
variable to change, and no key may ever be printed.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from aoai_fallbacks._cli import main
from aoai_fallbacks.emulator import DeploymentConfig, Emulator, run_emulator
from aoai_fallbacks.emulator._deployment import RetryAfter

pytestmark = pytest.mark.integration

DEPLOYMENT = "gpt-35-turbo"
WRONG_KEY = "wrong-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the file under test configures anything: no AOAI_* from the shell, no ./.env."""
    for name in list(os.environ):
        if name.startswith("AOAI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with run_emulator(resources=3, deployments=[DeploymentConfig(DEPLOYMENT)]) as emu:
        yield emu


def mixed_env(emulator: Emulator, tmp_path: Path) -> Path:
    """A .env where 01 is right, 02 has a wrong key and 03 names a missing deployment."""
    variables = emulator.env(deployment=DEPLOYMENT)
    variables["AOAI_KEY_02"] = WRONG_KEY
    variables["AOAI_DEPLOYMENT_03"] = "gpt-missing"
    return write_env(tmp_path / "mixed.env", variables)


def write_env(path: Path, variables: Mapping[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
    return path


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def run_check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def keys_of(emulator: Emulator) -> list[str]:
    return [resource.key for resource in emulator.resources]


def test_all_good_backends_exit_zero(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = write_env(tmp_path / "good.env", emulator.env(deployment=DEPLOYMENT))

    code, out, _ = run_check(capsys, "--env-file", str(env))

    assert code == 0, out
    assert "3/3 backends usable: all usable" in out
    for resource in emulator.resources:
        assert resource.key not in out


def test_a_configured_redis_is_asked_for_a_ping(
    emulator: Emulator, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    variables = {**emulator.env(deployment=DEPLOYMENT), "AOAI_REDIS_URL": redis_url}
    env = write_env(tmp_path / "redis.env", variables)

    code, out, _ = run_check(capsys, "--env-file", str(env))

    assert code == 0, out
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    assert f"Redis at 127.0.0.1:{port}/0 answers" in out

    code, out, _ = run_check(capsys, "--env-file", str(env), "--json")
    assert json.loads(out)["redis"]["answers"] is True


def test_a_redis_that_does_not_answer_is_a_fix_without_its_password(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password = "redis-PASSWORD-3c9d"
    url = f"redis://:{password}@127.0.0.1:{closed_port()}/0"
    env = write_env(
        tmp_path / "redis.env", {**emulator.env(deployment=DEPLOYMENT), "AOAI_REDIS_URL": url}
    )

    code, out, err = run_check(capsys, "--env-file", str(env))

    assert code == 1, out
    assert "FIX AOAI_REDIS_URL: Redis at 127.0.0.1:" in out
    assert "3/3 backends usable: all usable" in out
    assert password not in out + err


def test_good_wrong_key_and_missing_deployment(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = mixed_env(emulator, tmp_path)
    endpoint_02 = emulator.resources[1].endpoint

    code, out, err = run_check(capsys, "--env-file", str(env))

    assert code == 1
    assert err == ""
    fixes = {line[4:6]: line for line in out.splitlines() if line.startswith("FIX ")}
    assert set(fixes) == {"02", "03"}, out
    assert fixes["02"] == (
        f"FIX 02: AOAI_KEY_02 is rejected by {endpoint_02} (401): check the key for that resource"
    )
    assert "AOAI_DEPLOYMENT_03" in fixes["03"]
    assert "'gpt-missing'" in fixes["03"]
    assert "(404)" in fixes["03"]
    assert "1/3 backends usable: 2 not usable" in out
    for key in [*keys_of(emulator), WRONG_KEY]:
        assert key not in out


def test_missing_shared_deployment_names_both_variables(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = write_env(tmp_path / "shared.env", emulator.env(deployment="gpt-nowhere"))

    code, out, _ = run_check(capsys, "--env-file", str(env))

    assert code == 1
    fix_01 = next(line for line in out.splitlines() if line.startswith("FIX 01: "))
    assert "set AOAI_DEPLOYMENT_01" in fix_01
    assert "AOAI_DEPLOYMENT, shared by all backends" in fix_01


def test_unreachable_endpoint_names_the_endpoint_variable(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    variables = emulator.env(deployment=DEPLOYMENT)
    variables["AOAI_ENDPOINT_04"] = f"http://127.0.0.1:{closed_port()}"
    variables["AOAI_KEY_04"] = "a-key-for-nowhere-0000"
    env = write_env(tmp_path / "refused.env", variables)

    code, out, _ = run_check(capsys, "--env-file", str(env), "--timeout", "5")

    assert code == 1
    fix = next(line for line in out.splitlines() if line.startswith("FIX 04: "))
    assert "is unreachable" in fix
    assert fix.endswith("check AOAI_ENDPOINT_04")


def test_json_report(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = mixed_env(emulator, tmp_path)

    code, out, _ = run_check(capsys, "--env-file", str(env), "--json")

    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    rows = {row["name"]: row for row in report["backends"]}
    assert rows["01"]["usable"] is True
    assert rows["01"]["remaining_tokens"] is not None
    assert rows["01"]["remaining_requests"] is not None
    assert (rows["02"]["reachable"], rows["02"]["auth_ok"], rows["02"]["usable"]) == (
        True,
        False,
        False,
    )
    assert rows["02"]["status"] == 401
    assert (rows["03"]["auth_ok"], rows["03"]["deployment_found"]) == (True, False)
    assert rows["03"]["status"] == 404
    for key in [*keys_of(emulator), WRONG_KEY]:
        assert key not in out


@pytest.mark.parametrize(
    ("dialect", "said"),
    [
        ("ms", "throttled right now (429, retry after 60 s)"),
        ("seconds", "throttled right now (429, retry after 60 s)"),
        ("none", "throttled right now (429):"),
    ],
)
def test_throttled_backend_is_usable_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dialect: RetryAfter, said: str
) -> None:
    from aoai_fallbacks.testing import FakeClock

    # A quota too small for even one probe: the emulator answers 429, and its
    # Retry-After (a minute: the whole token window) is read as the balancer reads it.
    config = DeploymentConfig(DEPLOYMENT, tpm=1, rpm=1, retry_after=dialect)
    with run_emulator(resources=1, deployments=[config], clock=FakeClock()) as emu:
        env = write_env(tmp_path / "tight.env", emu.env(deployment=DEPLOYMENT))
        code, out, _ = run_check(capsys, "--env-file", str(env))
        stats = emu.stats(DEPLOYMENT)

    assert stats.throttled == 1
    assert code == 0
    assert f"NOTE 01: {said}" in out


# A backend that would load, on a loopback port where nothing answers: what each case spoils.
LOOPBACK = {
    "AOAI_ENDPOINT_01": "http://127.0.0.1:9",
    "AOAI_KEY_01": "some-key-0000",
    "AOAI_DEPLOYMENT": DEPLOYMENT,
}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"AOAI_KEY_03": "some-key"}, "AOAI_ENDPOINT_03"),
        ({}, "no Azure OpenAI backend configured"),
        ({**LOOPBACK, "AOAI_KEY_01": '"some-key\\nsecond-line"'}, "AOAI_KEY_01"),
        ({**LOOPBACK, "AOAI_ENDPOINT_01": f"http://127.0.0.1:{9 + 65536}"}, "AOAI_ENDPOINT_01"),
        ({**LOOPBACK, "AOAI_DEPLOYMENT": ".."}, "AOAI_DEPLOYMENT"),
        (
            {**LOOPBACK, "AOAI_ENDPOINT_01": "ftp://user:some-key@one.openai.azure.com"},
            "AOAI_ENDPOINT_01",
        ),
        ({**LOOPBACK, "AOAI_ENDPOINT_" + "2" * 4301: "http://[::1]:9"}, "AOAI_ENDPOINT_222"),
        ({**LOOPBACK, "AOAI_REDIS_URL": "http://:some-key@cache:6379"}, "AOAI_REDIS_URL"),
    ],
    ids=[
        "orphan-key",
        "nothing",
        "key-with-line-break",
        "port-wrapping",
        "deployment-dot-dot",
        "key-in-userinfo",
        "number-of-4301-digits",
        "redis-url-not-redis",
    ],
)
def test_configuration_error_is_one_line_and_exit_two(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    variables: dict[str, str],
    message: str,
) -> None:
    env = write_env(tmp_path / "broken.env", variables)

    assert_configuration_error(run_check(capsys, "--env-file", str(env)), message)


@pytest.mark.usefixtures("without_azure")
def test_entra_id_without_azure_identity_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keyless = {k: v for k, v in LOOPBACK.items() if k != "AOAI_KEY_01"}
    env = write_env(tmp_path / "entra.env", keyless)

    assert_configuration_error(run_check(capsys, "--env-file", str(env)), "aoai-fallbacks[entra]")


def test_env_file_that_is_not_utf8_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "notepad.env"
    env.write_bytes("".join(f"{k}={v}\n" for k, v in LOOPBACK.items()).encode("utf-16"))

    assert_configuration_error(run_check(capsys, "--env-file", str(env)), f"{env}")


def assert_configuration_error(result: tuple[int, str, str], message: str) -> None:
    """`check` said one line naming `message` on stderr, nothing else, and exited 2."""
    code, out, err = result
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("configuration error: ")
    assert message in err
    assert "Traceback" not in err
    assert "some-key" not in err


def test_missing_env_file_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_check(capsys, "--env-file", str(tmp_path / "absent.env"), "--json")

    assert code == 2
    assert json.loads(out) == {
        "ok": False,
        "config_error": f"--env-file {tmp_path / 'absent.env'} does not exist",
    }


def test_missing_large_deployment_names_the_large_tier_variables(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    variables = emulator.env(deployment=DEPLOYMENT, large_deployment="gpt-4-32k")
    env = write_env(tmp_path / "large.env", variables)

    code, out, _ = run_check(capsys, "--env-file", str(env))

    assert code == 1
    fixes = [line for line in out.splitlines() if line.startswith("FIX ")]
    assert [line[4:12] for line in fixes] == ["01-large", "02-large", "03-large"]
    assert "set AOAI_LARGE_DEPLOYMENT_02 to a deployment" in fixes[1]
    assert "(it uses AOAI_LARGE_DEPLOYMENT, shared by all backends)" in fixes[1]
    assert "3/6 backends usable" in out


def test_embedding_deployments_are_probed_with_an_embedding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    embedding = DeploymentConfig("text-embedding-3-small", kind="embeddings")
    with run_emulator(2, [DeploymentConfig(DEPLOYMENT), embedding]) as emu:
        variables = emu.env() | {"AOAI_EMBEDDING_DEPLOYMENT_02": "text-embedding-gone"}
        env = write_env(tmp_path / "embeddings.env", variables)
        code, out, _ = run_check(capsys, "--env-file", str(env))
        probed = emu.stats(embedding.name)
    assert code == 1
    assert probed.served == 1  # 01's, answered as an embedding (a chat probe would be a 400)
    fixes = [line for line in out.splitlines() if line.startswith("FIX ")]
    assert len(fixes) == 1
    assert fixes[0].startswith("FIX 02-embeddings")
    assert "set AOAI_EMBEDDING_DEPLOYMENT_02 to a deployment" in fixes[0]
    assert "3/4 backends usable" in out


def test_failing_and_hanging_backends_are_not_usable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with run_emulator(resources=3, deployments=[DeploymentConfig(DEPLOYMENT)]) as emu:
        emu.resources[0].set_faults(DEPLOYMENT, outage=True)
        emu.resources[1].set_faults(DEPLOYMENT, hang=True)
        env = write_env(tmp_path / "faulty.env", emu.env(deployment=DEPLOYMENT))

        code, out, _ = run_check(capsys, "--env-file", str(env), "--timeout", "0.5", "--json")

    assert code == 1
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    assert (rows["01"]["status"], rows["01"]["usable"]) == (503, False)
    assert "failing right now (503)" in rows["01"]["fix"]
    assert (rows["02"]["reachable"], rows["02"]["usable"]) == (False, False)
    assert "did not answer within 0.5 s: check AOAI_ENDPOINT_02" in rows["02"]["fix"]
    assert rows["03"]["usable"] is True


def test_refused_probe_is_usable_and_a_wrong_address_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 01's context window cannot hold even the probe (400 context_length_exceeded): the
    # request was refused, the backend is fine. 02's endpoint has a path where no Azure
    # OpenAI API lives, so the emulator's router answers a bare 404.
    with run_emulator(
        resources=2, deployments=[DeploymentConfig(DEPLOYMENT, context_window=1)]
    ) as emu:
        variables = emu.env(deployment=DEPLOYMENT)
        variables["AOAI_ENDPOINT_02"] += "/not-azure"
        env = write_env(tmp_path / "odd.env", variables)

        code, out, _ = run_check(capsys, "--env-file", str(env), "--json")

    assert code == 1
    rows = {row["name"]: row for row in json.loads(out)["backends"]}
    assert (rows["01"]["status"], rows["01"]["usable"]) == (400, True)
    assert "refused the 1-token probe (400" in rows["01"]["note"]
    assert (rows["02"]["status"], rows["02"]["usable"]) == (404, False)
    assert "no Azure OpenAI API at this address (404): check AOAI_ENDPOINT_02" in rows["02"]["fix"]

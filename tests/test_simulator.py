"""The service simulator: health JSON, each fault through the control API, the CLI.

Every server here listens on ports the OS hands out (never the sample plan's
9100-9106, which a developer's own `warroom simulate` may hold), runs in the
test's event loop, and is stopped by the test that started it. Waits are
bounded; timing is only ever checked as a lower bound, with slack.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from warroom.domain.plan import Plan, Service
from warroom.health import simulator_cli
from warroom.health.simulator import (
    DEFAULT_CONTROL_PORT,
    Fault,
    FaultInvalid,
    Simulator,
    SimulatorError,
    plan_ports,
)
from warroom.health.simulator_cli import simulate

SERVICES = ("alpha", "beta", "gamma")
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "release-v2.5.0.yaml"


def free_ports(count: int) -> list[int]:
    """Ports the OS just handed out, all different (held together, then released)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def refuses(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    *ports, control = free_ports(len(SERVICES) + 1)
    simulator = Simulator(
        dict(zip(SERVICES, ports, strict=True)), control, seed=7, versions={"alpha": "1.2.3"}
    )
    await simulator.start()
    try:
        yield simulator
    finally:
        # Bounded: a hung request left in flight must not hold up shutdown.
        await asyncio.wait_for(simulator.stop(), 10)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as http:
        yield http


async def inject(client: httpx.AsyncClient, sim: Simulator, name: str, **body: Any) -> None:
    response = await client.post(f"{sim.control_url}/faults/{name}", json=body)
    assert response.status_code == 200, response.text


async def health(client: httpx.AsyncClient, sim: Simulator, name: str) -> dict[str, Any]:
    response = await client.get(sim.urls()[name])
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, dict)
    return body


# ---------------------------------------------------------------- healthy


async def test_every_service_answers_the_design_json(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    for name in SERVICES:
        body = await health(client, sim, name)
        assert set(body) == {
            "status",
            "service",
            "version",
            "error_rate",
            "p99_ms",
            "requests_per_s",
        }
        assert body["status"] == "pass"
        assert body["service"] == name
        assert 0.001 <= body["error_rate"] <= 0.005
        assert 100 <= body["p99_ms"] <= 140
        assert body["requests_per_s"] > 0
    assert (await health(client, sim, "alpha"))["version"] == "1.2.3"
    assert (await health(client, sim, "beta"))["version"] == "0.0.0"


async def test_only_the_health_path_answers(sim: Simulator, client: httpx.AsyncClient) -> None:
    response = await client.get(sim.urls()["alpha"].replace("/health", "/nothing-here"))
    assert response.status_code == 404


async def test_the_same_seed_gives_the_same_noise(client: httpx.AsyncClient) -> None:
    port, control = free_ports(2)

    async def samples(seed: int) -> list[dict[str, Any]]:
        async with Simulator({"alpha": port}, control, seed=seed) as simulator:
            return [await health(client, simulator, "alpha") for _ in range(3)]

    first = await samples(11)
    assert await samples(11) == first
    assert await samples(12) != first
    assert len({body["p99_ms"] for body in first}) > 1  # noise, not a constant


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(("rate", "word"), [(0.005, "pass"), (0.05, "warn"), (0.2, "fail")])
async def test_error_rate_is_reported_and_graded(
    sim: Simulator, client: httpx.AsyncClient, rate: float, word: str
) -> None:
    await inject(client, sim, "beta", error_rate=rate)
    body = await health(client, sim, "beta")
    assert body["error_rate"] == rate
    assert body["status"] == word
    assert (await health(client, sim, "alpha"))["status"] == "pass"  # the others are untouched


async def test_latency_delays_the_answer_and_shows_in_p99(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    await inject(client, sim, "alpha", latency_ms=300)
    # The answer is held back: a client that waits less than the latency gets
    # nothing (whatever the machine's load, the server cannot answer sooner).
    with pytest.raises(httpx.ReadTimeout):
        await client.get(sim.urls()["alpha"], timeout=0.1)
    body = await health(client, sim, "alpha")
    assert body["p99_ms"] >= 400
    assert body["status"] == "pass"


async def test_down_refuses_connections_and_drops_open_ones(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    await health(client, sim, "alpha")  # leaves a kept-alive connection in the pool
    await inject(client, sim, "alpha", down=True)
    port = int(sim.urls()["alpha"].split(":")[2].split("/")[0])
    assert refuses(port)
    async with httpx.AsyncClient(timeout=5) as fresh:
        with pytest.raises(httpx.ConnectError):
            await fresh.get(sim.urls()["alpha"])
    # A poller's shared client must not keep getting answers on its old connection.
    with pytest.raises(httpx.TransportError):
        await client.get(sim.urls()["alpha"])
    assert (await health(client, sim, "beta"))["status"] == "pass"

    await inject(client, sim, "alpha", clear=True)
    assert (await health(client, sim, "alpha"))["status"] == "pass"


async def test_hang_accepts_and_never_answers(sim: Simulator, client: httpx.AsyncClient) -> None:
    await inject(client, sim, "gamma", hang=True)
    async with httpx.AsyncClient(timeout=0.5) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.get(sim.urls()["gamma"])

    # A request waiting when the fault clears gets its answer then.
    waiting = asyncio.create_task(client.get(sim.urls()["gamma"]))
    done, _ = await asyncio.wait({waiting}, timeout=0.3)
    assert not done
    await inject(client, sim, "gamma", clear=True)
    response = await asyncio.wait_for(waiting, 5)
    assert response.status_code == 200
    assert response.json()["status"] == "pass"


async def test_stop_is_not_held_up_by_a_hanging_request(client: httpx.AsyncClient) -> None:
    port, control = free_ports(2)
    simulator = Simulator({"alpha": port}, control)
    await simulator.start()
    try:
        await inject(client, simulator, "alpha", hang=True)
        waiting = asyncio.create_task(client.get(simulator.urls()["alpha"]))
        done, _ = await asyncio.wait({waiting}, timeout=0.3)
        assert not done
    finally:
        await asyncio.wait_for(simulator.stop(), 5)
    # The connection is dropped (or answered 503): either way the client is not left hanging.
    try:
        response = await asyncio.wait_for(waiting, 5)
    except httpx.TransportError:
        pass
    else:
        assert response.status_code == 503
    assert refuses(port)
    assert refuses(control)


async def test_garbage_is_a_200_that_is_not_json(sim: Simulator, client: httpx.AsyncClient) -> None:
    await inject(client, sim, "alpha", garbage=True)
    response = await client.get(sim.urls()["alpha"])
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)


@pytest.mark.parametrize("status", [500, 503, 404])
async def test_status_answers_that_http_status(
    sim: Simulator, client: httpx.AsyncClient, status: int
) -> None:
    await inject(client, sim, "beta", status=status)
    response = await client.get(sim.urls()["beta"])
    assert response.status_code == status
    assert response.json()["status"] == "fail"


async def test_clear_restores_health(sim: Simulator, client: httpx.AsyncClient) -> None:
    await inject(client, sim, "alpha", error_rate=0.5, latency_ms=20, status=500, garbage=True)
    assert (await client.get(sim.urls()["alpha"])).status_code == 500
    await inject(client, sim, "alpha", clear=True)
    body = await health(client, sim, "alpha")
    assert body["status"] == "pass"
    assert body["error_rate"] <= 0.005
    assert sim.faults()["alpha"] == Fault()


async def test_a_post_replaces_the_whole_fault(sim: Simulator, client: httpx.AsyncClient) -> None:
    await inject(client, sim, "alpha", error_rate=0.05)
    await inject(client, sim, "alpha", latency_ms=10)
    assert sim.faults()["alpha"] == Fault(latency_ms=10)


async def test_faults_lists_every_service(sim: Simulator, client: httpx.AsyncClient) -> None:
    await inject(client, sim, "beta", error_rate=0.05, latency_ms=800)
    answer = (await client.get(f"{sim.control_url}/faults")).json()
    assert list(answer["services"]) == list(SERVICES)
    beta = answer["services"]["beta"]
    assert beta["fault"] == Fault(error_rate=0.05, latency_ms=800).to_json()
    assert beta["summary"] == "error rate 5%, +800 ms latency"
    assert beta["url"] == sim.urls()["beta"]
    assert answer["services"]["alpha"]["summary"] == "healthy"
    one = (await client.get(f"{sim.control_url}/faults/beta")).json()
    assert one == beta
    assert sim.faults() == {
        "alpha": Fault(),
        "beta": Fault(error_rate=0.05, latency_ms=800),
        "gamma": Fault(),
    }


async def test_an_unknown_service_is_a_404_that_says_so(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    for response in (
        await client.post(f"{sim.control_url}/faults/nope", json={"down": True}),
        await client.get(f"{sim.control_url}/faults/nope"),
    ):
        assert response.status_code == 404
        message = response.json()["error"]
        assert "'nope'" in message
        assert "alpha, beta, gamma" in message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"error_rate": 2}', "error_rate"),
        (b'{"error_rate": true}', "error_rate"),
        (b'{"latency_ms": -1}', "latency_ms"),
        (b'{"down": "yes"}', "down"),
        (b'{"status": 99}', "status"),
        (b'{"speed": 1}', "unknown field speed"),
        (b'{"clear": true, "down": true}', "clear"),
        (b'{"clear": false}', "clear"),
    ],
)
async def test_a_bad_body_is_a_400_that_names_the_problem(
    sim: Simulator, client: httpx.AsyncClient, body: bytes, needle: str
) -> None:
    await inject(client, sim, "alpha", latency_ms=5)
    response = await client.post(f"{sim.control_url}/faults/alpha", content=body)
    assert response.status_code == 400
    assert needle in response.json()["error"]
    assert sim.faults()["alpha"] == Fault(latency_ms=5)  # unchanged


# ---------------------------------------------------------------- the API in code


async def test_a_taken_port_is_named_with_its_service() -> None:
    free, taken, control = free_ports(3)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        simulator = Simulator({"alpha": free, "beta": taken}, control)
        with pytest.raises(SimulatorError, match=rf"port {taken} \(beta\) is already in use"):
            await simulator.start()
        assert refuses(free)  # what did start was closed again
        assert refuses(control)

        simulator = Simulator({"alpha": free}, taken)
        with pytest.raises(SimulatorError, match=rf"port {taken} \(the control API\)"):
            await simulator.start()
        assert refuses(free)


def test_ports_must_not_collide() -> None:
    with pytest.raises(SimulatorError, match="alpha and beta both use port 9"):
        Simulator({"alpha": 9999, "beta": 9999}, 9998)
    with pytest.raises(SimulatorError, match="control port 9999 is also alpha's"):
        Simulator({"alpha": 9999}, 9999)


async def test_faults_set_before_start_apply_from_the_start(client: httpx.AsyncClient) -> None:
    down, up, control = free_ports(3)
    simulator = Simulator({"alpha": down, "beta": up}, control)
    await simulator.set_fault("alpha", Fault(down=True))
    await simulator.set_fault("beta", Fault(error_rate=0.5))
    assert refuses(up)  # recording a fault does not start anything
    async with simulator:
        assert refuses(down)
        assert (await health(client, simulator, "beta"))["status"] == "fail"


async def test_on_fault_hears_every_change() -> None:
    heard: list[tuple[str, Fault]] = []
    port, control = free_ports(2)
    async with Simulator({"alpha": port}, control, on_fault=lambda *c: heard.append(c)) as s:
        await s.set_fault("alpha", Fault(hang=True))
        await s.set_fault("alpha", Fault())
    assert heard == [("alpha", Fault(hang=True)), ("alpha", Fault())]


def test_fault_values_are_checked_and_described() -> None:
    for bad in (
        {"error_rate": 1.5},
        {"error_rate": -0.1},
        {"latency_ms": float("nan")},
        {"status": 700},
        {"hang": 1},
    ):
        with pytest.raises(FaultInvalid):
            Fault(**bad)
    assert Fault.from_json({"clear": True}) == Fault()
    assert Fault.from_json({"error_rate": 0.05}) == Fault(error_rate=0.05)
    assert Fault().describe() == "healthy"
    assert Fault(down=True).describe() == "down (connections refused)"
    assert Fault(status=500, garbage=True).describe() == "HTTP 500, garbage body"
    assert Fault(error_rate=0.2).healthy is False
    assert Fault().healthy


# ---------------------------------------------------------------- plans


def _with_health(service: Service, url: str | None) -> Service:
    if url is None:
        return service.model_copy(update={"health": None})
    assert service.health is not None
    return service.model_copy(update={"health": service.health.model_copy(update={"url": url})})


def test_plan_ports_of_the_sample(sample_plan: Plan) -> None:
    assert plan_ports(sample_plan) == {
        "api-gateway": 9101,
        "auth-service": 9102,
        "logging-service": 9103,
        "user-service": 9104,
        "mobile-backend": 9105,
        "web-frontend": 9106,
    }


def test_plan_ports_skip_what_cannot_be_simulated_with_a_note(sample_plan: Plan) -> None:
    api, *others = sample_plan.services
    urls = [
        None,
        "https://127.0.0.1:9102/health",
        "http://payments.internal:9103/health",
        "http://127.0.0.1/health",
        "http://localhost:9101/healthz",  # api-gateway's port already
    ]
    services = (api, *(_with_health(s, url) for s, url in zip(others, urls, strict=True)))
    notes: list[str] = []
    assert plan_ports(sample_plan.model_copy(update={"services": services}), notes.append) == {
        "api-gateway": 9101
    }
    assert notes == [
        "not simulating auth-service: it has no health url",
        "not simulating logging-service: its health url https://127.0.0.1:9102/health is not plain http",
        "not simulating user-service: its health url http://payments.internal:9103/health is not on 127.0.0.1 or localhost",
        "not simulating mobile-backend: its health url http://127.0.0.1/health names no port",
        "not simulating web-frontend: its port 9101 is already api-gateway's",
    ]


async def test_from_plan_serves_each_path_and_version(
    sample_plan: Plan, client: httpx.AsyncClient
) -> None:
    first, second, control = free_ports(3)
    api, auth = sample_plan.services[:2]
    plan = sample_plan.model_copy(
        update={
            "services": (
                _with_health(api, f"http://127.0.0.1:{first}/health"),
                _with_health(auth, f"http://localhost:{second}/status/live"),
            )
        }
    )
    async with Simulator.from_plan(plan, control, seed=1) as simulator:
        assert simulator.urls() == {
            "api-gateway": f"http://127.0.0.1:{first}/health",
            "auth-service": f"http://127.0.0.1:{second}/status/live",
        }
        body = await health(client, simulator, "auth-service")
        assert body["version"] == auth.version == "2.3.0"


def test_the_cli_and_the_simulator_agree_on_the_control_port() -> None:
    assert simulator_cli.CONTROL_PORT == DEFAULT_CONTROL_PORT


# ---------------------------------------------------------------- the CLI


async def cli(*args: str) -> Result:
    """Invoke the click group in a thread: the command's blocking HTTP call
    would otherwise stall the event loop the simulator answers on."""
    return await asyncio.to_thread(CliRunner().invoke, simulate, list(args))


async def test_cli_fault_sets_each_fault(sim: Simulator, client: httpx.AsyncClient) -> None:
    control = ("--control", sim.control_url)
    result = await cli("fault", "alpha", "--error-rate", "5%", "--latency", "100ms", *control)
    assert result.exit_code == 0, result.output
    assert result.output == "alpha: error rate 5%, +100 ms latency\n"
    assert sim.faults()["alpha"] == Fault(error_rate=0.05, latency_ms=100)
    assert (await health(client, sim, "alpha"))["error_rate"] == 0.05

    for args, expected in [
        (["--error-rate", "0.2"], Fault(error_rate=0.2)),
        (["--hang"], Fault(hang=True)),
        (["--garbage"], Fault(garbage=True)),
        (["--status", "500"], Fault(status=500)),
        (["--down"], Fault(down=True)),
        (["--clear"], Fault()),
    ]:
        result = await cli("fault", "beta", *args, *control)
        assert result.exit_code == 0, result.output
        assert sim.faults()["beta"] == expected
    assert (await health(client, sim, "beta"))["status"] == "pass"


async def test_cli_fault_on_an_unknown_service_exits_1(sim: Simulator) -> None:
    result = await cli("fault", "nope", "--down", "--control", sim.control_url)
    assert result.exit_code == 1
    assert result.output.startswith("warroom: unknown service 'nope'")
    assert result.output.count("\n") == 1


async def test_cli_fault_without_a_simulator_exits_1_with_one_sentence() -> None:
    (port,) = free_ports(1)
    result = await cli("fault", "alpha", "--down", "--control", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert result.output == (
        f"warroom: nothing answers at http://127.0.0.1:{port}: start the simulator with "
        "`warroom simulate` or point --control at it\n"
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fault", "alpha"], "say what to inject"),
        (["fault", "alpha", "--clear", "--down"], "--clear cannot be combined"),
        (["fault", "alpha", "--error-rate", "5"], "did you mean 5%?"),
        (["fault", "alpha", "--error-rate", "lots"], "is not a rate"),
        (["fault", "alpha", "--latency", "fast"], "bad duration"),
        (["fault", "alpha", "--status", "99"], "--status"),
        (["--seed", "3", "fault", "alpha", "--down"], "are for running the simulator"),
    ],
)
def test_cli_usage_errors_exit_2(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 2
    assert needle in result.output


def _registered() -> bool:
    from warroom.cli import main

    return "simulate" in main.commands


@pytest.mark.skipif(not _registered(), reason="`simulate` is not yet registered in warroom.cli")
async def test_the_warroom_command_injects_a_fault(sim: Simulator) -> None:
    warroom = Path(sys.executable).parent / "warroom"
    proc = await asyncio.create_subprocess_exec(
        str(warroom),
        "simulate",
        "fault",
        "alpha",
        "--error-rate",
        "5%",
        "--control",
        sim.control_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await _finished(proc)
    assert proc.returncode == 0, err
    assert out == "alpha: error rate 5%\n"
    assert sim.faults()["alpha"] == Fault(error_rate=0.05)


# ---------------------------------------------------------------- as a process


async def _read_until(stream: asyncio.StreamReader, marker: str, timeout: float) -> str:
    """Lines from `stream` up to the one containing `marker`, within `timeout` seconds."""
    seen: list[str] = []

    async def read() -> None:
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError("the simulator exited early:\n" + "".join(seen))
            seen.append(line)
            if marker in line:
                return

    await asyncio.wait_for(read(), timeout)
    return "".join(seen)


async def _module(*args: str, **kwargs: Any) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "warroom.health.simulator_cli", *args, env=env, **kwargs
    )


async def _finished(proc: asyncio.subprocess.Process) -> tuple[str, str]:
    """What `proc` printed on stdout and stderr, once it ends (killed after 30 s)."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return out.decode(), err.decode()


def _plan_on(ports: Sequence[int], path: Path) -> Path:
    """The sample plan with its six health ports moved to `ports`."""
    text = SAMPLE.read_text(encoding="utf-8")
    for index, port in enumerate(ports, start=1):
        text = text.replace(f"127.0.0.1:910{index}/", f"127.0.0.1:{port}/")
    assert not re.search(r"127\.0\.0\.1:910\d", text)
    path.write_text(text, encoding="utf-8")
    return path


async def test_the_simulator_process_serves_takes_faults_and_stops_on_ctrl_c(
    tmp_path: Path, client: httpx.AsyncClient
) -> None:
    *ports, control = free_ports(7)
    plan = _plan_on(ports, tmp_path / "plan.yaml")
    proc = await _module(
        "--plan",
        str(plan),
        "--control-port",
        str(control),
        "--seed",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        banner = await _read_until(proc.stdout, "Ctrl-C", 30)
        assert "Simulating release v2.5.0: 6 services on 127.0.0.1" in banner
        assert f"user-service     http://127.0.0.1:{ports[3]}/health" in banner
        assert f"--control http://127.0.0.1:{control}" in banner

        body = (await client.get(f"http://127.0.0.1:{ports[3]}/health")).json()
        assert body["service"] == "user-service"
        assert body["version"] == "3.1.0"

        fault = await _module(
            "fault",
            "user-service",
            "--down",
            "--control",
            f"http://127.0.0.1:{control}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await _finished(fault)
        assert fault.returncode == 0, err
        assert out == "user-service: down (connections refused)\n"
        assert refuses(ports[3])
        # The running simulator says what changed, for whoever watches it.
        assert "user-service: down" in await _read_until(proc.stdout, "user-service", 10)

        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0
        assert rest.decode().endswith("simulator stopped\n")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert all(refuses(port) for port in [*ports, control])


async def test_the_simulator_process_reports_a_taken_port(tmp_path: Path) -> None:
    *ports, control = free_ports(7)
    plan = _plan_on(ports, tmp_path / "plan.yaml")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports[1]))
        holder.listen()
        proc = await _module(
            "run",
            "--plan",
            str(plan),
            "--control-port",
            str(control),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await _finished(proc)
    assert proc.returncode == 1
    assert err == (
        f"warroom: port {ports[1]} (auth-service) is already in use: stop whatever listens "
        "there (another `warroom simulate`?) or choose another port\n"
    )
    assert out == ""

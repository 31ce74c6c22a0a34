"""A real Prometheus server for the tests, started from Debian's `prometheus` package.

Like tests/pg.py: its own temp folder (config and TSDB), a free port on
127.0.0.1 (`--web.listen-address`), scraping the given targets every second,
stopped and removed afterwards. `scripts/test-deps` installs the package
when it is missing and `.ci/run` sets WARROOM_REQUIRE_PROMETHEUS=1, so CI
never silently skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.pg import free_port

READY_TIMEOUT_S = 60.0  # generous: the CPU may be saturated by other tests


def require_prometheus() -> str:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None
    )
    if found is None:
        message = "Prometheus not found (Debian: apt-get install prometheus)"
        if os.environ.get("WARROOM_REQUIRE_PROMETHEUS"):
            pytest.fail(message)
        pytest.skip(message)
    return found


class PromServer:
    def __init__(self, targets: list[str], scrape_interval: str = "1s") -> None:
        self.binary = require_prometheus()
        self.root = Path(tempfile.mkdtemp(prefix="warroom-prom-"))
        self.port = free_port()
        self.targets = targets
        self.scrape_interval = scrape_interval
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.root / "prometheus.yml"
        listed = ", ".join(f'"{t}"' for t in self.targets)
        config.write_text(
            "global:\n"
            f"  scrape_interval: {self.scrape_interval}\n"
            f"  evaluation_interval: {self.scrape_interval}\n"
            "scrape_configs:\n"
            "  - job_name: simulator\n"
            f"    static_configs: [{{targets: [{listed}]}}]\n",
            encoding="utf-8",
        )
        log = (self.root / "log").open("wb")
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)  # polling a bounded condition (deadline above), not a fixed wait
        raise RuntimeError(f"prometheus was not ready within {READY_TIMEOUT_S:g}s: {self.log()}")

    def log(self) -> str:
        path = self.root / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

"""A local anvil L1 for the devnet and the tests, started and stopped by us alone.

The npm wrapper `node_modules/.bin/anvil` spawns the native binary as a child and does not wait for
it on SIGTERM, so when the platform package's binary is present we run it directly: then the PID we
hold is anvil itself, and terminating it (then killing it) really stops the chain.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from jovay.errors import TemporaryError
from jovay.params import DEFAULT_L1_CHAIN_ID

REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_WRAPPER = REPO_ROOT / "node_modules" / ".bin" / "anvil"

# anvil's accounts 0..9 from its default mnemonic "test test test test test test test test test test
# test junk": public, well-known development keys.
DEV_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


def anvil_executable() -> Path:
    """`$JOVAY_ANVIL`, else the npm platform package's native binary, else the npm wrapper."""
    override = os.environ.get("JOVAY_ANVIL")
    if override:
        return Path(override)
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    native = REPO_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{sys.platform}-{arch}" / "bin" / "anvil"
    return native if native.is_file() else NPM_WRAPPER


def free_port() -> int:
    """A port the OS just had free on 127.0.0.1 (anvil may still lose a race for it: we retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rpc(url: str, method: str, params: list[object] | None = None, timeout: float = 5.0) -> object:
    """One raw JSON-RPC call (used before web3 is set up, and for anvil_* methods in tests)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        answer = json.loads(resp.read())
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


class Anvil:
    """`with Anvil() as l1:` runs anvil on 127.0.0.1 until the block ends.

    `block_time` None means automine (a block per transaction); `extra_args` go to anvil verbatim.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        block_time: float | None = None,
        chain_id: int = DEFAULT_L1_CHAIN_ID,
        extra_args: Sequence[str] = (),
    ) -> None:
        self._fixed_port = port
        self.port = port or 0
        self.block_time = block_time
        self.chain_id = chain_id
        self.extra_args = list(extra_args)
        self.dev_keys: list[str] = list(DEV_KEYS)
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        cmd = [str(anvil_executable()), "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--chain-id", str(self.chain_id), "--silent"]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        return cmd + self.extra_args

    def start(self) -> Anvil:
        """Starts anvil and returns once `eth_chainId` answers; retries a lost port race."""
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            self.port = self._fixed_port or free_port()
            self._log = tempfile.TemporaryFile()
            self.process = subprocess.Popen(
                self._command(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
            )
            try:
                self._wait_ready()
                return self
            except TemporaryError:
                self.stop()
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise TemporaryError(f"anvil exited with {self.process.returncode}: {self._output()}")
            try:
                if int(str(rpc(self.url, "eth_chainId", timeout=1.0)), 16) == self.chain_id:
                    return
            except (OSError, urllib.error.URLError, ValueError, RuntimeError):
                pass
            time.sleep(0.05)
        raise TemporaryError(
            f"anvil did not answer on {self.url} within {START_TIMEOUT_S}s: {self._output()}"
        )

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-2000:].decode(errors="replace")

    def stop(self) -> None:
        """Terminates the process we started (by its PID), killing it if it does not exit in time."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

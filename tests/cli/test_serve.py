"""``roster serve`` really serves, and refuses to start in production without a secret key."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROSTER = str(Path(sys.executable).parent / "roster")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    env["ROSTER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    env.update(extra)
    return env


def test_serve_refuses_without_a_secret_key(tmp_path):
    result = subprocess.run(
        [ROSTER, "serve", "--bind", f"127.0.0.1:{_free_port()}", "--workers", "1"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ROSTER_SECRET_KEY must be set" in result.stderr


def test_serve_answers_with_gunicorn(tmp_path):
    env = _env(tmp_path, ROSTER_SECRET_KEY="s" * 40)
    subprocess.run([ROSTER, "init-db"], env=env, check=True, capture_output=True, timeout=60)
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:  # a file, not a pipe: a full pipe would stall the server
        server = subprocess.Popen(
            [ROSTER, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as page:
                    assert page.status == 200
                    assert "Content-Security-Policy" in page.headers
                    break
            except OSError:
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "roster serve did not answer in 30 s"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "gunicorn" in log_path.read_text().lower()

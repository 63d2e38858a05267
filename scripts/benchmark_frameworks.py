"""This project beside aiogram 3 (Redis storage with AOF fsync always, and MemoryStorage; the
webhook answered after the handler) on the same load: signed Telegram webhooks, 20 in flight,
a fake Bot API.

Runs interleaved (ours, then aiogram, at each number of chats) and prints both rows and the
ratios. aiogram, its Redis client and Debian's redis-server are installed for the benchmark
only: into .venv-bench and with apt-get when missing.

Run: .venv/bin/python scripts/benchmark_frameworks.py [--chats 50 500 10000]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from benchmark import measure_webhooks

from support.local_server import REPO, LocalServer

BENCH_VENV = REPO / ".venv-bench"
AIOGRAM_BOT = Path(__file__).resolve().parent / "frameworks" / "aiogram_bot.py"


def install() -> None:
    if shutil.which("redis-server") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], check=True)
    if not (BENCH_VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run(
        [BENCH_VENV / "bin" / "pip", "install", "-q", "aiogram>=3.31,<4", "redis>=5"], check=True
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AiogramServer(LocalServer):
    """aiogram's webhook server with its Redis, both stopped together."""

    def start(self) -> LocalServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        redis_port = free_port()
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        self.env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [BENCH_VENV / "bin" / "python", AIOGRAM_BOT], env=self.env, stdout=log, stderr=log
            )
        return self.wait_healthy(timeout_s=60)

    def stop(self) -> None:
        super().stop()
        self.redis.terminate()
        self.redis.wait(timeout=10)


class AiogramMemoryServer(LocalServer):
    """aiogram's webhook server with MemoryStorage: no durability at all, the stretch goal."""

    def start(self) -> LocalServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.env.pop("REDIS_URL", None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [BENCH_VENV / "bin" / "python", AIOGRAM_BOT], env=self.env, stdout=log, stderr=log
            )
        return self.wait_healthy(timeout_s=60)


SYSTEMS: tuple[tuple[type[LocalServer], str], ...] = (
    (LocalServer, "chatstate, "),
    (AiogramServer, "aiogram+Redis, "),
    (AiogramMemoryServer, "aiogram+MemoryStorage, "),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, nargs="+", default=[50, 500, 10_000])
    parser.add_argument("--webhooks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    install()
    rows = [
        f"{args.webhooks} signed Telegram webhooks (or one per chat when there are more chats), "
        f"{args.concurrency} in flight; server process CPU, open files and RSS:",
        "",
        "| system, chats | webhooks/s | CPU ms/webhook | webhook p50 ms | webhook p99 ms | "
        "reply p50 ms | reply p99 ms | open files | RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = [
        "",
        "| chats | webhooks/s: ÷ aiogram+Redis | ÷ aiogram+MemoryStorage | CPU ms/webhook: ÷ "
        "aiogram+Redis | ÷ aiogram+MemoryStorage |",
        "|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as scratch:
        for chats in args.chats:
            measured = []
            for kind, label in SYSTEMS:
                started = time.monotonic()
                row = measure_webhooks(
                    Path(scratch), args.webhooks, args.concurrency, chats, kind, label
                )
                rows.append(row)
                measured.append([float(cell) for cell in row.split("|")[2:4]])
                print(f"{label}{chats}: {time.monotonic() - started:.0f} s", file=sys.stderr)
            (ours, ours_cpu), (redis, redis_cpu), (memory, memory_cpu) = measured
            ratios.append(
                f"| {chats:,} | {ours / redis:.2f} | {ours / memory:.2f} | "
                f"{ours_cpu / redis_cpu:.2f} | {ours_cpu / memory_cpu:.2f} |"
            )
    print("\n".join(rows + ratios))


if __name__ == "__main__":
    main()

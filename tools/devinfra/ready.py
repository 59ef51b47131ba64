"""`make dev`'s server (`python -m tools.devinfra serve`): `python -m pet_auth serve --reload`, and once it answers, one
block saying where things are: the API's URL as the app must call it, the frontend origins it accepts, and where
development mail goes.

The API's URL is written with the frontend's host name (`localhost` unless CORS_ORIGINS says `127.0.0.1`): the
session cookie is SameSite=Lax, so a page on http://localhost:5173 calling http://127.0.0.1:3000 (another site)
never gets it, and every request after sign-in is signed out (in development the API then answers
`cross_site_api_host`, see src/pet_auth/http/development.py).
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from pet_auth.config import Settings

DEV_DIR = Path(".dev")
MAILPIT_UI = "mailpit-ui"  # in DEV_DIR: the URL of the Mailpit that `infra up` started with Docker Compose
WILDCARDS = {"0.0.0.0", "::"}  # noqa: S104 - names of "every address", compared, not bound
READY_TIMEOUT = 300.0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_url(settings: Settings) -> str:
    """The API's URL as the app should call it: on this machine, with the frontend's host name (the same site)."""
    host = settings.host
    if host in WILDCARDS or _is_loopback(host):
        frontend = urlsplit(settings.cors_origins[0]).hostname if settings.cors_origins else None
        host = frontend if frontend and _is_loopback(frontend) else "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def mail_destination(settings: Settings, dev_dir: Path = DEV_DIR) -> str:
    if settings.mail_backend == "console":
        return "printed in this terminal, links included (MAIL_BACKEND=console)"
    mailpit = dev_dir / MAILPIT_UI
    if mailpit.is_file():
        return f"caught by Mailpit: open {mailpit.read_text().strip()} (MAIL_BACKEND=smtp)"
    return f"sent by SMTP through {settings.smtp_host}:{settings.smtp_port} (MAIL_BACKEND=smtp)"


def banner(settings: Settings, dev_dir: Path = DEV_DIR) -> str:
    api = api_url(settings)
    frontends = ", ".join(settings.cors_origins) or "none (set CORS_ORIGINS)"
    return "\n".join(
        [
            "",
            "pet_auth is ready (development)",
            f"  API       {api}",
            "            call it by this name from the app: the app and the API must be the same site",
            "            (localhost with localhost), or the browser drops the session cookie",
            f"  Frontend  {frontends} (CORS_ORIGINS: the origins that may call the API)",
            f"  Mail      {mail_destination(settings, dev_dir)}",
            f"  API docs  {api}/schema",
            "",
        ]
    )


def _health_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in WILDCARDS else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/health"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own http:// URL
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def announce_when_ready(settings: Settings, process: subprocess.Popen[bytes], dev_dir: Path = DEV_DIR) -> None:
    """Prints the banner once the server answers /health (never, if it exits first)."""
    url = _health_url(settings)
    deadline = time.monotonic() + READY_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        if _answers(url):
            print(banner(settings, dev_dir), flush=True)
            return
        time.sleep(0.2)


def serve(settings: Settings, dev_dir: Path = DEV_DIR) -> int:
    """Runs the development server until it exits; its exit status."""
    process = subprocess.Popen([sys.executable, "-m", "pet_auth", "serve", "--reload"])
    threading.Thread(target=announce_when_ready, args=(settings, process, dev_dir), daemon=True).start()
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:  # Ctrl-C reaches the server too (one process group): wait for it to stop
            continue

"""``idpsync emulate entra --print-config`` in a real process: the printed block works."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import httpx
import pytest


@pytest.mark.slow
def test_emulate_entra_print_config_is_usable() -> None:
    command = [
        sys.executable,
        "-m",
        "idpsync.cli",
        "emulate",
        "entra",
        "--port",
        "0",
        "--users",
        "40",
        "--groups",
        "6",
        "--seed",
        "3",
        "--no-rate-limit",
        "--print-config",
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("token_url"):
            line = proc.stdout.readline()
            assert line, f"emulator exited early: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line.rstrip("\n"))
        export = lines[0]
        assert export.startswith("export IDPSYNC_EMULATOR_SECRET=")
        secret = export.split("=", 1)[1].strip("'")
        config = tomllib.loads("\n".join(lines[1:]))
        source = config["connectors"]["entra-emulated"]["source"]
        assert source["type"] == "entra"
        assert source["client_secret"] == "env:IDPSYNC_EMULATOR_SECRET"
        assert secret not in "\n".join(lines[1:])
        form = {
            "grant_type": "client_credentials",
            "client_id": source["client_id"],
            "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default",
        }
        token = httpx.post(source["token_url"], data=form).json()["access_token"]
        assert f"/{source['tenant']}/oauth2/v2.0/token" in source["token_url"]
        headers = {"authorization": f"Bearer {token}"}
        users = httpx.get(f"{source['base_url']}/users?$top=999", headers=headers).json()
        assert len(users["value"]) == 40
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


@pytest.mark.slow
def test_emulate_google_print_config_is_usable() -> None:
    import json

    from google.oauth2 import service_account
    from googleapiclient.discovery import build

    command = [sys.executable, "-m", "idpsync.cli", "emulate", "google", "--port", "0",
               "--users", "30", "--groups", "5", "--seed", "2", "--print-config"]  # fmt: skip
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "100000"},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("token_url"):
            line = proc.stdout.readline()
            assert line, f"emulator exited early: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line.rstrip("\n"))
        assert lines[0].startswith("export IDPSYNC_EMULATOR_KEY=")
        key = json.loads(lines[0].split("=", 1)[1].strip("'"))
        config = tomllib.loads("\n".join(lines[1:]))
        source = config["connectors"]["google-emulated"]["source"]
        assert source["credentials"] == "env:IDPSYNC_EMULATOR_KEY"
        assert key["private_key"] not in "\n".join(lines[1:])
        creds = service_account.Credentials.from_service_account_info(
            key,
            scopes=["https://www.googleapis.com/auth/admin.directory.user.readonly"],
            subject=source["subject"],
        )
        assert key["token_uri"] == source["token_url"]
        with build(
            "admin",
            "directory_v1",
            credentials=creds,
            static_discovery=True,
            client_options={"api_endpoint": source["base_url"] + "/"},
        ) as service:
            users = service.users().list(customer="my_customer", maxResults=500).execute()
        assert len(users["users"]) == 30
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()

"""Every local command the README shows, and every one up.sh prints, works
exactly as printed: each runs from the repository's root in a new shell
whose PATH has only the system's directories (no .venv, nothing a session
exported), as a new user would paste it after infra/local/up.sh."""

import os
import re
import subprocess

import pytest

from conftest import ROOT, SANDBOX, call

RUNNABLE = re.compile(
    r"^(infra/local/(connect|publish|post|token)\.sh\b|\.venv/bin/cargo-lambda lambda invoke\b"
    r"|curl\b.*(localhost|127\.0\.0\.1))"
)


def logical_lines(text):
    """Lines with their backslash continuations joined."""
    joined, pending = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return joined


def readme_commands():
    text = (ROOT / "README.md").read_text()
    for block in re.findall(r"```(?:sh|bash)?\n(.*?)```", text, re.S):
        for line in logical_lines(block):
            command = line.strip()
            if RUNNABLE.match(command):
                yield "README", command


def printed_by_up():
    printed = ROOT / ".local" / "up.out"
    if not printed.exists():
        return
    for line in logical_lines(printed.read_text()):
        command = line.strip()
        if not RUNNABLE.match(command) or "<" in command:
            continue  # placeholders such as <authorize_url> are for a person to fill in
        # Optional arguments shown as [user]: run it with the defaults.
        command = re.sub(r"\s*\[[a-z_0-9.]+\]", "", command.split("  #")[0]).strip()
        yield "up.sh", command


def unique(pairs):
    seen, out = set(), []
    for source, command in pairs:
        key = command.split("  #")[0].strip()
        if key not in seen:
            seen.add(key)
            out.append((source, command))
    return out


COMMANDS = unique(list(readme_commands()) + list(printed_by_up()))


@pytest.fixture(scope="module", autouse=True)
def sandbox_left_as_found():
    yield
    call("DELETE", f"{SANDBOX}/sandbox/faults")
    call("POST", f"{SANDBOX}/sandbox/latency", {"ms": 0})


def test_there_are_commands_to_try():
    sources = {source for source, _ in COMMANDS}
    assert sources == {"README", "up.sh"}, "run infra/local/up.sh > .local/up.out first (infra/e2e/run.sh does)"
    assert any("cargo-lambda" in c for _, c in COMMANDS)


@pytest.mark.parametrize("source,command", COMMANDS, ids=[f"{s}: {c[:70]}" for s, c in COMMANDS])
def test_a_printed_command_works_in_a_new_shell(source, command):
    home = os.environ.get("HOME", "/root")
    # The prerequisites' tools (rustup's cargo, python3, curl), nothing of the project's.
    env = {"HOME": home, "PATH": f"{home}/.cargo/bin:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-c", command], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, f"{command}\nstdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"

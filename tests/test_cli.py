"""The command line's parser (harness/cli.py): each command comes from the module its map names,
and a command line imports that module alone."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("matplotlib", "pandas", "jupyter_client", "papermill")  # 1.3 CPU-s to import


def test_each_module_adds_the_commands_the_map_gives_it():
    for module in dict.fromkeys(COMMANDS.values()):
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).add_parsers(sub)
        assert set(sub.choices) == {c for c, m in COMMANDS.items() if m == module}, module


@pytest.mark.parametrize("command", ["kafka", *COMMANDS])
def test_a_command_parses_with_its_own_parser(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser(command).parse_args([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: python -m harness {command}" in capsys.readouterr().out


def test_the_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in ["kafka", *COMMANDS]), out


def test_a_command_line_imports_its_commands_module_alone():
    code = ("import sys; from harness.cli import build_parser; "
            "build_parser('kafka').parse_args(['kafka', 'status']); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)  # fmt: skip
    assert out.stdout.strip() == "[]", out.stdout

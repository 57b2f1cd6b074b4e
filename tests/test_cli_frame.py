import subprocess
import sys


def _nmspec(*args):
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, check=False
    )


def test_unknown_command_is_a_usage_error():
    result = _nmspec("frobnicate")
    assert result.returncode == 2
    assert "nmspec: error: argument COMMAND: invalid choice: 'frobnicate'" in result.stderr
    assert "Traceback" not in result.stderr


def test_version():
    result = _nmspec("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "nmspec 0.1.0"

"""A minimal Language Server Protocol client over stdio, enough to open documents in
yaml-language-server and collect the diagnostics it publishes."""

from __future__ import annotations

import json
import pathlib
import queue
import subprocess
import threading
import time


class LspClient:
    def __init__(self, command: list[str], root: pathlib.Path, settings: dict):
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self._settings = settings
        self._next_id = 0
        self._messages: queue.Queue = queue.Queue()
        self._diagnostics: dict[str, list] = {}
        threading.Thread(target=self._read_loop, daemon=True).start()
        self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.resolve().as_uri(),
                "capabilities": {
                    "workspace": {"configuration": True},
                    "textDocument": {"publishDiagnostics": {}},
                },
            },
        )
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": settings})

    def _send(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self._proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self._proc.stdin.flush()

    def _read_loop(self) -> None:
        stream = self._proc.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self._messages.put(json.loads(stream.read(length)))

    def _pump(self, timeout: float) -> dict | None:
        try:
            message = self._messages.get(timeout=timeout)
        except queue.Empty:
            return None
        method = message.get("method")
        if method == "workspace/configuration" and "id" in message:
            items = message["params"]["items"]
            result = [self._settings.get(item.get("section", ""), None) for item in items]
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})
        elif method and "id" in message:  # any other server request: acknowledge
            self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
        elif method == "textDocument/publishDiagnostics":
            params = message["params"]
            self._diagnostics[params["uri"]] = params["diagnostics"]
        return message

    def request(self, method: str, params: dict, timeout: float = 30.0) -> dict:
        self._next_id += 1
        wanted = self._next_id
        self._send({"jsonrpc": "2.0", "id": wanted, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._pump(deadline - time.monotonic())
            if message and message.get("id") == wanted and "method" not in message:
                return message
        raise TimeoutError(f"no answer to {method} within {timeout} s")

    def notify(self, method: str, params: dict) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics_for(self, path: pathlib.Path, text: str, timeout: float = 30.0) -> list:
        uri = path.resolve().as_uri()
        self._diagnostics.pop(uri, None)
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._pump(min(0.2, max(deadline - time.monotonic(), 0.01)))
            if uri in self._diagnostics:
                # the server may publish twice (syntax, then schema): let it settle briefly
                settle = time.monotonic() + 1.0
                while time.monotonic() < settle:
                    self._pump(0.1)
                self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
                return self._diagnostics[uri]
        raise TimeoutError(f"no diagnostics for {path.name} within {timeout} s")

    def close(self) -> None:
        try:
            self.request("shutdown", {}, timeout=5)
            self.notify("exit", {})
        except (TimeoutError, BrokenPipeError):
            pass
        self._proc.kill()
        self._proc.wait()

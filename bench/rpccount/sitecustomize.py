"""Bench-only: count every JSON-RPC request a process sends, by method and by the veilproof function
that sent it. Not imported by veilproof: put this directory first on PYTHONPATH and set
``VP_RPC_COUNT_DIR`` (every Python process started with that environment counts, node and client
processes included), then summarise with ``python bench/rpccount/summary.py DIR``.

Why a process-wide hook and not a web3 middleware in the code: the count must cover every path (web3's
own ``eth_chainId`` / ``eth_gasPrice`` lookups included) without a switch in production code.
"""

from __future__ import annotations

import os

_DIR = os.environ.get("VP_RPC_COUNT_DIR")

if _DIR:
    import json
    import sys
    import threading
    import time
    from collections import Counter

    _counts: Counter[str] = Counter()
    _lock = threading.Lock()
    _last = [0.0]

    def _role() -> str:
        """Read at dump time: ``sys.argv`` is not set yet when sitecustomize runs."""
        argv = " ".join(sys.argv)
        return (
            "node"
            if ("node.runner" in argv or "node/runner" in argv)
            else "client"
            if "--client" in argv
            else "other"
        )

    def _caller() -> str:
        f = sys._getframe(2)
        names = []
        while f is not None and len(names) < 2:
            fn = f.f_code.co_filename
            if "veilproof" in fn and not fn.endswith(("chain/network.py", "chain/facade.py")):
                names.append(f"{os.path.basename(fn)[:-3]}.{f.f_code.co_name}")
            f = f.f_back
        return " < ".join(names) or "?"

    def _dump(force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - _last[0] < 1.0:
            return
        _last[0] = now
        with _lock:
            data = dict(_counts)
        path = os.path.join(_DIR, f"{_role()}-{os.getpid()}.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"role": _role(), "argv": sys.argv, "t": time.time(), "counts": data}, fh)
        os.replace(tmp, path)

    def _install() -> None:
        from web3.providers.rpc import rpc

        orig = rpc.HTTPProvider.make_request

        def make_request(self, method, params):  # type: ignore[no-untyped-def]
            key = f"{method} | {_caller()}"
            with _lock:
                _counts[str(method)] += 1
                _counts[key] += 1
            try:
                return orig(self, method, params)
            finally:
                _dump()

        rpc.HTTPProvider.make_request = make_request  # type: ignore[method-assign]

    import atexit

    atexit.register(lambda: _dump(True))

    # web3 is imported lazily by veilproof; patch when it is first imported.
    import importlib.abc
    import importlib.machinery

    class _Hook(importlib.abc.MetaPathFinder):
        done = False

        def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
            if name != "web3.providers.rpc.rpc" or self.done:
                return None
            self.done = True
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return None
            loader = spec.loader
            orig_exec = loader.exec_module

            def exec_module(module):  # type: ignore[no-untyped-def]
                orig_exec(module)
                _install()

            loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, _Hook())

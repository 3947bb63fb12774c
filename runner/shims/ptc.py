# KubeCodeRun programmatic tool calling, Python side (prepended to the code file by the runner).
# Each tool is an async stub; calls made before the event loop runs again (asyncio.gather) go to the
# runner as one batch, over the unix socket, and block until the client's results come back.
import asyncio as _kcr_asyncio


def _kcr_connect(path):
    import os
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if len(path) < 100:
        s.connect(path)
        return s
    # Longer than a socket address holds: through the directory's /proc/self/fd link.
    d = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        s.connect("/proc/self/fd/%d/%s" % (d, os.path.basename(path)))
    finally:
        os.close(d)
    return s


class ToolCallError(RuntimeError):
    """A tool the code called failed on the client's side."""


class _KcrPTC:
    def __init__(self, path):
        # Everything the methods use is bound here: the code's namespace is the module's, and a tool
        # may have the name of one of its globals.
        self._asyncio, self._error, self._connect = _kcr_asyncio, ToolCallError, _kcr_connect
        self._path = path
        self._sock = None
        self._pending = []
        self._scheduled = False

    def stub(self, name):
        call = self.call

        async def tool(*args, **kwargs):
            if args:
                if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
                    kwargs = args[0]
                else:
                    raise TypeError("%s takes keyword arguments (or one dict)" % name)
            return await call(name, kwargs)

        tool.__name__ = tool.__qualname__ = name
        return tool

    def call(self, name, args):
        loop = self._asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append((name, args, fut))
        if not self._scheduled:
            # Runs after every task scheduled now has taken its first step: gather's calls go together.
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self):
        import json
        import socket

        self._scheduled = False
        batch, self._pending = self._pending, []
        try:
            if self._sock is None:
                s = self._connect(self._path)
                self._sock, self._rfile = s, s.makefile("rb")
            msg = {"calls": [{"name": n, "input": a} for n, a, _ in batch]}
            self._sock.sendall(json.dumps(msg, default=str).encode() + b"\n")
            reply = json.loads(self._rfile.readline() or b"null")
            results = reply["results"]
        except Exception as e:
            for _, _, f in batch:
                if not f.done():
                    f.set_exception(self._error("tool call failed: %s" % e))
            return
        for (name, _, f), r in zip(batch, results):
            if f.done():
                continue
            if r.get("is_error"):
                f.set_exception(self._error(r.get("error_message") or "tool %s failed" % name))
            else:
                f.set_result(r.get("result"))

    def main(self, path, namespace, stubs):
        import ast
        import json

        namespace["_kcr_ptc"] = self
        for name in ("_KcrPTC", "_kcr_connect"):
            namespace.pop(name, None)
        for ident, name in json.loads(stubs).items():
            namespace[ident] = self.stub(name)

        with open(path, encoding="utf-8") as f:
            src = f.read()
        code = compile(src, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        result = eval(code, namespace)
        if self._asyncio.iscoroutine(result):
            self._asyncio.run(result)

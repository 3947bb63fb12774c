"""KubeCodeRun programmatic tool calling, bash side: `ptccall.py SOCKET NAME [ARG]...` calls one tool.

Arguments: none -> {}; one JSON object -> that object; otherwise key=value pairs (a value that is
JSON is parsed, else it is a string). The result goes to stdout (a string as is, anything else as
JSON); a failed tool prints its message on stderr and exits 1.
"""
import json
import os
import socket
import sys


def main():
    path, name, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    payload = {}
    if len(args) == 1 and args[0].lstrip().startswith("{"):
        payload = json.loads(args[0])
    else:
        for a in args:
            key, sep, value = a.partition("=")
            if not sep:
                sys.stderr.write("%s: arguments are one JSON object or key=value pairs\n" % name)
                return 2
            try:
                payload[key] = json.loads(value)
            except ValueError:
                payload[key] = value
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if len(path) < 100:
        s.connect(path)
    else:  # longer than a socket address holds: through the directory's /proc/self/fd link
        d = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            s.connect("/proc/self/fd/%d/%s" % (d, os.path.basename(path)))
        finally:
            os.close(d)
    s.sendall(json.dumps({"calls": [{"name": name, "input": payload}]}).encode() + b"\n")
    reply = json.loads(s.makefile("rb").readline() or b"null")
    if not reply or "results" not in reply:
        sys.stderr.write("%s: tool call failed: %s\n" % (name, (reply or {}).get("error", "no answer")))
        return 1
    r = reply["results"][0]
    if r.get("is_error"):
        sys.stderr.write("%s: %s\n" % (name, r.get("error_message") or "tool failed"))
        return 1
    v = r.get("result")
    sys.stdout.write(v if isinstance(v, str) else json.dumps(v))
    sys.stdout.write("\n")
    return 0


sys.exit(main())

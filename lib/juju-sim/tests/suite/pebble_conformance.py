"""Drives juju-sim's Pebble stand-in with the official Python client (ops.pebble).

Usage: pebble_conformance.py SOCKET. Exits non-zero (an assertion) on the first
difference from what the client expects of Pebble.
"""
import http.server
import sys
import threading
import time

from ops import pebble

client = pebble.Client(socket_path=sys.argv[1])

# system-info
info = client.get_system_info()
assert info.version.startswith("v1."), info.version


# An HTTP endpoint for the http check (the pod IP is 127.0.0.1 here).
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]

# add_layer, get_plan
client.add_layer(
    "base",
    {
        "summary": "base",
        "services": {
            "sleeper": {
                "override": "replace",
                "command": "/bin/sh -c 'echo $$ > sleeper.pid; exec sleep 1000'",
                "startup": "enabled",
                "environment": {"A": "1"},
            },
            "idle": {"override": "replace", "command": "/bin/sleep 1000"},
            "crasher": {
                "override": "replace",
                "command": "/bin/sh -c 'sleep 1.2; exit 1'",
                "backoff-delay": "300ms",
            },
        },
        "checks": {
            "web": {
                "override": "replace",
                "level": "ready",
                "period": "200ms",
                "threshold": 1,
                "http": {"url": f"http://localhost:{port}/"},
            },
            "closed": {
                "override": "replace",
                "period": "200ms",
                "threshold": 1,
                "tcp": {"port": 1},
            },
        },
    },
)
try:
    client.add_layer("base", "services: {}")
    raise AssertionError("a second layer with the same label was accepted")
except pebble.APIError as e:
    assert e.code == 400 and e.message == 'layer "base" already exists', e
try:
    client.add_layer("bad", {"services": {"x": {"command": "/bin/true"}}})
    raise AssertionError("a service without override was accepted")
except pebble.APIError as e:
    assert e.message == 'layer "bad" must define "override" for service "x"', e.message
client.add_layer(
    "base",
    {"services": {"sleeper": {"override": "merge", "environment": {"B": "2"}}}},
    combine=True,
)
plan = client.get_plan()
assert set(plan.services) == {"sleeper", "idle", "crasher"}, plan.to_yaml()
assert plan.services["sleeper"].environment == {"A": "1", "B": "2"}, plan.to_yaml()
assert plan.checks["web"].threshold == 1

# replan starts the enabled service; a second replan keeps its process
client.replan_services()
services = {s.name: s for s in client.get_services()}
assert services["sleeper"].is_running(), services
assert services["sleeper"].startup == pebble.ServiceStartup.ENABLED
assert services["idle"].current == pebble.ServiceStatus.INACTIVE, services


def pid():
    for _ in range(100):
        try:
            text = client.pull("/sleeper.pid").read().strip()
            if text:
                return int(text)
        except pebble.PathError:
            pass
        time.sleep(0.05)
    raise AssertionError("no pid file")


first = pid()
change = client.get_change(client.replan_services())
assert change.ready and change.status == "Done", change
assert pid() == first, "a no-op replan restarted the service"

# a changed service restarts on replan
client.add_layer(
    "top", {"services": {"sleeper": {"override": "merge", "environment": {"C": "3"}}}}
)
client.remove_path("/sleeper.pid")
client.replan_services()
second = pid()
assert second != first, "a changed service kept its process"

# start / stop / restart
client.start_services(["idle"])
assert client.get_services(["idle"])[0].is_running()
client.stop_services(["idle"])
assert not client.get_services(["idle"])[0].is_running()
client.remove_path("/sleeper.pid")
client.restart_services(["sleeper"])
third = pid()
assert third != second
try:
    client.start_services(["nope"])
    raise AssertionError("an unknown service started")
except pebble.APIError as e:
    assert e.code == 400 and 'service "nope" does not exist' in e.message, e.message

# a service that exits is restarted after its backoff (on-failure: restart)
client.start_services(["crasher"])
seen = set()
deadline = time.time() + 10
while time.time() < deadline and not {"backoff", "active"} <= seen:
    current = client.get_services(["crasher"])[0].current
    # ops has no enum member for Pebble's "backoff": it passes the string through.
    value = getattr(current, "value", current)
    if value == "backoff" or "backoff" in seen:
        seen.add(value)
    time.sleep(0.05)
assert "backoff" in seen and "active" in seen, seen
client.stop_services(["crasher"])
assert client.get_services(["crasher"])[0].current == pebble.ServiceStatus.INACTIVE

# files
client.push("/etc/demo/config.yml", "a: 1\n", make_dirs=True, permissions=0o600)
assert client.pull("/etc/demo/config.yml").read() == "a: 1\n"
client.push("/etc/demo/raw.bin", b"\x00\x01\xff", encoding=None)
assert client.pull("/etc/demo/raw.bin", encoding=None).read() == b"\x00\x01\xff"
files = {f.name: f for f in client.list_files("/etc/demo")}
assert set(files) == {"config.yml", "raw.bin"}, files
assert files["config.yml"].permissions == 0o600 and files["config.yml"].size == 5
assert files["config.yml"].type == pebble.FileType.FILE
assert [f.name for f in client.list_files("/etc/demo", pattern="*.yml")] == ["config.yml"]
itself = client.list_files("/etc/demo", itself=True)
assert [(f.path, f.type) for f in itself] == [("/etc/demo", pebble.FileType.DIRECTORY)]
client.make_dir("/var/lib/demo/a/b", make_parents=True, permissions=0o700)
assert client.list_files("/var/lib/demo/a/b", itself=True)[0].permissions == 0o700
try:
    client.make_dir("/var/lib/demo/a")
    raise AssertionError("make_dir of an existing directory succeeded")
except pebble.PathError as e:
    assert e.kind == "generic-file-error" and e.message == "mkdir /var/lib/demo/a: file exists", e
try:
    client.remove_path("/var/lib/demo")
    raise AssertionError("a non-empty directory was removed")
except pebble.PathError as e:
    assert e.message == "remove /var/lib/demo: directory not empty", e
client.remove_path("/var/lib/demo", recursive=True)
try:
    client.pull("/var/lib/demo/a")
    raise AssertionError("pulled a removed file")
except pebble.PathError as e:
    assert e.kind == "not-found" and e.message == "stat /var/lib/demo/a: no such file or directory", e
try:
    client.list_files("/nope")
    raise AssertionError("listed a missing directory")
except pebble.APIError as e:
    assert e.code == 404 and e.message == "stat /nope: no such file or directory", e.message

# exec: stdout, stderr, exit code; stdin; paths in the pod
out, err = client.exec(["/bin/sh", "-c", "echo out; echo err >&2"]).wait_output()
assert (out, err) == ("out\n", "err\n"), (out, err)
try:
    client.exec(["/bin/sh", "-c", "echo partial; exit 3"]).wait_output()
    raise AssertionError("a failing command did not raise")
except pebble.ExecError as e:
    assert e.exit_code == 3 and e.stdout == "partial\n", e
out, _ = client.exec(["cat"], stdin="piped in").wait_output()
assert out == "piped in", out
out, _ = client.exec(["cat", "/etc/demo/config.yml"], environment={"X": "1"}).wait_output()
assert out == "a: 1\n", out
out, err = client.exec(["/bin/sh", "-c", "echo both; echo more >&2"], combine_stderr=True).wait_output()
assert out == "both\nmore\n" and err is None, (out, err)
try:
    client.exec(["no-such-command"])
    raise AssertionError("exec of a missing command succeeded")
except pebble.APIError as e:
    assert e.message == 'cannot find executable "no-such-command"', e.message
try:
    client.exec(["sleep", "5"], timeout=0.5).wait()
    raise AssertionError("the timeout did not end the command")
except pebble.ChangeError as e:
    assert "timed out after 500ms" in e.err, e.err

# checks
deadline = time.time() + 10
while time.time() < deadline:
    checks = {c.name: c for c in client.get_checks()}
    if checks["web"].successes and checks["closed"].status == pebble.CheckStatus.DOWN:
        break
    time.sleep(0.1)
checks = {c.name: c for c in client.get_checks()}
assert checks["web"].status == pebble.CheckStatus.UP and checks["web"].successes > 0, checks
assert checks["web"].level == pebble.CheckLevel.READY
assert checks["closed"].status == pebble.CheckStatus.DOWN and checks["closed"].failures >= 1, checks
assert [c.name for c in client.get_checks(level=pebble.CheckLevel.READY)] == ["web"]
change = client.get_change(checks["closed"].change_id)
assert change.kind == "recover-check" and change.summary == 'Recover TCP check "closed"', change

client.stop_services(["sleeper"])
print("ok")

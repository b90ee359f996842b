"""The exposure window, measured: from a violating PutKeyPolicy event's hand-off to the
guardrail until its revert is written and verified (the end of the GetKeyPolicy that reads the
reverted policy back), for the release Lambda binary in enforce mode against moto behind a
loopback proxy that adds a fixed latency to every AWS call, as a network would. Prints the
median window and per-event latency over a few events (one fresh key each, so no revert
budget is spent) and one event's calls in order, with their offsets: calls that start
together ran in parallel. Nothing here reaches AWS.

Run: scripts/exposure [--latency-ms 20] [--events 15] [--binary target/release/guardrail-lambda]
"""

import argparse
import asyncio
import json
import re
import statistics
import threading
import time
from pathlib import Path

import lambda_runtime_test as runtime
from emulator import PUBLIC, ROOT, Moto, event

METHODS = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"HEAD ")


class LatencyProxy:
    """A TCP proxy on a free 127.0.0.1 port in front of `upstream_port`: every byte a client
    sends reaches the upstream `delay` seconds after it arrived (responses are not delayed),
    so each request/response call costs `delay` more. Records each call as
    [start, action, end]: when its request arrived, its operation (`X-Amz-Target` or the
    query protocol's `Action=`), when its response's last bytes went back."""

    def __init__(self, upstream_port, delay):
        self.upstream_port = upstream_port
        self.delay = delay
        self.calls = []
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait()

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _connection(self, client_r, client_w):
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        current = [None]
        queue = asyncio.Queue()

        async def deliver():
            while True:
                arrived, data = await queue.get()
                if data is None:
                    up_w.close()
                    return
                await asyncio.sleep(max(0.0, arrived + self.delay - self.loop.time()))
                up_w.write(data)
                await up_w.drain()

        async def requests():
            sender = asyncio.create_task(deliver())
            while data := await client_r.read(65536):
                if data.startswith(METHODS):
                    current[0] = [time.monotonic(), "?", None]
                    self.calls.append(current[0])
                if current[0] is not None and current[0][1] == "?":
                    found = re.search(rb"(?i)x-amz-target:\s*[\w.]+\.(\w+)", data) or re.search(rb"Action=(\w+)", data)
                    if found:
                        current[0][1] = found.group(1).decode()
                queue.put_nowait((self.loop.time(), data))
            queue.put_nowait((0.0, None))
            await sender

        async def responses():
            while data := await up_r.read(65536):
                client_w.write(data)
                await client_w.drain()
                if current[0] is not None:
                    current[0][2] = time.monotonic()
            client_w.close()

        await asyncio.gather(requests(), responses(), return_exceptions=True)


def window(calls, handed, until):
    """The calls of one event (between its hand-off and `until`) and its exposure window:
    from the hand-off to the end of the first GetKeyPolicy after the PutKeyPolicy."""
    mine = [c for c in calls if handed <= c[0] < until]
    put = next((i for i, c in enumerate(mine) if c[1] == "PutKeyPolicy"), None)
    if put is None:
        return mine, None
    verify = next((c for c in mine[put + 1:] if c[1] == "GetKeyPolicy"), None)
    return mine, None if verify is None or verify[2] is None else (verify[2] - handed) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--events", type=int, default=15)
    parser.add_argument("--binary", type=Path, default=ROOT / "target" / "release" / runtime.FUNCTION)
    args = parser.parse_args()
    with Moto() as moto:
        topic, _ = moto.guardrail_resources()
        kms = moto.client("kms")
        keys = [kms.create_key(Policy=json.dumps(PUBLIC))["KeyMetadata"]["KeyId"] for _ in range(args.events)]
        events = [event("put-key-policy-public.json", key, PUBLIC) for key in keys]
        proxy = LatencyProxy(int(moto.endpoint.rsplit(":", 1)[1]), args.latency_ms / 1000)
        env = {**moto.environment(topic), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}", "RUST_LOG": "warn"}
        handed = []
        out = runtime.measure_events(env, events, binary=args.binary, handed_out=handed)
        finished = [h + ms / 1000 for h, (ms, _) in zip(handed, out)]
    reverted = [r for _, r in out if r.get("action") == "reverted" and r.get("verified")]
    if len(reverted) != len(events):
        raise SystemExit(f"expected every event reverted and verified, got: {[r.get('action') for _, r in out]}")
    # The first event pays the connections' setup: the window is its median over the rest.
    windows, latencies = [], []
    for i, h in enumerate(handed):
        calls, w = window(proxy.calls, h, finished[i] + 0.001)
        if i == 1:
            shown = calls, h
        if i > 0:
            windows.append(w)
            latencies.append(out[i][0])
    calls, h = shown
    rounds = 0
    last_start = None
    for c in calls:
        if last_start is None or c[0] - last_start > args.latency_ms / 2000:
            rounds += 1
        last_start = c[0]
    print(f"per call: +{args.latency_ms:.0f} ms (loopback proxy); one event's calls (start ms: operation, end ms):")
    for c in calls:
        print(f"  +{(c[0] - h) * 1000:6.1f}: {c[1]:<16} done +{((c[2] or c[0]) - h) * 1000:6.1f}")
    print(f"exposure window (event to revert verified), median of {len(windows)} events: {statistics.median(windows):.1f} ms; "
          f"whole invocation (alert sent): {statistics.median(latencies):.1f} ms; "
          f"{rounds} sequential rounds of calls in all")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""ws_client.py — a strict second client for the helper: Debian's
python3-websockets (run with /usr/bin/python3, which has it).

    /usr/bin/python3 tests/integration/ws_client.py URL USER TEXT

Connects to URL (e.g. ws://127.0.0.1:8080/ws?channel=lobby&history=0), pings
and waits for the pong, sends {"type":"send","user":USER,"text":TEXT}, waits
until that message comes back through the store, prints it as JSON on one
line, then closes with 1000 and checks the server echoed 1000.  The library
checks the handshake (accept value, headers) and every frame; any violation
raises, and the exit status is 1.
"""
import asyncio
import json
import sys

import websockets


async def main(url, user, text):
    async with websockets.connect(url, open_timeout=10, close_timeout=10,
                                  max_size=2 ** 16) as ws:
        pong = await ws.ping(b"py")
        await asyncio.wait_for(pong, 10)
        await ws.send(json.dumps({"type": "send", "user": user, "text": text}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame.get("type") == "message" and frame["message"]["text"] == text:
                print(json.dumps(frame["message"], ensure_ascii=False))
                break
        await ws.close(code=1000, reason="done")
        if ws.close_code != 1000:
            raise SystemExit(f"server answered the close with {ws.close_code}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    try:
        asyncio.run(main(*sys.argv[1:]))
    except Exception as e:  # any protocol violation or timeout
        print(f"ws_client.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)

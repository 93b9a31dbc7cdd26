#!/usr/bin/env python3
"""The fake Graph API of bench/mixed, and its flow-engine customers in a closed loop.

    engine.py GRAPH_PORT SERVER_PORT APP_SECRET ENGINE_PHONE CUSTOMERS WARMUP DURATION OUT.json

Serves Meta's `POST /{version}/{phone_number_id}/messages` on 127.0.0.1:GRAPH_PORT for every send
PyTake makes (flow replies, agent replies, follow-ups), counting them per phone number id. On
SIGUSR1 the customers start: each sends a signed webhook message to the engine tenant's number and
waits for the bot's two replies at this fake before its next message. Turns that start after
WARMUP seconds and end within the next DURATION seconds are measured (webhook sent -> last reply
received); OUT.json.done appears when the last customer has stopped. On SIGTERM it writes OUT.json
and exits.

One asyncio loop, no threads: the fake and the customers cost as little CPU as Python allows,
which matters on a machine whose cores are shared with the server and PostgreSQL.
"""

import asyncio
import hashlib
import hmac
import json
import re
import signal
import sys
import time

graph_port, server_port = int(sys.argv[1]), int(sys.argv[2])
secret, phone = sys.argv[3].encode(), sys.argv[4]
customers, warmup, duration = int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
out_path = sys.argv[8]
REPLIES_PER_TURN = 2
TURN_TIMEOUT = 15.0
SEND_PATH = re.compile(r"^/v[0-9.]+/([^/]+)/messages$")

sends_by_phone = {}   # phone_number_id -> sends answered by the fake
waiting = {}          # customer wa_id -> [replies still needed, future]
early = {}            # replies that arrived before their customer started waiting
engine = {"turns": 0, "latencies_ms": [], "timeouts": 0, "refused": 0, "started": False, "done": False}


async def read_message(reader):
    """One HTTP/1.1 message after its start line: (headers, body). Content-Length or chunked."""
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readline()
        return headers, body
    length = int(headers.get("content-length") or 0)
    return headers, (await reader.readexactly(length) if length else b"")


def deliver(to):
    entry = waiting.get(to)
    if entry is None:
        early[to] = early.get(to, 0) + 1
        return
    entry[0] -= 1
    if entry[0] <= 0:
        del waiting[to]
        if not entry[1].done():
            entry[1].set_result(True)


async def graph_connection(reader, writer):
    try:
        while True:
            start = await reader.readline()
            if not start:
                break
            method, path = start.decode("latin-1").split(" ")[:2]
            _, body = await read_message(reader)
            match = SEND_PATH.match(path.split("?")[0])
            if method == "POST" and match:
                number = match.group(1)
                n = sends_by_phone[number] = sends_by_phone.get(number, 0) + 1
                try:
                    to = json.loads(body).get("to", "")
                except ValueError:
                    to = ""
                payload = ('{"messaging_product":"whatsapp","contacts":[{"input":"%s","wa_id":"%s"}],'
                           '"messages":[{"id":"wamid.fake-%s-%d"}]}' % (to, to, number, n)).encode()
                status = b"200 OK"
                if number == phone and to:
                    deliver(to)
            else:
                payload = b'{"error":{"message":"fake Graph: no such route","code":803}}'
                status = b"404 Not Found"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(payload)).encode() + b"\r\n\r\n" + payload)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


def webhook(customer, n, run):
    wa_id = str(5511_8000_0000 + customer)
    body = (
        '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":'
        '{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550002222","phone_number_id":"%s"},'
        '"contacts":[{"profile":{"name":"Cliente %d"},"wa_id":"%s"}],'
        '"messages":[{"from":"%s","id":"wamid.mixed-engine-%s-%d-%d","timestamp":"%d","type":"text",'
        '"text":{"body":"Mensagem %d: quero saber o preco do plano"}}]}}]}]}'
    ) % (phone, customer, wa_id, wa_id, run, customer, n, int(time.time()), n)
    data = body.encode()
    signature = "sha256=" + hmac.new(secret, data, hashlib.sha256).hexdigest()
    request = ("POST /meta/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "X-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n" % (signature, len(data))).encode() + data
    return wa_id, request


async def customer_loop(customer, measure_from, end, run):
    loop = asyncio.get_running_loop()
    reader = writer = None
    n = 0
    while loop.time() < end:
        n += 1
        to, request = webhook(customer, n, run)
        began = loop.time()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", server_port)
            writer.write(request)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 30)
            headers, _ = await read_message(reader)
            ok = status_line.split(b" ")[1:2] == [b"200"]
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, IndexError):
            ok = False
            if writer is not None:
                writer.close()
            writer = None
        if not ok:
            if began >= measure_from:
                engine["refused"] += 1
            await asyncio.sleep(0.05)
            continue
        got = early.pop(to, 0)
        if got >= REPLIES_PER_TURN:
            answered = True
        else:
            future = loop.create_future()
            waiting[to] = [REPLIES_PER_TURN - got, future]
            try:
                answered = await asyncio.wait_for(future, TURN_TIMEOUT)
            except asyncio.TimeoutError:
                waiting.pop(to, None)
                answered = False
        finished = loop.time()
        if began >= measure_from and finished <= end:
            if answered:
                engine["latencies_ms"].append((finished - began) * 1000)
            else:
                engine["timeouts"] += 1
    if writer is not None:
        writer.close()


async def run_customers():
    loop = asyncio.get_running_loop()
    engine["started"] = True
    start = loop.time()
    measure_from, end = start + warmup, start + warmup + duration
    run = "%x" % int(time.time() * 1000)
    await asyncio.gather(*(customer_loop(c, measure_from, end, run) for c in range(customers)))
    engine["turns"] = len(engine["latencies_ms"])
    engine["done"] = True
    open(out_path + ".done", "w").close()


def write_out():
    latencies = sorted(engine.pop("latencies_ms"))

    def pct(p):
        return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))] if latencies else None

    engine.update({"customers": customers, "duration": duration, "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
                   "max_ms": latencies[-1] if latencies else None, "graph_sends_by_phone": sends_by_phone})
    with open(out_path, "w") as f:
        json.dump(engine, f)


async def main():
    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(graph_connection, "127.0.0.1", graph_port, backlog=1024)
    stop = asyncio.Event()
    tasks = []
    loop.add_signal_handler(signal.SIGUSR1, lambda: tasks.append(loop.create_task(run_customers())))
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    write_out()


asyncio.run(main())

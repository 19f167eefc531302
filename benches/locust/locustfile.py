"""Locust doing the load of loadgen's efficiency benchmark, for comparison.

The load is that of

    loadgen --scenario chat --target URL --admin-token T \
        --users 1000 --connections-per-user 1 --rate 1 --duration 30s

written as a Locust user would write it: each simulated user provisions
nothing itself (the test start does it through /admin, as loadgen does),
holds one WebSocket (websocket-client, the library Locust's own WebSocket
examples use, on gevent) and per second, as Poisson arrivals:

    send_message to a random friend          1.00
    typing, a 0.3-3 s pause, send_message    0.40
    typing then stop_typing                  0.06
    mark_read of the last conversation seen  1.00
    get_online_friends                       0.02
    REST send_message with 0-2 media ids     0.04

with contents of 64-2048 bytes, log-uniform, like `chat`. One greenlet per
user reads every frame the server sends, parses it, and reports to Locust's
statistics what a Locust script can measure: message echo (the sender's own
copy) and message delivery, both timed from the send time the content
carries, the online_friends round trip, and each REST call.
It checks no invariant and measures no presence latency; loadgen does both,
so this comparison favours Locust.

Left out, being under 1% of the frames: device churn (0.004/s) and the
three bad-token connections.

Run by scripts/bench-vs-locust; by hand:

    python benches/locust/locustfile.py provision http://127.0.0.1:8000 T 1000 pop.json
    CHAT_POPULATION=pop.json CHAT_WORKERS=2 locust -f benches/locust/locustfile.py \
        --headless --processes 2 -u 1000 -r 100 -t 40s --host http://127.0.0.1:8000

`provision` writes the users and friendships in loadgen's `--population`
format; CHAT_WORKERS must equal `--processes` (1 without it) so that each
worker process takes its own share of the users.

At the end it prints to stderr one line `locustfile: sent=N received=M`,
the counts the comparison divides by.
"""

import json
import math
import random
import sys
import os
import time

import gevent
import websocket
from locust import events, task
from locust.contrib.fasthttp import FastHttpUser

USERS = 1000
DEGREE = 20
SEED = 1

# CHAT_STATS=0: parse every frame but report nothing to Locust's statistics
# (what Locust costs without measuring anything).
STATS = os.environ.get("CHAT_STATS", "1") != "0"
_counts = {"sent": 0, "received": 0}
_next_user = 0


def provision(host, admin_token, users, out):
    """Bulk-creates the users and a uniform friend graph through /admin and
    writes them in loadgen's `--population` format."""
    import urllib.request

    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}

    def post(path, body):
        req = urllib.request.Request(
            host.rstrip("/") + path, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(req) as resp:
            return json.loads(resp.read())

    prefix = f"locust{int(time.time() * 1000)}_"
    created = post("/admin/users/bulk", {"count": users, "username_prefix": prefix})["users"]
    rng = random.Random(SEED)
    ids = [u["user_id"] for u in created]
    pairs = set()
    # Each user picks DEGREE/2 others: mean degree DEGREE, as loadgen's uniform model.
    for a in ids:
        for _ in range(DEGREE // 2):
            b = ids[rng.randrange(users)]
            if a != b:
                pairs.add((min(a, b), max(a, b)))
    pairs = sorted(pairs)
    for start in range(0, len(pairs), 1000):
        post("/admin/friendships", {"pairs": [list(p) for p in pairs[start : start + 1000]]})
    population = {
        "users": [{"user_id": u["user_id"], "token": u["api_token"]} for u in created],
        "friendships": [list(p) for p in pairs],
    }
    with open(out, "w") as f:
        json.dump(population, f)


def _load_population():
    path = os.environ.get("CHAT_POPULATION")
    if not path:
        return [], {}
    with open(path) as f:
        population = json.load(f)
    users = [(u["user_id"], u["token"]) for u in population["users"]]
    friends = {u: [] for u, _ in users}
    for a, b in population["friendships"]:
        friends[a].append(b)
        friends[b].append(a)
    return users, friends


_population, _friends = _load_population()


@events.quitting.add_listener
def report_counts(**_kwargs):
    print(f"locustfile: sent={_counts['sent']} received={_counts['received']}", file=sys.stderr)


def _content(seq):
    """`seq|send time|padding`, 64-2048 bytes, log-uniform."""
    size = int(math.exp(random.uniform(math.log(64), math.log(2048))))
    head = f"{seq}|{time.time():.6f}|"
    return head + "x" * max(0, size - len(head))


class ChatUser(FastHttpUser):
    # Poisson arrivals at the sum of the rates in the docstring.
    rate = 1.0 + 0.4 + 0.06 + 1.0 + 0.02 + 0.04

    def wait_time(self):
        return random.expovariate(self.rate)

    def on_start(self):
        # Worker w of W (`--processes W`) takes users w, w + W, w + 2W, ...
        global _next_user
        worker = getattr(self.environment.runner, "worker_index", 0)
        workers = int(os.environ.get("CHAT_WORKERS", "1"))
        index = worker + _next_user * workers
        _next_user += 1
        self.user_id, self.token = _population[index % len(_population)]
        self.friends = _friends[self.user_id] or [self.user_id]
        self.seq = 0
        self.pending_online = []  # send times of get_online_friends
        self.last_conversation = None
        ws_url = self.host.replace("http://", "ws://").rstrip("/") + f"/ws/{self.token}"
        start = time.time()
        self.ws = websocket.create_connection(ws_url)
        self._fire("WS", "handshake", start, 0)
        self.reader = gevent.spawn(self._read)

    def on_stop(self):
        self.reader.kill()
        self.ws.close()

    def _fire(self, kind, name, start, length, exc=None):
        if not STATS:
            return
        events.request.fire(
            request_type=kind,
            name=name,
            response_time=(time.time() - start) * 1000,
            response_length=length,
            exception=exc,
            context={},
        )

    def _read(self):
        while True:
            try:
                frame = self.ws.recv()
            except Exception:
                return
            _counts["received"] += 1
            event = json.loads(frame)
            kind = event.get("type")
            if kind == "new_message":
                self.last_conversation = event.get("conversation_id", self.last_conversation)
                _, sent_at, _ = event["content"].split("|", 2)
                if event["sender_id"] == self.user_id:
                    self._fire("WS", "message_echo", float(sent_at), len(frame))
                else:
                    self._fire("WS", "message_delivery", float(sent_at), len(frame))
            elif kind == "online_friends" and self.pending_online:
                self._fire("WS", "online_friends", self.pending_online.pop(0), len(frame))
            elif kind == "error":
                self._fire("WS", "error", time.time(), len(frame), exc=Exception(event))

    def _send(self, body):
        self.ws.send(json.dumps(body))

    def _send_message(self):
        self.seq += 1
        self._send(
            {
                "type": "send_message",
                "receiver_id": random.choice(self.friends),
                "content": _content(self.seq),
            }
        )
        _counts["sent"] += 1

    @task(100)
    def send_message(self):
        self._send_message()

    @task(40)
    def typing_then_send(self):
        def run():
            self._send({"type": "typing", "receiver_id": random.choice(self.friends)})
            gevent.sleep(random.uniform(0.3, 3.0))
            self._send_message()

        gevent.spawn(run)

    @task(6)
    def typing_abandon(self):
        friend = random.choice(self.friends)
        self._send({"type": "typing", "receiver_id": friend})
        self._send({"type": "stop_typing", "receiver_id": friend})

    @task(100)
    def mark_read(self):
        if self.last_conversation is not None:
            self._send({"type": "mark_read", "conversation_id": self.last_conversation})

    @task(2)
    def get_online_friends(self):
        self.pending_online.append(time.time())
        self._send({"type": "get_online_friends"})

    @task(4)
    def rest_send_message(self):
        auth = {"Authorization": f"Bearer {self.token}"}
        friend = random.choice(self.friends)
        resp = self.client.post(
            "/create_conversation", json={"other_user_id": friend}, headers=auth
        )
        if resp.status_code not in (200, 201):
            return
        self.seq += 1
        self.client.post(
            "/conversation/send_message",
            json={
                "conversation_id": resp.json()["conversation_id"],
                "content": _content(self.seq),
                "media_ids": random.sample(range(1, 100), random.randint(0, 2)),
            },
            headers=auth,
        )
        _counts["sent"] += 1


if __name__ == "__main__":
    # python locustfile.py provision URL ADMIN_TOKEN USERS OUT.json
    if len(sys.argv) != 6 or sys.argv[1] != "provision":
        sys.exit("usage: locustfile.py provision URL ADMIN_TOKEN USERS OUT.json")
    provision(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])

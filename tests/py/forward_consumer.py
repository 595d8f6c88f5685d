"""A merchant's endpoint for payhook's forwarding tests.

Every POST is verified with the Standard Webhooks library from PyPI
(`standardwebhooks`, pinned in scripts/standardwebhooks.sh) -- not with payhook's
code -- and logged as one JSON line: the webhook-id, whether the library
verified it, the event's order and status, and what was answered.

    python forward_consumer.py LOG SECRET [--fail-orders A,B] [--fail-first N]

SECRET is the whsec_ secret the consumer knows (one of payhook's, to test
rotation). --fail-orders answers 500 to every event of those orders;
--fail-first answers 503 to the first N attempts of every webhook-id. The
listening port is printed on stdout, then the server runs until killed.
A POST to /control/fail-orders with a comma-separated body replaces the
failing orders (an endpoint that recovers).
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("secret")
    ap.add_argument("--fail-orders", default="")
    ap.add_argument("--fail-first", type=int, default=0)
    args = ap.parse_args()

    wh = Webhook(args.secret)
    lock = threading.Lock()
    state = {
        "fail_orders": {o for o in args.fail_orders.split(",") if o},
        "attempts": {},
    }
    log = open(args.log, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):  # quiet
            pass

        def answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):  # noqa: N802
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            if self.path == "/control/fail-orders":
                with lock:
                    state["fail_orders"] = {o for o in body.decode().split(",") if o}
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                return
            headers = {k: v for k, v in self.headers.items()}
            entry = {"id": headers.get("webhook-id"), "ts": headers.get("webhook-timestamp")}
            try:
                event = wh.verify(body, headers)
                entry["verified"] = True
            except WebhookVerificationError as e:
                entry["verified"] = False
                entry["error"] = str(e)
                event = None
            if isinstance(event, dict):
                entry["order_id"] = event.get("order_id")
                entry["status"] = event.get("status")
                entry["event_id"] = event.get("event_id")
            with lock:
                seen = state["attempts"].get(entry["id"], 0) + 1
                state["attempts"][entry["id"]] = seen
                if not entry["verified"]:
                    status = 401
                elif entry.get("order_id") in state["fail_orders"]:
                    status = 500
                elif seen <= args.fail_first:
                    status = 503
                else:
                    status = 200
                entry["answered"] = status
                log.write(json.dumps(entry) + "\n")
                log.flush()
            self.answer(status)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            # A connection cut by payhook's kill -9 (the crash test): not
            # an error of the endpoint.
            pass

    srv = Server(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

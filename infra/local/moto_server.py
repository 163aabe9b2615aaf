"""moto server with atomic requests.

`moto_server` serves each request on its own thread, and moto's DynamoDB
backend reads an item, evaluates a ConditionExpression and writes it back
without a lock: two concurrent conditional writes to one item can both pass
their condition. DynamoDB itself applies each write atomically. This runs
moto's own application behind one lock, so each request is processed whole
before the next (network I/O stays concurrent), and conditional writes are
as atomic as DynamoDB's.

Usage: moto_server.py [-H HOST] [-p PORT]
"""

import argparse
import os
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple


def serialized(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            # Consume the whole response inside the lock.
            return list(app(environ, start_response))

    return handle


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    run_simple(
        args.host,
        args.port,
        serialized(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()

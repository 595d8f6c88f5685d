"""A minimal Lambda runtime-API client for the benchmark (in place of the
managed Python runtime and its runtime interface client): import the handler
module (init), then forever GET the next invocation, call the handler with
the event and a small context object, and POST its answer or its error back.

    AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 python bootstrap.py [module.function]
"""

import json
import os
import sys
import time
import traceback
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=None) as r:
        return r.headers, r.read()


def error_body(exc):
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


class Context:
    """The attributes of the managed runtime's context that handlers use."""

    def __init__(self, headers):
        self.aws_request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def main():
    module_name, _, function_name = (sys.argv[1] if len(sys.argv) > 1 else "app.handler").rpartition(".")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        handler = getattr(__import__(module_name), function_name)
    except Exception as exc:
        call("POST", "/init/error", error_body(exc))
        raise
    while True:
        headers, body = call("GET", "/invocation/next")
        request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        trace_id = headers.get("Lambda-Runtime-Trace-Id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        try:
            result = handler(json.loads(body), Context(headers))
        except Exception as exc:
            call("POST", f"/invocation/{request_id}/error", error_body(exc))
            continue
        call("POST", f"/invocation/{request_id}/response", result)


if __name__ == "__main__":
    main()

"""A fake OpenAI API on a real local HTTP server, for tests: the openai client talks to it over sockets.

It answers POST /v1/chat/completions (streamed as server-sent events, or not), the Files API (upload), and
the fine-tuning jobs API (create, retrieve, list with a metadata filter, cancel, events, checkpoints). It checks
the bearer key. Jobs move one state each time they are retrieved: validating_files → queued → running (metrics
events) → succeeded (checkpoints, trained_tokens, fine_tuned_model). A create with an Idempotency-Key it has
seen returns the job it made then, as a real idempotent API does.

Faults are injected with `fail(path, kind, times=1, **options)`: "401", "429" (with Retry-After: `retry_after`
seconds), "404" (a server without that endpoint), "500", "winddown" or "timeout". "timeout": the request is
processed (so a create that "timed out" really made its job), then the answer is held back until the client hangs
up (its own timeout fired) or the test calls `release()`. The server never answers first, so the client's timeout
always wins however slow the machine is, and the client's timeout can be short. `abandoned` counts the held
answers whose client hung up (`wait_abandoned(n)` waits for it). "winddown": a 403 (permission denied) with
WINDDOWN_MESSAGE, the way OpenAI refuses a job creation to an organisation its fine-tuning wind-down has cut off
(reports describe a 403 on POST /fine_tuning/jobs; the wording is a stand-in, OpenAI's own may differ).
"""
from __future__ import annotations

import json
import select
import socket
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

VALID_KEY = "sk-test-valid"
WINDDOWN_MESSAGE = ("Creating fine-tuning jobs is no longer available for this organization. Inference on existing "
                    "fine-tuned models remains available until their base models are deprecated.")


def _error(message: str, code: str | None = None, type_: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": type_, "code": code, "param": None}}


class FakeOpenAI:
    def __init__(self, reply: str = "Fluconazole inhibits CYP2C9, so warfarin levels rise.", key: str = VALID_KEY,
                 trained_tokens: int | None = None):
        self.reply = reply
        self.key = key
        self.trained_tokens = trained_tokens  # None: 1,000 per epoch
        # (token, logprob) alternatives of the first answer token when a request asks for logprobs; None: the
        # reply's first word, certain. The model "no-logprobs" refuses logprobs, as reasoning models do.
        self.top_logprobs: list[tuple[str, float]] | None = None
        self.requests: list[dict] = []  # JSON bodies of POST requests
        self.headers: list[dict] = []
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request, faults included
        self.files: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.events: dict[str, list[dict]] = {}
        self.checkpoints: dict[str, list[dict]] = {}
        self.idempotent: dict[str, dict] = {}
        self.faults: list[dict] = []
        self.abandoned = 0  # held ("timeout") answers whose client hung up before they were released
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._abandoned_changed = threading.Condition(self._lock)
        self._counter = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status, body, extra=None):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (extra or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _handle(self, method):
                url = urlsplit(self.path)
                path, query = url.path, dict(parse_qsl(url.query))
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                server.calls.append((method, path))
                server.headers.append({k.lower(): v for k, v in self.headers.items()})  # lower-case names
                if self.headers.get("Authorization") != f"Bearer {server.key}":
                    return self._json(401, _error("Incorrect API key provided.", "invalid_api_key"))
                fault = server._take_fault(method, path)
                if fault and fault["kind"] == "401":
                    return self._json(401, _error("Incorrect API key provided.", "invalid_api_key"))
                if fault and fault["kind"] == "429":
                    return self._json(429, _error("Rate limit reached for requests.", "rate_limit_exceeded",
                                                  "requests"), {"Retry-After": str(fault.get("retry_after", 1))})
                if fault and fault["kind"] == "404":
                    return self._json(404, _error(f"Unknown path {path}"))
                if fault and fault["kind"] == "winddown":
                    return self._json(403, _error(WINDDOWN_MESSAGE, "fine_tuning_unavailable"))
                if fault and fault["kind"] == "500":
                    return self._json(500, _error("The server had an error while processing your request.",
                                                  None, "server_error"))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body, extra = server._route(method, path, query, raw, headers)
                if status is None:
                    return body(self)  # a streamed answer writes itself
                if fault and fault["kind"] == "timeout" and not server._hold(self.connection):
                    self.close_connection = True
                    return None  # the client is gone: nobody to answer
                return self._json(status, body, extra)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- test controls -------------------------------------------------------------------------------------------
    def fail(self, path: str, kind: str, times: int = 1, method: str | None = None, skip: int = 0, **options) -> None:
        """The next `times` requests whose path starts with /v1`path` (and method, if given) get `kind`, after
        letting `skip` of them through."""
        self.faults.append({"path": "/v1" + path, "kind": kind, "times": times, "method": method, "skip": skip,
                            **options})

    def release(self) -> None:
        """Let every held ("timeout") answer go, now and from now on."""
        self._released.set()

    def _hold(self, connection: socket.socket, hang_limit: float = 120.0) -> bool:
        """Wait until released (True) or until the client closed the connection (False). The limit only ends a
        test that would otherwise hang: a client that never times out gets its answer then."""
        deadline = time.monotonic() + hang_limit
        while not self._released.is_set() and time.monotonic() < deadline:
            try:
                readable, _, _ = select.select([connection], [], [], 0.02)
                # While it waits for this answer the client sends nothing, so readable means end of file (it
                # closed the socket) or a reset.
                if readable and connection.recv(1, socket.MSG_PEEK) == b"":
                    break
            except OSError:
                break
        else:
            return True
        with self._abandoned_changed:
            self.abandoned += 1
            self._abandoned_changed.notify_all()
        return False

    def wait_abandoned(self, n: int, hang_limit: float = 60.0) -> bool:
        """Wait until `n` held answers have been abandoned by their clients (the server thread notices a hang-up
        a moment after the client moved on); False only if that never happens."""
        with self._abandoned_changed:
            return self._abandoned_changed.wait_for(lambda: self.abandoned >= n, timeout=hang_limit)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p == "/v1" + path)

    def _take_fault(self, method, path):
        with self._lock:
            for fault in self.faults:
                if path.startswith(fault["path"]) and fault["method"] in (None, method) and fault["times"] > 0:
                    if fault["skip"]:
                        fault["skip"] -= 1
                        continue
                    fault["times"] -= 1
                    return fault
        return None

    def _id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}-{self._counter:06d}"

    # -- routes -------------------------------------------------------------------------------------------------
    def _route(self, method, path, query, raw, headers):
        parts = path.removeprefix("/v1/").split("/")
        if method == "POST" and path == "/v1/chat/completions":
            return self._chat(json.loads(raw or b"{}"))
        if method == "POST" and path == "/v1/files":
            return self._upload(raw, headers)
        if parts[:2] == ["fine_tuning", "jobs"]:
            if method == "POST" and len(parts) == 2:
                body = json.loads(raw or b"{}")
                self.requests.append(body)
                return self._create_job(body, headers.get("idempotency-key"))
            if method == "GET" and len(parts) == 2:
                return self._list_jobs(query)
            job = self.jobs.get(parts[2]) if len(parts) > 2 else None
            if job is None:
                return 404, _error(f"Could not find fine-tune: {parts[2] if len(parts) > 2 else ''}", "fine_tune_not_found"), None
            if method == "GET" and len(parts) == 3:
                self._advance(job)
                return 200, job, None
            if method == "POST" and parts[3:] == ["cancel"]:
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    return 400, _error(f"Job {job['id']} has already {job['status']}.", "invalid_state"), None
                job["status"] = "cancelled"
                job["finished_at"] = int(time.time())
                return 200, job, None
            if method == "GET" and parts[3:] == ["events"]:
                newest_first = list(reversed(self.events[job["id"]]))[: int(query.get("limit", 20))]
                return 200, {"object": "list", "data": newest_first, "has_more": False}, None
            if method == "GET" and parts[3:] == ["checkpoints"]:
                return 200, {"object": "list", "data": self.checkpoints[job["id"]], "has_more": False,
                             "first_id": None, "last_id": None}, None
        return 404, _error(f"Unknown path {path}"), None

    def _chat(self, body):
        self.requests.append(body)
        if body.get("model") == "no-such-model":
            return 404, _error("The model `no-such-model` does not exist", "model_not_found"), None
        words = self.reply.split(" ")
        words = [w if i == 0 else " " + w for i, w in enumerate(words)][: body.get("max_completion_tokens", 10**6)]
        prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                 "total_tokens": prompt_tokens + len(words)}
        if body.get("logprobs") and body.get("model") == "no-logprobs":
            return 400, _error("This model does not support logprobs.", "invalid_request_error"), None
        if not body.get("stream"):
            choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "".join(words)}}
            if body.get("logprobs"):
                top = (self.top_logprobs or [(words[0], 0.0)])[: body.get("top_logprobs") or 1]
                choice["logprobs"] = {"content": [{"token": top[0][0], "logprob": top[0][1], "bytes": None,
                                                   "top_logprobs": [{"token": t, "logprob": lp, "bytes": None}
                                                                    for t, lp in top]}]}
            return 200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                         "choices": [choice], "usage": usage}, None

        def stream(handler):
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.end_headers()
            base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
            for w in words:
                event = dict(base, choices=[{"index": 0, "delta": {"content": w}, "finish_reason": None}])
                handler.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                handler.wfile.flush()
            end = dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
            handler.wfile.write(f"data: {json.dumps(end)}\n\n".encode())
            handler.wfile.write(f"data: {json.dumps(dict(base, choices=[], usage=usage))}\n\n".encode())
            handler.wfile.write(b"data: [DONE]\n\n")

        return None, stream, None

    def _upload(self, raw, headers):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {headers.get('content-type')}\r\n\r\n".encode() + raw)
        fields, filename, content = {}, "", b""
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                filename, content = part.get_filename(), part.get_payload(decode=True)
            else:
                fields[name] = part.get_payload(decode=True).decode()
        if fields.get("purpose") != "fine-tune":
            return 400, _error(f"Invalid purpose {fields.get('purpose')!r}.", "invalid_purpose"), None
        file_id = self._id("file")
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                               "filename": filename, "purpose": "fine-tune", "status": "processed",
                               "content": content.decode("utf-8")}
        return 200, {k: v for k, v in self.files[file_id].items() if k != "content"}, None

    def _create_job(self, body, idempotency_key):
        if idempotency_key and idempotency_key in self.idempotent:
            return 200, self.idempotent[idempotency_key], None
        if body.get("training_file") not in self.files:
            return 400, _error(f"Invalid file ID: {body.get('training_file')}", "invalid_file"), None
        if body.get("model") not in ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14",
                                     "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano-2025-04-14", "gpt-4o", "gpt-4o-mini"):
            return 400, _error(f"Model {body.get('model')} is not available for fine-tuning or does not exist.",
                               "model_not_available"), None
        hyper = ((body.get("method") or {}).get("supervised") or {}).get("hyperparameters") or {}
        job_id = self._id("ftjob")
        job = {"id": job_id, "object": "fine_tuning.job", "created_at": int(time.time()), "error": None,
               "fine_tuned_model": None, "finished_at": None, "model": body["model"],
               "hyperparameters": {"n_epochs": hyper.get("n_epochs", "auto"),
                                   "batch_size": hyper.get("batch_size", "auto"),
                                   "learning_rate_multiplier": hyper.get("learning_rate_multiplier", "auto")},
               "organization_id": "org-fake", "result_files": [], "seed": 42, "status": "validating_files",
               "trained_tokens": None, "training_file": body["training_file"],
               "validation_file": body.get("validation_file"), "metadata": body.get("metadata"),
               "suffix": body.get("suffix"), "method": body.get("method")}
        self.jobs[job_id] = job
        self.events[job_id] = []
        self.checkpoints[job_id] = []
        self._event(job, "message", f"Created fine-tuning job: {job_id}")
        if idempotency_key:
            self.idempotent[idempotency_key] = job
        return 200, job, None

    def _list_jobs(self, query):
        wanted = {k[len("metadata["):-1]: v for k, v in query.items() if k.startswith("metadata[")}
        jobs = [j for j in reversed(list(self.jobs.values()))
                if all((j.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
        return 200, {"object": "list", "data": jobs[: int(query.get("limit", 20))], "has_more": False}, None

    def _event(self, job, kind, message, data=None):
        events = self.events[job["id"]]
        events.append({"id": f"ftevent-{job['id']}-{len(events) + 1}", "object": "fine_tuning.job.event",
                       "created_at": int(time.time()), "level": "info", "message": message, "type": kind,
                       "data": data or {}})

    def _advance(self, job):
        """One step of the lifecycle per retrieve."""
        if job["status"] == "validating_files":
            job["status"] = "queued"
            self._event(job, "message", "Validating training file: done")
        elif job["status"] == "queued":
            job["status"] = "running"
            self._event(job, "message", "Fine-tuning job started")
            for step in (1, 2, 3):
                data = {"step": step, "total_steps": 3, "train_loss": 1.5 / step,
                        "train_mean_token_accuracy": 0.5 + 0.1 * step}
                if job["validation_file"]:
                    data.update(valid_loss=1.6 / step, valid_mean_token_accuracy=0.45 + 0.1 * step)
                self._event(job, "metrics", f"Step {step}/3: training loss={1.5 / step:.2f}", data)
        elif job["status"] == "running":
            epochs = job["hyperparameters"]["n_epochs"]
            epochs = 3 if epochs == "auto" else epochs
            job["status"] = "succeeded"
            job["trained_tokens"] = self.trained_tokens if self.trained_tokens is not None else 1000 * epochs
            suffix = job.get("suffix") or ""
            job["fine_tuned_model"] = f"ft:{job['model']}:fake-org:{suffix}:{job['id'][-6:]}"
            job["finished_at"] = job["created_at"] + 60
            self.checkpoints[job["id"]] = [{
                "id": f"ftckpt-{job['id']}-3", "object": "fine_tuning.job.checkpoint", "created_at": int(time.time()),
                "fine_tuned_model_checkpoint": job["fine_tuned_model"] + ":ckpt-step-3",
                "fine_tuning_job_id": job["id"], "step_number": 3,
                "metrics": {"step": 3, "train_loss": 0.5, "train_mean_token_accuracy": 0.8, "full_valid_loss": 0.6,
                            "full_valid_mean_token_accuracy": 0.75}}]
            self._event(job, "message", "The job has successfully completed")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.release()
        self._server.shutdown()
        self._server.server_close()

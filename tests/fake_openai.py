"""A fake OpenAI API on a real local HTTP server, for tests: the openai client talks to it over sockets.

It answers POST /v1/chat/completions (streamed as server-sent events, or not) and checks the bearer key.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VALID_KEY = "sk-test-valid"


class FakeOpenAI:
    def __init__(self, reply: str = "Fluconazole inhibits CYP2C9, so warfarin levels rise."):
        self.reply = reply
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status, body, extra=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                if self.headers.get("Authorization") != f"Bearer {VALID_KEY}":
                    return self._json(401, {"error": {"message": "Incorrect API key provided.", "type":
                                                      "invalid_request_error", "code": "invalid_api_key"}})
                if self.path != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": f"Unknown path {self.path}"}})
                if body.get("model") == "no-such-model":
                    return self._json(404, {"error": {"message": "The model `no-such-model` does not exist",
                                                      "code": "model_not_found"}})
                words = server.reply.split(" ")
                words = [w if i == 0 else " " + w for i, w in enumerate(words)][: body.get("max_completion_tokens", 10**6)]
                prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                         "total_tokens": prompt_tokens + len(words)}
                if not body.get("stream"):
                    return self._json(200, {
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": "".join(words)}}],
                        "usage": usage})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
                for w in words:
                    event = dict(base, choices=[{"index": 0, "delta": {"content": w}, "finish_reason": None}])
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                end = dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
                self.wfile.write(f"data: {json.dumps(end)}\n\n".encode())
                self.wfile.write(f"data: {json.dumps(dict(base, choices=[], usage=usage))}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

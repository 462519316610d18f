"""The OpenAI-compatible /v1 API: every local text model the app can load, on the app's own port.

`serve.api.routes(public=...)` gives the routes app.py mounts beside Gradio's; `serve.api.create_app` the same as a
bare ASGI app (tests, other servers). Keys (serve.keys), batching and the bounded queue (serve.batching) sit
underneath; the model cache and the compute thread are the ones chat uses (models/)."""

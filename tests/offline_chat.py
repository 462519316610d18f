"""Run inside a network namespace with nothing but loopback (tests/test_offline.py): start the app, stream one
chat answer from the builtin model through Gradio's API, print it. Exit 0 only if a real answer came back."""
import subprocess
import sys
import time
import urllib.request

port = sys.argv[1]
app = subprocess.Popen([sys.executable, "app.py", "--port", port], stdout=sys.stderr, stderr=sys.stderr)
try:
    deadline = time.monotonic() + 300
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).status == 200:
                break
        except OSError:
            if time.monotonic() > deadline or app.poll() is not None:
                raise SystemExit("the app did not come up offline")
            time.sleep(0.5)
    from gradio_client import Client

    client = Client(f"http://127.0.0.1:{port}", verbose=False)
    job = client.submit("What is aspirin used for?", "builtin:smollm2-135m-instruct", "builtin:smollm2-135m-instruct",
                        False, "", 0, 1, 24, "", api_name="/respond")
    updates = list(job)  # every streamed update
    final = job.result()
    print(f"updates={len(updates)}")
    print(f"answer={final[0][-1]['content'] if final[0] else ''}")
finally:
    app.terminate()
    app.wait(30)

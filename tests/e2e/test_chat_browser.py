"""The Chat tab in a real browser: text streams in, compare mode shows two answers, failures are sentences."""
import time


def send(page, text):
    page.locator("#chat-message textarea").fill(text)
    page.locator("#chat-send").click()


def wait_for_stats(page, stats_id="#stats-a", timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if "tok/s" in page.locator(stats_id).inner_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"no stats under {stats_id} after {timeout} s")


def test_builtin_model_answer_streams_into_the_page(start_app, page, builtin_folder):
    app = start_app()
    page.goto(app.url)
    send(page, "What is the mechanism of action of aspirin?")
    seen = set()
    deadline = time.time() + 180
    while time.time() < deadline and "tok/s" not in page.locator("#stats-a").inner_text():
        bubbles = page.locator("#chat-a .bot").all_inner_texts()
        if bubbles and bubbles[-1].strip():
            seen.add(bubbles[-1].strip())
        time.sleep(0.05)
    final = page.locator("#chat-a .bot").all_inner_texts()[-1].strip()
    partial = [t for t in seen if t != final and not t.startswith("Loading")]
    assert len(final.split()) >= 10, final
    assert len(partial) >= 2, f"the answer appeared at once, not streamed: {seen}"
    assert all(final.startswith(t.rstrip(" .…")[:20]) for t in partial)
    assert "builtin:smollm2-135m-instruct" in page.locator("#stats-a").inner_text()


def test_compare_mode_and_readable_failures(start_app, page):
    app = start_app("--model", "dummy:echo")
    page.goto(app.url)
    page.locator("#compare input").check()
    page.locator("#model-b input").fill("dummy:fail-load")
    page.locator("#model-b input").press("Enter")
    send(page, "warfarin and fluconazole")
    wait_for_stats(page, "#stats-a", 30)
    assert page.locator("#chat-a .bot").all_inner_texts()[-1].strip() == "You said: warfarin and fluconazole"
    deadline = time.time() + 30
    while "cannot be loaded" not in page.locator("#chat-b").inner_text() and time.time() < deadline:
        time.sleep(0.1)
    b_text = page.locator("#chat-b").inner_text()
    assert "⚠️ dummy:fail-load cannot be loaded" in b_text and "Traceback" not in b_text
    page.locator("#chat-clear").click()
    send(page, "")
    deadline = time.time() + 30
    while "The message is empty" not in page.locator("#chat-a").inner_text() and time.time() < deadline:
        time.sleep(0.1)
    assert "The message is empty" in page.locator("#chat-a").inner_text()
    assert "warfarin" not in page.locator("#chat-a").inner_text()  # Clear emptied the chat

"""Tabs whose capability lands in a later issue: each says what it will do, so the layout is complete today."""
from ui import strings


def build(name: str) -> None:
    import gradio as gr

    gr.Markdown(f"### {name}\n\nComing next: {strings.UPCOMING[name]}\n\n"
                "Until then, the Chat tab works with every model reference.")

"""The Gradio UI: one module per tab. Building it imports neither torch nor transformers."""
from __future__ import annotations


def build_app(default_model: str | None = None):
    import gradio as gr

    from models.builtin import DEFAULT_MODEL
    from ui import (chat, data_tab, evaluate_tab, finetune_tab, leaderboard_tab, openai_tab, roles, strings,
                    studies_tab, upcoming)

    def placeholder(name: str) -> None:
        """A tab whose capability lands later (strings.UPCOMING); gone once its module replaces it."""
        if name in strings.UPCOMING:
            with gr.Tab(name, id=name.lower().replace("-", "")):
                upcoming.build(name)

    with gr.Blocks(title=strings.TITLE) as demo:
        gr.Markdown(f"# {strings.TITLE}\n{strings.SUBTITLE}")
        roles.build_login()
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat.build(default_model or DEFAULT_MODEL)
            with gr.Tab("Fine-tune", id="finetune"):
                finetune_tab.build(demo)
            with gr.Tab("Evaluate", id="evaluate"):
                evaluate_tab.build(demo)
            with gr.Tab("Leaderboard", id="leaderboard") as board:
                leaderboard_tab.build(board)
            with gr.Tab("Studies", id="studies"):
                studies_tab.build(demo)
            with gr.Tab("OpenAI", id="openai"):
                openai_tab.build(demo)
            with gr.Tab("Data", id="data"):
                data_tab.build()
    roles.guard(demo)  # after every handler is registered: the ones not safe for viewers check the role
    return demo

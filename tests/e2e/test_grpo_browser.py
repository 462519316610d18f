"""GRPO from the Fine-tune tab in a real browser: the task and its rewards are typed into the form (GRPO
settings), a tiny random Llama trains, and the reward plot appears while the run is held at known steps
by the gate file (PHARMATUNE_STEP_GATE), then the run ends done."""
import json
import time

from tests.e2e.test_finetune_browser import fill, plot_has_data, start, text_of, wait_for_step, wait_for_text

PROMPTS = [{"messages": [{"role": "user", "content": f"Name a molecule, case {i}."},
                         {"role": "assistant", "content": "CCO"}]} for i in range(16)]


def test_a_tiny_grpo_run_plots_its_reward(start_app, page, tmp_path, monkeypatch, gate, tiny_llama):
    monkeypatch.setenv("PHARMATUNE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in PROMPTS), encoding="utf-8")
    gate.write_text("2")
    app = start_app("--no-preload", env={"PHARMATUNE_STEP_GATE": str(gate)})
    page.goto(app.url)
    page.get_by_role("tab", name="Fine-tune").click()
    base = page.locator("#ft-base-model input")
    base.fill(f"hf:{tiny_llama}")
    base.press("Enter")
    page.locator("#ft-upload input[type=file]").set_input_files(str(data))
    wait_for_text(page, "#ft-message", "Uploaded: training reads", 30)
    page.locator("#ft-task").get_by_text("grpo", exact=True).click()
    page.get_by_text("GRPO settings").click()
    rewards = page.locator("#ft-grpo-rewards textarea")
    rewards.fill("[{metric: format, pattern: '(?s).*[A-Z].*', weight: 1.0}, {metric: length, max_words: 3, weight: 0.5}]")
    fill(page, "ft-grpo-generations", 4)
    fill(page, "ft-grpo-max-completion", 6)
    fill(page, "ft-max-steps", 4)
    fill(page, "ft-batch-size", 4)
    assert not page.locator("#ft-reward-plot").is_visible()  # an SFT-only view has no reward plot
    run_id = start(page)
    wait_for_step(page, 2)
    deadline = time.time() + 60
    while not plot_has_data(page, "#ft-reward-plot"):
        assert time.time() < deadline, "the reward plot stayed empty"
        time.sleep(0.2)
    assert "2/4" in text_of(page, "#ft-figures")  # drawn while the run is still held at step 2
    assert page.locator("#ft-kl-plot").is_visible() is False  # beta 0: no KL is logged, so no KL plot
    gate.unlink()
    wait_for_text(page, "#ft-status", "done", 120, fail_on="failed")
    wait_for_text(page, "#ft-figures", "4/4", 30)
    assert plot_has_data(page, "#ft-reward-plot")
    legend = text_of(page, "#ft-reward-plot")
    assert "format mean" in legend and "length mean" in legend and "total mean" in legend
    config = (tmp_path / "runs" / run_id / "config.yaml").read_text(encoding="utf-8")
    assert "task: grpo" in config and "metric: format" in config and "num_generations: 4" in config
    assert "Traceback" not in page.content()

"""The batch prints a job's progress when it says something new, and thins sampler steps."""

from shotcaller.headless.progress_lines import ProgressLines


def printed(events, job="job"):
    lines = ProgressLines()
    return [message for fraction, message in events if lines.wanted(job, fraction, message)]


def test_comfyui_naming_each_node_twice_prints_it_once():
    events = [(0.05, "running UNETLoader (node 37)"), (0.08, "running UNETLoader (node 37)"),
              (0.08, "running CLIPLoader (node 38)"), (0.11, "running CLIPLoader (node 38)")]  # fmt: skip
    assert printed(events) == ["running UNETLoader (node 37)", "running CLIPLoader (node 38)"]


def test_sampler_steps_are_thinned_to_one_line_per_tenth_of_the_job_and_the_last_step():
    events = [(0.26, "running KSampler (node 3)")]
    events += [(0.26 + 0.03 * step, f"running KSampler (node 3) step {step}/20") for step in range(1, 21)]
    events.append((0.86, "running VAEDecode (node 8)"))
    lines = printed(events)
    assert lines[0] == "running KSampler (node 3)" and lines[-1] == "running VAEDecode (node 8)"
    steps = lines[1:-1]
    assert steps[0] == "running KSampler (node 3) step 1/20" and steps[-1] == "running KSampler (node 3) step 20/20"
    assert 5 <= len(steps) <= 8  # 0.6 of the job in steps of 0.03: about one line per 0.1


def test_each_job_is_followed_apart_and_a_new_message_always_prints():
    lines = ProgressLines()
    assert lines.wanted("a", 0.1, "Denoising (step 1/10)")
    assert lines.wanted("b", 0.1, "Denoising (step 1/10)")  # another job's line is its own
    assert not lines.wanted("a", 0.12, "Denoising (step 2/10)")
    assert lines.wanted("a", 0.12, "Wan2GP cannot reach the Hugging Face hub for model weights (retry 1/5)")
    lines.forget("a")
    assert lines.wanted("a", 0.12, "Wan2GP cannot reach the Hugging Face hub for model weights (retry 1/5)")


def test_two_nodes_of_one_kind_in_a_row_are_both_said():
    events = [(0.14, "running CLIPTextEncode (node 6)"), (0.17, "running CLIPTextEncode (node 7)")]
    assert printed(events) == ["running CLIPTextEncode (node 6)", "running CLIPTextEncode (node 7)"]

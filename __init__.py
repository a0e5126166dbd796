"""Shotcaller: route Video Sequencer shots to ComfyUI, Wan2GP or LiteLLM and place the takes."""


def register() -> None:
    pass


def unregister() -> None:
    pass

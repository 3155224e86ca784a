"""llama-cpp-python's OpenAI-compatible server with llama.cpp's weight repacking off.

``python -m interestlm.llama_server --model PATH ...`` takes the same arguments as
``python -m llama_cpp.server``; it only applies :func:`interestlm.lm.disable_weight_repacking`
first, so the server does not crash on CPUs with AMX.
"""

from __future__ import annotations

import runpy

from interestlm.lm import disable_weight_repacking


def main() -> None:
    """Run ``llama_cpp.server`` as ``__main__`` after turning weight repacking off."""
    disable_weight_repacking()
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

"""The offline responder: no language model, just what was heard and what is seen.

It says plainly that no language model is connected, then answers what it can
from the freshest scene description. It streams its reply word by word through
the same interface as a real LLM, so the rest of the pipeline cannot tell.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from .prompt import ReplyRequest

_ABOUT_THE_VIEW = re.compile(
    r"\b(see|seeing|look|looks|looking|show|shows|camera|front|colou?r|read|sign|text|written|"
    r"how many|who|people|person|face|moving|room|light|dark|this|that)\b",
    re.IGNORECASE,
)


def offline_reply(request: ReplyRequest) -> str:
    question = request.question.strip().rstrip("?.!")
    lines = ["No language model is connected."]
    if request.scene is None:
        lines.append(f'You said: "{question}". The camera has shown me nothing yet.')
    elif _ABOUT_THE_VIEW.search(question):
        lines.append(f"Here is what the camera shows. {request.scene.text}")
    else:
        lines.append(f'You said: "{question}". I can only tell you what the camera shows. {request.scene.text}')
    return " ".join(lines)


class OfflineResponder:
    name = "offline"

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        words = offline_reply(request).split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word

"""The offline responder: no language model, just what was heard and what is seen.

It says plainly that no language model is connected, then answers what it can
from the freshest scene description; when that is stale (or there is none) it says
it cannot see right now rather than describing an old view as the present. It streams its reply word by word through
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
    about_the_view = bool(_ABOUT_THE_VIEW.search(question))
    lines = ["No language model is connected."]
    if request.scene is None:
        if about_the_view:
            lines.append("I cannot see right now: the camera has shown me nothing yet.")
        else:
            lines.append(f'You said: "{question}". The camera has shown me nothing yet.')
    elif request.scene_stale:
        # The newest description is too old to pass off as what is in view now.
        ago = f"{request.scene_age_s:.0f} seconds ago" if request.scene_age_s is not None else "a while ago"
        if about_the_view:
            lines.append(f"I cannot see right now: the camera last showed me something {ago}.")
        else:
            lines.append(f'You said: "{question}". I can only tell you what the camera shows, '
                         f"and I cannot see right now.")
    elif about_the_view:
        lines.append(f"Here is what the camera shows. {request.scene.text}")
    else:
        lines.append(f'You said: "{question}". I can only tell you what the camera shows. {request.scene.text}')
    return " ".join(lines)


class OfflineResponder:
    name = "offline"

    @classmethod
    def from_settings(cls, settings: object) -> OfflineResponder:
        """It has no settings of its own."""
        return cls()

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        words = offline_reply(request).split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word

"""The offline responder: no language model, just what was heard and what is seen.

It answers in the question's language (Chinese when the question has Chinese characters,
else English). It says plainly that no language model is connected, then answers what it can
from the freshest scene description; when that is stale (or there is none) it says
it cannot see right now rather than describing an old view as the present. It streams its reply
word by word (split at spaces: a Chinese reply comes in a piece or a few) through the same
interface as a real LLM, so the rest of the pipeline cannot tell.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from kernel.text import is_chinese

from .prompt import ReplyRequest

_ABOUT_THE_VIEW = re.compile(
    r"\b(see|seeing|look|looks|looking|show|shows|camera|front|colou?r|read|sign|text|written|"
    r"how many|who|people|person|face|moving|room|light|dark|this|that)\b",
    re.IGNORECASE,
)


_ABOUT_THE_VIEW_ZH = re.compile(r"看|见|摄像头|镜头|颜色|读|牌|写|文字|几个|多少|谁|人|动|房间|灯|暗|这|那")


def offline_reply(request: ReplyRequest) -> str:
    if is_chinese(request.question):
        return _offline_reply_zh(request)
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


def _offline_reply_zh(request: ReplyRequest) -> str:
    question = request.question.strip().rstrip("？。！?.!")
    about_the_view = bool(_ABOUT_THE_VIEW_ZH.search(question))
    said = f"你说：“{question}”。"
    lines = ["没有连接语言模型。"]
    if request.scene is None:
        lines.append("我现在看不到：摄像头还没有给我看任何东西。" if about_the_view
                     else f"{said}摄像头还没有给我看任何东西。")
    elif request.scene_stale:
        ago = f"{request.scene_age_s:.0f}秒前" if request.scene_age_s is not None else "一段时间以前"
        lines.append(f"我现在看不到：摄像头上次给我看东西是在{ago}。" if about_the_view
                     else f"{said}我只能告诉你摄像头看到的东西，但我现在看不到。")
    elif about_the_view:
        lines.append(f"这是摄像头看到的：{request.scene.text}")
    else:
        lines.append(f"{said}我只能告诉你摄像头看到的东西：{request.scene.text}")
    return "".join(lines)


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

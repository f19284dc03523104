"""The turn loop's settings: who answers, reprompts, limits, barge-in."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from telephony.config import BargeInConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TurnConfig(_Strict):
    """The call's turn loop: who answers (the graph by default), reprompts, limits, barge-in."""

    responder: Literal["graph", "scripted", "echo"] = Field(
        "graph",
        description="'graph' (the conversation graph, graph.path), 'scripted' (greeting + fixed reply: benchmarks) "
        "or 'echo' (QA: repeats the transcript)",
    )
    greeting: str = Field(
        "Hello, you have reached the clinic. This is Bedside, an automated assistant. How can I help you today?",
        description="scripted/echo responders: said on answer (includes the AI disclosure)",
    )
    reply: str = Field(
        "Thank you. I have noted that, and a member of our team will follow up with you.",
        description="scripted responder: the answer to every caller turn",
    )
    reprompt_after_s: float = Field(8.0, gt=0, description="caller silence before a reprompt")
    reprompt: str = Field("Are you still there? Please tell me how I can help.", description="said after reprompt_after_s of silence")
    max_reprompts: int = Field(2, ge=0, description="reprompts before the polite goodbye")
    goodbye: str = Field(
        "I haven't heard anything, so I will end the call now. Please call again any time. Goodbye.",
        description="said before hanging up on a silent caller",
    )
    not_understood: str = Field(
        "Sorry, I didn't catch that. Could you say it again?", description="echo responder: empty transcript; any responder: a turn that failed"
    )
    dtmf_timeout_s: float = Field(2.0, gt=0, description="keypad digits are collected until this pause, a # or all the answer needs (e.g. 8 for a date of birth)")
    max_call_s: float = Field(900.0, gt=0, description="calls are ended politely after this long")
    max_call_goodbye: str = Field(
        "We have reached the time limit for this call. Please call again if you need more help. Goodbye.",
        description="said when max_call_s is reached",
    )
    end_model: Literal["none", "smart_turn"] = Field(
        "none",
        description="'none': segmentation.end_of_speech_silence_ms ends a turn; 'smart_turn': at each pause (segmentation.pause_ms) "
        "Smart Turn v3.2 hears the turn so far and one it judges finished ends after end_model_silence_ms (faster, but it "
        "splits more sentences on telephone audio: docs/turn_end.md)",
    )
    end_model_threshold: float = Field(
        0.5, gt=0, lt=1, description="the turn-end model's probability of a finished turn at or above which the turn ends",
    )
    end_model_silence_ms: int = Field(
        200, ge=0, le=3000,
        description="the silence that ends a turn the model judged finished (segmentation.end_of_speech_silence_ms ends the "
        "others); at or under segmentation.pause_ms: at the verdict",
    )
    barge_in: BargeInConfig = Field(default_factory=BargeInConfig)

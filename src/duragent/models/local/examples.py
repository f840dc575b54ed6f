"""Ready-made few-shot examples.

:data:`WEATHER_EXAMPLES` match the weather tools used throughout Duragent's README, examples
and tests: ``get_weather_alerts(state)``, ``get_location_info(ip)`` and ``get_ip_address()``.
Pass them as ``LocalModel(examples=WEATHER_EXAMPLES)`` (or to ``LocalModelProvider`` or
``chat``). An example is shown only when all of its tools are available, so they are harmless
with other tools. For your own tools, write two or three :class:`Example`\\ s in the same style:
a direct one-tool question, a multi-step one, and a question answered without tools.
"""

from __future__ import annotations

from duragent.models.local.prompt import Example, ExampleStep

__all__ = ["WEATHER_EXAMPLES"]

WEATHER_EXAMPLES: tuple[Example, ...] = (
    Example(
        "Any weather alerts in Texas?",
        "There are no active weather alerts in Texas.",
        [ExampleStep("get_weather_alerts", {"state": "TX"}, {"alerts": []})],
    ),
    Example(
        "Are there weather alerts where I am?",
        "Yes: there is a Hurricane Warning for Florida.",
        [
            ExampleStep("get_ip_address", {}, {"ip": "203.0.113.7"}),
            ExampleStep(
                "get_location_info", {"ip": "203.0.113.7"}, {"city": "Miami", "state": "FL"}
            ),
            ExampleStep("get_weather_alerts", {"state": "FL"}, {"alerts": ["Hurricane Warning"]}),
        ],
    ),
    Example(
        "Hi, who are you?",
        "I am a helpful assistant. I can look up weather alerts for you.",
    ),
)

"""Fork and hermetic replay of agent runs: the fork document (``spec``), the calls a run
recorded (``recording``), planning a fork (``plan``) and carrying it out on the embedded
store (``embedded``). The workflow side lives in ``duragent.openai_agents._fork``."""

"""View models shared by the CLI and the web UI: what a run did, in the words a user reads.

Pure functions over recorded events (no I/O, nothing imports the Agents SDK): the timeline
(:mod:`.timeline`), agent model and tool calls in words (:mod:`.agent_rows`), the agent
conversation (:mod:`.conversation`), run facts (:mod:`.runs`) and formatting
(:mod:`.format`). Internal: the CLI and the server are their users; the shapes may change.
"""

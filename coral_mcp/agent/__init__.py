"""The agent: watches the components on its host and streams summaries to the colony."""

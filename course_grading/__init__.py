"""The course's grading and classroom tools: release, grading, reports, the workshop hub's class."""

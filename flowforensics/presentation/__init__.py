"""Presentation: plotly figures, policy diffs, widgets, notebook sections and the HTML report.

Everything here reads evidence frames and analysis results only. Every string that comes from
evidence (user agents, error messages, role and policy names) is written by whoever made the calls,
attackers included, so it is escaped wherever it is rendered: HTML, widgets and plotly hover text.
"""

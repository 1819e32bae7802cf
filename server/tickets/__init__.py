"""Faults → tickets, SLA clocks and escalation (built in the tickets issue)."""

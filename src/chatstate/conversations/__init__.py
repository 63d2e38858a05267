"""Agents and their conversations, messages, memory and event log; flow state; responders."""

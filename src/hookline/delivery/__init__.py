"""Delivery: the SSRF guard, the HTTP sender and the delivery workers."""

"""Attacks on the API: tokens, authorisation, brute force, leaks, headers, start-up rules and
the static scan."""

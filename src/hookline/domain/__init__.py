"""Pure records and rules. Standard library only: no I/O, no framework."""

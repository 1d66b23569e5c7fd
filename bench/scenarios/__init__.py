"""The scenarios of issue 6, one module each (delivery holds 2 and 3)."""

"""Use cases that the API, the UI and the CLI call. Authorisation happens here too, so the
three edges cannot disagree about who may do what."""

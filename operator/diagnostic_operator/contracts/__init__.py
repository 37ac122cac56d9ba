"""What the processes of one execution Pod hand each other, as data: the shim's exit record
(:mod:`.exit_record`) and the ingest sidecar's publish summary (:mod:`.publish_summary`).

Both sides import these models: the writer (``runtime``, the local transport) and the reader (``lifecycle``,
which does no I/O). They sit below both in the import layers (pyproject.toml) and do no I/O on import.
"""

"""The imperative shell: files, the live cluster, the command line, the service loop."""

"""Benchmark harness: each connector against its emulator in a separate process (``make bench``)."""

"""Throwaway servers, the demo and its toy members: for the demo, the tests
and the benchmarks, never for production. Never imports the daemon."""

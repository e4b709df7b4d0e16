"""The functional core: pure decisions. No I/O library, no asyncio, no clock;
time is an argument. Read decide.py to know why the controller fails over."""

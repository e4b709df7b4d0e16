"""The daemon's shell: events in, the core asked, its answers carried out;
leadership and its gate, peer views, operator requests, metrics, process setup."""

"""One library each (kazoo, redis-py, aiohttp/subprocess for hooks); library
errors become the domain's errors at this edge."""

"""pychat: a second, independent implementation of the chat protocol
(shared/PROTOCOL.md) in Python/aiohttp, so that loadgen's --target can be
shown to drive another implementation of the contract. See README.md."""

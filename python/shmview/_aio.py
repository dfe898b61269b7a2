"""asyncio awaitables for shmview: Client.wait_async() and View.wait_async().

Every wait of one event loop goes into one WaitSet per client (segment waits) and one per loop
(generation waits), whose descriptor the loop polls with add_reader(): no thread per await.
The reader is registered while a wait is pending and removed when none is, so that an idle set
holds nothing of the loop. See docs/python.md, "Waiting from asyncio".
"""
import asyncio
import itertools
import weakref

from shmview._shmview import WaitSet

# loop -> {client (weakly) -> _Waits} and loop -> _Waits of generation waits.
_by_loop: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_gen_by_loop: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _Waits:
    """One WaitSet driven by one loop: a future per pending token."""

    def __init__(self, loop, client):
        self.loop = loop
        self.ws = WaitSet(client)
        self.futures = {}
        self.tokens = itertools.count(1)
        self.reading = False

    def _ready(self):
        while True:
            ev = self.ws.next()
            if ev is None:
                break
            token, error, generation = ev
            fut = self.futures.pop(token, None)
            if fut is None or fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(generation)
        self._update_reader()

    def _update_reader(self):
        want = bool(self.futures)
        if want and not self.reading:
            self.loop.add_reader(self.ws.fileno(), self._ready)
        elif not want and self.reading:
            self.loop.remove_reader(self.ws.fileno())
        self.reading = want

    async def wait(self, add, *args, **kwargs):
        token = next(self.tokens)
        fut = self.loop.create_future()
        add(*args, token=token, **kwargs)
        self.futures[token] = fut
        self._update_reader()
        try:
            return await fut
        finally:
            if not fut.done() or fut.cancelled():
                self.futures.pop(token, None)
                self.ws.remove(token)
                self._update_reader()


def _client_waits(client):
    loop = asyncio.get_running_loop()
    per_client = _by_loop.get(loop)
    if per_client is None:
        per_client = _by_loop[loop] = weakref.WeakKeyDictionary()
    w = per_client.get(client)
    if w is None:
        w = per_client[client] = _Waits(loop, client)
    return w


def _gen_waits():
    loop = asyncio.get_running_loop()
    w = _gen_by_loop.get(loop)
    if w is None:
        w = _gen_by_loop[loop] = _Waits(loop, None)
    return w


async def client_wait(client, name, sealed=False, timeout=None):
    w = _client_waits(client)
    await w.wait(w.ws.add_segment, name, sealed=sealed, timeout=timeout)


async def view_wait(view, seen, timeout=None):
    w = _gen_waits()
    return await w.wait(w.ws.add_generation, view, seen, timeout=timeout)

"""Non-cooperative events (fs/userfaultfd.c; userfaultfd.md 3.7): fork, mremap, munmap and
MADV_DONTNEED / MADV_FREE / MADV_REMOVE of a registered range.

Without the feature that asks for it, each is silent: a forked child's copies of registered
VMAs lose their registration (dup_userfaultfd), so does a moved VMA (mremap_userfaultfd_prep).
With it, a message is queued on the context, ``mmap_changing`` is raised (the fill ioctls fail
with EAGAIN until the message is read) and the task that made the system call waits until the
monitor reads it (userfaultfd_event_wait_completion: the core op sets ``MmCore.blocked_on`` and
the step yields it).  Reading a FORK message installs a new fd for the child's context in the
reader's fd table.
"""
from __future__ import annotations

from typing import Any, Dict

from memsim.sched import WaitQueue

from . import api, uapi


class Event:
    """A queued non-cooperative event (struct userfaultfd_wait_queue of an event)."""

    def __init__(self, ctx, event: int, args=(), child_ctx=None):
        self.ctx = ctx
        self.event = event
        self.args = tuple(args)
        self.child_ctx = child_ctx
        self.waitq = WaitQueue("userfaultfd event")
        self.done = False

    def read(self, reader_ctx) -> bytes:
        """userfaultfd_ctx_read() of the event: FORK installs the child's fd first
        (resolve_userfault_fork); the raiser is released."""
        if self.event == uapi.UFFD_EVENT_FORK:
            h = self.ctx.host
            machine = h.machine
            task = machine.current.task
            child = self.child_ctx
            file = api.anon_inode_getfile(machine, "[userfaultfd]", child, child.flags & (uapi.O_NONBLOCK | uapi.O_CLOEXEC))
            fd = api.install_fd(machine, task, file)
            msg = uapi.msg_event(uapi.UFFD_EVENT_FORK, fd)
        else:
            msg = uapi.msg_event(self.event, *self.args)
        self.complete()
        return msg

    def complete(self) -> None:
        """userfaultfd_event_complete(): mmap_changing drops, the raiser wakes."""
        if self.done:
            return
        self.done = True
        self.ctx.mmap_changing -= 1
        self.waitq.wake_up()


def _queue(h, ctx, ev: Event) -> None:
    """userfaultfd_event_wait_completion()'s first half: queue, mark, wake readers; the caller's
    task will wait on the event (MmCore.blocked_on)."""
    ctx.events.append(ev)
    ctx.fd_wqh.wake_up()
    h.machine.mmcore.blocked_on = ev.waitq


def install(h) -> None:
    """Connect the machine's Userfaultfd ops for fork, mremap, munmap and madvise."""
    forks: Dict[Any, Any] = {}          # (parent ctx, child mm) -> the child's context

    def on_dup(vma, new) -> bool:
        """dup_userfaultfd(): keep the registration in the child only with EVENT_FORK, under a
        new context (one per parent context and fork), whose FORK event the parent queues."""
        ctx = vma.vm_userfaultfd_ctx
        if ctx is None or ctx.released or not ctx.features & uapi.UFFD_FEATURE_EVENT_FORK:
            return False
        key = (id(ctx), id(new.vm_mm))
        child = forks.get(key)
        if child is None:
            for k in list(forks):
                if k[0] == id(ctx):
                    del forks[k]
            child = h.new_ctx(new.vm_mm, ctx.flags)
            child.features = ctx.features
            child.api_done = True
            forks[key] = child
            ctx.mmap_changing += 1
            _queue(h, ctx, Event(ctx, uapi.UFFD_EVENT_FORK, child_ctx=child))
        new.vm_userfaultfd_ctx = child
        return True

    def on_remap(vma, old_start, new_start, length) -> None:
        """mremap_userfaultfd_prep/complete(): without EVENT_REMAP the moved VMA is no longer
        registered; with it, a REMAP(from, to, len) event."""
        ctx = vma.vm_userfaultfd_ctx
        if ctx is None:
            return
        if ctx.released or not ctx.features & uapi.UFFD_FEATURE_EVENT_REMAP:
            vma.vm_userfaultfd_ctx = None
            vma.vm_flags &= ~api.VM_UFFD_FLAGS
            return
        if new_start % api.PAGE_SIZE:
            return
        ctx.mmap_changing += 1
        _queue(h, ctx, Event(ctx, uapi.UFFD_EVENT_REMAP, (old_start, new_start, length)))

    def on_unmap(vma, start, end) -> None:
        """userfaultfd_unmap_prep(): one UNMAP(start, end) per context and munmap call."""
        ctx = vma.vm_userfaultfd_ctx
        if ctx is None or ctx.released or not ctx.features & uapi.UFFD_FEATURE_EVENT_UNMAP:
            return
        for ev in ctx.events:
            if not ev.done and ev.event == uapi.UFFD_EVENT_UNMAP and ev.args[1] == start:
                ev.args = (ev.args[0], end)         # the same munmap, the next VMA
                return
        ctx.mmap_changing += 1
        _queue(h, ctx, Event(ctx, uapi.UFFD_EVENT_UNMAP, (start, end)))

    def on_remove(vma, start, end) -> None:
        """userfaultfd_remove(): a REMOVE(start, end) event with EVENT_REMOVE."""
        ctx = vma.vm_userfaultfd_ctx
        if ctx is None or ctx.released or not ctx.features & uapi.UFFD_FEATURE_EVENT_REMOVE:
            return
        ctx.mmap_changing += 1
        _queue(h, ctx, Event(ctx, uapi.UFFD_EVENT_REMOVE, (start, end)))

    h.on_dup = on_dup
    h.on_remap = on_remap
    h.on_unmap = on_unmap
    h.on_remove = on_remove

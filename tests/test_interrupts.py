"""fleetsim.interrupts: a held block runs whole, and the handlers it swapped come back."""

from __future__ import annotations

import signal

import pytest

import fleetsim.interrupts as interrupts


@pytest.fixture
def recording():
    """SIGINT and SIGTERM handlers that record each signal, restored after the test."""
    seen: list[int] = []
    handler = lambda number, _frame: seen.append(number)  # noqa: E731
    previous = {number: signal.signal(number, handler) for number in interrupts.HANDLED}
    yield seen, handler
    for number, kept in previous.items():
        signal.signal(number, kept)


@pytest.mark.parametrize("block_threads", [False, True])
def test_a_signal_in_a_held_block_is_handled_once_the_block_is_done(recording, block_threads):
    seen, handler = recording
    with interrupts.held(block_threads=block_threads):
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
        assert seen == []
    assert sorted(seen) == [signal.SIGINT, signal.SIGTERM]  # blocked ones come in the kernel's order
    assert all(signal.getsignal(number) is handler for number in interrupts.HANDLED)
    if block_threads:
        assert not set(interrupts.HANDLED) & signal.pthread_sigmask(signal.SIG_BLOCK, set())


def test_the_handlers_come_back_when_the_block_raises(recording):
    _, handler = recording
    with pytest.raises(ValueError), interrupts.held():
        raise ValueError("in the block")
    assert all(signal.getsignal(number) is handler for number in interrupts.HANDLED)


def test_the_first_signal_is_the_one_recorded():
    interrupts.forget()
    try:
        assert interrupts.received() is None
        interrupts.raise_if_received()  # nothing to raise
        assert interrupts.note(signal.SIGTERM) and not interrupts.note(signal.SIGINT)
        assert interrupts.received() == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            interrupts.raise_if_received()
    finally:
        interrupts.forget()


def test_a_handler_that_raises_as_the_handlers_are_set_leaves_none_of_them_unset(recording, monkeypatch):
    """``signal.signal`` runs the handler of a signal already come before it sets anything; when that
    raises, the other handlers are set all the same and the interrupt comes after."""
    _, handler = recording
    real = signal.signal
    raised = []

    def first_raises(number, new):
        if new is handler and not raised:  # the first handler set back after the block
            raised.append(number)
            raise KeyboardInterrupt  # as a pending first signal's handler would, before setting anything
        return real(number, new)

    monkeypatch.setattr(signal, "signal", first_raises)
    with pytest.raises(KeyboardInterrupt), interrupts.held():
        pass
    assert raised == [interrupts.HANDLED[0]]
    assert all(signal.getsignal(number) is handler for number in interrupts.HANDLED)

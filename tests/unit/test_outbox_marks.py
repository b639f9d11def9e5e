"""The marks a container owes the outbox: a mark leaves only when the transaction that wrote
it committed, a reserved mark is handed to no second transaction, and a rolled-back one is
owed again."""
import concurrent.futures
import datetime as dt

from hospital.outbox_marks import OwedMarks

AT = dt.datetime(2030, 1, 1, 8, 0, 0, 123456)


def test_a_mark_is_owed_until_its_transaction_settles_it():
    owed = OwedMarks()
    assert owed.owe(7, AT) == 1
    marks = owed.reserve()
    assert dict(marks) == {7: AT}
    assert owed.owed() == [7]  # written, not yet committed: still owed
    owed.settle(marks)
    assert owed.owed() == []


def test_a_released_mark_is_owed_again_with_its_send_time():
    owed = OwedMarks()
    owed.owe(7, AT)
    marks = owed.reserve()
    owed.release(marks)
    assert dict(owed.reserve()) == {7: AT}


def test_a_reserved_mark_goes_to_no_second_transaction():
    owed = OwedMarks()
    owed.owe(1, AT)
    first = owed.reserve()
    owed.owe(2, AT)
    second = owed.reserve()
    assert (set(first), set(second)) == ({1}, {2})
    assert owed.reserve() == {}
    assert owed.owe(3, AT) == 3  # the count includes the reserved ones: they are still owed


def test_a_forgotten_container_owes_nothing_even_when_a_transaction_releases_later():
    owed = OwedMarks()
    owed.owe(1, AT)
    marks = owed.reserve()
    owed.forget()
    owed.release(marks)
    assert owed.owed() == []


def test_threads_owe_and_reserve_without_losing_or_sharing_a_mark():
    owed = OwedMarks()
    taken: list[int] = []

    def work(n: int) -> None:
        for i in range(200):
            owed.owe(n * 1000 + i, AT)
            marks = owed.reserve()
            if i % 3:
                owed.settle(marks)
                taken.extend(marks)
            else:
                owed.release(marks)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    final = owed.reserve()
    owed.settle(final)
    taken.extend(final)
    assert sorted(taken) == sorted(n * 1000 + i for n in range(8) for i in range(200))  # each once
    assert owed.owed() == []

"""reasoning-gym composite: deterministic draws per (round, peer), real verifier scores."""

from __future__ import annotations

import json

import pytest

from core.training.tasks import TASKS, Question, TaskPool, extract_answer


@pytest.fixture(scope="module")
def pool():
    return TaskPool()


def test_nine_tasks():
    assert len(TASKS) == 9 and "propositional_logic" in TASKS and "arc_1d" in TASKS


def test_draw_is_deterministic_per_round_and_peer(pool):
    a = pool.draw(7, "QmPeerA", 6)
    b = TaskPool().draw(7, "QmPeerA", 6)  # a fresh pool (another process after a restart)
    assert [(q.task, q.question, q.answer) for q in a] == [(q.task, q.question, q.answer) for q in b]
    other_peer = pool.draw(7, "QmPeerB", 6)
    other_round = pool.draw(8, "QmPeerA", 6)
    assert [q.question for q in a] != [q.question for q in other_peer]
    assert [q.question for q in a] != [q.question for q in other_round]
    for q in a:
        assert q.task in TASKS and q.question
        json.dumps(q.metadata)  # travels between peers as JSON


def test_draws_cover_several_tasks(pool):
    tasks = {q.task for r in range(6) for q in pool.draw(r, "QmCover", 6)}
    assert len(tasks) >= 6


def test_verifier_scores_are_real(pool):
    qs = [q for r in range(4) for q in pool.draw(r, "QmScore", 5) if q.answer]
    assert qs
    for q in qs:
        right, wrong, empty = pool.score_question(
            q, [f"Let me think.\n<answer>{q.answer}</answer>", "<answer>definitely not it</answer>", ""])
        assert right == 1.0, (q.task, q.answer)
        assert wrong < 1.0 and empty < 1.0


def test_every_task_verifier(pool):
    # one question of each task, scored by that task's own verifier
    import reasoning_gym as rg

    for task in TASKS:
        e = rg.create_dataset(task, seed=3, size=1)[0]
        q = Question(task=task, question=e["question"], answer="" if e["answer"] is None else str(e["answer"]),
                     metadata=json.loads(json.dumps(e["metadata"], default=str)))
        if e["answer"] is not None:
            assert pool.score(task, q.entry(), f"<answer>{e['answer']}</answer>") == 1.0, task
        assert pool.score(task, q.entry(), "<answer>zzz</answer>") < 1.0, task


def test_extract_answer():
    assert extract_answer("a <answer> 1 </answer> b <answer>42</answer> tail") == "42"
    assert extract_answer("thinking...\n  17  \n\n") == "17"
    assert extract_answer("") == ""
    assert extract_answer("<answer>multi\nline</answer>") == "multi\nline"


def test_draw_does_not_write_to_stdout(pool, capfd):
    # stdout is the node's event stream; the bf generator prints progress dots
    for r in range(5):
        pool.draw(r, "QmQuiet", 4)
    assert capfd.readouterr().out == ""


def test_unknown_task_is_a_clear_error():
    from core.base.errors import TrainingError

    with pytest.raises(TrainingError) as ei:
        TaskPool(tasks=["gsm9k"])
    assert "gsm9k" in str(ei.value) and ei.value.fix


def test_quiet_stdout_only_silences_the_drawing_thread(pool, capfd):
    import sys
    import threading

    from core.training.tasks import _quiet_stdout

    seen = threading.Event()
    go = threading.Event()

    def other():
        go.wait(5)
        sys.stdout.write('{"type":"log"}\n')  # another thread's event while a draw is silenced
        sys.stdout.flush()
        seen.set()

    t = threading.Thread(target=other)
    t.start()
    with _quiet_stdout():
        print("noise from a generator")
        go.set()
        assert seen.wait(5)
    t.join()
    out = capfd.readouterr().out
    assert '{"type":"log"}' in out and "noise" not in out

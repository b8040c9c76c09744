"""The self-check core used by every notebook's exercises and quizzes."""

import pytest

from course_utils.selfcheck import Feedback, Question, Quiz, first_failure


def test_first_failure_reports_the_first_wrong_step_with_its_hint():
    fb = first_failure("ex", [(True, "a", "ha"), (False, "b is wrong", "look at b"), (False, "c", "hc")], success="ok")
    assert not fb and fb.message == "b is wrong" and fb.hint == "look at b"
    assert "hint: look at b" in str(fb) and "look at b" in fb._repr_html_()


def test_first_failure_success_shows_no_hint():
    fb = first_failure("ex", [(True, "a", "ha")], success="well done")
    assert fb and fb.message == "well done" and "hint" not in str(fb)


def test_feedback_html_escapes_learner_text():
    assert "<script>" not in Feedback(False, "t", "<script>x</script>", "h")._repr_html_()


def test_question_grades_letters_and_explains_wrong_options():
    q = Question("2+2?", ["3", "4"], answer="b", explanation="four", why={"a": "off by one"})
    assert q.grade("b") and q.grade(" B) ")
    wrong = q.grade("a")
    assert not wrong and wrong.message == "off by one"
    assert "not an option" in q.grade("z").message


@pytest.mark.parametrize("bad", [dict(answer="c"), dict(answer="a", why={"d": "?"})])
def test_question_refuses_inconsistent_definitions(bad):
    with pytest.raises(ValueError):
        Question("q", ["x", "y"], explanation="e", **bad)


def test_quiz_check_and_text_form():
    quiz = Quiz("Check", [Question("q1", ["x", "y"], answer="a", explanation="e")])
    assert quiz.check(1, "a") and not quiz.check(1, "b")
    with pytest.raises(ValueError, match=r"1\.\.1"):
        quiz.check(2, "a")
    assert 'quiz.check(NUMBER, "LETTER")' in str(quiz)


def test_quiz_widget_builds_and_gives_feedback():
    quiz = Quiz("Check", [Question("q1", ["x", "y"], answer="a", explanation="because")])
    box = quiz.widget()
    radio, result = box.children[2], box.children[3]
    radio.value = "a"
    assert "because" in result.value

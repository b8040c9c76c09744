"""Instant feedback for the exercises and quizzes inside the notebooks.

An exercise check is a function (one module per notebook under ``course_utils.exercises``)
that looks at what the learner produced and returns a :class:`Feedback`: what is right, or what
is wrong with a hint, never the answer. A check never raises on a wrong answer, so "Run All"
works on an unfinished notebook; it raises only when the check itself is misused.

    from course_utils.selfcheck import Feedback, first_failure

    def check_fraction(value):
        return first_failure(
            "Exercise 2: the memory fraction",
            [(value is not None, "`fraction` is still None.", "Assign the number you computed."),
             (0 < value <= 1, f"{value} is not a fraction of the GPU.", "Divide by the total memory.")],
            success="Right: the cap counts reserved memory, not the CUDA context.")

A :class:`Quiz` asks multiple-choice questions: in JupyterLab as buttons with feedback, and
anywhere as ``quiz.check(1, "b")`` for a text answer.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["Feedback", "Question", "Quiz", "first_failure"]

_STYLE = {
    True: ("#e6f4ea", "#1e7e34", "✔"),
    False: ("#fff4e5", "#b45309", "✘"),
}


@dataclass(frozen=True)
class Feedback:
    """The outcome of one self-check: shown as a coloured box in Jupyter, as text elsewhere."""

    ok: bool
    title: str
    message: str
    hint: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        mark = "✔ correct" if self.ok else "✘ not yet"
        text = f"{mark} · {self.title}: {self.message}"
        if self.hint and not self.ok:
            text += f"\n  hint: {self.hint}"
        return text

    __repr__ = __str__

    def _repr_html_(self) -> str:
        background, colour, mark = _STYLE[self.ok]
        hint = f"<div><b>Hint:</b> {html.escape(self.hint)}</div>" if self.hint and not self.ok else ""
        return (
            f'<div class="course-selfcheck" style="background:{background};border-left:4px solid {colour};'
            f'padding:6px 10px;margin:4px 0">'
            f'<b style="color:{colour}">{mark} {html.escape(self.title)}</b>'
            f"<div>{html.escape(self.message)}</div>{hint}</div>"
        )


def first_failure(title: str, steps: Iterable[tuple[bool, str, str]], success: str) -> Feedback:
    """Feedback for the first failing step ``(condition, what is wrong, hint)``, else success.

    Conditions are evaluated by the caller; write steps so that a later condition is only
    evaluated when the earlier ones hold (e.g. pass a generator, or guard with ``and``).
    """
    for condition, problem, hint in steps:
        if not condition:
            return Feedback(False, title, problem, hint)
    return Feedback(True, title, success)


@dataclass(frozen=True)
class Question:
    """One multiple-choice question. ``why`` explains each wrong option (by letter)."""

    prompt: str
    options: Sequence[str]
    answer: str  # a letter: "a", "b", ...
    explanation: str
    why: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        letters = _letters(len(self.options))
        if self.answer not in letters:
            raise ValueError(f"answer {self.answer!r} is not one of the options {letters}")
        unknown = set(self.why) - set(letters)
        if unknown:
            raise ValueError(f"'why' names options that do not exist: {sorted(unknown)}")

    def grade(self, choice: str) -> Feedback:
        letters = _letters(len(self.options))
        choice = str(choice).strip().lower().rstrip(")")
        if choice not in letters:
            return Feedback(False, self.prompt, f"{choice!r} is not an option.", f"Answer with one of {letters}.")
        if choice == self.answer:
            return Feedback(True, self.prompt, self.explanation)
        reason = self.why.get(choice, "That is not it.")
        return Feedback(False, self.prompt, reason, "Re-read the section above, then try another option.")


class Quiz:
    """A short "check your understanding" quiz at the end of a notebook."""

    def __init__(self, title: str, questions: Sequence[Question]):
        if not questions:
            raise ValueError("a quiz needs at least one question")
        self.title = title
        self.questions = list(questions)

    def check(self, number: int, choice: str) -> Feedback:
        """Grade question ``number`` (1-based) for the option letter ``choice``."""
        if not 1 <= number <= len(self.questions):
            raise ValueError(f"question {number} does not exist: this quiz has 1..{len(self.questions)}")
        return self.questions[number - 1].grade(choice)

    def __str__(self) -> str:
        lines = [self.title]
        for n, q in enumerate(self.questions, 1):
            lines.append(f"{n}. {q.prompt}")
            lines += [f"   {letter}) {text}" for letter, text in zip(_letters(len(q.options)), q.options, strict=True)]
        lines.append('Answer with quiz.check(NUMBER, "LETTER"), or use the buttons in JupyterLab.')
        return "\n".join(lines)

    __repr__ = __str__

    def widget(self):
        """Radio buttons and a feedback line per question (needs ipywidgets)."""
        import ipywidgets as w

        rows = [w.HTML(f"<h4>{html.escape(self.title)}</h4>")]
        for q in self.questions:
            letters = _letters(len(q.options))
            buttons = w.RadioButtons(
                options=[(f"{letter}) {text}", letter) for letter, text in zip(letters, q.options, strict=True)],
                value=None,
                layout=w.Layout(width="auto"),
            )
            result = w.HTML()

            def show(change, q=q, result=result):
                if change["new"] is not None:
                    result.value = q.grade(change["new"])._repr_html_()

            buttons.observe(show, names="value")
            rows += [w.HTML(f"<b>{html.escape(q.prompt)}</b>"), buttons, result]
        return w.VBox(rows)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        try:
            display(self.widget())
        except ImportError:  # no ipywidgets: the text form still works
            print(self)


def _letters(n: int) -> list[str]:
    return [chr(ord("a") + i) for i in range(n)]

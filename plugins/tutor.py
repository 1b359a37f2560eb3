"""/tutor: explanations at a level, quizzes with graded answers and a score, writing feedback."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from bot import (
    ChatMessage,
    Context,
    GenerationParams,
    NoOptions,
    Param,
    Plugin,
    Pref,
    Range,
    command,
)
from bot.errors import OptionError, UserError
from bot.i18n import SOURCE_LANGUAGE, _, _n
from bot.script import is_han, mostly_in

Level = Literal["beginner", "intermediate", "advanced"]
Focus = Literal["general", "grammar", "clarity", "style", "structure", "dialogue", "pacing"]
log = logging.getLogger(__name__)

LETTERS = ("A", "B", "C", "D")
# Tries at the whole quiz in one structured request.
QUIZ_ATTEMPTS = 2
# Rounds in which questions that fail their checks are written again, each alone.
QUESTION_RETRIES = 4
# Questions written at once for each place still empty (the default user_concurrency lets
# two of a person's requests run together).
QUESTIONS_AT_ONCE = 2
_FUNCTION_WORDS = frozenset(
    {"the", "and", "for", "with", "from", "about", "into", "its", "how", "what", "why", "who"}
)


def quiz_schema(questions: int) -> dict[str, Any]:
    """The JSON schema a quiz of exactly `questions` questions must follow."""
    return {
        "type": "object",
        "properties": {
            "questions": {
                "type": "array",
                "minItems": questions,
                "maxItems": questions,
                "items": {
                    "type": "object",
                    "properties": {
                        # Bounded so that a whole quiz always fits max_tokens below: a
                        # small model would otherwise run a string on until it is cut off.
                        "question": {"type": "string", "minLength": 5, "maxLength": 150},
                        "choices": {
                            "type": "array",
                            "minItems": 4,
                            "maxItems": 4,
                            "items": {"type": "string", "minLength": 1, "maxLength": 80},
                        },
                        "answer": {"type": "string", "enum": list(LETTERS)},
                    },
                    "required": ["question", "choices", "answer"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["questions"],
        "additionalProperties": False,
    }


@dataclass(frozen=True, slots=True)
class Question:
    """One multiple-choice question."""

    question: str
    choices: tuple[str, str, str, str]
    answer: str


def parse_quiz(text: str, questions: int) -> list[Question]:
    """The questions of a generated quiz; ValueError when it does not follow the schema."""
    data = json.loads(text)
    items = data["questions"]
    if len(items) != questions:
        raise ValueError(f"expected {questions} questions, got {len(items)}")
    parsed = []
    for item in items:
        choices = tuple(_strip_letter(str(c)) for c in item["choices"])
        if len(choices) != 4 or item["answer"] not in LETTERS:
            raise ValueError("a question needs four choices and an answer A-D")
        parsed.append(Question(str(item["question"]).strip(), choices, item["answer"]))
    return parsed


def _strip_letter(choice: str) -> str:
    """A choice without the "A) " or "B." a model sometimes writes in front of it."""
    return re.sub(r"^\s*[A-Da-d]\s*[.):：、]\s*", "", choice).strip()


def topic_words(topic: str) -> set[str]:
    """Words of a topic that a question on it is expected to name (casefolded).

    English: the topic's words of three letters or more, other than function words.
    Chinese: the topic itself and every two characters in a row of it; each character
    of a topic of one or two characters (唐诗: 唐, 诗).
    """
    words = {w.casefold() for w in re.findall(r"[^\W\d_]{3,}", topic) if not _has_han(w)}
    words -= _FUNCTION_WORDS
    for run in re.findall(r"[\u3400-\u9fff]+", topic):
        words.add(run)
        words.update(run[i : i + 2] for i in range(len(run) - 1))
        if len(run) <= 2:
            words.update(run)
    return words


def _has_han(text: str) -> bool:
    return any(is_han(char) for char in text)


def question_problem(question: Question, topic: str, language: str) -> str | None:
    """Why a question is not good enough to ask, or None when it is."""
    if len(question.question) < 5:
        return "no question"
    choices = [c.casefold() for c in question.choices]
    if any(not c for c in choices) or len(set(choices)) != 4:
        return "choices empty or repeated"
    if any(_not_a_choice(c, question.question) for c in choices):
        return "a choice is a letter, the question or a loop"
    if question.answer not in LETTERS:
        return "no answer"
    if not mostly_in(question.question, language, 0.6):
        return "not in the channel's language"
    words = topic_words(topic)
    asked = " ".join((question.question, *question.choices)).casefold()
    if words and not any(word in asked for word in words):
        return "off topic"
    return None


def _not_a_choice(choice: str, question: str) -> bool:
    """True for what a small model writes in a choice's place: the answer's letter or the
    word "answer", the question again, or a phrase that repeats itself."""
    if choice.strip(" .)") in {"a", "b", "c", "d", "answer", "答案"}:
        return True
    if choice == question.casefold():
        return True
    units = re.findall(r"[\u3400-\u9fff]|[^\W\d_\u3400-\u9fff]+", choice)
    size = 4 if _has_han(choice) else 3
    runs = ["".join(units[i : i + size]) for i in range(len(units) - size + 1)]
    return len(set(runs)) < len(runs)


def format_quiz(topic: str, questions: list[Question], language: str = SOURCE_LANGUAGE) -> str:
    """The quiz as people read it, its frame in the channel's language."""
    lines = [_("Quiz: {topic}", topic=topic).render(language)]
    for number, q in enumerate(questions, start=1):
        lines.append(f"{number}. {q.question}")
        lines.extend(
            f"   {letter}) {choice}" for letter, choice in zip(LETTERS, q.choices, strict=True)
        )
    example = " ".join(LETTERS[i % 4] for i in range(len(questions)))
    answer = _(
        'Answer with /tutor answer answers:"{example}" (one letter per question).',
        example=example,
    )
    lines.append(answer.render(language))
    return "\n".join(lines)


def parse_answers(text: str, questions: int) -> list[str]:
    """Letters from "A C B", "1a 2c 3b" or "acb"; raises OptionError naming the problem."""
    cleaned = re.sub(r"\d+\s*[.):]?", " ", text.upper())
    letters = [ch for ch in cleaned if ch.isalpha()]
    if any(ch not in LETTERS for ch in letters) or len(letters) != questions:
        raise OptionError(
            "answers",
            _n(
                'give {n} letter from A to D, e.g. "{example}".',
                'give {n} letters from A to D, one per question in order, e.g. "{example}".',
                questions,
                example=" ".join(["A"] * questions),
            ),
        )
    return letters


@dataclass(frozen=True)
class ExplainOptions:
    """Options of /tutor explain."""

    topic: Annotated[str, Param("What to explain", max_length=200)]
    level: Annotated[Level | None, Param("The learner's level (default: tutor.level)")] = None


@dataclass(frozen=True)
class QuizOptions:
    """Options of /tutor quiz."""

    topic: Annotated[str, Param("What the quiz is about", max_length=200)]
    questions: Annotated[Range[int, 1, 10], Param("How many questions")] = 5
    level: Annotated[Level | None, Param("The learner's level (default: tutor.level)")] = None


@dataclass(frozen=True)
class AnswerOptions:
    """Options of /tutor answer."""

    answers: Annotated[str, Param("Your answers in order, e.g. A C B", max_length=100)]


@dataclass(frozen=True)
class FeedbackOptions:
    """Options of /tutor feedback."""

    text: Annotated[str, Param("The writing to give feedback on", max_length=1500)]
    focus: Annotated[Focus, Param("What to look at most")] = "general"


class Tutor(Plugin):
    """A writing and literature tutor."""

    name = "tutor"
    description = "Explanations, quizzes and feedback on writing"
    prefs = (
        Pref(
            "tutor.level",
            str,
            "beginner",
            "Default learner level",
            choices=("beginner", "intermediate", "advanced"),
        ),
    )
    migrations = (
        """
        CREATE TABLE tutor_quizzes (
            scope TEXT NOT NULL,
            user_id TEXT NOT NULL,
            topic TEXT NOT NULL,
            quiz TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (scope, user_id)
        );
        CREATE TABLE tutor_scores (
            scope TEXT NOT NULL,
            user_id TEXT NOT NULL,
            correct INTEGER NOT NULL DEFAULT 0,
            answered INTEGER NOT NULL DEFAULT 0,
            quizzes INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (scope, user_id)
        );
        """,
    )
    # Open quizzes (their topics and questions) expire; scores are counts and stay.
    retention = (("tutor_quizzes", "created_at"),)

    @command("tutor explain", "Explain a topic at your level")
    async def explain(self, ctx: Context[ExplainOptions]) -> None:
        """Explain a topic."""
        level = ctx.options.level or ctx.prefs.text("tutor.level")
        messages = ctx.prompts.chat("explain", topic=ctx.options.topic, level=level)
        await ctx.generate(messages, ctx.sampling("explain", max_tokens=320))

    @command("tutor quiz", "Get a multiple-choice quiz on a topic")
    async def quiz(self, ctx: Context[QuizOptions]) -> None:
        """Generate a quiz with structured output, check every question, keep it, show it."""
        opts = ctx.options
        level = opts.level or ctx.prefs.text("tutor.level")
        await ctx.reply.notice(
            _n(
                "Writing {n} question on {topic}…",
                "Writing {n} questions on {topic}…",
                opts.questions,
                topic=opts.topic,
            )
        )
        questions = await write_quiz(ctx, opts.topic, opts.questions, level)
        if len(questions) < opts.questions:
            await ctx.reply.notice(
                _n(
                    "Only {n} of {asked} questions passed the checks.",
                    "Only {n} of {asked} questions passed the checks.",
                    len(questions),
                    asked=opts.questions,
                )
            )
        quiz = [
            {"question": q.question, "choices": list(q.choices), "answer": q.answer}
            for q in questions
        ]
        async with ctx.store.write() as db:
            await db.execute(
                "INSERT OR REPLACE INTO tutor_quizzes (scope, user_id, topic, quiz, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (ctx.store.scope, ctx.user.id, opts.topic, json.dumps(quiz), time.time()),
            )
        await ctx.reply.write(format_quiz(opts.topic, questions, ctx.language))

    @command("tutor answer", "Answer your open quiz")
    async def answer(self, ctx: Context[AnswerOptions]) -> None:
        """Grade the answers against the quiz, add them to the user's score."""
        row = await ctx.store.fetchone(
            "SELECT topic, quiz FROM tutor_quizzes WHERE scope = ? AND user_id = ?",
            (ctx.store.scope, ctx.user.id),
        )
        if row is None:
            raise UserError(_("You have no open quiz here. Start one with /tutor quiz topic:..."))
        quiz = json.loads(row["quiz"])
        letters = parse_answers(ctx.options.answers, len(quiz))
        correct = sum(given == q["answer"] for given, q in zip(letters, quiz, strict=True))
        async with ctx.store.write() as db:
            await db.execute(
                "DELETE FROM tutor_quizzes WHERE scope = ? AND user_id = ?",
                (ctx.store.scope, ctx.user.id),
            )
            await db.execute(
                "INSERT INTO tutor_scores (scope, user_id, correct, answered, quizzes)"
                " VALUES (?, ?, ?, ?, 1) ON CONFLICT (scope, user_id) DO UPDATE SET"
                " correct = correct + excluded.correct, answered = answered + excluded.answered,"
                " quizzes = quizzes + 1",
                (ctx.store.scope, ctx.user.id, correct, len(quiz)),
            )
            cursor = await db.execute(
                "SELECT correct, answered FROM tutor_scores WHERE scope = ? AND user_id = ?",
                (ctx.store.scope, ctx.user.id),
            )
            total = await cursor.fetchone()
        lines = [
            ctx.text(
                _(
                    "{correct} of {total} correct on {topic}.",
                    correct=correct,
                    total=len(quiz),
                    topic=row["topic"],
                )
            )
        ]
        for number, (given, q) in enumerate(zip(letters, quiz, strict=True), start=1):
            wrong = _("✗ (answer: {letter})", letter=q["answer"])
            mark = "✓" if given == q["answer"] else ctx.text(wrong)
            lines.append(f"{number}. {given} {mark}")
        assert total is not None
        score = _(
            "Your score in this channel: {correct} of {total}.", correct=total[0], total=total[1]
        )
        lines.append(ctx.text(score))
        await ctx.reply.write("\n".join(lines))

    @command("tutor score", "Show your quiz score in this channel")
    async def score(self, ctx: Context[NoOptions]) -> None:
        """The user's running score."""
        row = await ctx.store.fetchone(
            "SELECT correct, answered, quizzes FROM tutor_scores WHERE scope = ? AND user_id = ?",
            (ctx.store.scope, ctx.user.id),
        )
        if row is None:
            await ctx.reply.write(_("No quiz answered here yet. Try /tutor quiz topic:haiku"))
            return
        await ctx.reply.write(
            _n(
                "{correct} of {answered} correct over {n} quiz.",
                "{correct} of {answered} correct over {n} quizzes.",
                row["quizzes"],
                correct=row["correct"],
                answered=row["answered"],
            )
        )

    @command("tutor feedback", "Get feedback on a piece of writing")
    async def feedback(self, ctx: Context[FeedbackOptions]) -> None:
        """Feedback with a focus."""
        messages = ctx.prompts.chat("feedback", text=ctx.options.text, focus=ctx.options.focus)
        await ctx.generate(messages, ctx.sampling("feedback", max_tokens=320))


async def write_quiz(ctx: Context[Any], topic: str, count: int, level: str) -> list[Question]:
    """`count` questions that pass question_problem, or as many as could be written.

    The quiz is asked for in one structured request, with spares; a place no question
    filled (every place, when the quiz cannot be read) is written again alone, on another
    aspect of the topic, a bounded number of times. A question off the topic is kept only
    when nothing better came.
    """
    # A question or two more than asked for: a small model writes some that fail their
    # checks, and spares in one request cost less than each written again alone.
    asked = count + spare_questions(count)
    messages = ctx.prompts.chat("quiz", topic=topic, questions=asked, level=level)
    params = ctx.sampling(
        "quiz",
        # Room for every string at its longest (about 470 characters a question).
        max_tokens=200 * asked + 40,
        json_schema=quiz_schema(asked),
    )
    # When the whole quiz cannot be read twice (cut off by max_tokens, most likely: a small
    # model loops inside a string), every question is written alone below.
    candidates: list[Question] = []
    for _attempt in range(QUIZ_ATTEMPTS):
        try:
            candidates = parse_quiz(await ctx.generate(messages, params, stream=False), asked)
            break
        except (ValueError, KeyError, TypeError) as exc:
            log.debug("quiz unreadable: %s", exc)
    problems = [_problem(q, candidates, topic, ctx.language) for q in candidates]
    log.debug("quiz questions: %s", problems)
    good = [q for q, problem in zip(candidates, problems, strict=True) if problem is None]
    off_topic = [q for q, p in zip(candidates, problems, strict=True) if p == "off topic"]
    # Each place holds a question with no problem, or waits for one; an off-topic question
    # stands by for it in case none comes.
    slots: list[Question | None] = [*good[:count]]
    empty = count - len(slots)
    slots += [None] * empty
    fallback: list[Question | None] = [None] * len(good[:count]) + [*off_topic[:empty]]
    fallback += [None] * (count - len(fallback))
    one = ctx.sampling("quiz", max_tokens=240, json_schema=quiz_schema(1))
    # Each question written alone asks about another aspect of the topic: told only "not
    # these", a small model writes one of them again.
    aspects = itertools.cycle(ctx.prompts.render("aspects").splitlines())
    for round_ in range(QUESTION_RETRIES):
        missing = [i for i, q in enumerate(slots) if q is None]
        if not missing:
            break
        # Each round samples warmer: the same settings tend to repeat the same flaw.
        one = dataclasses.replace(one, temperature=one.temperature + 0.15 * bool(round_))
        for index in missing:
            if slots[index] is not None:
                continue  # filled by the spare of an earlier place
            # Two at once, on two aspects: the engine batches them for little more than
            # the time of one, and one of two passes its checks far more often.
            asks = [
                ctx.prompts.chat("quiz_one", topic=topic, level=level, aspect=next(aspects))
                for _ in range(QUESTIONS_AT_ONCE)
            ]
            for fresh in await asyncio.gather(*(_one_question(ctx, ask, one) for ask in asks)):
                open_places = [i for i, q in enumerate(slots) if q is None]
                if fresh is None or not open_places:
                    continue
                others = [q for q in slots if q is not None]
                problem = _problem(fresh, others, topic, ctx.language)
                log.debug(
                    "quiz question %s again: %s", "kept" if problem is None else "refused", problem
                )
                if problem is None:
                    slots[open_places[0]] = fresh
                elif problem == "off topic":
                    spare = [i for i in open_places if fallback[i] is None]
                    if spare:
                        fallback[spare[0]] = fresh
    chosen = [q if q is not None else f for q, f in zip(slots, fallback, strict=True)]
    found = [q for q in chosen if q is not None]
    if not found:
        raise UserError(_("I could not write a quiz on that topic this time. Please try again."))
    return found


async def _one_question(
    ctx: Context[Any], messages: list[ChatMessage], params: GenerationParams
) -> Question | None:
    """One question written alone, or None when the reply is not one."""
    try:
        (question,) = parse_quiz(await ctx.generate(messages, params, stream=False), 1)
    except (ValueError, KeyError, TypeError) as exc:
        log.debug("quiz question unreadable: %s", exc)
        return None
    return question


def spare_questions(count: int) -> int:
    """Questions asked for beyond `count`: two for a short quiz, none for a long one (it
    would not fit the model's context)."""
    return 2 if count <= 4 else 1 if count <= 7 else 0


def _problem(question: Question, others: list[Question], topic: str, language: str) -> str | None:
    """question_problem, plus: the same question asked twice in one quiz."""
    twice = sum(1 for q in others if q.question.casefold() == question.question.casefold())
    if twice > (1 if question in others else 0):
        return "asked twice"
    return question_problem(question, topic, language)

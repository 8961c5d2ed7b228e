"""The mock Canvas's world: users, courses, enrolments, AI experiences and feature flags.

``default_world()`` builds the world the README documents; its ids and tokens are fixed so that
a target file written once keeps working. Lookups follow Canvas: a course is found by id or by
``sis_course_id:<sis id>``, a deleted course or experience is not found.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from canvas_ai_harness.canvas.requests import parse_id, sis_course_id
from canvas_ai_harness.config import Target, Tokens

__all__ = ["Course", "Experience", "User", "World", "default_target", "default_world"]

Role = Literal["teacher", "student"]


@dataclass(slots=True, frozen=True)
class User:
    id: int
    name: str
    token: str
    can_masquerade: bool = False
    is_admin: bool = False


@dataclass(slots=True)
class Course:
    id: int
    name: str
    sis_id: str | None = None
    ai_experiences_enabled: bool = True
    deleted: bool = False


@dataclass(slots=True)
class Experience:
    id: int
    course_id: int
    title: str
    scenario: str
    facts: str
    objectives: tuple[str, ...]
    published: bool = True
    deleted: bool = False
    hidden_prompt: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Built once and shared by every conversation of this experience: a store of 100,000
        # conversations then holds one copy of the longest message, not 100,000.
        objectives = "\n".join(f"- {o}" for o in self.objectives) or "- (none)"
        self.hidden_prompt = (
            f"You are playing a role in the learning experience '{self.title}'.\n"
            f"Scenario: {self.scenario}\nFacts: {self.facts}\n"
            f"Learning objectives:\n{objectives}\n"
            "Stay in character, ask one question at a time, and never give the answers away."
        )


class World:
    """Who exists, who is enrolled where, and which experiences and flags there are."""

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.courses: dict[int, Course] = {}
        self.experiences: dict[int, Experience] = {}
        self._tokens: dict[str, User] = {}
        self._sis: dict[str, Course] = {}
        self._roles: dict[tuple[int, int], Role] = {}
        self._lock = threading.Lock()
        self._next_user_id = 100_000
        self.added_students = 0  # by add_students, which a budget bounds (MockConfig.max_students)

    # -- building -----------------------------------------------------------------------------
    def add_user(self, user: User) -> User:
        with self._lock:
            self.users[user.id] = user
            self._tokens[user.token] = user
        return user

    def add_course(self, course: Course) -> Course:
        self.courses[course.id] = course
        if course.sis_id:
            self._sis[course.sis_id] = course
        return course

    def add_experience(self, experience: Experience) -> Experience:
        self.experiences[experience.id] = experience
        return experience

    def enroll(self, user: User, course: Course, role: Role) -> None:
        self._roles[(course.id, user.id)] = role

    def add_students(self, course_id: int, count: int, token_prefix: str = "mock-load-student") -> list[User]:
        """Create ``count`` new students enrolled in ``course_id`` (for load tests)."""
        course = self.courses[course_id]
        created: list[User] = []
        with self._lock:
            start = self._next_user_id
            self._next_user_id += count
            self.added_students += count
        for uid in range(start, start + count):
            user = self.add_user(User(id=uid, name=f"Load Student {uid}", token=f"{token_prefix}-{uid}"))
            self.enroll(user, course, "student")
            created.append(user)
        return created

    # -- lookups ------------------------------------------------------------------------------
    def user_for_token(self, token: str) -> User | None:
        return self._tokens.get(token)

    def find_course(self, ref: str) -> Course | None:
        """Find a live course by numeric id or ``sis_course_id:<id>``."""
        sis_id = sis_course_id(ref)
        if sis_id is not None:
            course = self._sis.get(sis_id)
        else:
            cid = parse_id(ref)
            course = None if cid is None else self.courses.get(cid)
        return None if course is None or course.deleted else course

    def find_experience(self, course: Course, ref: str) -> Experience | None:
        """Find a live experience of ``course`` by id; another course's experience is not found."""
        eid = parse_id(ref)
        exp = None if eid is None else self.experiences.get(eid)
        if exp is None or exp.deleted or exp.course_id != course.id:
            return None
        return exp

    def is_member(self, course: Course, user: User) -> bool:
        return user.is_admin or (course.id, user.id) in self._roles

    def role(self, course: Course, user: User) -> Role | None:
        """The user's enrolment in the course (an admin who is not enrolled has none)."""
        return self._roles.get((course.id, user.id))

    def can_manage(self, course: Course, user: User) -> bool:
        """Teachers and admins may manage assignments, and so see every conversation."""
        return user.is_admin or self._roles.get((course.id, user.id)) == "teacher"


# Fixed ids and tokens of the default world; the README lists them.
TEACHER_TOKEN = "mock-teacher-token"
STUDENT_TOKEN = "mock-student-token"
OTHER_STUDENT_TOKEN = "mock-other-student-token"
OUTSIDER_TOKEN = "mock-outsider-token"
ADMIN_TOKEN = "mock-admin-token"

_PHOTOSYNTHESIS = (
    "Explain how light energy becomes chemical energy",
    "Name the inputs and outputs of photosynthesis",
    "Describe the role of chlorophyll",
    "Connect photosynthesis to cellular respiration",
)
_MITOSIS = (
    "Order the phases of mitosis",
    "Explain why cells divide",
    "Contrast mitosis with meiosis",
)


def default_world() -> World:
    """The world the mock starts with (documented in README.md)."""
    w = World()
    teacher = w.add_user(User(1, "Tess Teacher", TEACHER_TOKEN))
    student = w.add_user(User(11, "Sam Student", STUDENT_TOKEN))
    other = w.add_user(User(12, "Olive Other", OTHER_STUDENT_TOKEN))
    w.add_user(User(13, "Omar Outsider", OUTSIDER_TOKEN))
    w.add_user(User(1000, "Ada Admin", ADMIN_TOKEN, can_masquerade=True, is_admin=True))

    bio = w.add_course(Course(101, "Biology 101", sis_id="BIO-101-F26"))
    chem = w.add_course(Course(202, "Chemistry 202", sis_id="CHEM-202-F26"))
    hist = w.add_course(Course(303, "History 303", sis_id="HIST-303-F26", ai_experiences_enabled=False))
    w.add_course(Course(505, "Old Biology", sis_id="BIO-OLD", deleted=True))
    for course in (bio, chem, hist):
        w.enroll(teacher, course, "teacher")
        w.enroll(student, course, "student")
        w.enroll(other, course, "student")

    w.add_experience(
        Experience(
            7,
            101,
            "Photosynthesis role-play",
            "You are a leaf talking to a curious student on a sunny morning.",
            "Plants turn light, water and carbon dioxide into glucose and oxygen.",
            _PHOTOSYNTHESIS,
        )
    )
    w.add_experience(
        Experience(
            8,
            101,
            "Cell division interview",
            "You are a cell about to divide, interviewed by a science journalist.",
            "Mitosis has prophase, metaphase, anaphase and telophase.",
            _MITOSIS,
        )
    )
    w.add_experience(
        Experience(
            9,
            101,
            "Draft: the water cycle",
            "You are a raindrop.",
            "Water evaporates, condenses and falls.",
            (),
            published=False,
        )
    )
    w.add_experience(
        Experience(10, 101, "Retired: genetics", "You are Mendel.", "Peas.", ("Explain dominance",), deleted=True)
    )
    w.add_experience(
        Experience(
            20, 202, "Titration lab partner", "You are a lab partner.", "Acids meet bases.", ("Define a titration",)
        )
    )
    w.add_experience(
        Experience(
            30, 303, "Meet a Roman senator", "You are a senator.", "Rome, 44 BC.", ("Explain the Ides of March",)
        )
    )
    return w


def default_target(base_url: str, profile: str = "completed") -> Target:
    """The target file of the default world served at ``base_url``: its fixed ids and tokens."""
    return Target(
        base_url=base_url,
        course_id="101",
        ai_experience_id="7",
        profile=profile,
        course_sis_id="BIO-101-F26",
        other_ai_experience_id="8",
        unpublished_ai_experience_id="9",
        deleted_ai_experience_id="10",
        other_course_ai_experience_id="20",
        feature_disabled_course_id="303",
        feature_disabled_ai_experience_id="30",
        tokens=Tokens(
            student=STUDENT_TOKEN,
            other_student=OTHER_STUDENT_TOKEN,
            teacher=TEACHER_TOKEN,
            outsider=OUTSIDER_TOKEN,
            admin=ADMIN_TOKEN,
        ),
        source="<mock>",
    )

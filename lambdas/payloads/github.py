"""GitHub webhook bodies: ``push`` and ``pull_request``.

GitHub sends the event name in the ``X-GitHub-Event`` header, which the
signature does not cover, and the body has no type field. So the fields that
only one of the two events has are required: a push body fails
``PullRequestEvent`` (no ``action``, ``number`` or ``pull_request``) and a
pull_request body fails ``PushEvent`` (no ``ref``, ``before``, ``after``,
``commits`` or ``pusher``). Other events that carry a ``pull_request`` object
(``pull_request_review``, ``pull_request_review_comment``) have no top-level
``number`` and fail ``PullRequestEvent`` too.
"""

from __future__ import annotations

from pydantic import AwareDatetime

from payloads.base import Payload


class Repository(Payload):
    """The ``repository`` object of a webhook body.

    Written from https://docs.github.com/en/webhooks/webhook-events-and-payloads
    (the common ``repository`` property).
    """

    id: int
    full_name: str


class User(Payload):
    """The ``sender`` of a webhook body: the account that triggered the event.

    Written from https://docs.github.com/en/webhooks/webhook-events-and-payloads
    (the common ``sender`` property).
    """

    login: str


class GitActor(Payload):
    """A Git author or pusher: name and email; the email may be null.

    Written from https://docs.github.com/en/webhooks/webhook-events-and-payloads#push
    (``commits[].author`` and ``pusher``).
    """

    name: str
    email: str | None = None


class Commit(Payload):
    """One pushed commit, as an item of ``commits``.

    Written from https://docs.github.com/en/webhooks/webhook-events-and-payloads#push.
    """

    id: str
    message: str
    timestamp: AwareDatetime
    author: GitActor


class PushEvent(Payload):
    """``push``: commits or a tag pushed to a repository.

    Written from https://docs.github.com/en/webhooks/webhook-events-and-payloads#push.
    ``before`` is forty zeros when the push created the ref, ``after`` when it
    deleted it; ``commits`` may be empty (a deletion has none).
    """

    ref: str
    before: str
    after: str
    commits: tuple[Commit, ...]
    repository: Repository
    pusher: GitActor
    sender: User


class Branch(Payload):
    """``head`` or ``base`` of a pull request: the branch and its commit."""

    ref: str
    sha: str


class PullRequest(Payload):
    """The ``pull_request`` object of a ``pull_request`` body.

    Written from https://docs.github.com/en/webhooks/webhook-events-and-payloads#pull_request.
    ``state`` is ``open`` or ``closed`` (a merged pull request is closed).
    """

    id: int
    number: int
    state: str
    title: str
    head: Branch
    base: Branch


class PullRequestEvent(Payload):
    """``pull_request``: activity on a pull request.

    Written from https://docs.github.com/en/webhooks/webhook-events-and-payloads#pull_request.
    ``action`` says what happened (``opened``, ``closed``, ``synchronize``...);
    it is a plain string so that an action GitHub adds later still validates.
    """

    action: str
    number: int
    pull_request: PullRequest
    repository: Repository
    sender: User

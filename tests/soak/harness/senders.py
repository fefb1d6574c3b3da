"""The soak's senders: concurrent threads that deliver the plan over HTTP and retry 503s as providers do."""

from __future__ import annotations

import random
import threading
import time

import requests

from tests.soak.harness.plan import Job, Key, resign
from tests.soak.harness.report import SoakReport
from webhook_kit.devsecrets import dev_secret
from webhook_kit.local import LocalPipeline

# Providers back off from seconds to hours; the soak keeps the shape, not the scale.
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 1.0
MAX_SEND_ATTEMPTS = 12
HTTP_TIMEOUT_SECONDS = 60.0


class Senders:
    """Send each planned delivery as a provider does: signed anew per attempt, 503s retried with backoff."""

    def __init__(self, pipeline: LocalPipeline, report: SoakReport, rng: random.Random) -> None:
        self._pipeline = pipeline
        self._report = report
        self._lock = threading.Lock()
        self._local = threading.local()
        self._rng = rng
        self.accepted: set[Key] = set()
        self._sessions: list[requests.Session] = []

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxy between the senders and 127.0.0.1
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        for session in self._sessions:
            session.close()

    def send(self, job: Job) -> None:
        webhook = job.webhook
        source, delivery_id = webhook.key
        secret = (
            dev_secret(f"{source}-not-the-secret", self._pipeline.sources[source].scheme)
            if webhook.forged
            else self._pipeline.sources[source].secret
        )
        with self._lock:
            jitter = self._rng.random()
        for attempt in range(MAX_SEND_ATTEMPTS):
            signed = resign(webhook.first, self._pipeline, source, secret=secret, now=int(time.time()))
            try:
                response = self._session().post(
                    signed.url, data=signed.body, headers=signed.headers, timeout=HTTP_TIMEOUT_SECONDS
                )
            except requests.ConnectionError:
                status, answered = None, None
            else:
                status = response.status_code
                answered = _answered_id(response) if status == 202 else None
            with self._lock:
                self._report.requests += 1
                if status is None:
                    self._report.connection_errors += 1
                else:
                    self._report.statuses[status] += 1
                if status == 202:
                    self.accepted.add(webhook.key)
                    if answered != delivery_id:
                        self._report.wrong_ids += 1
                retry = status is None or status == 503
                if retry and attempt + 1 == MAX_SEND_ATTEMPTS:
                    self._report.gave_up.append(webhook.key)
                elif status == 503:
                    self._report.retried_503 += 1
            if not retry:
                return
            time.sleep(min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt) * (0.5 + jitter))


def _answered_id(response: requests.Response) -> str | None:
    try:
        document = response.json()
    except ValueError:
        return None
    return str(document.get("id")) if isinstance(document, dict) else None

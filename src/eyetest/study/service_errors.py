"""The refusals of the study service (:mod:`eyetest.study.service`), each with its HTTP status."""

from __future__ import annotations

from eyetest.errors import EyetestError


class ServiceError(EyetestError):
    """A request the service refuses; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Gone(ServiceError):
    """The session expired (:mod:`eyetest.study.expiry`): it takes no more answers."""

    status = 410


class Invalid(ServiceError):
    status = 422


class Unavailable(ServiceError):
    status = 503

"""Admin JSON API under ``/api/v1/admin`` (bearer token from ``EYETEST_ADMIN_TOKEN``).

=======  ===================================  =============================================
GET      /studies                             every study: status, sessions, judgments
GET      /studies/{study}                     progress
GET      /studies/{study}/leaderboard         scores with CIs per dimension and scenario
GET      /studies/{study}/raters              rater-quality table (screening)
POST     /studies/{study}/pause | resume | close
=======  ===================================  =============================================
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from eyetest.study.service import StudyService

StudyId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


def _admin(request: Request) -> StudyService:
    from eyetest.web.app import check_admin

    check_admin(request)
    return request.app.state.service


router = APIRouter()
Admin = Annotated[StudyService, Depends(_admin)]


@router.get("/studies")
def list_studies(service: Admin):
    return {"studies": service.list_studies()}


@router.get("/studies/{study}")
def progress(study: StudyId, service: Admin):
    return service.progress(study)


@router.post("/studies/{study}/pause")
def pause(study: StudyId, service: Admin):
    return service.set_status(study, "paused")


@router.post("/studies/{study}/resume")
def resume(study: StudyId, service: Admin):
    return service.set_status(study, "open")


@router.post("/studies/{study}/close")
def close(study: StudyId, service: Admin):
    return service.set_status(study, "closed")


@router.get("/studies/{study}/leaderboard")
def leaderboard(study: StudyId, service: Admin, by: Annotated[str, Query(pattern="^(method|condition)$")] = "method"):
    from eyetest.study.results import leaderboard as board

    return board(service, study, per_method=by == "method")


@router.get("/studies/{study}/raters")
def raters(study: StudyId, service: Admin):
    from eyetest.study.results import rater_quality

    return rater_quality(service, study)

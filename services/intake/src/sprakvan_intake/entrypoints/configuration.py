"""``GET`` and ``PUT /configuration``: the caller's organisation's programmes and vocabularies.

The version is the ETag: ``PUT`` takes ``If-Match: "<version>"`` (412 when it is not the current one,
428 when a configuration exists and no If-Match came); the first ``PUT`` creates it without If-Match.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sprakvan_shared import http
from sprakvan_shared.auth import Principal, Role
from sprakvan_shared.contracts.intake import Code, District, OrganisationConfiguration, Programme, VocabularyEntry

from ..domain.configuration import CodesInUse, ConfigurationAggregate, InvalidConfiguration, configure
from ..service_layer import configuration as handlers

router = APIRouter(prefix="/configuration", tags=["configuration"])
Admin = Annotated[Principal, Depends(http.require_role({Role.ADMIN}))]


class DistrictIn(District):
    neighbours: tuple[Code, ...] = Field((), max_length=50, description="Districts close enough to meet in.")


class ConfigurationIn(BaseModel):
    """The whole configuration: what is left out is removed."""

    model_config = ConfigDict(extra="forbid")

    programmes: tuple[Programme, ...] = Field(max_length=20)
    districts: tuple[DistrictIn, ...] = Field(max_length=300)
    interests: tuple[VocabularyEntry, ...] = Field((), max_length=300)
    campaigns: tuple[VocabularyEntry, ...] = Field((), max_length=300)
    referral_sources: tuple[VocabularyEntry, ...] | None = Field(
        None, max_length=100, description="Left out or empty: the standard ones (self, friend, sfi, ...)."
    )


class ConfigurationOut(OrganisationConfiguration):
    version: int = Field(description="Send it back as If-Match with the next PUT.")

    @classmethod
    def of(cls, aggregate: ConfigurationAggregate) -> ConfigurationOut:
        return cls.model_validate({**aggregate.configuration.model_dump(), "version": aggregate.version})


def _answer(aggregate: ConfigurationAggregate, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(
        ConfigurationOut.of(aggregate).model_dump_json(),
        status_code,
        headers={"ETag": f'"{aggregate.version}"'},
        media_type="application/json",
    )


def _precondition(value: str | None) -> handlers.Precondition:
    """None without If-Match (enough for the first configuration); else the shared parse: ``*``, or the version
    (a 422 naming the header when it is none we ever sent)."""
    if value is None:
        return None
    version = http.expected_version(value)
    return "*" if version is None else version


@router.get("", response_model=ConfigurationOut, responses={404: {"description": "No configuration yet."}})
async def get_configuration(request: Request, principal: http.Reader) -> Response:
    """Every code a registration of this organisation may use, with its labels."""
    try:
        aggregate = await handlers.get_configuration(request.app.state.runtime.pool, principal)
    except handlers.ConfigurationNotFound:
        return JSONResponse(
            status_code=status.HTTP_404_NOT_FOUND,
            content={"detail": "this organisation has no configuration yet: an admin must PUT /configuration"},
        )
    return _answer(aggregate)


@router.put(
    "",
    response_model=ConfigurationOut,
    responses={201: {"description": "Created"}, 409: {}, 412: {}, 428: {}},
)
async def put_configuration(
    body: ConfigurationIn,
    request: Request,
    principal: Admin,
    if_match: http.IfMatch = None,
) -> Response:
    """Replace the whole configuration (admin only). Codes that participants still use cannot be removed
    (409 names them). Publishes ``organisation.configured`` with the full configuration."""
    precondition = _precondition(if_match)
    try:
        configuration = configure(
            principal.organisation_id,
            programmes=body.programmes,
            districts=body.districts,
            interests=body.interests,
            campaigns=body.campaigns,
            referral_sources=body.referral_sources,
        )
        done = await handlers.put_configuration(
            request.app.state.runtime.pool, principal, configuration, if_match=precondition
        )
    except InvalidConfiguration as exc:
        return http.unprocessable((("body", *e.field), e.message) for e in exc.errors)
    except CodesInUse as exc:
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT,
            content={"detail": "codes still in use by participants cannot be removed", "codes_in_use": exc.missing},
        )
    except handlers.PreconditionFailed as exc:
        return _stale(status.HTTP_412_PRECONDITION_FAILED, "the configuration changed meanwhile", exc.current_version)
    except handlers.PreconditionRequired as exc:
        return _stale(status.HTTP_428_PRECONDITION_REQUIRED, "send If-Match with its version", exc.current_version)
    return _answer(done.aggregate, status.HTTP_201_CREATED if done.created else status.HTTP_200_OK)


def _stale(status_code: int, detail: str, current_version: int | None) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content={"detail": f"{detail}; GET /configuration and try again", "current_version": current_version},
    )

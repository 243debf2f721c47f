"""Sign-up, sign-in and token models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from api.schemas.common import Model, Text

# Values of the OpenAPI examples only; no ledger accepts them as credentials.
EXAMPLE_PASSWORD = "Analytical-Engine-1843"  # noqa: S105  # nosec B105
EXAMPLE_REFRESH_TOKEN = "rt_9f3b2c7d4e1a48f6b0c5d2e7a1f4b8c3"  # noqa: S105  # nosec B105


class RegisterIn(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Ada Lovelace",
                    "email": "ada@example.com",
                    "password": EXAMPLE_PASSWORD,
                }
            ]
        }
    )

    name: Annotated[Text, Field(min_length=1, max_length=100)]
    email: EmailStr
    password: Annotated[Text, Field(min_length=1, max_length=256)]


class LoginIn(Model):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "ada@example.com", "password": EXAMPLE_PASSWORD}]}
    )

    email: Annotated[Text, Field(min_length=1, max_length=320)]
    password: Annotated[Text, Field(min_length=1, max_length=256)]


class RefreshIn(Model):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": EXAMPLE_REFRESH_TOKEN}]}
    )

    refresh_token: Annotated[Text, Field(min_length=1, max_length=200)]


class RegisteredOut(BaseModel):
    id: str
    name: str
    email: str
    role: str


class UserOut(BaseModel):
    id: str
    name: str
    email: str
    role: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> UserOut:
        return cls(
            id=row["id"],
            name=row["name"],
            email=row["email"],
            role=row["role"],
            created_at=row["created_at"],
        )


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name
    expires_in: int

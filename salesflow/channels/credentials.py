"""The secrets each provider needs, as pydantic models: a missing or misspelt key is named, never guessed.

They live in `private.channel_credentials.secrets` (service_role only). Every HTTP provider takes an optional
`api_base_url` (tests and the local demo point it at a server on 127.0.0.1). Secret values are `SecretStr`,
so a model printed in a log or a traceback shows `**********`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator


class CredentialsError(ValueError):
    """The secrets do not fit the provider: the message names each bad key and what it needs."""


class _Secrets(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class _HttpSecrets(_Secrets):
    api_base_url: str | None = None

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/")


class WhatsAppCloudSecrets(_HttpSecrets):
    """WhatsApp Cloud API: a system-user access token; the app secret (X-Hub-Signature-256 of webhooks) and
    the verify token (GET handshake) are used by the webhook function. The connection's
    `external_account_id` is the phone_number_id."""

    access_token: SecretStr = Field(min_length=1)
    app_secret: SecretStr = Field(min_length=1)
    verify_token: SecretStr = Field(min_length=1)


class InstagramMessagingSecrets(WhatsAppCloudSecrets):
    """Instagram Messaging: a token with instagram_manage_messages; app secret and verify token as WhatsApp's.
    The connection's `external_account_id` is the Instagram professional account id."""


class TwilioSecrets(_HttpSecrets):
    """Twilio REST API: the account SID and its auth token (basic auth; also signs Twilio's webhooks)."""

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr = Field(min_length=1)


class SmtpFields(_Secrets):
    host: str | None = Field(default=None, min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    #: True: require STARTTLS; False: never; unset: upgrade when the server offers it.
    starttls: bool | None = None
    #: implicit TLS from the first byte (port 465)
    use_tls: bool = False
    from_name: str | None = Field(default=None, max_length=200)
    timeout: float = Field(default=30.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one_tls(self) -> SmtpFields:
        if self.use_tls and self.starttls:
            raise ValueError("use_tls and starttls: choose one (implicit TLS on 465, or STARTTLS on 587)")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password: give both or neither")
        return self


class SmtpSecrets(SmtpFields):
    """An SMTP submission server (aiosmtplib)."""

    host: str = Field(min_length=1)


class InboundEmailSecrets(SmtpFields):
    """Postmark / SendGrid inbound email: the basic-auth pair their webhook calls us with. Both also offer
    SMTP submission; give its `host` (and the SMTP keys) to send email through the same connection."""

    inbound_username: str = Field(min_length=1)
    inbound_password: SecretStr = Field(min_length=1)


class OutboxSecrets(_Secrets):
    """The outbox records what would be sent and needs no secrets."""


SECRETS_MODELS: Final[dict[str, type[_Secrets]]] = {
    "whatsapp_cloud": WhatsAppCloudSecrets,
    "instagram_messaging": InstagramMessagingSecrets,
    "twilio": TwilioSecrets,
    "smtp": SmtpSecrets,
    "postmark": InboundEmailSecrets,
    "sendgrid": InboundEmailSecrets,
    "outbox": OutboxSecrets,
}


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = "required" if item["type"] == "missing" else (
            "not a known key" if item["type"] == "extra_forbidden" else item["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        parts.append(f"{key}: {message}" if key else message)
    return "; ".join(parts)


def parse_secrets(provider: str, secrets: Mapping[str, Any] | None) -> _Secrets:
    """The provider's secrets model; raises CredentialsError naming every missing, unknown or bad key."""
    model = SECRETS_MODELS.get(provider)
    if model is None:
        raise CredentialsError(f"provider: {provider!r} is not a provider; allowed: {', '.join(SECRETS_MODELS)}")
    try:
        return model.model_validate(dict(secrets or {}))
    except ValidationError as error:
        raise CredentialsError(f"{provider} secrets: {_describe(error)}") from None


def secret_keys(provider: str) -> tuple[list[str], list[str]]:
    """(required keys, optional keys) of a provider, for help texts and docs."""
    model = SECRETS_MODELS[provider]
    required = [name for name, field in model.model_fields.items() if field.is_required()]
    optional = [name for name, field in model.model_fields.items() if not field.is_required()]
    return required, optional


def secrets_to_store(provider: str, secrets: Mapping[str, Any] | None) -> dict[str, Any]:
    """The validated secrets as JSON to store: typed values (`port` a number, `starttls` a boolean), secret
    values revealed (they go to private.channel_credentials only), keys left unset omitted."""
    parsed = parse_secrets(provider, secrets)
    stored: dict[str, Any] = {}
    for name in parsed.model_fields_set:
        value = getattr(parsed, name)
        if value is None:
            continue
        stored[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return stored

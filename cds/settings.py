"""Service settings from the environment (pydantic-settings). The names are a contract with
operators (``cds-hooks.md``, "Our service's contract"): change them only on purpose."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
AUTH_OFF_WARNING = "CDS_AUTH=off: requests are not authenticated. For local trials only."


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore")

    auth: Literal["jwt", "off"] = Field("jwt", description="jwt (default) or off for local trials")
    trusted_issuers_file: Path | None = Field(None, description="YAML list of trusted issuers")
    database_url: str = Field("sqlite:///./var/cds.db", description="SQLAlchemy URL")
    rules_dir: Path = Field(DEFAULT_RULES_DIR, description="The rule pack directory")
    include_draft_rules: bool = Field(
        False, description="Compile draft rules too (never in production)"
    )
    fetch_deadline_s: float = Field(
        2.0, gt=0, description="One deadline for all FHIR fetches of a request"
    )
    fetch_page_cap: int = Field(10, ge=1, description="Most pages followed per prefetch key")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies get 413")
    cors_origins: str = Field("*", description="Comma-separated origins allowed by CORS")
    patient_key_secret: str = Field(
        "change-me", description="Key of the HMAC that replaces patient ids in stored rows"
    )
    public_base_url: str | None = Field(
        None, description="Base URL clients call (for JWT aud) when behind a proxy"
    )
    log_level: str = Field("info")
    watch_rules: bool = Field(
        False, description="Reload the rule pack when files under the rules directory change"
    )

    @property
    def startup_warnings(self) -> list[str]:
        """Settings that work but are unsafe in production; logged at start-up."""
        out = []
        if self.patient_key_secret.startswith("change-me") or len(self.patient_key_secret) < 16:
            out.append(
                "CDS_PATIENT_KEY_SECRET is a placeholder or under 16 characters: the patient keys"
                " in stored rows can be reversed by trying ids. Set a random secret (32+ bytes)."
            )
        if self.auth == "jwt" and not self.public_base_url:
            out.append(
                "CDS_AUTH=jwt without CDS_PUBLIC_BASE_URL: a token's aud is compared with a URL"
                " built from the request's Host header. Set the base URL EHRs call."
            )
        return out

    @property
    def auth_warning(self) -> str | None:
        """What the start-up log, every response header and every page say when auth is off."""
        return AUTH_OFF_WARNING if self.auth == "off" else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

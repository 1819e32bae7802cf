"""The optional `snmp:` block of a device in the agent config: version, credentials by reference,
the profile when it should not be detected from what the device answers, and the site's word
on its contacts. Validated at start."""

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from agent.config import SecretRef

DEFAULT_PORT = 161

CheckNameRef = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$", max_length=64)]
EventKind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$", max_length=64)]


class SnmpVersion(StrEnum):
    V1 = "1"
    V2C = "2c"
    V3 = "3"


class AuthProtocol(StrEnum):
    MD5 = "md5"
    SHA = "sha"
    SHA224 = "sha224"
    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"


class PrivProtocol(StrEnum):
    DES = "des"
    AES = "aes"  # AES-128 CFB (RFC 3826)
    AES192 = "aes192"
    AES256 = "aes256"


class ContactKind(StrEnum):
    """What a dry contact watches: the shipped fault rules give each its own code and
    severity (smoke and flood are emergencies, a door or a generic input is not)."""

    DOOR = "door"
    FLOOD = "flood"
    SMOKE = "smoke"
    TAMPER = "tamper"
    GENERIC = "generic"


class ContactState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ContactOptions(BaseModel):
    """The site's word on one contact (keyed by the name the device gives it, as a check
    segment): what it is, its normal state (else the device's own flag, else closed), and
    a label to use instead of the device's name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ContactKind | None = None
    normal: ContactState | None = None
    label: str | None = Field(default=None, min_length=1, max_length=40)


class SnmpOptions(BaseModel):
    """v1/v2c need `community`; v3 needs `user`, and `auth_key` (authNoPriv) or both keys
    (authPriv). Secrets are references (env:/file:), never inline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: SnmpVersion = SnmpVersion.V2C
    community: "SecretRef | None" = None
    user: str | None = Field(default=None, min_length=1, max_length=32)
    auth_protocol: AuthProtocol = AuthProtocol.SHA
    auth_key: "SecretRef | None" = None
    priv_protocol: PrivProtocol = PrivProtocol.AES
    priv_key: "SecretRef | None" = None
    context: str = ""
    profile: str | None = Field(
        default=None,
        description="Profile name (shipped or in agent.profiles_dir); default: detected",
    )
    trap_engine_id: str | None = Field(
        default=None,
        pattern=r"^(0x)?([0-9a-fA-F]{2}){5,32}$",
        description="The device's own SNMPv3 engine id (hex), to accept its v3 traps",
    )
    recording_storage: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        description="Storages the device records to, by the name it lists them under (e.g. "
        "SD_DISK): a disrupted storage is a fault only then",
    )
    contacts: dict[Annotated[str, Field(min_length=1, max_length=64)], ContactOptions] = Field(
        default_factory=dict,
        description="Dry contacts by the name the device gives them: kind (door, flood, "
        "smoke, tamper, generic), normal state (open/closed) and label",
    )
    events: dict[CheckNameRef, EventKind] = Field(
        default_factory=dict,
        description="Check name → event kind sent when that check changes, e.g. "
        "contact.smoke.alarm: fire.smoke (the site's own names for dry contacts)",
    )
    retries: int = Field(default=1, ge=0, le=5)
    max_repetitions: int = Field(default=25, ge=1, le=100)

    @model_validator(mode="after")
    def _credentials_fit_version(self) -> "SnmpOptions":
        if self.version is SnmpVersion.V3:
            if self.user is None:
                raise PydanticCustomError("snmp", "SNMPv3 needs user:")
            if self.priv_key is not None and self.auth_key is None:
                raise PydanticCustomError("snmp", "priv_key: needs auth_key: (no privNoAuth)")
            if self.community is not None:
                raise PydanticCustomError("snmp", "community: is for versions 1 and 2c")
        elif self.user is not None or self.auth_key is not None or self.priv_key is not None:
            raise PydanticCustomError("snmp", "user:/auth_key:/priv_key: need version: '3'")
        return self

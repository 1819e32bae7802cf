"""HTTP/RTSP Basic and Digest authorization from a server's challenge (RFC 7617, RFC 7616 and
the older RFC 2617/2069 forms cameras still send). Pure: the RTSP client and the snapshot fetch
share it, so both answer a 401 the same way."""

import base64
import hashlib
import re
from dataclasses import dataclass, field

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')
_SCHEME = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class UnsupportedChallenge(ValueError):  # noqa: N818 - a kind of bad value, named by what it is
    """No challenge this client can answer (e.g. only NTLM, or an unknown digest algorithm)."""


@dataclass(frozen=True)
class Challenge:
    """One `WWW-Authenticate` challenge: lower-case scheme, parameters by lower-case name."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(values: list[str]) -> list[Challenge]:
    """All challenges of the `WWW-Authenticate` header lines, in order. A line may carry
    several (`Basic realm="a", Digest realm="a", nonce="n"`)."""
    found: list[Challenge] = []
    for value in values:
        rest = value.strip()
        while rest:
            scheme = _SCHEME.match(rest)
            if scheme is None:
                break
            rest = rest[scheme.end() :]
            params: dict[str, str] = {}
            while True:
                param = _PARAM.match(rest)
                if param is None:
                    break
                name, raw = param.group(1).lower(), param.group(2)
                if raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                params[name] = raw
                rest = rest[param.end() :]
            found.append(Challenge(scheme=scheme.group(1).lower(), params=params))
            rest = rest.lstrip(", ")
    return found


def choose(challenges: list[Challenge]) -> Challenge:
    """The strongest challenge we can answer: Digest (SHA-256, then MD5) before Basic."""

    def rank(challenge: Challenge) -> int:
        if challenge.scheme == "digest":
            algorithm = _algorithm(challenge)
            if algorithm.removesuffix("-SESS") in _HASHES and "nonce" in challenge.params:
                return 3 if algorithm.startswith("SHA-256") else 2
            return 0
        return 1 if challenge.scheme == "basic" else 0

    best = max(challenges, key=rank, default=None)
    if best is None or rank(best) == 0:
        schemes = ", ".join(sorted({c.scheme for c in challenges})) or "none"
        raise UnsupportedChallenge(f"no supported authentication scheme (offered: {schemes})")
    return best


def authorization(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int = 1,
) -> str:
    """The `Authorization` header value answering `challenge` for one request."""
    if challenge.scheme == "basic":
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return f"Basic {token}"
    if challenge.scheme != "digest":
        raise UnsupportedChallenge(f"cannot answer a {challenge.scheme} challenge")
    params = challenge.params
    algorithm = _algorithm(challenge)
    hash_name = algorithm.removesuffix("-SESS")
    if hash_name not in _HASHES or "nonce" not in params:
        raise UnsupportedChallenge(f"digest algorithm {algorithm} or nonce missing")

    def h(text: str) -> str:
        return _HASHES[hash_name](text.encode()).hexdigest()

    realm, nonce = params.get("realm", ""), params["nonce"]
    ha1 = h(f"{username}:{realm}:{password}")
    if algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    offered = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    fields = {
        "username": _quoted(username),
        "realm": _quoted(realm),
        "nonce": _quoted(nonce),
        "uri": _quoted(uri),
    }
    if "auth" in offered:
        count = f"{nc:08x}"
        fields["response"] = _quoted(h(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}"))
        fields |= {"qop": "auth", "nc": count, "cnonce": _quoted(cnonce)}
    else:  # RFC 2069 form: GStreamer's RTSP server and many cameras offer no qop
        fields["response"] = _quoted(h(f"{ha1}:{nonce}:{ha2}"))
    if "algorithm" in params:
        fields["algorithm"] = params["algorithm"]
    if "opaque" in params:
        fields["opaque"] = _quoted(params["opaque"])
    return "Digest " + ", ".join(f"{k}={v}" for k, v in fields.items())


def _algorithm(challenge: Challenge) -> str:
    return challenge.params.get("algorithm", "MD5").upper()


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

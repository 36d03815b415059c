"""The tenant file: one TOML file describing one Epic tenant and what the app asks of it."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from harness.catalog import FHIR_VERSIONS, RequestedApis, load_named_set, requested_from_groups, requested_from_list
from harness.errors import ConfigError
from harness.keys import SIGNING_ALGORITHMS, PrivateKey, check_key_fits, load_private_key

Environment = Literal["production", "non-production"]
ENVIRONMENTS = ("production", "non-production")
FHIR_PATHS = {"R4": "api/FHIR/R4", "STU3": "api/FHIR/STU3", "DSTU2": "api/FHIR/DSTU2"}

_TOP_LEVEL = {"name", "environment", "base_url", "fhir", "auth", "apis", "test_data", "checks", "cassettes", "gate", "client", "probing"}
_AUTH_FIELDS = {
    "client_id", "client_id_env", "private_key", "private_key_env", "kid", "algorithm",
    "jwks", "jwks_url", "jku", "scope", "token_endpoint",
}


@dataclass(frozen=True)
class AuthConfig:
    client_id: str
    private_key: PrivateKey = field(repr=False)
    kid: str
    algorithm: str
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jku: str | None = None
    scope: str | None = None
    token_endpoint: str | None = None
    stand_in: bool = False  # a replay without the app's secrets: a throwaway client id or key


@dataclass(frozen=True)
class CheckSettings:
    negative_auth: bool
    allow_writes: bool = False
    page_size: int | None = None  # _count sent with every search; None lets the tenant choose (Epic: 1000)


@dataclass(frozen=True)
class ClientSettings:
    """How the harness treats the tenant: never hammer it, never hang on it."""

    rate_per_second: float = 5.0  # Epic publishes no limit; a conservative default
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    request_deadline: float = 60.0  # a whole response, however slowly it drips
    max_retries: int = 3
    retry_after_cap: float = 30.0
    max_response_bytes: int = 50_000_000
    run_timeout: float = 3600.0
    check_timeout: float = 300.0  # one check, all its requests together; 0 turns the limit off
    bearer_origins: tuple[str, ...] = ()  # origins besides the FHIR bases' that may receive the token (a proxy)
    ca_file: Path | None = None  # CA certificates (PEM) to trust instead of the system's, e.g. a test CA


@dataclass(frozen=True)
class ProbingSettings:
    examples: int = 10  # per search API; 0 turns probing off (always off in production)
    seed: int | None = None
    seconds: float = 20.0  # per API; examples left when it is spent are not sent


@dataclass(frozen=True)
class CassetteSettings:
    scrub_patient_data: bool = False
    pseudonym_key: bytes = field(default=b"", repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Tenant:
    name: str
    environment: Environment
    base_url: str
    fhir_bases: dict[str, str]
    auth: AuthConfig
    requested: RequestedApis
    test_data: dict[str, Any]
    checks: CheckSettings
    file: Path | None = None
    cassettes: CassetteSettings = field(default_factory=CassetteSettings)
    policy: Any = None  # harness.policy.GatePolicy
    client: ClientSettings = field(default_factory=ClientSettings)
    probing: ProbingSettings = field(default_factory=ProbingSettings)
    contract: Path | str | None = None  # the app's data contract: a file, or a named set's (see harness/fhir/contract.py)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def fhir_base(self, version: str) -> str:
        return self.fhir_bases[version]


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_PLACEHOLDER = re.compile(r"X{6,}|REPLACE[_ -]?ME|CHANGE[_ -]?ME|<[^>]+>|\.\.\.$", re.I)


def _placeholder(value: Any, where: str) -> str | None:
    """The field path of the first template placeholder left in ``value`` (e.g. 'eXXXXXXXXXXXX3')."""
    if isinstance(value, str):
        return where if _PLACEHOLDER.search(value) else None
    if isinstance(value, dict):
        for key, inner in value.items():
            found = _placeholder(inner, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for i, inner in enumerate(value):
            found = _placeholder(inner, f"{where}[{i}]")
            if found:
                return found
    return None


def check_url(url: Any, *, file: str | None, field: str) -> str:
    if not isinstance(url, str) or not url:
        raise ConfigError(file, field, "must be an absolute URL (a string such as https://epic.example.org/interconnect-fhir-oauth)")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(file, field, f"{url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(file, field, f"{url!r} uses plain http; only https is allowed for a non-loopback host")
    if parts.query or parts.fragment:
        raise ConfigError(file, field, f"{url!r} must not carry a query or fragment")
    return url.rstrip("/")


def _str(table: dict, key: str, *, file: str | None, where: str, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise ConfigError(file, where, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(file, where, f"must be a non-empty string, got {type(value).__name__}")
    return value


def _from_env(table: dict, key: str, *, file: str | None, section: str) -> str | None:
    """A value given directly, or through the environment variable named by ``<key>_env``."""
    direct = _str(table, key, file=file, where=f"{section}.{key}", required=False)
    env_name = _str(table, f"{key}_env", file=file, where=f"{section}.{key}_env", required=False)
    if direct and env_name:
        raise ConfigError(file, f"{section}.{key}", f"give either {key} or {key}_env, not both")
    if env_name:
        value = os.environ.get(env_name)
        if not value:
            raise ConfigError(file, f"{section}.{key}_env", f"environment variable {env_name} is not set or empty")
        return value
    return direct


def _resolve_path(value: str, base: Path | None) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() or base is None else base / path).resolve()


STAND_IN_CLIENT = "replay-stand-in"
_SECRET_FIELDS = ("auth.client_id_env", "auth.private_key_env", "auth.private_key")


def _stand_in_key(algorithm: str) -> PrivateKey:
    """A throwaway key for a replay without the app's secrets: nothing is sent, so any key signs."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm.startswith("ES"):
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _load_auth_for_replay(table: Any, *, file: str | None, base: Path | None) -> AuthConfig:
    """A replay sends nothing: a client id or key this machine does not have (an unset environment variable,
    a key file that is not here) is replaced by a stand-in, and the app's own credentials are not checked."""
    try:
        return _load_auth(table, file=file, base=base)
    except ConfigError as exc:
        if not isinstance(table, dict) or exc.field not in _SECRET_FIELDS:
            raise
    table = dict(table)
    client_env = table.pop("client_id_env", None)
    if client_env:
        table["client_id"] = os.environ.get(str(client_env)) or STAND_IN_CLIENT
    table.pop("private_key_env", None)
    table.pop("private_key", None)
    try:
        auth = _load_auth(table, file=file, base=base, key=_stand_in_key(str(table.get("algorithm", "RS384"))))
    except ConfigError as exc:
        if exc.field == "auth.client_id":
            auth = _load_auth({**table, "client_id": STAND_IN_CLIENT}, file=file, base=base,
                              key=_stand_in_key(str(table.get("algorithm", "RS384"))))
        else:
            raise
    return dataclasses.replace(auth, stand_in=True)


def _load_auth(table: Any, *, file: str | None, base: Path | None, key: Any = None) -> AuthConfig:
    if not isinstance(table, dict):
        raise ConfigError(file, "auth", "is required: a table with client_id, private_key and kid")
    unknown = set(table) - _AUTH_FIELDS
    if unknown:
        raise ConfigError(file, f"auth.{sorted(unknown)[0]}", f"unknown field; known fields: {', '.join(sorted(_AUTH_FIELDS))}")
    client_id = _from_env(table, "client_id", file=file, section="auth")
    if not client_id:
        raise ConfigError(file, "auth.client_id", "is required (or auth.client_id_env naming an environment variable)")
    algorithm = table.get("algorithm", "RS384")
    if algorithm not in SIGNING_ALGORITHMS:
        raise ConfigError(file, "auth.algorithm", f"must be one of {', '.join(SIGNING_ALGORITHMS)}, got {algorithm!r}")
    key_field = "auth.private_key"
    if key is not None:
        pem = b""
    elif table.get("private_key_env"):
        pem_text = _from_env(table, "private_key", file=file, section="auth")
        pem = pem_text.encode() if pem_text else b""
        key_field = "auth.private_key_env"
    else:
        key_path_text = _str(table, "private_key", file=file, where=key_field)
        assert key_path_text is not None
        key_path = _resolve_path(key_path_text, base)
        try:
            pem = key_path.read_bytes()
        except OSError as exc:
            raise ConfigError(file, key_field, f"cannot read key file {key_path}: {exc.strerror or exc}") from None
    private_key = key if key is not None else load_private_key(pem, file=file, field=key_field)
    check_key_fits(private_key, algorithm, file=file, field=key_field)
    kid = _str(table, "kid", file=file, where="auth.kid")
    jwks_text = _str(table, "jwks", file=file, where="auth.jwks", required=False)
    jwks_url = _str(table, "jwks_url", file=file, where="auth.jwks_url", required=False)
    if jwks_url:
        check_url(jwks_url, file=file, field="auth.jwks_url")
    jku = _str(table, "jku", file=file, where="auth.jku", required=False)
    token_endpoint = _str(table, "token_endpoint", file=file, where="auth.token_endpoint", required=False)
    if token_endpoint:
        check_url(token_endpoint, file=file, field="auth.token_endpoint")
    return AuthConfig(
        client_id=client_id,
        private_key=private_key,
        kid=kid or "",
        algorithm=algorithm,
        jwks_file=_resolve_path(jwks_text, base) if jwks_text else None,
        jwks_url=jwks_url,
        jku=jku,
        scope=_str(table, "scope", file=file, where="auth.scope", required=False),
        token_endpoint=token_endpoint,
    )


def _load_requested(table: Any, *, file: str | None) -> RequestedApis:
    if table is None:
        raise ConfigError(file, "apis", "is required: set = \"<named set>\", or list = [...], or [[apis.group]] tables")
    if not isinstance(table, dict):
        raise ConfigError(file, "apis", "must be a table")
    unknown = set(table) - {"set", "list", "group", "contract"}
    if unknown:
        raise ConfigError(file, f"apis.{sorted(unknown)[0]}", "unknown field; known fields: set, list, group, contract")
    given = [k for k in ("set", "list", "group") if k in table]
    if len(given) != 1:
        raise ConfigError(file, "apis", "give exactly one of set, list or group")
    if "set" in table:
        name = table["set"]
        if not isinstance(name, str):
            raise ConfigError(file, "apis.set", "must be the name of an API set, e.g. \"careforce-phoenix\"")
        try:
            return load_named_set(name)
        except ConfigError as exc:
            raise ConfigError(file, "apis.set", exc.why) from None
    if "list" in table:
        if not isinstance(table["list"], list) or not table["list"]:
            raise ConfigError(file, "apis.list", "must be a non-empty list of Epic API names")
        return requested_from_list(table["list"], file=file, field="apis.list")
    if not isinstance(table["group"], list) or not table["group"]:
        raise ConfigError(file, "apis.group", "must be a list of [[apis.group]] tables")
    return requested_from_groups(table["group"], file=file, field="apis.group")


def _load_fhir_bases(base_url: str, table: Any, *, file: str | None) -> dict[str, str]:
    bases = {v: f"{base_url}/{p}" for v, p in FHIR_PATHS.items()}
    if table is None:
        return bases
    if not isinstance(table, dict):
        raise ConfigError(file, "fhir", "must be a table of FHIR base URLs by version (R4, STU3, DSTU2)")
    for version, url in table.items():
        if version not in FHIR_VERSIONS:
            raise ConfigError(file, f"fhir.{version}", f"unknown FHIR version; use one of {', '.join(FHIR_VERSIONS)}")
        bases[version] = check_url(url, file=file, field=f"fhir.{version}")
    return bases


def _load_probing(table: Any, environment: str, *, file: str | None) -> ProbingSettings:
    table = table or {}
    if not isinstance(table, dict):
        raise ConfigError(file, "probing", "must be a table")
    unknown = set(table) - {"examples", "seed", "seconds"}
    if unknown:
        raise ConfigError(file, f"probing.{sorted(unknown)[0]}", "unknown field; known fields: examples, seed, seconds")
    seconds = table.get("seconds", 20.0)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0:
        raise ConfigError(file, "probing.seconds", "must be a positive number of seconds")
    for key in ("examples", "seed"):
        value = table.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigError(file, f"probing.{key}", "must be a non-negative whole number")
    examples = table.get("examples", 10)
    return ProbingSettings(examples=0 if environment == "production" else examples, seed=table.get("seed"),
                           seconds=float(seconds))


def _load_client(table: Any, *, file: str | None, base: Path | None = None) -> ClientSettings:
    if table is None:
        return ClientSettings()
    if not isinstance(table, dict):
        raise ConfigError(file, "client", "must be a table")
    from harness.ratelimit import parse_rate

    numbers = {"connect_timeout", "read_timeout", "request_deadline", "retry_after_cap", "run_timeout", "check_timeout"}
    integers = {"max_retries", "max_response_bytes"}
    unknown = set(table) - numbers - integers - {"rate_limit", "bearer_origins", "ca_file"}
    if unknown:
        raise ConfigError(file, f"client.{sorted(unknown)[0]}", "unknown field; known fields: rate_limit, "
                          "bearer_origins, ca_file, " + ", ".join(sorted(numbers | integers)))
    values: dict[str, Any] = {}
    if "ca_file" in table:
        ca = table["ca_file"]
        if not isinstance(ca, str) or not ca.strip():
            raise ConfigError(file, "client.ca_file", "must be the path of a PEM file of CA certificates")
        path = _resolve_path(ca, base)
        if not path.is_file():
            raise ConfigError(file, "client.ca_file", f"no such file: {path}")
        import ssl

        try:
            ssl.create_default_context(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(file, "client.ca_file", f"{path} holds no readable PEM CA certificate "
                              f"({exc.__class__.__name__})") from None
        values["ca_file"] = path
    if "bearer_origins" in table:
        origins = table["bearer_origins"]
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise ConfigError(file, "client.bearer_origins", "must be a list of https origins, e.g. "
                              "[\"https://fhir-proxy.example.org\"]")
        values["bearer_origins"] = tuple(check_url(o, file=file, field="client.bearer_origins") for o in origins)
    if "rate_limit" in table:
        values["rate_per_second"] = parse_rate(table["rate_limit"], file=file)
    for key in numbers | integers:
        if key in table:
            value = table[key]
            ok = isinstance(value, int) if key in integers else isinstance(value, (int, float))
            if not ok or isinstance(value, bool) or value < 0:
                raise ConfigError(file, f"client.{key}", f"must be a non-negative {'whole ' if key in integers else ''}number")
            values[key] = value
    return ClientSettings(**values)


def _load_cassettes(table: Any, *, file: str | None) -> CassetteSettings:
    if table is None:
        return CassetteSettings()
    if not isinstance(table, dict):
        raise ConfigError(file, "cassettes", "must be a table")
    unknown = set(table) - {"scrub_patient_data", "pseudonym_key_env", "secret_env"}
    if unknown:
        raise ConfigError(file, f"cassettes.{sorted(unknown)[0]}",
                          "unknown field; known fields: scrub_patient_data, pseudonym_key_env, secret_env")
    scrub = table.get("scrub_patient_data", False)
    if not isinstance(scrub, bool):
        raise ConfigError(file, "cassettes.scrub_patient_data", "must be true or false")
    key = b""
    if scrub:
        env = _str(table, "pseudonym_key_env", file=file, where="cassettes.pseudonym_key_env")
        value = os.environ.get(env or "")
        if not value:
            raise ConfigError(file, "cassettes.pseudonym_key_env",
                              f"environment variable {env} must hold the key that makes pseudonyms stable between record and replay")
        key = value.encode()
    names = table.get("secret_env", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(file, "cassettes.secret_env", "must be a list of environment variable names")
    secrets = tuple(os.environ[n] for n in names if os.environ.get(n))
    return CassetteSettings(scrub_patient_data=scrub, pseudonym_key=key, secrets=secrets)


def parse_tenant(data: dict[str, Any], *, file: Path | None = None, base_url: str | None = None,
                 allow_writes: bool = False, replay: bool = False) -> Tenant:
    f = str(file) if file else None
    unknown = set(data) - _TOP_LEVEL
    if unknown:
        raise ConfigError(f, sorted(unknown)[0], f"unknown field; known fields: {', '.join(sorted(_TOP_LEVEL))}")
    name = _str(data, "name", file=f, where="name")
    if name and not _SLUG.match(name):
        raise ConfigError(f, "name", f"{name!r} must be a short name of letters, digits, '.', '_' and '-' "
                          f"(it names the report and cassette folders), e.g. \"acme-nonprod\"")
    environment = data.get("environment")
    if environment not in ENVIRONMENTS:
        raise ConfigError(f, "environment", f"must be \"production\" or \"non-production\", got {environment!r}")
    root = check_url(base_url if base_url is not None else data.get("base_url"), file=f,
                     field="base_url" if base_url is None else "--base-url")
    checks_table = data.get("checks", {})
    if not isinstance(checks_table, dict):
        raise ConfigError(f, "checks", "must be a table")
    unknown_checks = set(checks_table) - {"negative_auth", "allow_writes", "page_size"}
    if unknown_checks:
        raise ConfigError(f, f"checks.{sorted(unknown_checks)[0]}",
                          "unknown field; known fields: allow_writes, negative_auth, page_size")
    negative = checks_table.get("negative_auth", environment != "production")
    if not isinstance(negative, bool):
        raise ConfigError(f, "checks.negative_auth", "must be true or false")
    if negative and environment == "production":
        raise ConfigError(f, "checks.negative_auth", "negative auth checks are never sent to a production tenant "
                          "(they send forged and replayed assertions to its token endpoint); remove the line")
    file_writes = checks_table.get("allow_writes", False)
    if not isinstance(file_writes, bool):
        raise ConfigError(f, "checks.allow_writes", "must be true or false")
    if file_writes and environment == "production":
        raise ConfigError(f, "checks.allow_writes", "writes are never sent to a production tenant; remove the line")
    page_size = checks_table.get("page_size")
    if page_size is not None and (not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1):
        raise ConfigError(f, "checks.page_size", "must be a whole number of entries per page, at least 1")
    test_data = data.get("test_data", {})
    if not isinstance(test_data, dict):
        raise ConfigError(f, "test_data", "must be a table")
    file_root = data.get("base_url")
    if base_url is not None and isinstance(file_root, str) and isinstance(test_data.get("web_services"), dict):
        # URLs under the file's own base_url follow it when --base-url moves the tenant (the sandbox's port)
        old = file_root.rstrip("/")
        test_data = {**test_data, "web_services": {
            name: (base_url.rstrip("/") + url[len(old):] if isinstance(url, str) and url.startswith(old + "/") else url)
            for name, url in test_data["web_services"].items()}}
    placeholder = _placeholder(test_data, "test_data")
    if placeholder:
        raise ConfigError(f, placeholder, "is still the template's placeholder: give a value that exists in this "
                          "environment, or remove the line (the checks that need it are then reported as not verified)")
    from harness.policy import parse_policy

    requested = _load_requested(data.get("apis"), file=f)
    contract = _load_contract_ref(data.get("apis"), requested, file=f, base=file.parent if file else None)
    policy = parse_policy(data.get("gate"), file=f, known_apis={a.name for a in requested.apis},
                          known_groups={g.name for g in requested.groups})
    return Tenant(
        probing=_load_probing(data.get("probing"), str(environment), file=f),
        client=_load_client(data.get("client"), file=f, base=file.parent if file else None),
        policy=policy,
        cassettes=_load_cassettes(data.get("cassettes"), file=f),
        name=name or "",
        environment=environment,
        base_url=root,
        fhir_bases=_load_fhir_bases(root, data.get("fhir"), file=f),
        auth=(_load_auth_for_replay if replay else _load_auth)(data.get("auth"), file=f,
                                                               base=file.parent if file else None),
        requested=requested,
        test_data=test_data,
        checks=CheckSettings(negative_auth=negative,
                             allow_writes=(allow_writes or file_writes) and environment != "production",
                             page_size=page_size),
        file=file,
        contract=contract,
    )


def _load_contract_ref(table: Any, requested: RequestedApis, *, file: str | None, base: Path | None) -> Path | str | None:
    """``apis.contract`` names the app's data contract (a TOML file); a named set brings its own if one is shipped."""
    from importlib import resources

    given = table.get("contract") if isinstance(table, dict) else None
    if given is not None:
        if not isinstance(given, str) or not given.strip():
            raise ConfigError(file, "apis.contract", "must be the path of a contract file (TOML)")
        path = _resolve_path(given, base)
        if not path.is_file():
            raise ConfigError(file, "apis.contract", f"no such contract file: {path}")
        return path
    shipped = resources.files("harness.catalog").joinpath(f"data/contracts/{requested.name}.toml")
    return requested.name if shipped.is_file() else None


def load_tenant(path: str | Path, *, base_url: str | None = None, allow_writes: bool = False,
                replay: bool = False) -> Tenant:
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(str(file), None, "no such tenant file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(file), None, f"cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), None, f"not valid TOML: {exc}") from None
    return parse_tenant(data, file=file.resolve(), base_url=base_url, allow_writes=allow_writes, replay=replay)

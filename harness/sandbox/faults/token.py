"""Faults of the token endpoint: its rules (switched off, checked first), how it grants scopes,
and the shape of its answers.

Hook point: ``token.endpoint.TokenService`` and ``app.SandboxApp.token`` read one
:class:`TokenPolicy`.
"""

from __future__ import annotations

from typing import Any

from ..token.rules import TOKEN_RULES
from . import args
from .core import Arg, FaultKind, Hook, adds_arg, choice, sets, sets_arg
from .policies import SCOPE_GRANTS, TokenPolicy


def _response_set(policy: TokenPolicy, name: str, value: Any) -> None:
    policy.response_set.append((name, value))


KINDS: tuple[FaultKind, ...] = (
    FaultKind("token-skip", Hook.TOKEN, "the token endpoint does not check RULE",
              (choice("RULE", TOKEN_RULES, "token rule"),), effect=adds_arg("skipped"),
              choices={rule: f"the token endpoint does not check {rule}: it accepts {what}"
                       for rule, what in TOKEN_RULES.items()}),
    FaultKind("token-order", Hook.TOKEN, "the token endpoint checks RULES (comma-separated) before every other "
              "rule, in that order (e.g. scope, as servers that look at scope before the signature)",
              (Arg("RULES", args.rule_list(tuple(TOKEN_RULES))),), effect=sets_arg("first")),
    FaultKind("token-scope-grant", Hook.TOKEN, "the token endpoint grants scopes by POLICY",
              (choice("POLICY", SCOPE_GRANTS, "scope grant policy"),), effect=sets_arg("scope_grant"), setting=True,
              choices={name: f"scopes granted: {what}" for name, what in SCOPE_GRANTS.items()}),
    FaultKind("token-500", Hook.TOKEN, "the token endpoint answers 500 with an IIS HTML error page",
              effect=sets("page", "iis-500")),
    FaultKind("token-response-set", Hook.TOKEN, "a successful token response sets FIELD to the JSON value (null "
              "drops it)", (Arg("FIELD", args.field_name), Arg("JSON", args.json_value)), effect=_response_set),
    FaultKind("token-lifetime", Hook.TOKEN, "issued tokens live SECONDS (expires_in says so) instead of the "
              "configured lifetime", (Arg("SECONDS", args.positive("seconds")),), effect=sets_arg("lifetime")),
    FaultKind("grant-fewer-scopes", Hook.TOKEN, "the token response leaves out every scope of TYPE",
              (args.TYPE,), effect=adds_arg("withheld_resources")),
    FaultKind("token-response-bom", Hook.TOKEN, "token responses (granted or refused) start with a UTF-8 byte "
              "order mark before the JSON", effect=sets("bom")),
    FaultKind("token-access-token-length", Hook.TOKEN, "issued access tokens are N characters long (e.g. 20001; "
              "they still work)", (Arg("N", args.positive("characters", maximum=1_000_000)),), effect=sets_arg("access_token_length")),
    FaultKind("token-grant-unknown-scope", Hook.TOKEN, "requested scopes the server does not know (an unknown "
              "resource type, e.g. system/Bogus.read, or unknown permissions, e.g. system/Patient.x) are granted as "
              "asked: the token response's scope lists them", effect=sets("grant_unknown")),
    FaultKind("token-error-description", Hook.TOKEN, "every refusal's error_description is TEXT (a JSON string for "
              "escapes, e.g. \"\\u001b[31m\", or the text as it is)", (Arg("TEXT", args.text_value),),
              effect=sets_arg("error_description")),
)

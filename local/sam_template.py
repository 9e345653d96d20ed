"""What the local stack needs to know from template.yaml: functions, their routes and their triggers.

Only the values the stack acts on are read. Intrinsic functions are resolved where they only
need parameter defaults and pseudo parameters (`!Ref Stage`, `!Sub`, `!Split`, `!Join`); anything
that depends on a deployed resource resolves to None and the caller falls back to a default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"
PSEUDO_PARAMETERS = {
    "AWS::Region": LOCAL_REGION,
    "AWS::AccountId": LOCAL_ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::StackName": "crowdify-local",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
# Lambda's defaults when neither the function nor Globals name a value.
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_SECONDS = 3


class CloudFormationLoader(yaml.SafeLoader):
    """A YAML loader that reads `!Ref X` as {"Ref": "X"}, `!Sub s` as {"Fn::Sub": s}, and so on."""


def _construct_tagged_value(loader: CloudFormationLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # The short form `!GetAtt Resource.Attribute` is the long form's list.
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_tagged_value)


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(Path(path).read_text(), Loader=CloudFormationLoader)  # noqa: S506 - a safe loader subclass


@dataclass(frozen=True)
class FunctionDefinition:
    logical_id: str
    function_name: str
    code_directory: Path
    handler: str
    memory_mb: int
    timeout_seconds: int


@dataclass(frozen=True)
class Route:
    method: str  # upper case; ANY matches every method
    path: str  # as declared: /api/v1/events/{event_id}, /files/{proxy+} or $default
    function: FunctionDefinition

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsTrigger:
    function: FunctionDefinition
    queue_resource: str  # the logical id of the AWS::SQS::Queue the event names
    batch_size: int
    reports_batch_item_failures: bool


@dataclass(frozen=True)
class ScheduleTrigger:
    function: FunctionDefinition
    expression: str
    input: str | None  # the JSON text the rule sends instead of the scheduled event


@dataclass(frozen=True)
class QueueDefinition:
    logical_id: str
    visibility_timeout_seconds: int | None
    message_retention_seconds: int | None
    dead_letter_queue: str | None  # the logical id its RedrivePolicy names
    max_receive_count: int | None


@dataclass(frozen=True)
class CorsConfiguration:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass
class SamTemplate:
    path: Path
    functions: dict[str, FunctionDefinition] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    sqs_triggers: list[SqsTrigger] = field(default_factory=list)
    schedule_triggers: list[ScheduleTrigger] = field(default_factory=list)
    layer_directories: list[Path] = field(default_factory=list)
    cors: CorsConfiguration | None = None
    queues: dict[str, QueueDefinition] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, parameter_overrides: dict[str, str] | None = None) -> SamTemplate:
        """`parameter_overrides` plays the part of `sam deploy --parameter-overrides`."""
        path = Path(path).resolve()
        document = load_template(path) or {}
        resolver = _IntrinsicResolver(
            document.get("Parameters") or {}, parameter_overrides or {}, document.get("Conditions") or {}
        )
        template = cls(path=path)
        resources: dict[str, Any] = document.get("Resources") or {}
        globals_section = document.get("Globals") or {}
        function_globals = resolver.resolve(globals_section.get("Function") or {})

        for logical_id, resource in resources.items():
            resource_type = resource.get("Type")
            properties = resource.get("Properties") or {}
            if resource_type == "AWS::Serverless::LayerVersion":
                content = resolver.resolve(properties.get("ContentUri"))
                if isinstance(content, str):
                    template.layer_directories.append((path.parent / content).resolve())
            elif resource_type == "AWS::SQS::Queue":
                template.queues[logical_id] = _queue_definition(logical_id, properties, resolver)
            elif resource_type == "AWS::Serverless::Function":
                template._add_function(logical_id, properties, function_globals, resolver)

        template.cors = _cors_configuration(globals_section, resources, resolver)
        return template

    def _add_function(
        self,
        logical_id: str,
        properties: dict[str, Any],
        function_globals: dict[str, Any],
        resolver: _IntrinsicResolver,
    ) -> None:
        settings = {
            **function_globals,
            **resolver.resolve({name: value for name, value in properties.items() if name != "Events"}),
        }
        code_uri = settings.get("CodeUri")
        handler = settings.get("Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            raise ValueError(f"{logical_id}: the local stack needs a local CodeUri folder and a Handler")
        function_name = settings.get("FunctionName")
        function = FunctionDefinition(
            logical_id=logical_id,
            function_name=function_name if isinstance(function_name, str) else logical_id,
            code_directory=(self.path.parent / code_uri).resolve(),
            handler=handler,
            memory_mb=int(settings.get("MemorySize") or DEFAULT_MEMORY_MB),
            timeout_seconds=int(settings.get("Timeout") or DEFAULT_TIMEOUT_SECONDS),
        )
        self.functions[logical_id] = function

        for event in (properties.get("Events") or {}).values():
            event_type = event.get("Type")
            event_properties = event.get("Properties") or {}
            if event_type == "HttpApi":
                event_properties = resolver.resolve(event_properties)
                self.routes.append(
                    Route(
                        method=str(event_properties.get("Method", "ANY")).upper(),
                        path=str(event_properties.get("Path", "$default")),
                        function=function,
                    )
                )
            elif event_type == "SQS":
                self.sqs_triggers.append(
                    SqsTrigger(
                        function=function,
                        queue_resource=_referenced_resource(event_properties.get("Queue")),
                        batch_size=int(resolver.resolve(event_properties.get("BatchSize")) or 10),
                        reports_batch_item_failures="ReportBatchItemFailures"
                        in (resolver.resolve(event_properties.get("FunctionResponseTypes")) or []),
                    )
                )
            elif event_type in ("Schedule", "ScheduleV2"):
                event_properties = resolver.resolve(event_properties)
                self.schedule_triggers.append(
                    ScheduleTrigger(
                        function=function,
                        expression=str(event_properties.get("Schedule") or event_properties.get("ScheduleExpression")),
                        input=event_properties.get("Input"),
                    )
                )


def _queue_definition(logical_id: str, properties: dict[str, Any], resolver: _IntrinsicResolver) -> QueueDefinition:
    def optional_int(value: Any) -> int | None:
        resolved = resolver.resolve(value)
        return int(resolved) if resolved is not None else None

    redrive = properties.get("RedrivePolicy") or {}
    return QueueDefinition(
        logical_id=logical_id,
        visibility_timeout_seconds=optional_int(properties.get("VisibilityTimeout")),
        message_retention_seconds=optional_int(properties.get("MessageRetentionPeriod")),
        dead_letter_queue=_referenced_resource(redrive["deadLetterTargetArn"]) if redrive else None,
        max_receive_count=optional_int(redrive.get("maxReceiveCount")),
    )


def _referenced_resource(value: Any) -> str:
    """The logical id in `!GetAtt Queue.Arn` or `!Ref Queue`."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if "Ref" in value:
            return str(value["Ref"])
    raise ValueError(f"A queue must be named with !GetAtt or !Ref, not {value!r}")


def _cors_configuration(
    globals_section: dict[str, Any], resources: dict[str, Any], resolver: _IntrinsicResolver
) -> CorsConfiguration | None:
    configured = (globals_section.get("HttpApi") or {}).get("CorsConfiguration")
    for resource in resources.values():
        if resource.get("Type") == "AWS::Serverless::HttpApi":
            configured = (resource.get("Properties") or {}).get("CorsConfiguration", configured)
    configured = resolver.resolve(configured)
    if configured in (None, False):
        return None
    if configured is True:
        # SAM's shorthand: every origin, method and header.
        return CorsConfiguration(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))

    def strings(name: str) -> tuple[str, ...]:
        return tuple(str(value) for value in configured.get(name) or () if value is not None)

    max_age = configured.get("MaxAge")
    return CorsConfiguration(
        allow_origins=strings("AllowOrigins"),
        allow_methods=tuple(method.upper() for method in strings("AllowMethods")),
        allow_headers=tuple(header.lower() for header in strings("AllowHeaders")),
        expose_headers=tuple(header.lower() for header in strings("ExposeHeaders")),
        max_age=int(max_age) if max_age is not None else None,
        allow_credentials=bool(configured.get("AllowCredentials")),
    )


# Stands in for a value known only once deployed; no real string contains it.
UNKNOWN = "\0unknown\0"


class _IntrinsicResolver:
    """Resolves the intrinsic functions whose value is known before deployment."""

    _SUBSTITUTION = re.compile(r"\$\{([^}!]+)\}")

    def __init__(self, parameters: dict[str, Any], overrides: dict[str, str], conditions: dict[str, Any]) -> None:
        self.conditions = conditions
        self.values: dict[str, Any] = dict(PSEUDO_PARAMETERS)
        for name, declaration in parameters.items():
            declaration = declaration or {}
            value = overrides.get(name, declaration.get("Default"))
            if value is None:
                continue
            if declaration.get("Type") == "CommaDelimitedList":
                value = [part.strip() for part in str(value).split(",") if part.strip()]
            self.values[name] = value

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Ref":
                return self.values.get(argument)
            if key == "Fn::Sub":
                return self._substitute(argument)
            if key == "Fn::Split":
                delimiter, source = argument
                # A part naming a resource's attribute (a CloudFront domain) has no value before a deploy: it is left
                # out, so a list such as CORS origins keeps the parts known here.
                if isinstance(source, dict) and set(source) == {"Fn::Sub"}:
                    source = self._substitute(source["Fn::Sub"], unknown_attributes=UNKNOWN)
                else:
                    source = self.resolve(source)
                if not isinstance(source, str):
                    return None
                return [part for part in source.split(delimiter) if UNKNOWN not in part]
            if key == "Fn::Join":
                delimiter, parts = argument
                parts = self.resolve(parts)
                if isinstance(parts, list) and all(isinstance(part, str | int) for part in parts):
                    return delimiter.join(str(part) for part in parts)
                return None
            if key == "Fn::If":
                condition, when_true, when_false = argument
                verdict = self.condition(condition)
                if verdict is None:
                    return None
                return self.resolve(when_true if verdict else when_false)
            if key.startswith("Fn::"):
                return None
        return {key: self.resolve(item) for key, item in value.items()}

    def condition(self, name: str) -> bool | None:
        """A named condition of the template's Conditions; None when it depends on something unknown here."""
        return self._evaluate(self.conditions.get(name))

    def _evaluate(self, expression: Any) -> bool | None:
        if not isinstance(expression, dict) or len(expression) != 1:
            return None
        (key, argument), *_ = expression.items()
        if key == "Condition":
            return self.condition(argument)
        if key == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return None if left is None or right is None else str(left) == str(right)
        verdicts = [self._evaluate(item) for item in argument] if isinstance(argument, list) else []
        if None in verdicts or not verdicts:
            return None
        if key == "Fn::Not":
            return not verdicts[0]
        if key == "Fn::And":
            return all(verdicts)
        if key == "Fn::Or":
            return any(verdicts)
        return None

    def _substitute(self, argument: Any, unknown_attributes: str | None = None) -> str | None:
        """The text with its variables; None when one is unknown here, unless `unknown_attributes` stands in for the
        resources' attributes (`${Resource.Attribute}`)."""
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        known = {**self.values, **{name: self.resolve(item) for name, item in variables.items()}}
        unresolved = False

        def replace(match: re.Match[str]) -> str:
            nonlocal unresolved
            replacement = known.get(match.group(1))
            if replacement is None and unknown_attributes is not None and "." in match.group(1):
                return unknown_attributes
            if not isinstance(replacement, str | int):
                unresolved = True
                return ""
            return str(replacement)

        result = self._SUBSTITUTION.sub(replace, text)
        return None if unresolved else result

"""Microsoft's published examples replayed against the emulator, and what differs.

Each example of tests/fixtures/published_examples.json (an Azure REST API specs example file, a
Microsoft Graph reference page, an Intune page: see its ``about``) is sent, as published, to an
emulated world in which the resources it names exist: its ``{role}`` names are mapped onto that
world (`world_roles`), and the values a later example needs (the id of a policy the create
example made) are taken from the answers (``captures``). The emulator's answer is then held to
the example's:

* the status is one the example lists for the request;
* the long-running operation headers (``Azure-AsyncOperation``, ``Location``, ``Retry-After``)
  are there when the example has them and only then, URLs of the same shape, whole seconds;
* the body has the example's shape: no property the example (or, for Resource Manager, the SDK
  model the route's answer is read into) does not have, the same JSON type for each property
  the example gives, a date where the example has a date, Graph enum members in camelCase; the
  values that are not example-specific are the example's: ids, names and locations (mapped onto
  the world), resource types, what the request wrote and the example echoes;
* a long-running operation is followed to its end (the emulated clock is moved, never waited
  for) and what its ``Location`` finally answers has the shape of the example's finished
  resource or result.

What the example leaves out is not a departure (the examples are not exhaustive and the
emulator models what azhotpatch reads), except a resource's id, name, type and properties and a
list's value. Every difference is a `Finding`; the test lists the ones a recording or the SDK
justifies, with the citation, and fails on any other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from azhotpatch.testing import ArcSpec, Emulator, VmSpec
from azhotpatch.testing.arm.dispatch import ServedBody

from .contracts import CONTRACTS
from .sdk_schema import Shape, fields_of

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "published_examples.json"
ARM_SCOPE = "https://management.azure.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GROUP = "rg-examples"
LOCATION = "swedencentral"
LRO_HEADERS = ("Azure-AsyncOperation", "Location", "Retry-After")
# what a resource's or a list's answer must have when the example has it
CORE = frozenset({"id", "name", "type", "properties", "value"})
_ROLE = re.compile(r"\{(\w+)\}")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_GRAPH_ENUM = re.compile(r"^[a-z][A-Za-z0-9]*$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass(frozen=True)
class Example:
    """One published example, as the fixture keeps it."""

    name: str
    route: str
    source: Mapping[str, str]
    request: Mapping[str, Any]
    responses: Mapping[str, Mapping[str, Any]]
    captures: Mapping[str, str] = field(default_factory=dict)

    @property
    def graph(self) -> bool:
        return not self.request["path"].startswith(("/subscriptions/", "/providers/", "/{"))


def examples() -> list[Example]:
    document = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return [
        Example(
            e["name"],
            e["route"],
            e["source"],
            e["request"],
            e["responses"],
            e.get("captures", {}),
        )
        for e in document["examples"]
    ]


@dataclass(frozen=True)
class Finding:
    """One way the emulator's answer to an example departs from it: ``kind`` is status,
    route, header, body, extra, absent, type, format, enum, value or echo; ``where`` the
    header or the property path (``[]`` for any item of a list)."""

    example: str
    kind: str
    where: str
    detail: str = field(compare=False, default="")

    @property
    def key(self) -> tuple[str, str, str]:
        return self.example, self.kind, self.where

    def __str__(self) -> str:
        return f"{self.example}: {self.kind} {self.where or '(answer)'}: {self.detail}"


# --- the emulated world -----------------------------------------------------------------------


def world_roles(emu: Emulator) -> dict[str, str]:
    """Build a world in which every example's resource exists, and say which of its names each
    example role stands for."""
    sub = emu.add_subscription(groups=[GROUP])
    emu.add_vm(VmSpec(sub, GROUP, "vm-example", LOCATION, patch_mode="AutomaticByOS"))
    emu.add_scale_set(sub, GROUP, "vmss-example", LOCATION)
    emu.add_arc(ArcSpec(sub, GROUP, "arc-example", LOCATION))
    cluster = f"/subscriptions/{sub}/resourceGroups/{GROUP}/providers/Microsoft.AzureStackHCI/clusters/local"
    local = emu.add_arc(
        ArcSpec(
            sub,
            GROUP,
            "local-example",
            LOCATION,
            arc_kind="HCI",
            parent_cluster=cluster,
            local_image="2025-datacenter-azure-edition",
            os_sku="Windows Server 2025 Datacenter: Azure Edition",
        )
    )
    emu.load_devices(4, groups=2)
    return {
        "subscriptionId": sub,
        "resourceGroupName": GROUP,
        "location": LOCATION,
        "vmName": "vm-example",
        "newVmName": "vm-created",
        "hotpatchVmName": "vm-created-hotpatch",
        "scaleSetName": "vmss-example",
        "machineName": "arc-example",
        "runCommandName": "example-command",
        "licenseProfileName": "default",
        "localMachineUri": local.lstrip("/"),
        "imageName": "2025-datacenter-azure-edition",
        "publisher": "MicrosoftWindowsServer",
        "offer": "WindowsServer",
        "featureNamespace": "Microsoft.Compute",
        "featureName": "InGuestHotPatchVMPreview",
        "providerNamespace": "Microsoft.Compute",
        "configurationName": "hotpatch-examples",
        "assignmentName": "hotpatch-examples",
        "deviceId": sorted(emu.device_truth())[0],
        # the one report the emulator's Intune serves, for the policy the examples create
        "reportName": "QualityUpdateDeviceStatusByPolicy",
        "filter": "(PolicyId eq '{policyId}')",
    }


def bind(value: Any, roles: Mapping[str, str]) -> Any:
    """The example's value with its roles replaced by the world's names (twice: a role's value
    may name another role)."""
    if isinstance(value, dict):
        return {k: bind(v, roles) for k, v in value.items()}
    if isinstance(value, list):
        return [bind(v, roles) for v in value]
    if not isinstance(value, str):
        return value
    for _ in range(2):
        value = _ROLE.sub(lambda m: roles.get(m.group(1), m.group(0)), value)
    return value


def bound(value: str, roles: Mapping[str, str]) -> bool:
    """Whether every role in an example's string is one the world names."""
    return all(name in roles for name in _ROLE.findall(value))


# --- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    body: Any
    route: str

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Wire:
    """Plain HTTPS to the emulator, with a bearer token as any client sends; each answer is
    named by the route that served it (the emulator keeps what it served)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.session = requests.Session()
        credential = emu.credential()
        self.tokens = {
            scope: credential.get_token(scope).token for scope in (ARM_SCOPE, GRAPH_SCOPE)
        }
        self.arm_served: list[ServedBody] = emu.dispatcher.keep_bodies()
        self.graph_served = emu.graph.keep_bodies()

    def send(self, method: str, url: str, body: Any = None) -> Answer:
        graph = url.startswith(self.emu.graph_endpoint)
        token = self.tokens[GRAPH_SCOPE if graph else ARM_SCOPE]
        served = self.graph_served if graph else self.arm_served
        before = len(served)
        response = self.session.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            verify=self.emu.ca_path,
            timeout=30,
        )
        text = response.content.decode() if response.content else ""
        route = served[-1].route if len(served) > before else "unmatched"
        return Answer(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            json.loads(text) if text.strip() else None,
            route,
        )


@dataclass
class Replay:
    """An example sent, its answer, and, for a long-running operation, what its ``Location``
    finally answered (``final``) and, for a PUT or PATCH, the resource once it ended
    (``resource``: where the SDK's poller reads the result)."""

    example: Example
    answer: Answer
    final: Answer | None = None
    request_body: Any = None
    resource: Answer | None = None


def url_of(emu: Emulator, example: Example, roles: Mapping[str, str]) -> str:
    request = example.request
    path = bind(request["path"], roles)
    if example.graph:
        return emu.graph_endpoint + path
    query = {"api-version": request["api-version"], **request.get("query", {})}
    return emu.endpoint + path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def replay(emu: Emulator, wire: Wire, example: Example, roles: dict[str, str]) -> Replay:
    """Send the example (an hour of emulated time after the one before, so what it reads has
    settled), follow its long-running operation, and take what later examples need."""
    emu.advance(timedelta(hours=1))
    body = bind(example.request.get("body"), roles)
    answer = wire.send(example.request["method"], url_of(emu, example, roles), body)
    done = Replay(example, answer, request_body=body)
    if not example.graph and answer.status in (201, 202):
        done.final = _follow(emu, wire, answer)
        if example.request["method"] in ("PUT", "PATCH"):
            done.resource = wire.send("GET", url_of(emu, example, roles))
    if isinstance(answer.body, dict):
        for role, key in example.captures.items():
            roles[role] = str(answer.body[key])
    return done


def _follow(emu: Emulator, wire: Wire, answer: Answer) -> Answer | None:
    """Poll the operation's status until it ends, then read its ``Location``."""
    status_url, location = answer.header("Azure-AsyncOperation"), answer.header("Location")
    for _ in range(6):
        emu.advance(timedelta(hours=1))
        if status_url is None:
            break
        status = wire.send("GET", status_url)
        if not (isinstance(status.body, dict) and status.body.get("status") == "InProgress"):
            break
    if location is None or not location.startswith("https://"):
        return None
    final = wire.send("GET", location)
    for _ in range(6):
        if final.status != 202:
            break
        emu.advance(timedelta(hours=1))
        final = wire.send("GET", final.header("Location") or location)
    return final


# --- comparing ---------------------------------------------------------------------------------


def findings(done: Replay, roles: Mapping[str, str], union: Union) -> list[Finding]:
    """Every way the emulator's answers to one example depart from it."""
    example, answer = done.example, done.answer
    found: list[Finding] = []
    if answer.route != example.route:
        found.append(Finding(example.name, "route", "", f"served by {answer.route}"))
    expected = example.responses.get(str(answer.status))
    if expected is None:
        listed = ", ".join(sorted(example.responses))
        detail = f"{answer.status} is not one of the example's ({listed}): {_error(answer)}"
        return [*found, Finding(example.name, "status", "", detail)]
    found += _headers(example, answer, expected.get("headers") or {})
    found += _body(example, answer, expected, roles, union, done.request_body)
    for label, later in (("final", done.final), ("resource", done.resource)):
        if later is not None and later.body is not None:
            found += _finished(example, label, later, roles, union)
    return list(dict.fromkeys(found))


def _finished(
    example: Example, label: str, answer: Answer, roles: Mapping[str, str], union: Union
) -> list[Finding]:
    """A finished operation's result, or its resource, against the example's finished one
    (its 200)."""
    finished = example.responses.get("200", {})
    if "body" not in finished:
        return [Finding(example.name, f"{label} body", "", "the example's result has none")]
    if label == "resource" and answer.status != 200:
        return [Finding(example.name, f"{label} status", "", f"{answer.status}: {_error(answer)}")]
    return [
        Finding(example.name, f"{label} {f.kind}", f.where, f.detail)
        for f in _compare_body(example, answer.body, finished["body"], roles, union, None)
    ]


def _error(answer: Answer) -> str:
    body = answer.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"{body['error'].get('code')}: {body['error'].get('message')}"
    return ""


def _headers(example: Example, answer: Answer, expected: Mapping[str, Any]) -> Iterator[Finding]:
    published = {k.lower(): v for k, v in expected.items()}
    for name in LRO_HEADERS:
        ours, theirs = answer.header(name), published.get(name.lower())
        if theirs is None and ours is None:
            continue
        if ours is None:
            yield Finding(example.name, "header", name, f"missing (the example has {theirs!r})")
        elif theirs is None:
            yield Finding(example.name, "header", name, "not in the example")
        elif name == "Retry-After":
            if not ours.isdigit():
                yield Finding(example.name, "header", name, f"{ours!r} is not whole seconds")
        else:
            problem = _url_shape(ours, str(theirs))
            if problem:
                yield Finding(example.name, "header", name, problem)


def _url_shape(ours: str, theirs: str) -> str:
    """Whether a status URL has the example's shape: absolute https, and, where the example
    gives a URL, the same path with its names and ids free."""
    if not ours.startswith("https://"):
        return f"{ours!r} is not an absolute https URL"
    if _ROLE.fullmatch(theirs):
        return ""  # {callbackUri}: any URL
    if not theirs.startswith("https://"):
        return f"the example gives {theirs!r}, not a URL"
    path = re.split(r"[?&]", urlsplit(theirs).path)[0]
    pattern = re.sub(r"\\\{\w+\\\}|(?<=/locations/)[^/]+", "[^/]+", re.escape(path))
    if not re.fullmatch(pattern, urlsplit(ours).path, re.IGNORECASE):
        return f"{urlsplit(ours).path} is not shaped as {path}"
    return ""


def _body(
    example: Example,
    answer: Answer,
    expected: Mapping[str, Any],
    roles: Mapping[str, str],
    union: Union,
    request_body: Any,
) -> list[Finding]:
    if "body" not in expected:
        if answer.body not in (None, "", {}):
            return [Finding(example.name, "body", "", "a body where the example has none")]
        return []
    if answer.body is None:
        return [Finding(example.name, "body", "", "no body where the example has one")]
    found = _compare_body(
        example, answer.body, expected["body"], roles, union, _sdk_shape(example, answer)
    )
    found += _echoes(example, request_body, expected["body"], answer.body)
    return found


def _sdk_shape(example: Example, answer: Answer) -> Shape | None:
    """The SDK model the route's answer is read into (None: the example alone; a Resource
    Graph answer's rows are the query's columns, which only the example shows)."""
    contract = CONTRACTS.get(example.route)
    if contract is None or example.route == "graph.resources":
        return None
    served = ServedBody(example.route, "", answer.status, "", ("api-version",), None, answer.body)
    return contract.answer(served)


def _compare_body(
    example: Example,
    actual: Any,
    published: Any,
    roles: Mapping[str, str],
    union: Union,
    shape: Shape | None,
) -> list[Finding]:
    if shape is None and not example.graph:
        shape = _sdk_shape(example, Answer(200, {}, actual, example.route))
    comparison = _Comparison(example, roles, union)
    if (
        isinstance(published, dict)
        and set(published) == {"value"}
        and isinstance(published["value"], dict)
        and isinstance(actual, dict)
        and "value" not in actual
    ):
        comparison.found.append(
            Finding(example.name, "body", "value", "the example wraps the entity in 'value'")
        )
        published = published["value"]
    comparison.compare(
        actual, published, "", shape, _graph_name(example.route, published), top=True
    )
    return comparison.found


_GRAPH_FAMILIES = {
    "intune.policies": "windowsQualityUpdatePolicy",
    "intune.assignments": "windowsQualityUpdatePolicyAssignment",
    "intune.devices": "managedDevice",
    "intune.exports": "deviceManagementExportJob",
}


def _graph_name(route: str, body: Any) -> str:
    """The name Graph's union of examples files an answer under: its entity type, or a page
    of them."""
    family = _GRAPH_FAMILIES.get(route.rsplit(".", 1)[0], route)
    page = isinstance(body, dict) and isinstance(body.get("value"), list)
    return f"page of {family}" if page else family


def _item_name(name: str) -> str:
    """A list's items: a page's are its entities, any other list's are named after it."""
    if name.startswith("page of ") and name.endswith(".value"):
        return name.removeprefix("page of ").removesuffix(".value")
    return f"{name}[]"


@dataclass
class _Comparison:
    example: Example
    roles: Mapping[str, str]
    union: Union
    found: list[Finding] = field(default_factory=list)

    def add(self, kind: str, where: str, detail: str) -> None:
        self.found.append(Finding(self.example.name, kind, where, detail))

    def compare(
        self,
        actual: Any,
        published: Any,
        path: str,
        shape: Shape | None,
        name: str,
        *,
        top: bool = False,
        in_list: bool = False,
    ) -> None:
        if published is None or actual is None:
            return  # null says nothing about the type, and where a resource has no value
            # Azure answers null as the examples themselves show
        if isinstance(published, dict):
            self._object(actual, published, path, shape, name, top=top, in_list=in_list)
        elif isinstance(published, list):
            self._list(actual, published, path, shape, name)
        else:
            self._scalar(actual, published, path, in_list=in_list)

    def _object(
        self,
        actual: Any,
        published: dict[str, Any],
        path: str,
        shape: Shape | None,
        name: str,
        *,
        top: bool,
        in_list: bool,
    ) -> None:
        if not isinstance(actual, dict):
            self.add("type", path, f"{_kind(actual)} where the example has an object")
            return
        if shape is not None and shape.kind in ("map", "any"):
            return  # keys are data (tags), or the model leaves the object open
        declared = _declared(shape)
        seen = self.union.keys(name) if self.example.graph else set()
        for key, value in actual.items():
            where = f"{path}.{key}" if path else key
            inner = _field(shape, key)
            if key in published:
                self.compare(value, published[key], where, inner, f"{name}.{key}", in_list=in_list)
            elif key in seen:
                continue
            elif declared is None or key not in declared:
                self.add(
                    "extra",
                    where,
                    "not in the example" + ("" if declared is None else " nor the SDK model"),
                )
        if top or _resource(published):
            for key in sorted(CORE & set(published) - set(actual)):
                if published[key] is not None:
                    self.add("absent", f"{path}.{key}" if path else key, "the example has it")
        if not in_list:
            self._identity(actual, published, path)

    def _identity(self, actual: dict[str, Any], published: dict[str, Any], path: str) -> None:
        """A resource's id, name, location and type are the world's, as the example's are its
        own."""
        for key in ("id", "name", "location"):
            theirs, ours = published.get(key), actual.get(key)
            if not (isinstance(theirs, str) and isinstance(ours, str)) or not _ROLE.search(theirs):
                continue
            if not bound(theirs, self.roles):
                continue
            if key == "id" and not _names_its_own(theirs):
                continue  # the example's id is of another resource than the one it asked for
            wanted = bind(theirs, self.roles)
            if _normal(wanted, key) != _normal(ours, key):
                self.add("value", f"{path}.{key}" if path else key, f"{ours!r}, not {wanted!r}")
        theirs_type, ours_type = published.get("type"), actual.get("type")
        if (
            "id" in published
            and isinstance(theirs_type, str)
            and isinstance(ours_type, str)
            and theirs_type.lower() != ours_type.lower()
        ):
            where = f"{path}.type" if path else "type"
            self.add("value", where, f"{ours_type!r}, not {theirs_type!r}")

    def _list(
        self, actual: Any, published: list[Any], path: str, shape: Shape | None, name: str
    ) -> None:
        if not isinstance(actual, list):
            self.add("type", path, f"{_kind(actual)} where the example has a list")
            return
        if not published:
            return
        item_shape = shape.item if shape is not None and shape.kind == "array" else None
        item_name = _item_name(name)
        for item in actual:
            self.compare(item, published[0], f"{path}[]", item_shape, item_name, in_list=True)

    def _scalar(self, actual: Any, published: Any, path: str, *, in_list: bool) -> None:
        if _kind(actual) != _kind(published):
            self.add("type", path, f"{actual!r} where the example has {published!r}")
            return
        if isinstance(published, str) and _DATE.match(published) and not _DATE.match(actual):
            self.add("format", path, f"{actual!r} where the example has a date ({published!r})")
        if (
            self.example.graph
            and isinstance(published, str)
            and _GRAPH_ENUM.match(published)
            and not _ROLE.search(published)
            and not _GRAPH_ENUM.match(actual)
        ):
            self.add("enum", path, f"{actual!r} where the example has the member {published!r}")


def _echoes(
    example: Example, request: Any, published: Any, actual: Any, path: str = ""
) -> list[Finding]:
    """What the request wrote and the example's answer gives back unchanged, the emulator's
    answer gives back too (dates and secrets aside)."""
    found: list[Finding] = []
    if isinstance(request, dict) and isinstance(published, dict) and isinstance(actual, dict):
        for key, value in request.items():
            if key in published and key in actual:
                where = f"{path}.{key}" if path else key
                found += _echoes(example, value, published[key], actual[key], where)
        return found
    if isinstance(request, list) or actual is None or request != published:
        return found
    if isinstance(request, str) and (
        _DATE.match(request) or _UUID.match(request) or _ROLE.search(request)
    ):
        return found  # dates and ids are the example's own; names are checked as identity
    if request != actual:
        found.append(
            Finding(example.name, "echo", path, f"{actual!r}, not the {request!r} written")
        )
    return found


def _resource(value: dict[str, Any]) -> bool:
    """An Azure resource as a list gives it (an id and a name or type), not a reference."""
    return "id" in value and ("name" in value or "type" in value)


def _names_its_own(resource_id: str) -> bool:
    """An example's id is of the resource it asked for when its subscription and its last name
    are the example's own (some examples answer with another subscription's or resource's)."""
    last = resource_id.rstrip("/").rsplit("/", 1)[-1]
    own_subscription = not resource_id.startswith("/subscriptions/") or resource_id.startswith(
        "/subscriptions/{subscriptionId}"
    )
    return own_subscription and _ROLE.fullmatch(last) is not None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def _normal(value: str, key: str) -> str:
    if key == "location":
        return value.replace(" ", "").lower()
    return value.lower() if key == "id" or value.startswith("/") else value


def _declared(shape: Shape | None) -> set[str] | None:
    """The properties the SDK model declares (None: no model to ask)."""
    if shape is None or shape.kind != "object":
        return None
    if shape.fields is not None:
        return set(shape.fields)
    if shape.model is not None:
        return set(fields_of(shape.model))
    return None


def _field(shape: Shape | None, key: str) -> Shape | None:
    if shape is None or shape.kind != "object":
        return None
    fields = (
        shape.fields
        if shape.fields is not None
        else (fields_of(shape.model) if shape.model else None)
    )
    found = fields.get(key) if fields is not None else None
    return found.shape if found is not None else None


class Union:
    """For Graph, whose answers no SDK model here describes: the properties all examples
    together show each object type having (one page is not the whole of a type)."""

    def __init__(self, published: list[Example]) -> None:
        self._keys: dict[str, set[str]] = {}
        for example in published:
            if not example.graph:
                continue
            for answer in example.responses.values():
                body = answer.get("body")
                if (
                    isinstance(body, dict)
                    and set(body) == {"value"}
                    and isinstance(body["value"], dict)
                ):
                    body = body["value"]
                self._collect(body, _graph_name(example.route, body))

    def _collect(self, value: Any, name: str) -> None:
        if isinstance(value, dict):
            self._keys.setdefault(name, set()).update(value)
            for key, inner in value.items():
                self._collect(inner, f"{name}.{key}")
        elif isinstance(value, list) and value:
            self._collect(value[0], _item_name(name))

    def keys(self, name: str) -> set[str]:
        return self._keys.get(name, set())

from __future__ import annotations

import contextlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azhotpatch.errors import HotpatchError, InvalidInputError, InvalidResourceIdError
from azhotpatch.ids import MachineKind, ResourceId, parse_resource_id

SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
VM_ID = f"/subscriptions/{SUB}/resourceGroups/rg-prod/providers/Microsoft.Compute/virtualMachines/web-01"
ARC_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-edge/providers/Microsoft.HybridCompute/machines/srv.01"
)


def test_parses_vm_id() -> None:
    rid = parse_resource_id(VM_ID)
    assert (rid.subscription_id, rid.resource_group, rid.name) == (SUB, "rg-prod", "web-01")
    assert rid.kind is MachineKind.VM
    assert str(rid) == VM_ID


def test_parses_arc_id() -> None:
    rid = parse_resource_id(ARC_ID)
    assert rid.kind is MachineKind.ARC
    assert rid.resource_type == "Microsoft.HybridCompute/machines"
    assert str(rid) == ARC_ID


def test_normalises_case_whitespace_and_missing_slash() -> None:
    messy = (
        f"  subscriptions/{SUB.upper()}/RESOURCEGROUPS/rg-prod/PROVIDERS/"
        "microsoft.compute/VIRTUALMACHINES/web-01 \n"
    )
    rid = parse_resource_id(messy)
    assert str(rid) == VM_ID
    assert rid == parse_resource_id(VM_ID)
    assert hash(rid) == hash(parse_resource_id(VM_ID))


def test_equality_is_case_insensitive_like_arm() -> None:
    upper = parse_resource_id(VM_ID.replace("rg-prod", "RG-PROD"))
    assert upper == parse_resource_id(VM_ID)
    assert upper.resource_group == "RG-PROD"  # spelling is kept for display


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("", "empty"),
        (
            "/subscriptions/abc/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v",
            "not a GUID",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s",
            "Microsoft.Storage/storageAccounts is not a machine type",
        ),
        (f"/subscriptions/{SUB}/resourceGroups/rg", "8 segments"),
        (VM_ID + "/extensions/x", "8 segments"),
        (
            f"/subscriptions/{SUB}/groups/rg/providers/Microsoft.Compute/virtualMachines/v",
            "'resourceGroups'",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.Compute/virtualMachines/v",
            "resource group 'rg.'",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/-x-",
            "name '-x-'",
        ),
        (
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/{'a' * 55}",
            "1-54",
        ),
        (f"/subscriptions/{SUB}//providers/Microsoft.Compute/virtualMachines/v", "8 segments"),
    ],
)
def test_rejects_with_what_and_expected_shape(given: str, fragment: str) -> None:
    with pytest.raises(InvalidResourceIdError) as info:
        parse_resource_id(given)
    message = str(info.value)
    assert fragment in message
    assert "Microsoft.Compute/virtualMachines/<name>" in message  # the expected shape
    assert repr(given) in message  # what was given


def test_error_is_an_input_error_and_a_value_error() -> None:
    with pytest.raises(InvalidResourceIdError) as info:
        parse_resource_id("nope")
    assert isinstance(info.value, InvalidInputError)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, HotpatchError)
    assert info.value.code == "InvalidResourceId"


def test_non_string_is_rejected_cleanly() -> None:
    with pytest.raises(InvalidResourceIdError, match="expected a string, got int"):
        parse_resource_id(42)  # type: ignore[arg-type]


def test_build_validates_parts() -> None:
    rid = ResourceId.build(SUB.upper(), "rg", MachineKind.ARC, "m1")
    assert rid.subscription_id == SUB
    with pytest.raises(InvalidResourceIdError, match="name 'bad name'"):
        ResourceId.build(SUB, "rg", MachineKind.VM, "bad name")


# --- properties -----------------------------------------------------------------------------

_hex = "0123456789abcdefABCDEF"
guids = st.tuples(*(st.text(_hex, min_size=n, max_size=n) for n in (8, 4, 4, 4, 12))).map("-".join)
groups = st.from_regex(r"[A-Za-z0-9_\-().]{0,89}[A-Za-z0-9_\-()]", fullmatch=True)
vm_names = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?", fullmatch=True)
arc_names = st.from_regex(r"[A-Za-z0-9_.-]{1,54}", fullmatch=True)


@given(guids, groups, st.sampled_from(MachineKind), vm_names, arc_names)
def test_round_trip(sub: str, group: str, kind: MachineKind, vm: str, arc: str) -> None:
    name = vm if kind is MachineKind.VM else arc
    rid = ResourceId.build(sub, group, kind, name)
    again = parse_resource_id(str(rid))
    assert again == rid
    assert (again.subscription_id, again.resource_group, again.name, again.kind) == (
        sub.lower(),
        group,
        name,
        kind,
    )
    assert parse_resource_id(str(rid).upper()) == rid


_id_alphabet = string.ascii_letters + string.digits + "/-_.() \t\n%?&#:é"


@given(st.text(_id_alphabet, max_size=200) | st.text(max_size=200))
def test_garbage_only_ever_raises_invalid_resource_id(text: str) -> None:
    with contextlib.suppress(InvalidResourceIdError):
        parse_resource_id(text)


@given(
    st.lists(
        st.sampled_from(
            [
                "subscriptions",
                SUB,
                "resourceGroups",
                "rg",
                "providers",
                "Microsoft.Compute",
                "virtualMachines",
                "machines",
                "vm",
                "",
                "x",
            ]
        ),
        max_size=10,
    )
)
def test_near_misses_only_raise_invalid_resource_id(segments: list[str]) -> None:
    try:
        rid = parse_resource_id("/" + "/".join(segments))
    except InvalidResourceIdError:
        return
    assert str(rid).count("/") == 8

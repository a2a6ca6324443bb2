from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from azhotpatch.errors import InvalidArgumentError
from azhotpatch.ids import MachineKind
from azhotpatch.models import (
    Assessment,
    Classification,
    InstallOptions,
    OperationStatus,
    Patch,
    RebootBehavior,
    RebootSetting,
)


def test_install_options_request_body() -> None:
    options = InstallOptions.build(
        classifications=["critical", "Security", "update rollup"],
        reboot="never",
        max_duration=timedelta(hours=1, minutes=30),
        kb_include=["5041578", "kb5041579"],
        kb_exclude=["KB890830"],
        exclude_kbs_requiring_reboot=True,
        max_patch_publish_date=date(2026, 11, 10),
    )
    assert options.request_body() == {
        "maximumDuration": "PT1H30M",
        "rebootSetting": "Never",
        "windowsParameters": {
            "classificationsToInclude": ["Critical", "Security", "UpdateRollUp"],
            "kbNumbersToInclude": ["KB5041578", "KB5041579"],
            "kbNumbersToExclude": ["KB890830"],
            "excludeKbsRequiringReboot": True,
            "maxPatchPublishDate": "2026-11-10T23:59:59+00:00",
        },
    }
    assert InstallOptions().classifications == (Classification.CRITICAL, Classification.SECURITY)
    assert InstallOptions().reboot is RebootSetting.IF_REQUIRED


@pytest.mark.parametrize(
    ("arguments", "argument", "fragment"),
    [
        (
            {"classifications": ["Bugfixes"]},
            "classifications",
            "'Bugfixes' is not a Windows update classification",
        ),
        ({"classifications": []}, "classifications", "nothing would be installed"),
        ({"reboot": "Sometimes"}, "reboot", "'Sometimes' is not a reboot setting"),
        ({"max_duration": timedelta(hours=5)}, "max_duration", "at most 4 hours"),
        ({"max_duration": timedelta(0)}, "max_duration", "above zero"),
        ({"kb_include": ["1111"]}, "kb_include", "'1111' is not a KB number"),
        (
            {"kb_include": ["KB5041578"], "kb_exclude": ["5041578"]},
            "kb_exclude",
            "both included and excluded",
        ),
        (
            {"max_patch_publish_date": datetime(2026, 1, 1)},
            "max_patch_publish_date",
            "no time zone",
        ),
    ],
)
def test_install_options_refuse_bad_input(
    arguments: dict[str, object], argument: str, fragment: str
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        InstallOptions.build(**arguments)  # type: ignore[arg-type]
    assert info.value.argument == argument
    assert fragment in str(info.value)
    assert "Fix:" in str(info.value)


def test_aware_publish_date_kept() -> None:
    moment = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    assert InstallOptions.build(max_patch_publish_date=moment).max_patch_publish_date == moment


def test_unknown_enum_values_do_not_break_parsing() -> None:
    assert OperationStatus.parse("SomethingNew") is OperationStatus.UNKNOWN
    assert OperationStatus.parse("succeeded") is OperationStatus.SUCCEEDED
    assert RebootBehavior.parse(None) is RebootBehavior.UNKNOWN


def test_hotpatch_means_security_that_never_reboots() -> None:
    hot = Patch("2026-11 Security Hotpatch", "5099999", ("Security",), RebootBehavior.NEVER_REBOOTS)
    defender = Patch("Defender", "2267602", ("Definition",), RebootBehavior.NEVER_REBOOTS)
    lcu = Patch(
        "2026-11 Cumulative Update", "5088888", ("Security",), RebootBehavior.CAN_REQUEST_REBOOT
    )
    assessment = Assessment(
        "vm",
        MachineKind.VM,
        OperationStatus.SUCCEEDED,
        "a",
        None,
        False,
        patches=(hot, defender, lcu),
    )
    assert assessment.hotpatches == (hot,)
    assert assessment.needing_reboot == (lcu,)
    assert assessment.total == 3

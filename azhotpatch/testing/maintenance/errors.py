"""Microsoft.Maintenance's errors carry a code and a message only: its published error model
(``MaintenanceError``, whose ``ErrorDetails`` has ``code`` and ``message``) declares no
``target``, and no recording shows one, so the field at fault is named in the message."""

from __future__ import annotations

from azhotpatch.testing.arm.errors import ArmError


def invalid(message: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message)


def configuration_not_found(configuration_id: object) -> ArmError:
    return ArmError(
        404,
        "MaintenanceConfigurationNotFound",
        f"The maintenance configuration '{configuration_id}' was not found.",
    )

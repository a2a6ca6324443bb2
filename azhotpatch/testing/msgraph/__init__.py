"""Microsoft Graph (Intune) on the emulator: quality update policies, assignments, groups,
managed devices and report exports, behind Graph's own front door under ``/graph``."""
